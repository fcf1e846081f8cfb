"""The raw-landmark judge along the chain, per gloss: how much of each sign survives fitting,
reconstruction and generation, judged by a recognizer that never saw a fit.

The judge (``signavatar.judge``) is trained on the raw MediaPipe landmarks of the train split that
the importer keeps beside ``--dataset`` (``<dataset>/landmarks``), once per ``--seeds`` seed, and
scores, on the test split:

* ``Raw``: the test clips' raw landmarks;
* ``Fit``: the test clips (the fits) projected on the skeleton each was fitted with (its
  ``source["fit"]["bone_scale"]``); ``Fit_standard``: the same clips on the standard rest skeleton
  (where reconstructions and generations live);
* ``Fit_base`` with ``--base-dataset``: another import's test clips (e.g. an older fitter's),
  projected on their own skeletons;
* ``Rec`` and ``Gen`` with ``--checkpoint``: that CVAE's reconstructions of ``--rec-dataset``'s
  test clips (default ``--base-dataset``, else ``--dataset``: the data it was trained on) and
  ``--samples`` generated clips per gloss, on the standard skeleton.

Accuracy per group overall and per gloss, mean over the judge seeds (and the spread over them).

Without ``--dataset`` the embedded corpus is imported first as ``configs/demo.yaml`` imports it
(Ray Data, into ``runs/bench/judge_dataset``, reused by later runs).

    python -m benchmarks.bench_judge [--dataset runs/demo/dataset] [--base-dataset DIR]
        [--checkpoint runs/demo/checkpoint] [--seeds 3] [--samples 30] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks.timing import measure, summary
from signavatar.body.skeleton import DEFAULT_REST_JOINTS
from signavatar.config import JudgeConfig
from signavatar.extraction.landmark_store import read_landmarks
from signavatar.extraction.proportions import scaled_skeleton
from signavatar.judge import space
from signavatar.judge.training import class_labels, predict, train_judge
from signavatar.model.pipeline import SignAvatar
from signavatar.motion import arrow_io
from signavatar.motion.clip import MotionClip

TEST = "test"
REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATASET = REPO / "runs" / "bench" / "judge_dataset"


def _import_demo_corpus(output: Path) -> str:
    """The embedded corpus imported as the demo imports it (resumes: a finished import is reused)."""
    from signavatar.config import load_config
    from signavatar.extraction.pipeline import run_extraction
    from workflows.common import init_ray

    init_ray()
    run_extraction(load_config(str(REPO / "configs" / "demo.yaml"), [f"extract.output={output}"]))
    return str(output)


def _clip_group(clips: Sequence[MotionClip], own_skeleton: bool) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Clips projected into the judge's space, each on its fit's skeleton or the standard one."""
    items = [space.clip_features(c.poses, c.trans, scaled_skeleton(DEFAULT_REST_JOINTS, c.source.get("fit", {})
                                                                   .get("bone_scale") if own_skeleton else None))
             for c in clips]
    return *space.stack_clips(items), [c.gloss for c in clips]


def _model_groups(checkpoint: str, clips: Sequence[MotionClip], samples: int,
                  glosses: Sequence[str]) -> dict[str, tuple[np.ndarray, np.ndarray, list[str]]]:
    """Rec (one posterior sample per clip, seeded by its index) and Gen (``samples`` per gloss)."""
    avatar = SignAvatar.from_checkpoint(checkpoint)
    frames = avatar.config.model.num_frames
    features = torch.from_numpy(np.stack([c.resample(frames).to_features() for c in clips]))
    rec = avatar.reconstruct_features(features, avatar.text_embeddings([c.gloss for c in clips]),
                                      list(range(len(clips))))
    generated = avatar.generate_batch(avatar.text_embeddings(list(glosses)), [samples] * len(glosses),
                                      list(range(len(glosses))))
    out = {}
    for name, motion, labels in (("Rec", rec, [c.gloss for c in clips]),
                                 ("Gen", torch.cat(generated), [g for g in glosses for _ in range(samples)])):
        made = MotionClip.batch_from_features(motion.numpy(), glosses=labels, clip_ids=[f"{name}-{i}" for i in
                                              range(len(labels))], fps=avatar.fps, sources=[{}] * len(labels))
        out[name] = _clip_group(made, own_skeleton=False)
    return out


