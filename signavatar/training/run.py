"""Training as one call: dataset -> gloss embeddings -> Ray Train -> checkpoint copied into the run
directory -> a summary dict. (Which dataset, and building it, is the entry point's business:
``workflows.common.resolve_dataset``.)"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from signavatar import storage
from signavatar.config import SignAvatarConfig
from signavatar.model.clip_encoder import ClipConditioner
from signavatar.motion import arrow_io
from signavatar.training import ray_trainer
from signavatar.model.checkpoint import FILENAME, load_checkpoint

log = logging.getLogger(__name__)


def train_glosses(dataset_uri: str) -> list[str]:
    manifest = arrow_io.read_manifest(dataset_uri)
    glosses = sorted(manifest["glosses"])
    if not glosses:
        raise ValueError(f"dataset {dataset_uri} has no clips")
    return glosses


def train(config: SignAvatarConfig, dataset: str) -> dict:
    """Train on ``dataset`` (a Parquet dataset dir, local or s3://) with Ray Train; the final checkpoint
    is copied to ``<run_dir>/checkpoint``."""
    glosses = train_glosses(dataset)
    embeddings = ClipConditioner(config.clip).encode_text(glosses)
    result = ray_trainer.fit(config, dataset, glosses, embeddings)
    if result.error:
        raise RuntimeError(f"training failed: {result.error}") from result.error
    final = storage.join(config.run_dir, "checkpoint")
    with result.checkpoint.as_directory() as directory:
        data = (Path(directory) / FILENAME).read_bytes()
        history = load_checkpoint(directory)["history"]  # every epoch (Ray keeps only checkpointed reports)
    storage.write_bytes(storage.join(final, FILENAME), data)
    last = history[-1]
    summary = {
        "dataset": dataset,
        "checkpoint": final,
        "ray_checkpoint": result.checkpoint.path,
        "glosses": glosses,
        "epochs": int(last["epoch"]) + 1,
        "final": {k: float(last[k]) for k in ("loss", "rec", "kl", "mask_ratio")},
        "clips_per_s": float(np.mean([h["clips_per_s"] for h in history[len(history) // 2:]])),
        "num_workers": config.train.num_workers,
    }
    log.info("trained %d epochs; checkpoint at %s", summary["epochs"], final)
    return summary
