"""The GPU check, in one command, for whoever has a GPU at hand: every CUDA path of the project, each
beside the same measure on the CPU in the same run, printed as one JSON object.

    python -m benchmarks.gpu_check                 # CPU, then CUDA when this process sees a GPU
    python -m benchmarks.gpu_check --quick         # a smaller run (the CPU test in CI uses it)

Measured on each device (``signavatar.devices.torch_device``, the one choice every stage makes):

* ``train``: CVAE training steps (the training loop's own ``run_epoch``: forward, loss, backward,
  clipping, AdamW) on the demo's model size and frame count, clips/s in fp32 and with
  ``train.precision=bf16`` (autocast);
* ``generate``: one generated clip's latency (median of repeated calls) and the throughput of a
  batch of 64 samples (``SignAvatar.generate_features``);
* ``fit``: the keypoint fitter (``fit_keypoints_batch``, what the import actors run) on keypoints
  of known poses, frames/s;
* ``recognizer``: the ST-GCN's inference (``extract_features``) and one training epoch, clips/s.

Every figure carries its ratio to the CPU's. A CUDA step is timed after a warm-up and with
``torch.cuda.synchronize`` around it. Whole run: about a minute on the CPU of a 2-core machine, a
few minutes with a GPU. Without a GPU the output says why the CUDA side is missing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from signavatar.body.skeleton import DEFAULT_REST_JOINTS
from signavatar.config import load_config
from signavatar.devices import torch_device
from signavatar.evaluation.recognizer_training import build_recognizer, extract_features, train_recognizer
from signavatar.extraction.estimators.keypoint_fit import fit_keypoints_batch
from signavatar.extraction.estimators.markers import keypoints_from_poses
from signavatar.model.cvae import SignAvatarCVAE
from signavatar.model.normalizer import FeatureNormalizer
from signavatar.model.pipeline import SignAvatar
from signavatar.motion.clip import FEATURE_DIM, NUM_JOINTS
from signavatar.training.data import FeatureSet
from signavatar.training.loop import make_loader, new_training_state, run_epoch

DEMO = "configs/demo.yaml"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn: Callable[[], Any], device: torch.device, repeats: int) -> list[float]:
    """Wall seconds of ``repeats`` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return times


def _feature_set(clips: int, frames: int, glosses: int) -> FeatureSet:
    generator = torch.Generator().manual_seed(0)
    return FeatureSet(features=0.3 * torch.randn(clips, frames, FEATURE_DIM, generator=generator),
                      labels=torch.arange(clips) % glosses, glosses=[f"g{i}" for i in range(glosses)],
                      clip_ids=[f"c{i}" for i in range(clips)], fps=15.0)


def train_rate(device: torch.device, precision: str, clips: int, epochs: int) -> dict[str, float]:
    config = load_config(DEMO, [f"train.precision={precision}", "train.seed=0"])
    data = _feature_set(clips, config.data.num_frames, 15)
    embeddings = torch.nn.functional.normalize(torch.randn(15, 512, generator=torch.Generator().manual_seed(1)), dim=1)
    state = new_training_state(config, data, embeddings, device)
    loader = make_loader(state, data)
    times = _timed(lambda: run_epoch(state.model, state, loader, 0, device), device, epochs)
    return {"clips_per_s": round(clips / statistics.median(times), 1)}


def generate_rates(device: torch.device, repeats: int) -> dict[str, float]:
    # an untrained model has no per-gloss prior (fitted after training); drawing z is not what is timed
    config = load_config(DEMO, ["model.prior=standard"])
    torch.manual_seed(0)
    model = SignAvatarCVAE(config.model, feature_dim=FEATURE_DIM, cond_dim=512)
    normalizer = FeatureNormalizer(torch.zeros(FEATURE_DIM), torch.ones(FEATURE_DIM))
    embeddings = torch.nn.functional.normalize(torch.randn(15, 512, generator=torch.Generator().manual_seed(1)), dim=1)
    avatar = SignAvatar(model, normalizer, [f"g{i}" for i in range(15)], embeddings, config, device=device)
    one = embeddings[:1].to(device)
    batch = embeddings[:1].expand(64, -1).to(device)
    latency = _timed(lambda: avatar.generate_features(one, [0]), device, repeats)
    throughput = _timed(lambda: avatar.generate_features(batch, list(range(64))), device, max(3, repeats // 5))
    return {"latency_ms": round(1e3 * statistics.median(latency), 3),
            "batch64_clips_per_s": round(64 / statistics.median(throughput), 1)}


def fit_rate(device: torch.device, sequences: int) -> dict[str, float]:
    rng = np.random.default_rng(0)
    frames = 19
    items = []
    for _ in range(sequences):
        poses = np.zeros((frames, NUM_JOINTS, 3), np.float32)
        poses[:, 16:22] = rng.normal(0, 0.3, (1, 6, 3)) + np.linspace(0, 0.4, frames)[:, None, None]
        poses[:, 25:55] = rng.normal(0, 0.2, (1, 30, 3))
        items.append(keypoints_from_poses(poses, DEFAULT_REST_JOINTS))
    cfg = load_config(DEMO).extract.keypoints
    times = _timed(lambda: fit_keypoints_batch(items, DEFAULT_REST_JOINTS, cfg, device), device, 2)
    return {"frames_per_s": round(sequences * frames / statistics.median(times), 1)}


def recognizer_rates(device: torch.device, clips: int) -> dict[str, float]:
    cfg = load_config(DEMO).eval.model_copy(update={"recognizer_epochs": 1})
    data = _feature_set(clips, 19, 15)
    model = build_recognizer(15, 19, cfg).to(device).eval()
    inference = _timed(lambda: extract_features(model, data.features, 64), device, 3)
    training = _timed(lambda: train_recognizer(data.features.numpy(), data.labels.numpy(), 15, cfg, device=device),
                      device, 1)
    return {"inference_clips_per_s": round(clips / statistics.median(inference), 1),
            "train_epoch_clips_per_s": round(clips / statistics.median(training), 1)}


def measure(device: torch.device, quick: bool) -> dict[str, Any]:
    clips = 64 if quick else 512
    return {
        "train_fp32": train_rate(device, "fp32", clips, 1 if quick else 5),
        "train_bf16": train_rate(device, "bf16", clips, 1 if quick else 5),
        "generate": generate_rates(device, 3 if quick else 30),
        "fit": fit_rate(device, 4 if quick else 64),
        "recognizer": recognizer_rates(device, clips),
    }


def ratios(gpu: dict[str, Any], cpu: dict[str, Any]) -> dict[str, dict[str, float]]:
    """GPU over CPU for every figure (latency inverted, so above 1 is faster everywhere)."""
    out: dict[str, dict[str, float]] = {}
    for stage, figures in gpu.items():
        out[stage] = {k: round(cpu[stage][k] / v if k.endswith("_ms") else v / cpu[stage][k], 2)
                      for k, v in figures.items()}
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a CPU smoke run)")
    parser.add_argument("--threads", type=int, default=None, help="CPU torch threads (default: torch's)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    report: dict[str, Any] = {"torch": torch.__version__, "cpu_threads": torch.get_num_threads(),
                              "cpu": measure(torch.device("cpu"), args.quick)}
    device = torch_device()
    if device.type == "cuda":
        report["gpu_name"] = torch.cuda.get_device_name(device)
        report["cuda"] = measure(device, args.quick)
        report["cuda_over_cpu"] = ratios(report["cuda"], report["cpu"])
    else:
        report["cuda"] = None
        report["cuda_skipped"] = "no CUDA device visible to torch (torch.cuda.is_available() is False)"
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
