"""Keypoint -> SMPL-X fitter throughput and fit quality on real landmarks, frames/s, and how well
the fitted hands keep their configuration.

Data (``SIGNAVATAR_SHARED_DATA``, default ``../shared/data``): every ``real_poses/*.pose`` file,
``--sequences`` sequences of the real corpus ``real_corpus/asl_mpdata`` (20 frames each; an even
sample over signs and sessions, ``--sequences 900`` for all) and ``--letters`` sequences of the
letters ``real_corpus/asl_mpdata_letters`` (17 fingerspelled letters x 30). Landmark reading is
excluded; a fit includes the conversion to body keypoints and the report (computed from the fitted
poses with the body layer, as from a written clip).

* ``files``: each pose file fitted alone (``fit_landmarks``) -- frames/s and the report's
  ``image_error``, ``lean_max_deg``, ``rotation_deg``, ``plausible`` and 3D errors.
* ``corpus``: the baseline, one sequence per optimisation (``fit_landmarks`` per sequence, on the
  first ``--baseline`` sequences), against the whole sample in batched optimisations
  (``fit_landmarks_batch``, what the Ray Data import actor runs), in the same run.
* ``fingers``: the finger-joint error of those batched fits (``finger_errors``: per hand,
  wrist-relative, in palm lengths; ``2d`` in the image plane, ``3d`` with MediaPipe's hand depth)
  over all finger landmarks, per finger and per gloss, for the words and the letters.
* ``compare``: the same corpus sample and letters fitted again with ``--compare`` overrides
  (default ``extract.keypoints.proportions=rest``: the rest skeleton's proportions), frames/s and
  finger errors, in the same run.

Torch runs on ``--threads`` threads (default 1, like ``signavatar fit``: the fit's tensors are
small and a second intra-op thread cost 4x the CPU for half the speed on this 2-core machine).
Wall figures on a busy machine are noisy: ``cpu_s`` (this process) and ``load_avg_1m`` say how
busy it was.

    python -m benchmarks.bench_fit [--sequences 900] [--baseline 40] [--letters 510] [--threads 1]
        [--compare key=value ...] [key=value ...]
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
from signavatar.config import KeypointFitConfig, load_config
from signavatar.extraction.corpora import mpdata_pack
from signavatar.extraction.corpora.base import Limits
from signavatar.extraction.corpora.mpdata import values_to_landmarks
from signavatar.extraction.estimators.finger_errors import FINGER_LANDMARKS, finger_distances
from signavatar.extraction.estimators.keypoint_fit import KeypointFit
from signavatar.extraction.estimators.keypoints import fit_landmarks, fit_landmarks_batch
from signavatar.extraction.landmarks import BodyKeypoints, HolisticLandmarks, landmarks_from_mpdata
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


def _letters(sequences: int) -> list[tuple[str, HolisticLandmarks]]:
    """An even sample of the letters pack (every letter, sequence numbers spread)."""
    root = str(SHARED_DATA / "real_corpus" / "asl_mpdata_letters")
    header = mpdata_pack.read_header(root)
    every = sorted(range(len(header["sequences"])), key=lambda i: (int(header["sequences"][i][1]), header["sequences"][i][0]))
    chosen = every[:: max(1, len(every) // sequences)][:sequences]
    limits = Limits(max_frames=1000, max_file_bytes=1 << 31)
    return [(f"{header['sequences'][i][0]}/{header['sequences'][i][1]}",
             values_to_landmarks(mpdata_pack.read_sequence_values(root, i, limits), 640, 480, 15.0, root))
            for i in sorted(chosen)]


def _mean(parts: list[np.ndarray]) -> float | None:
    values = np.concatenate([p.ravel() for p in parts]) if parts else np.zeros(0)
    return round(float(values.mean()), 4) if values.size else None


def _fingers(names: list[str], results: list[tuple[KeypointFit, BodyKeypoints]]) -> dict[str, Any]:
    """Finger-joint errors (palm lengths) pooled over every finger landmark seen: overall, per
    finger and per gloss (the part of the name before the slash), 2D and 3D."""
    pooled: dict[str, dict[str, dict[str, list[np.ndarray]]]] = {}
    for name, (fit, keypoints) in zip(names, results, strict=True):
        distances = finger_distances(fit.markers, keypoints, fit.skeleton)
        for key in ("all", name.split("/")[0]):
            for kind, fingers in distances.items():
                for finger, parts in fingers.items():
                    pooled.setdefault(key, {}).setdefault(kind, {}).setdefault(finger, []).extend(parts)
    def figures(kinds: dict[str, dict[str, list[np.ndarray]]]) -> dict[str, Any]:
        return {kind: _mean([p for parts in fingers.values() for p in parts]) for kind, fingers in kinds.items()}
    overall = pooled.pop("all")
    return {**figures(overall),
            "per_finger": {kind: {f: _mean(overall[kind][f]) for f in FINGER_LANDMARKS} for kind in overall},
            "per_gloss": {gloss: figures(kinds) for gloss, kinds in sorted(pooled.items())}}


def _fit_corpora(corpora: dict[str, list[tuple[str, HolisticLandmarks]]], cfg: KeypointFitConfig) -> dict[str, Any]:
    """Each corpus fitted in batches: frames/s and finger errors."""
    out = {}
    for label, items in corpora.items():
        with measure() as span:
            results = fit_landmarks_batch([lm for _, lm in items], DEFAULT_REST_JOINTS, cfg)
        out[label] = {**_rate(sum(lm.num_frames for _, lm in items), span),
                      "fingers": _fingers([n for n, _ in items], results)}
    return out


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
    parser.add_argument("--letters", type=int, default=510, help="letter sequences whose finger errors are measured")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: what signavatar fit uses)")
    parser.add_argument("--compare", nargs="*", default=["extract.keypoints.proportions=rest"],
                        help="overrides of a second fit of the words and letters in the same run ('' for none)")
    parser.add_argument("overrides", nargs="*", help="config overrides, e.g. extract.keypoints.iterations=100")
    args = parser.parse_intermixed_args(argv)
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    cfg = load_config(None, args.overrides).extract.keypoints
    compare = [o for o in args.compare if o]
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
        results = fit_landmarks_batch([lm for _, lm in items], rest, cfg)
    batched = [fit for fit, _ in results]
    one = {**_rate(sum(lm.num_frames for _, lm in baseline), one_span), "sequences": len(baseline), **_worst(single)}
    batch = {**_rate(frames, batch_span), "sequences": len(items), **_worst(batched)}
    letters = _letters(args.letters) if args.letters else []
    fingers = {"words": _fingers([n for n, _ in items], results)}
    if letters:
        fingers["letters"] = _fit_corpora({"letters": letters}, cfg)["letters"]["fingers"]
    other = None
    if compare:
        other_cfg = load_config(None, args.overrides + compare).extract.keypoints
        other = {"overrides": compare, **_fit_corpora({"words": items, **({"letters": letters} if letters else {})},
                                                     other_cfg)}
    longest = max(files, key=lambda name: files[name]["frames"])
    report = {
        "files": files,
        "corpus": {"one_at_a_time": one, "batched": batch},
        "fingers": fingers,
        **({"compare": other} if other else {}),
        "summary": summary(
            {"first_fit": warm_up.wall_s},
            {"long_file_frames_per_s": files[longest]["frames_per_s"], "long_file": longest,
             "corpus_batched_frames_per_s": batch["frames_per_s"],
             "corpus_one_at_a_time_frames_per_s": one["frames_per_s"],
             "batched_vs_one_at_a_time": round(batch["frames_per_s"] / max(one["frames_per_s"], 1e-9), 2),
             "finger_error_2d_words": fingers["words"]["2d"],
             **({"finger_error_2d_letters": fingers["letters"]["2d"]} if letters else {}),
             **({"batched_vs_compare": round(batch["frames_per_s"] / max(other["words"]["frames_per_s"], 1e-9), 2),
                 "finger_error_2d_words_compare": other["words"]["fingers"]["2d"]} if other else {})},
            torch_threads=torch.get_num_threads(), iterations=cfg.iterations, batch_frames=cfg.batch_frames,
        ),
    }
    print(json.dumps(report))
    return report


if __name__ == "__main__":
    main()
