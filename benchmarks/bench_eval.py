"""Evaluation at the pace of training: the evaluation's parts against the training they score, on
one imported dataset, in one process, one torch thread, one run.

Baseline: the CVAE's training on the dataset's train split (``train_plain``, the config's epochs).
Measured against it, each on the same thread:

* ``recognizer``: the ST-GCN trained on Raw train (``recognizer_cache.train_on_dataset``; once per
  dataset and settings, so a second evaluation, an ablation variant or a sweep trial skips it);
* ``judge``: the raw-landmark judge trained on the train landmarks (``judging.train_on_dataset``;
  cached the same way), where the dataset keeps landmarks;
* ``encode``: every clip's recognizer outputs, posterior and joint positions (``encode_clips``);
* ``repetition``: one repetition of the protocol, split into its draws (the decoder, recognizer
  and judge passes of Rec, Gen and the temperature curve), Table I's metrics, the DTW joint errors
  and the quality figures;
* ``sweep_score``: what a sweep trial pays at each checkpoint (``quality.QualityProxy`` on the
  validation split, ``quality_repeats`` of ``tune_configs/quality.yaml``; ``sweep_setup``: what it
  pays once per trial).

The report gives seconds per part and the ratios a reader checks: the whole evaluation (recognizer +
judge + encode + ``eval.repeats`` repetitions, as one CPU would run them) over the training, and the
evaluation's wall estimate with its ``eval.num_actors`` actors and the recognizer and judge trained
beside the CVAE (as ``make demo`` runs them, each on its own CPU); a sweep's per-checkpoint scoring
over its trial's training.

    python -m benchmarks.bench_eval [--dataset runs/demo/dataset] [--config configs/demo.yaml] [key=value ...]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
import yaml

from benchmarks.timing import measure, summary
from signavatar.body.body_model import resolve_rest_joints
from signavatar.config import load_config
from signavatar.evaluation import judging, protocol, quality
from signavatar.evaluation.recognizer_cache import train_on_dataset
from signavatar.evaluation.recognizer_training import load_recognizer
from signavatar.judge.training import load_judge
from signavatar.model.clip_encoder import ClipConditioner
from signavatar.model.pipeline import SignAvatar
from signavatar.motion import arrow_io
from signavatar.seeding import repetition_seed
from signavatar.training.data import build_feature_set
from signavatar.training.loop import train_plain

ROOT = Path(__file__).resolve().parents[1]


def _seconds(block) -> float:
    with measure() as span:
        block()
    return round(span.wall_s, 2)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default=str(ROOT / "runs" / "demo" / "dataset"),
                        help="an imported dataset (default: make demo's)")
    parser.add_argument("--config", default=str(ROOT / "configs" / "demo.yaml"))
    parser.add_argument("--repetitions", type=int, default=2, help="repetitions timed (their mean is one repetition)")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args(argv)
    if not (Path(args.dataset) / arrow_io.MANIFEST).is_file():
        raise SystemExit(f"no imported dataset at {args.dataset}: run make demo first, or give --dataset")
    torch.set_num_threads(1)
    config = load_config(args.config, args.overrides)
    cfg = config.eval
    work = Path(tempfile.mkdtemp(prefix="bench-eval-"))
    clips = arrow_io.read_dataset(args.dataset)
    train = build_feature_set([c for c in clips if c.split == "train"], config.data.num_frames)
    embeddings = ClipConditioner(config.clip).encode_text(train.glosses)
    times: dict[str, float] = {}
    times["train"] = _seconds(lambda: train_plain(config, train, embeddings, checkpoint_dir=str(work / "checkpoint")))
    times["recognizer"] = _seconds(lambda: train_on_dataset(args.dataset, str(work / "recognizer.pt"),
                                                            config.data.num_frames, cfg))
    judge = None
    if judging.has_landmarks(args.dataset):
        times["judge"] = _seconds(lambda: judging.train_on_dataset(args.dataset, str(work / "judge.pt"), cfg.judge))
        judge = load_judge(str(work / "judge.pt"))
    avatar = SignAvatar.from_checkpoint(str(work / "checkpoint"), device="cpu")
    recognizer, classes = load_recognizer(str(work / "recognizer.pt"), precision=cfg.recognizer_precision)
    index = {g: i for i, g in enumerate(classes)}
    rest = resolve_rest_joints(config.body.model_path, config.body.gender)
    scored = [c for c in clips if c.split in protocol.SPLITS]
    encoded: list[protocol.ClipEncodings] = []
    times["encode"] = _seconds(lambda: encoded.append(protocol.ClipEncodings(
        **protocol.encode_clips(avatar, recognizer, scored, index, cfg.feature_batch_size, rest))))
    clips_enc = encoded[0]
    splits = [s for s in quality.REPORT_SPLITS if s in clips_enc.split_rows()]
    scales = {s: quality.fid_scale(clips_enc, s) for s in splits}
    parts = {"draws": 0.0, "table_metrics": 0.0, "dtw": 0.0, "quality": 0.0}
    for r in range(args.repetitions):
        seed = repetition_seed(cfg.seed, r)
        started = time.perf_counter()
        [(drawn, curve)] = protocol.draw_repetitions(avatar, recognizer, clips_enc, [seed], cfg.feature_batch_size,
                                                     rest, cfg.temperature_curve, splits[0] if splits else None,
                                                     judge=judge[0] if judge else None)
        parts["draws"] += time.perf_counter() - started
        started = time.perf_counter()
        scores = protocol.score_repetition(clips_enc.raw_groups(), drawn, cfg, seed)
        parts["table_metrics"] += time.perf_counter() - started
        started = time.perf_counter()
        faithful = protocol.score_faithfulness(clips_enc, drawn)
        parts["dtw"] += time.perf_counter() - started
        started = time.perf_counter()
        for split in splits:
            quality.score_quality(clips_enc, drawn, scores, curve if split == splits[0] else {}, cfg, seed,
                                  scales[split], split, faithful)
        parts["quality"] += time.perf_counter() - started
    repetition = {k: round(v / args.repetitions, 2) for k, v in parts.items()}
    times["repetition"] = round(sum(repetition.values()), 2)
    sweep = yaml.safe_load((ROOT / "tune_configs" / "quality.yaml").read_text())
    trial_clips = [c for c in clips if c.split in ("train", "val")]
    proxies: list[quality.QualityProxy] = []
    times["sweep_setup"] = _seconds(lambda: proxies.append(
        quality.QualityProxy(recognizer, trial_clips, index, config.data.num_frames, cfg, rest, judge=judge)))
    times["sweep_score"] = _seconds(lambda: proxies[0](avatar, sweep.get("quality_repeats", 1)))

    one_cpu = times["recognizer"] + times.get("judge", 0.0) + times["encode"] + cfg.repeats * times["repetition"]
    actors = max(1, cfg.num_actors)
    demo_wall = max(0.0, times["recognizer"] - times["train"], times.get("judge", 0.0) - times["train"]) + \
        times["encode"] / actors + \
        cfg.repeats * times["repetition"] / actors
    checkpoint_every = sweep.get("overrides", [])
    epochs_between = next((int(o.split("=")[1]) for o in checkpoint_every if o.startswith("train.checkpoint_every=")),
                          config.train.checkpoint_every)
    trial_span = times["train"] * epochs_between / config.train.epochs
    report = {
        "dataset": args.dataset, "clips": len(scored), "train_clips": len(train), "epochs": config.train.epochs,
        "repeats": cfg.repeats, "actors": actors, "torch_threads": 1,
        "seconds": times, "repetition_parts_s": repetition,
        "evaluation_one_cpu_s": round(one_cpu, 1),
        "ratios": {
            "evaluation_one_cpu_over_train": round(one_cpu / times["train"], 2),
            "demo_evaluate_wall_over_train": round(demo_wall / times["train"], 2),
            "sweep_score_over_trial_training_between_checkpoints": round(times["sweep_score"] / trial_span, 3),
        },
    }
    report["summary"] = summary({"recognizer": times["recognizer"]},
                                {"train_s": times["train"], "repetition_s": times["repetition"],
                                 **report["ratios"]})
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
