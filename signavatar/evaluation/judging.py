"""The raw-landmark judge in the evaluation protocol: a faithfulness check the SMPL-X recognizer
cannot be, because it never saw a fit (``signavatar.judge``). Pure logic, no Ray.

The judge is trained once per dataset and settings (``recognizer_cache.trained_once``) on the raw
MediaPipe landmarks of the train split that the importer keeps beside the dataset
(``<dataset>/landmarks``). It scores, per split, four groups along the chain from the camera to the
model:

* ``Raw``: the split's raw landmarks, as recorded (cut as quality control cut the clip);
* ``Fit``: the split's clips projected on the skeleton each was fitted with (its
  ``source["fit"]["bone_scale"]``): what the fitter kept;
* ``Fit_std``: the same clips on the standard rest skeleton, where the model learns and where
  reconstructions and generations live (the step from Fit to Fit_std is the proportions alone);
* ``Rec`` and ``Gen``: every repetition's draws, on the standard skeleton.

Accuracy overall and per gloss. Raw and the fits do not change between repetitions (CI95 0); Rec
and Gen are fresh draws in each. A dataset without landmarks (a video corpus, the synthetic one)
has no judge rows.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from signavatar import storage
from signavatar.body.skeleton import DEFAULT_REST_JOINTS
from signavatar.config import JudgeConfig
from signavatar.evaluation.recognizer_cache import trained_once
from signavatar.extraction.landmark_store import LANDMARKS, LandmarkRecord, read_landmarks
from signavatar.extraction.proportions import scaled_skeleton
from signavatar.judge import space
from signavatar.judge.model import Judge
from signavatar.judge.training import CHECKPOINT_FORMAT, predict, save_judge, train_judge
from signavatar.motion.clip import MotionClip, poses_from_features

CACHE_DIR = "judges"
GROUPS = ("Raw", "Fit", "Fit_std", "Rec", "Gen")


def has_landmarks(dataset: str) -> bool:
    return storage.exists(storage.join(dataset, LANDMARKS))


def _features(records: Sequence[LandmarkRecord]) -> tuple[np.ndarray, np.ndarray]:
    return space.stack_clips([space.landmark_features(r.points, r.weights) for r in records])


def fingerprint(records: Sequence[LandmarkRecord], cfg: JudgeConfig) -> str:
    """SHA-256 of what a judge trained on ``records`` depends on: their ids, glosses and values,
    the settings and the checkpoint format."""
    digest = hashlib.sha256(json.dumps({"format": CHECKPOINT_FORMAT, **cfg.model_dump()}, sort_keys=True).encode())
    for record in sorted(records, key=lambda r: r.clip_id):
        digest.update(json.dumps([record.clip_id, record.gloss]).encode())
        digest.update(np.ascontiguousarray(record.points).tobytes())
        digest.update(np.ascontiguousarray(record.weights).tobytes())
    return digest.hexdigest()


def train_on_dataset(dataset: str, uri: str, cfg: JudgeConfig) -> dict[str, Any]:
    """Train the judge on ``dataset``'s train landmarks, save it to ``uri``; its figures (accuracy
    on the validation landmarks when there are some; never the test split's)."""
    started = time.perf_counter()
    train = read_landmarks(dataset, "train")
    classes = sorted({r.gloss for r in train})
    val = [r for r in read_landmarks(dataset, "val") if r.gloss in set(classes)]
    model, history = train_judge(*_features(train), [r.gloss for r in train], classes, cfg,
                                 val=(*_features(val), [r.gloss for r in val]) if val else None)
    save_judge(model, classes, uri)
    return {"epochs": len(history), "train_acc": history[-1]["train_acc"], "val_acc": history[-1].get("val_acc"),
            "clips": len(train), "seconds": round(time.perf_counter() - started, 2)}


def ensure_judge(dataset: str, target: str, cfg: JudgeConfig) -> dict[str, Any]:
    """The judge of ``dataset`` at ``target``, trained once per dataset and settings."""
    key = fingerprint(read_landmarks(dataset, "train"), cfg)
    return trained_once(dataset, target, CACHE_DIR, key, lambda uri: train_on_dataset(dataset, uri, cfg))