def _accuracy(logits: np.ndarray, labels: np.ndarray, classes: Sequence[str]) -> dict[str, float]:
    hit = logits.argmax(1) == labels
    return {"all": float(hit.mean()), **{g: float(hit[labels == i].mean()) for i, g in enumerate(classes)
                                          if (labels == i).any()}}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", help="an import with raw landmarks (<dataset>/landmarks); default: the "
                                          "embedded corpus imported into runs/bench/judge_dataset")
    parser.add_argument("--base-dataset", help="another import whose test fits are scored too (Fit_base)")
    parser.add_argument("--checkpoint", help="a CVAE checkpoint: Rec and Gen are scored too")
    parser.add_argument("--rec-dataset", help="whose test clips the checkpoint reconstructs (default: the base dataset)")
    parser.add_argument("--seeds", type=int, default=3, help="judges trained, each with its own seed")
    parser.add_argument("--samples", type=int, default=30, help="generated clips per gloss")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)

    args.dataset = args.dataset or _import_demo_corpus(DEFAULT_DATASET)
    train = read_landmarks(args.dataset, "train")
    test = read_landmarks(args.dataset, TEST)
    classes = sorted({r.gloss for r in train})
    raw = [space.stack_clips([space.landmark_features(r.points, r.weights) for r in records])
           for records in (train, test)]
    fits = arrow_io.read_dataset(args.dataset, TEST)
    groups = {"Raw": (*raw[1], [r.gloss for r in test]), "Fit": _clip_group(fits, True),
              "Fit_standard": _clip_group(fits, False)}
    if args.base_dataset:
        groups["Fit_base"] = _clip_group(arrow_io.read_dataset(args.base_dataset, TEST), True)
    if args.checkpoint:
        source = args.rec_dataset or args.base_dataset or args.dataset
        groups.update(_model_groups(args.checkpoint, arrow_io.read_dataset(source, TEST), args.samples, classes))

    scores: dict[str, list[dict[str, float]]] = {name: [] for name in groups}
    seconds = []
    for seed in range(args.seeds):
        with measure() as span:
            judge, history = train_judge(*raw[0], [r.gloss for r in train], classes, JudgeConfig(seed=seed))
        seconds.append(span.wall_s)
        for name, (features, masks, glosses) in groups.items():
            scores[name].append(_accuracy(predict(judge, features, masks), class_labels(glosses, classes), classes))
    table: dict[str, Any] = {}
    for name, runs in scores.items():
        keys = runs[0].keys()
        table[name] = {"clips": len(groups[name][2]),
                       "accuracy": {k: round(float(np.mean([r[k] for r in runs])), 3) for k in keys},
                       "spread": round(float(np.ptp([r["all"] for r in runs])), 3)}
    gaps = {g: round(table["Raw"]["accuracy"][g] - table["Fit"]["accuracy"][g], 3) for g in table["Raw"]["accuracy"]}
    report = {
        "dataset": args.dataset, "classes": classes, "train_clips": len(train), "groups": table,
        "raw_minus_fit": gaps,
        "summary": summary(
            {}, {"judge_train_s": round(float(np.mean(seconds)), 2),
                 **{f"{name}_acc": table[name]["accuracy"]["all"] for name in table},
                 "largest_raw_minus_fit": max(gaps.items(), key=lambda item: item[1])},
            torch_threads=torch.get_num_threads(), seeds=args.seeds,
        ),
    }
    print(json.dumps(report))
    return report


if __name__ == "__main__":
    main()
