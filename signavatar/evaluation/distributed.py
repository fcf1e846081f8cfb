"""Ray Data glue for evaluation: the Raw/Rec groups (from the dataset's Parquet shards) and the Gen
group (from generation jobs) are produced and pushed through the recognizer in actor pools, so an
evaluation of 100k clips scales out. The math lives in ``evaluation.protocol``."""

from __future__ import annotations

import logging
from collections import defaultdict

import numpy as np
import pyarrow as pa
import ray
import torch

from signavatar import storage
from signavatar.config import EvalConfig
from signavatar.evaluation.protocol import SPLITS, GroupOutputs, generated, raw_and_reconstructed, recognize
from signavatar.evaluation.recognizer_training import load_recognizer
from signavatar.model.pipeline import SignAvatar
from signavatar.motion import arrow_io
from signavatar.motion.clip import FEATURE_DIM

log = logging.getLogger(__name__)


class _Scorer:
    """Holds the CVAE and the recognizer on this actor's device."""

    def __init__(self, checkpoint: str, recognizer: str, cfg: dict):
        device = "cuda" if torch.cuda.is_available() else "cpu"
        self.cfg = EvalConfig.model_validate(cfg)
        self.avatar = SignAvatar.from_checkpoint(checkpoint, device=device)
        self.recognizer, classes = load_recognizer(recognizer, map_location=device)
        self.class_index = {g: i for i, g in enumerate(classes)}

    def _rows(self, groups: list[str], glosses: list[str], motion: torch.Tensor) -> dict[str, np.ndarray]:
        labels = np.array([self.class_index[g] for g in glosses])
        out = recognize(self.recognizer, motion, labels, self.cfg.feature_batch_size)
        return {"group": np.array(groups), "label": out.labels, "feature": out.features, "logits": out.logits}


class ClipGroupScorer(_Scorer):
    """A batch of dataset clips -> their Raw and Rec rows."""

    def __call__(self, table: pa.Table) -> dict[str, np.ndarray]:
        clips = [c for c in arrow_io.table_to_clips(table) if c.split in SPLITS]
        if not clips:
            return self._rows([], [], torch.zeros(0, self.avatar.config.model.num_frames, FEATURE_DIM))
        raw, rec = raw_and_reconstructed(self.avatar, clips, self.cfg.seed)
        groups = [f"Raw_{c.split}" for c in clips] + [f"Rec_{c.split}" for c in clips]
        glosses = [c.gloss for c in clips] * 2
        return self._rows(groups, glosses, torch.cat([raw, rec]))


class GenGroupScorer(_Scorer):
    """A batch of generation jobs (gloss, split, seed) -> their Gen rows."""

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        glosses = [str(g) for g in batch["gloss"]]
        motion = generated(self.avatar, glosses, [int(s) for s in batch["seed"]])
        return self._rows([f"Gen_{s}" for s in batch["split"]], glosses, motion)


def generation_jobs(index: list[dict[str, str]], cfg: EvalConfig) -> list[dict]:
    """``gen_samples_per_class`` jobs for each (split, gloss) present in the dataset."""
    pairs = sorted({(row["split"], row["gloss"]) for row in index if row["split"] in SPLITS})
    return [{"split": split, "gloss": gloss, "seed": cfg.seed * 1_000_003 + n * 7919 + i}
            for n, (split, gloss) in enumerate(pairs) for i in range(cfg.gen_samples_per_class)]


def score_all_groups(checkpoint: str, recognizer: str, dataset: str, index: list[dict[str, str]],
                     cfg: EvalConfig) -> dict[str, GroupOutputs]:
    """Recognizer outputs for every Raw/Rec/Gen x train/test group, computed on Ray Data actor pools
    (``index``: the dataset's ``arrow_io.read_index``, read once by the caller)."""
    gpus = 1 if ray.cluster_resources().get("GPU", 0) >= cfg.num_actors else 0
    common = dict(fn_constructor_kwargs={"checkpoint": checkpoint, "recognizer": recognizer,
                                         "cfg": cfg.model_dump(mode="json")},
                  compute=ray.data.ActorPoolStrategy(size=cfg.num_actors), num_gpus=gpus,
                  batch_size=cfg.feature_batch_size)
    filesystem, _ = storage.ray_storage(dataset)
    shards = [storage.ray_storage(s)[1] for s in arrow_io.shard_uris(dataset)]
    clips = ray.data.read_parquet(shards, filesystem=filesystem)
    scored = [clips.map_batches(ClipGroupScorer, batch_format="pyarrow", **common)]
    jobs = generation_jobs(index, cfg)
    if jobs:
        scored.append(ray.data.from_items(jobs).map_batches(GenGroupScorer, batch_format="numpy", **common))
    parts: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for ds in scored:
        for batch in ds.iter_batches(batch_format="numpy", batch_size=None):
            for group in np.unique(batch["group"]):
                rows = batch["group"] == group
                for key in ("feature", "logits", "label"):
                    parts[str(group)][key].append(batch[key][rows])
    return {group: GroupOutputs(np.concatenate(p["feature"]), np.concatenate(p["logits"]), np.concatenate(p["label"]))
            for group, p in sorted(parts.items())}
