"""Keypoint -> SMPL-X fitter throughput and fit quality on real landmarks, frames/s.

Data (``SIGNAVATAR_SHARED_DATA``, default ``../shared/data``): every ``real_poses/*.pose`` file
and ``--sequences`` sequences of the real corpus ``real_corpus/asl_mpdata`` (20 frames each; an
even sample over signs and sessions, ``--sequences 900`` for all). Landmark reading is excluded;
a fit includes the conversion to body keypoints and the report (computed from the fitted poses
with the body layer, as from a written clip).

* ``files``: each pose file fitted alone (``fit_landmarks``) -- frames/s and the report's
  ``image_error``, ``lean_max_deg``, ``rotation_deg``, ``plausible`` and 3D errors.
* ``corpus``: the baseline, one sequence per optimisation (``fit_landmarks`` per sequence, on the
  first ``--baseline`` sequences), against the whole sample in batched optimisations
  (``fit_landmarks_batch``, what the Ray Data import actor runs), in the same run.

Torch runs on ``--threads`` threads (default 1, like ``signavatar fit``: the fit's tensors are
small and a second intra-op thread cost 4x the CPU for half the speed on this 2-core machine).
Wall figures on a busy machine are noisy: ``cpu_s`` (this process) and ``load_avg_1m`` say how
busy it was.

    python -m benchmarks.bench_fit [--sequences 900] [--baseline 40] [--threads 1] [key=value ...]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks.timing import measure, summary
from signavatar.body.skeleton import DEFAULT_REST_JOINTS
from signavatar.config import load_config
from signavatar.extraction.estimators.keypoint_fit import KeypointFit
from signavatar.extraction.estimators.keypoints import fit_landmarks, fit_landmarks_batch
from signavatar.extraction.landmarks import HolisticLandmarks, landmarks_from_mpdata
from signavatar.extraction.pose_files import read_pose_file

SHARED_DATA = Path(os.environ.get("SIGNAVATAR_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
REPORTED = ("image_error", "lean_max_deg", "rotation_deg", "plausible", "mean", "wrists", "elbows", "fingertips",
            "coordinates", "iterations")


def _figures(fit: KeypointFit) -> dict[str, Any]:
    report = fit.report
    return {k: round(report[k], 4) if isinstance(report[k], float) else report[k] for k in REPORTED}


def _rate(frames: int, span: Any) -> dict[str, Any]:
    return {"frames": frames, **span.as_dict(), "frames_per_s": round(frames / max(span.wall_s, 1e-9), 1),
            "frames_per_cpu_s": round(frames / max(span.cpu_s, 1e-9), 1)}


def _corpus(sequences: int) -> list[tuple[str, HolisticLandmarks]]:
    """An even sample of the mpdata corpus: every sign, sequence numbers spread over both sessions."""
    root = SHARED_DATA / "real_corpus" / "asl_mpdata"
    every = sorted((sign.name, int(seq.name)) for sign in root.iterdir() if sign.is_dir() for seq in sign.iterdir())
    step = max(1, len(every) // sequences)
    chosen = sorted(every, key=lambda item: (item[1], item[0]))[::step][:sequences]
    items = []
    for sign, seq in chosen:
        folder = root / sign / str(seq)
        vectors = np.stack([np.load(folder / f"{i}.npy") for i in range(len(list(folder.glob("*.npy"))))])
        items.append((f"{sign}/{seq}", landmarks_from_mpdata(vectors, 640, 480, fps=15.0)))
    return items


def _worst(fits: list[KeypointFit]) -> dict[str, Any]:
    reports = [f.report for f in fits]
    return {"image_error_max": round(max(r["image_error"] for r in reports), 4),
            "lean_max_deg_max": round(max(r["lean_max_deg"] for r in reports), 2),
            "mean_error_mean": round(float(np.mean([r["mean"] for r in reports])), 4),
            "implausible": sum(not r["plausible"] for r in reports)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sequences", type=int, default=900, help="corpus sequences fitted in batches")
    parser.add_argument("--baseline", type=int, default=40, help="of those, fitted one at a time (baseline)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: what signavatar fit uses)")
    parser.add_argument("overrides", nargs="*", help="config overrides, e.g. extract.keypoints.iterations=100")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    cfg = load_config(None, args.overrides).extract.keypoints
    rest = DEFAULT_REST_JOINTS
    with measure() as warm_up:  # first call: torch's one-time set-up
        fit_landmarks(read_pose_file(str(SHARED_DATA / "real_poses" / "example.pose")), rest, cfg)

    files = {}
    for path in sorted((SHARED_DATA / "real_poses").glob("*.pose")):
        landmarks = read_pose_file(str(path))
        with measure() as span:
            fit, _ = fit_landmarks(landmarks, rest, cfg)
        files[path.name] = {**_rate(landmarks.num_frames, span), **_figures(fit)}

    items = _corpus(args.sequences)
    frames = sum(lm.num_frames for _, lm in items)
    baseline = items[: args.baseline]
    with measure() as one_span:
        single = [fit_landmarks(lm, rest, cfg)[0] for _, lm in baseline]
    with measure() as batch_span:
        batched = [fit for fit, _ in fit_landmarks_batch([lm for _, lm in items], rest, cfg)]
    one = {**_rate(sum(lm.num_frames for _, lm in baseline), one_span), "sequences": len(baseline), **_worst(single)}
    batch = {**_rate(frames, batch_span), "sequences": len(items), **_worst(batched)}
    longest = max(files, key=lambda name: files[name]["frames"])
    report = {
        "files": files,
        "corpus": {"one_at_a_time": one, "batched": batch},
        "summary": summary(
            {"first_fit": warm_up.wall_s},
            {"long_file_frames_per_s": files[longest]["frames_per_s"], "long_file": longest,
             "corpus_batched_frames_per_s": batch["frames_per_s"],
             "corpus_one_at_a_time_frames_per_s": one["frames_per_s"],
             "batched_vs_one_at_a_time": round(batch["frames_per_s"] / max(one["frames_per_s"], 1e-9), 2)},
            torch_threads=torch.get_num_threads(), iterations=cfg.iterations, batch_frames=cfg.batch_frames,
        ),
    }
    print(json.dumps(report))
    return report


if __name__ == "__main__":
    main()
