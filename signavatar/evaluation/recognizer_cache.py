"""The recognizer a dataset's evaluations share: trained once on Raw train per dataset and settings,
then reused (plain Python; the caller chooses where training runs).

An evaluation, the demo, each variant of an ablation and a sweep used to train the same ST-GCN on
the same Raw train clips again. Now a trained recognizer is kept beside the dataset, under
``<dataset>/recognizers/<fingerprint>.pt`` with its training figures in ``<fingerprint>.json``,
and the fingerprint is a SHA-256 over everything the weights depend on: the Raw train clips (id,
gloss, frame rate, poses, bit for bit), the frame count they are resampled to, the recognizer
settings of ``EvalConfig`` (architecture, epochs, batch size, learning rate, seed) and the
checkpoint format. A changed dataset or setting gives another fingerprint, so a stale recognizer is
never reused. Where the dataset's folder cannot be written (a read-only bucket), the recognizer is
trained for the run alone, as before.

Training reads the train split and, for the figure it reports, the validation split (never test:
sweeps call this too).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from signavatar import storage
from signavatar.config import EvalConfig
from signavatar.evaluation.recognizer_training import CHECKPOINT_FORMAT, save_recognizer, train_recognizer
from signavatar.motion import arrow_io
from signavatar.motion.clip import MotionClip
from signavatar.training.data import build_feature_set

log = logging.getLogger(__name__)

CACHE_DIR = "recognizers"
_SETTINGS = ("recognizer_epochs", "recognizer_batch_size", "recognizer_lr", "recognizer_weight_decay",
             "recognizer_hidden", "recognizer_feature_dim", "recognizer_dropout", "recognizer_graph",
             "feature_batch_size", "seed")


def fingerprint(train_clips: Sequence[MotionClip], num_frames: int, cfg: EvalConfig) -> str:
    """SHA-256 (hex) of what a recognizer trained on ``train_clips`` depends on (module docstring)."""
    digest = hashlib.sha256()
    settings = {key: getattr(cfg, key) for key in _SETTINGS}
    digest.update(json.dumps({"format": CHECKPOINT_FORMAT, "num_frames": num_frames, **settings},
                             sort_keys=True, default=list).encode())
    for clip in sorted(train_clips, key=lambda c: c.clip_id):
        digest.update(json.dumps([clip.clip_id, clip.gloss, float(clip.fps)]).encode())
        digest.update(clip.poses.tobytes())
    return digest.hexdigest()


def train_on_dataset(dataset: str, uri: str, num_frames: int, cfg: EvalConfig) -> dict[str, Any]:
    """Train the ST-GCN on the Raw train clips of ``dataset`` and save it to ``uri``; its figures
    (accuracy on the validation split, when the dataset has one) with the wall and CPU seconds."""
    started, cpu = time.perf_counter(), time.process_time()
    train = build_feature_set(arrow_io.read_dataset(dataset, split="train"), num_frames)
    val_clips = [c for c in arrow_io.read_dataset(dataset, split="val") if c.gloss in set(train.glosses)]
    val = build_feature_set(val_clips, num_frames, train.glosses) if val_clips else None
    model, history = train_recognizer(train.features.numpy(), train.labels.numpy(), len(train.glosses), cfg,
                                      val=(val.features.numpy(), val.labels.numpy()) if val else None)
    save_recognizer(model, train.glosses, uri)
    last = history[-1]
    return {"epochs": len(history), "train_acc": last["train_acc"], "val_acc": last.get("val_acc"),
            "seconds": round(time.perf_counter() - started, 2), "cpu_seconds": round(time.process_time() - cpu, 2)}


Trainer = Callable[[str, str, int, EvalConfig], dict[str, Any]]


def trained_once(dataset: str, target: str, folder: str, key: str,
                 train: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
    """What ``train(uri)`` writes at ``uri`` (a model trained on ``dataset``), at ``target``: copied
    from ``<dataset>/<folder>/<key>.pt`` when the cache holds it, else trained there and copied (or,
    where the dataset's folder cannot be written, trained at ``target`` alone). Returns the training
    figures (kept beside as ``<key>.json``) with ``cached`` (reused) and ``fingerprint``."""
    cached = storage.join(dataset, folder, f"{key}.pt")
    figures_uri = storage.join(dataset, folder, f"{key}.json")
    if storage.exists(cached) and storage.exists(figures_uri):
        figures = {**json.loads(storage.read_text(figures_uri)), "cached": True}
        log.info("%s %s… of %s reused (trained on the same data with the same settings)", folder, key[:12], dataset)
    else:
        try:
            figures = {**train(cached), "cached": False}
            storage.write_text(figures_uri, json.dumps(figures))
        except OSError as exc:  # a dataset folder we may not write to
            log.warning("cannot keep the %s beside %s (%s); training for this run only", folder, dataset, exc)
            return {**train(target), "cached": False, "fingerprint": key}
    if cached != target:
        storage.write_bytes(target, storage.read_bytes(cached))
    return {**figures, "fingerprint": key}


def ensure_recognizer(dataset: str, target: str, num_frames: int, cfg: EvalConfig,
                      trainer: Trainer = train_on_dataset) -> dict[str, Any]:
    """A recognizer for ``dataset`` at ``target`` (``trained_once``): reused when the cache holds
    one of the same fingerprint, else trained by ``trainer`` (``train_on_dataset``'s signature)."""
    key = fingerprint(arrow_io.read_dataset(dataset, split="train"), num_frames, cfg)
    return trained_once(dataset, target, CACHE_DIR, key, lambda uri: trainer(dataset, uri, num_frames, cfg))