@dataclass
class JudgeReference:
    """The judge's logits of what does not change between repetitions, one row per clip (keyed by
    ``protocol.clip_key``): its raw landmarks, and the clip projected on its own skeleton and on the
    standard one."""

    key: np.ndarray  # [N]
    raw: np.ndarray  # [N, K]
    fit: np.ndarray  # [N, K]
    fit_std: np.ndarray  # [N, K]

    def rows(self, keys: np.ndarray) -> np.ndarray:
        """Positions in this reference of the clips ``keys`` (every one must be here)."""
        index = {int(k): i for i, k in enumerate(self.key)}
        missing = [int(k) for k in keys if int(k) not in index]
        if missing:
            raise ValueError(f"{len(missing)} clips have no raw landmarks beside the dataset")
        return np.array([index[int(k)] for k in keys], dtype=np.int64)


def clip_logits(judge: Judge, poses: np.ndarray, skeletons: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
    """The judge's logits of clips ``poses [N, T, 55, 3]``, each projected on its skeleton
    (``[N]`` rest skeletons, or one for all), the root unmoved (the judge's space is centred on the
    shoulders)."""
    if isinstance(skeletons, np.ndarray) and skeletons.ndim == 2:
        return predict(judge, *space.clip_features(poses, None, skeletons))
    items = [space.clip_features(p, None, s) for p, s in zip(poses, skeletons, strict=True)]
    return predict(judge, *space.stack_clips(items))


def reference(judge: Judge, clips: Sequence[MotionClip], records: Sequence[LandmarkRecord], keys: np.ndarray,
              rest_joints: np.ndarray = DEFAULT_REST_JOINTS) -> JudgeReference:
    """``JudgeReference`` of ``clips`` (their ``keys``) and their landmark ``records`` (by clip id)."""
    by_id = {r.clip_id: r for r in records}
    missing = [c.clip_id for c in clips if c.clip_id not in by_id]
    if missing:
        raise ValueError(f"clips {missing[:3]} have no raw landmarks beside the dataset")
    raw = predict(judge, *_features([by_id[c.clip_id] for c in clips]))
    own = [scaled_skeleton(rest_joints, c.source.get("fit", {}).get("bone_scale")) for c in clips]
    fit = predict(judge, *space.stack_clips([space.clip_features(c.poses, None, s) for c, s in zip(clips, own)]))
    fit_std = predict(judge, *space.stack_clips([space.clip_features(c.poses, None, rest_joints) for c in clips]))
    return JudgeReference(np.asarray(keys, np.int64), raw, fit, fit_std)


def feature_logits(judge: Judge, features: torch.Tensor, rest_joints: np.ndarray) -> np.ndarray:
    """The judge's logits of model features ``[N, T, 264]`` (decoded draws) on ``rest_joints``."""
    return clip_logits(judge, poses_from_features(features.numpy()), np.asarray(rest_joints))


def _accuracy(logits: np.ndarray, labels: np.ndarray, glosses: np.ndarray) -> dict:
    hit = logits.argmax(1) == labels
    return {"acc": float(hit.mean()) if len(hit) else float("nan"),
            "per_gloss": {str(g): float(hit[glosses == g].mean()) for g in sorted(set(glosses.tolist()))}}


def accuracy(logits: np.ndarray, glosses: np.ndarray, classes: Sequence[str]) -> dict:
    """``{"acc", "per_gloss"}`` of judge ``logits`` of clips of ``glosses`` (glosses the judge does
    not know are not scored)."""
    index = {g: i for i, g in enumerate(classes)}
    glosses = np.asarray(glosses)
    labels = np.array([index.get(str(g), -1) for g in glosses])
    known = labels >= 0
    return _accuracy(np.asarray(logits)[known], labels[known], glosses[known])


def score_judge(ref: JudgeReference, classes: Sequence[str], keys: np.ndarray, glosses: np.ndarray,
                splits: Mapping[str, np.ndarray], drawn: Mapping[str, np.ndarray]) -> dict[str, dict]:
    """One repetition's judge accuracies: ``{"<Group>_<split>": {"acc", "per_gloss"}}`` for Raw, Fit,
    Fit_std of every split (``splits``: row indices of each, into ``keys`` / ``glosses``) and the
    drawn groups (``drawn``: ``{"Rec_test": logits of the split's rows, ...}``). Glosses the judge
    does not know are not scored."""
    index = {g: i for i, g in enumerate(classes)}
    labels = np.array([index.get(str(g), -1) for g in glosses])
    where = ref.rows(keys)
    out = {}
    for split, rows in splits.items():
        rows = rows[labels[rows] >= 0]
        for group, logits in (("Raw", ref.raw), ("Fit", ref.fit), ("Fit_std", ref.fit_std)):
            out[f"{group}_{split}"] = _accuracy(logits[where[rows]], labels[rows], glosses[rows])
    for name, logits in drawn.items():
        out[name] = accuracy(logits, glosses[splits[name.split("_", 1)[1]]], classes)
    return out
