"""Ray glue for evaluation; the math lives in ``evaluation.protocol``.

One pool of ``eval.num_actors`` actors, each loading the CVAE and the recognizer once, runs both
stages:
1. the dataset's Parquet shards -> per clip, what every repetition needs (``protocol.encode_clips``:
   the Raw clip's recognizer outputs and its posterior), one shard per call, collected into one
   small table;
2. one call per repetition -> that repetition's Rec/Gen draws and every group's metrics
   (``protocol.draw_repetition`` + ``protocol.score_repetition``); the table of stage 1 reaches the
   actors through the object store.
So shards and repetitions spread over the actors, and an evaluation of 100k clips scales out.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np
import ray
import torch
from ray.util import ActorPool

from signavatar.cluster import cluster_has_gpus
from signavatar.config import EvalConfig
from signavatar.devices import torch_device
from signavatar.evaluation import protocol, quality
from signavatar.evaluation.recognizer_training import load_recognizer
from signavatar.model.pipeline import SignAvatar
from signavatar.motion import arrow_io
from signavatar.seeding import repetition_seed

log = logging.getLogger(__name__)


class Evaluator:
    """Holds the CVAE and the recognizer on this actor's device (``cfg.cpus_per_actor`` threads)."""

    def __init__(self, checkpoint: str, recognizer: str, cfg: dict):
        self.cfg = EvalConfig.model_validate(cfg)
        device = torch_device()
        torch.set_num_threads(max(int(self.cfg.cpus_per_actor), 1))
        self.avatar = SignAvatar.from_checkpoint(checkpoint, device=device)
        self.recognizer, classes = load_recognizer(recognizer, map_location=device)
        self.class_index = {g: i for i, g in enumerate(classes)}

    def encode(self, shard: str) -> dict[str, np.ndarray] | None:
        """One Parquet shard -> its train/test clips' ``protocol.ClipEncodings`` columns (None when
        it has none)."""
        clips = [c for c in arrow_io.read_shard(shard) if c.split in protocol.SPLITS]
        if not clips:
            return None
        return protocol.encode_clips(self.avatar, self.recognizer, clips, self.class_index, self.cfg.feature_batch_size)

    def score(self, repetition: int, encodings: dict[str, np.ndarray],
              fid_scale: float) -> tuple[int, dict[str, dict], dict, float]:
        """``(repetition, every group's metrics, its generation-quality figures, CPU seconds spent)``
        of one repetition (``fid_scale``: ``quality.fid_scale`` of the encodings)."""
        cpu = time.process_time()
        clips = protocol.ClipEncodings(**encodings)
        seed = repetition_seed(self.cfg.seed, repetition)
        batch = self.cfg.feature_batch_size
        drawn = protocol.draw_repetition(self.avatar, self.recognizer, clips, seed, batch)
        scores = protocol.score_repetition(clips.raw_groups(), drawn, self.cfg, seed)
        figures = None
        if f"Gen_{quality.SPLIT}" in drawn:
            curve = quality.draw_curve(self.avatar, self.recognizer, clips, seed, self.cfg.temperature_curve, batch)
            figures = quality.score_quality(clips, drawn, scores, curve, self.cfg, seed, fid_scale)
        return repetition, scores, figures, time.process_time() - cpu


def evaluator_pool(checkpoint: str, recognizer: str, cfg: EvalConfig) -> ActorPool:
    """``cfg.num_actors`` ``Evaluator`` actors (one GPU each when the cluster has enough)."""
    gpus = 1 if cluster_has_gpus(cfg.num_actors) else 0
    actor = ray.remote(Evaluator).options(num_cpus=cfg.cpus_per_actor, num_gpus=gpus)
    return ActorPool([actor.remote(checkpoint, recognizer, cfg.model_dump(mode="json")) for _ in range(cfg.num_actors)])


def _each(pool: ActorPool, call: Callable[[Any, Any], ray.ObjectRef], items: Iterable, what: str) -> Iterator:
    items = list(items)
    for done, result in enumerate(pool.map_unordered(call, items), start=1):
        log.info("evaluation: %s %d/%d done", what, done, len(items))
        yield result


def encode_dataset(pool: ActorPool, dataset: str) -> protocol.ClipEncodings:
    """Stage 1: every train/test clip of ``dataset`` encoded once, shard by shard."""
    parts = _each(pool, lambda a, shard: a.encode.remote(shard), arrow_io.shard_uris(dataset), "shard")
    return protocol.ClipEncodings.concatenate(p for p in parts if p is not None)


def score_repetitions(pool: ActorPool, clips: protocol.ClipEncodings,
                      repeats: int) -> tuple[list[dict[str, dict]], list[dict], float]:
    """Stage 2: ``repeats`` repetitions in repetition order, each a ``score_repetition`` result and
    its ``quality.score_quality`` figures (none without a test split), and the CPU seconds the
    actors spent on them."""
    encodings = ray.put(clips.columns())
    scale = quality.fid_scale(clips)  # the same for every repetition
    repetitions: list[dict[str, dict]] = [{} for _ in range(repeats)]
    figures: list[dict | None] = [None] * repeats
    cpu_seconds = 0.0
    for repetition, scores, quality_figures, cpu in _each(pool, lambda a, r: a.score.remote(r, encodings, scale),
                                                          range(repeats), "repetition"):
        repetitions[repetition] = scores
        figures[repetition] = quality_figures
        cpu_seconds += cpu
    return repetitions, [f for f in figures if f is not None], cpu_seconds
