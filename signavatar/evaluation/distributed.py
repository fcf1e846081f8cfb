"""Ray glue for evaluation; the math lives in ``evaluation.protocol``.

One pool of ``eval.num_actors`` actors, each loading the CVAE and the recognizer once, runs both
stages:
1. the dataset's Parquet shards -> per clip, what every repetition needs (``protocol.encode_clips``:
   the Raw clip's recognizer outputs, its posterior and joint positions), one shard per call,
   collected into one small table;
2. one call per repetition -> its Rec/Gen draws and temperature curve in one stream of decoder and
   recognizer passes (``protocol.draw_repetitions``), then its metrics (``protocol.score_repetition``),
   DTW joint errors (``protocol.score_faithfulness``) and quality figures (``quality.score_quality``);
   the table of stage 1 reaches the actors through the object store.
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
from signavatar.evaluation import judging, protocol, quality
from signavatar.evaluation.recognizer_training import load_recognizer
from signavatar.extraction.landmark_store import read_landmarks
from signavatar.judge.training import load_judge
from signavatar.model.pipeline import SignAvatar
from signavatar.motion import arrow_io
from signavatar.seeding import repetition_seed

log = logging.getLogger(__name__)


class Evaluator:
    """Holds the CVAE and the recognizer on this actor's device (``cfg.cpus_per_actor`` threads)."""

    def __init__(self, checkpoint: str, recognizer: str, cfg: dict, rest_joints: np.ndarray, judge: str | None):
        self.cfg = EvalConfig.model_validate(cfg)
        device = torch_device()
        torch.set_num_threads(max(int(self.cfg.cpus_per_actor), 1))
        self.avatar = SignAvatar.from_checkpoint(checkpoint, device=device)
        self.recognizer, classes = load_recognizer(recognizer, map_location=device,
                                                   precision=self.cfg.recognizer_precision)
        self.class_index = {g: i for i, g in enumerate(classes)}
        self.rest_joints = np.array(rest_joints)  # a writable copy of the object-store array
        self.judge, self.judge_classes = load_judge(judge) if judge else (None, [])

    def judge_reference(self, dataset: str) -> dict[str, np.ndarray]:
        """``judging.JudgeReference`` columns of every train/val/test clip of ``dataset``."""
        clips = [c for c in arrow_io.read_dataset(dataset) if c.split in protocol.SPLITS]
        records = [r for split in protocol.SPLITS for r in read_landmarks(dataset, split)]
        keys = np.array([protocol.clip_key(c.clip_id) for c in clips], dtype=np.int64)
        return vars(judging.reference(self.judge, clips, records, keys, self.rest_joints))

    def encode(self, shard: str) -> dict[str, np.ndarray] | None:
        """One Parquet shard -> its train/val/test clips' ``protocol.ClipEncodings`` columns (None
        when it has none)."""
        clips = [c for c in arrow_io.read_shard(shard) if c.split in protocol.SPLITS]
        if not clips:
            return None
        return protocol.encode_clips(self.avatar, self.recognizer, clips, self.class_index, self.cfg.feature_batch_size,
                                     self.rest_joints)

    def score(self, repetition: int, encodings: dict[str, np.ndarray], fid_scales: dict[str, float],
              reference: dict[str, np.ndarray] | None) -> dict:
        """One repetition: ``{"repetition", "scores" (every group's metrics), "faithfulness" (DTW joint
        errors of every drawn group), "quality" ({split: figures} of the ``quality.REPORT_SPLITS``
        present), "judge" (``judging.score_judge``; with a judge), "cpu_seconds"}``
        (``fid_scales``: ``quality.fid_scale`` of the encodings per split; ``reference``: the
        ``judge_reference`` columns)."""
        cpu = time.process_time()
        clips = protocol.ClipEncodings(**encodings)
        seed = repetition_seed(self.cfg.seed, repetition)
        splits = [s for s in quality.REPORT_SPLITS if s in clips.split_rows()]
        [(drawn, curve)] = protocol.draw_repetitions(self.avatar, self.recognizer, clips, [seed],
                                                     self.cfg.feature_batch_size, self.rest_joints,
                                                     self.cfg.temperature_curve, splits[0] if splits else None,
                                                     self.judge)
        scores = protocol.score_repetition(clips.raw_groups(), drawn, self.cfg, seed)
        faithful = protocol.score_faithfulness(clips, drawn)
        judged = None
        if self.judge is not None and reference is not None:
            judged = judging.score_judge(judging.JudgeReference(**reference), self.judge_classes, clips.key,
                                         clips.gloss, clips.split_rows(),
                                         {name: group.judge_logits for name, group in drawn.items()})
        figures = {split: quality.score_quality(clips, drawn, scores, curve if split == splits[0] else {}, self.cfg,
                                                seed, fid_scales[split], split, faithful, judged) for split in splits}
        result = {"repetition": repetition, "scores": scores, "faithfulness": faithful, "quality": figures}
        if judged is not None:
            result["judge"] = judged
        return {**result, "cpu_seconds": time.process_time() - cpu}


def evaluator_pool(checkpoint: str, recognizer: str, cfg: EvalConfig, rest_joints: np.ndarray,
                   judge: str | None = None) -> ActorPool:
    """``cfg.num_actors`` ``Evaluator`` actors (one GPU each when the cluster has enough)."""
    gpus = 1 if cluster_has_gpus(cfg.num_actors) else 0
    actor = ray.remote(Evaluator).options(num_cpus=cfg.cpus_per_actor, num_gpus=gpus)
    config, rest = cfg.model_dump(mode="json"), ray.put(np.asarray(rest_joints))
    return ActorPool([actor.remote(checkpoint, recognizer, config, rest, judge) for _ in range(cfg.num_actors)])


def judge_reference(pool: ActorPool, dataset: str) -> dict[str, np.ndarray]:
    """The judge's logits of the dataset's raw landmarks and fits, by one actor."""
    [reference] = pool.map(lambda a, d: a.judge_reference.remote(d), [dataset])
    return reference


def _each(pool: ActorPool, call: Callable[[Any, Any], ray.ObjectRef], items: Iterable, what: str) -> Iterator:
    """``call`` on every item over the pool's actors, the results in the order of ``items`` whichever
    actor finishes first: concatenated encodings keep their row order from run to run, so every
    figure drawn from them (Diversity's pairs, sums in FID) is the same for the same seed."""
    items = list(items)
    for done, result in enumerate(pool.map(call, items), start=1):
        log.info("evaluation: %s %d/%d done", what, done, len(items))
        yield result


def encode_dataset(pool: ActorPool, dataset: str) -> protocol.ClipEncodings:
    """Stage 1: every train/val/test clip of ``dataset`` encoded once, shard by shard."""
    parts = _each(pool, lambda a, shard: a.encode.remote(shard), arrow_io.shard_uris(dataset), "shard")
    return protocol.ClipEncodings.concatenate(p for p in parts if p is not None)


def score_repetitions(pool: ActorPool, clips: protocol.ClipEncodings, repeats: int,
                      reference: dict[str, np.ndarray] | None = None) -> list[dict]:
    """Stage 2: ``repeats`` repetitions (each as ``Evaluator.score`` gives it), in repetition order."""
    encodings, reference = ray.put(clips.columns()), ray.put(reference)
    scales = {split: quality.fid_scale(clips, split) for split in quality.REPORT_SPLITS}  # the same for every repetition
    return list(_each(pool, lambda a, r: a.score.remote(r, encodings, scales, reference), range(repeats), "repetition"))
