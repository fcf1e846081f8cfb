"""The video corpus: a WLASL-format index, gloss filtering and the train/test splits (shared with
the landmark corpora of ``signavatar.extraction.corpora``).

WLASL index format (``WLASL_v0.3.json``): a list of ``{"gloss": str, "instances": [...]}``; each
instance has ``video_id``, ``frame_start`` (1-based), ``frame_end`` (1-based inclusive, ``-1`` =
to the end), ``fps``, ``bbox`` (``[x1, y1, x2, y2]`` pixels of the source video), ``signer_id``,
``split`` and more (``url``, ``source``, ...), kept in ``source``. The video of an instance is
``<videos>/<video_id><ext>``.

In a ``VideoTask`` frame ranges are 0-based, end exclusive (``frame_end`` None = to the end).
"""

from __future__ import annotations

import json
import logging
import zlib
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from signavatar import storage
from signavatar.config import ExtractConfig

log = logging.getLogger(__name__)


class CorpusIndexError(ValueError):
    """A malformed index file or entry; the message names the file and the entry."""


@dataclass
class VideoTask:
    """One video (or landmark sequence) to extract: its clip id (the video id), gloss, split, file
    URI, frame range (0-based, end exclusive, None = to the end), index fps (None = the file's),
    person box ``[x1, y1, x2, y2]`` or None, signer id and the rest of the index entry (for a
    landmark sequence: its layout, and its ``group`` for ``split=group``)."""

    clip_id: str
    gloss: str
    split: str
    uri: str
    frame_start: int = 0
    frame_end: int | None = None
    fps: float | None = None
    bbox: list[float] | None = None
    signer_id: Any = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> VideoTask:
        return cls(**json.loads(text))


def _instance_task(gloss: str, instance: dict, videos: str, ext: str, where: str) -> VideoTask:
    if not isinstance(instance, dict) or "video_id" not in instance:
        raise CorpusIndexError(f"{where}: an instance of gloss {gloss!r} has no 'video_id'")
    video_id = str(instance["video_id"])
    start = int(instance.get("frame_start", 1))
    end = int(instance.get("frame_end", -1))
    if start < 1 or (end != -1 and end < start):
        raise CorpusIndexError(
            f"{where}: video {video_id!r} has frame range [{start}, {end}] (1-based, end -1 = to the end)"
        )
    bbox = instance.get("bbox")
    if bbox is not None and (len(bbox) != 4 or bbox[2] <= bbox[0] or bbox[3] <= bbox[1]):
        raise CorpusIndexError(
            f"{where}: video {video_id!r} has bbox {bbox}; expected [x1, y1, x2, y2] with x2 > x1, y2 > y1"
        )
    known = {"video_id", "frame_start", "frame_end", "fps", "bbox", "signer_id", "split"}
    return VideoTask(
        clip_id=video_id,
        gloss=gloss,
        split=str(instance.get("split", "unsplit")),
        uri=storage.join(videos, f"{video_id}{ext}"),
        frame_start=start - 1,
        frame_end=None if end == -1 else end,
        fps=float(instance["fps"]) if instance.get("fps") else None,
        bbox=None if bbox is None else [float(v) for v in bbox],
        signer_id=instance.get("signer_id"),
        extra={k: v for k, v in instance.items() if k not in known},
    )


def parse_index(entries: Any, videos: str, ext: str, where: str = "<index>") -> list[VideoTask]:
    """Every instance of a WLASL-format index as a task (unfiltered, index splits)."""
    if not isinstance(entries, list):
        raise CorpusIndexError(f"{where}: top level must be a list of {{'gloss', 'instances'}} entries")
    tasks: list[VideoTask] = []
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("gloss"), str)
            or not isinstance(entry.get("instances"), list)
        ):
            raise CorpusIndexError(f"{where}: entry {i} needs a string 'gloss' and a list 'instances'")
        for instance in entry["instances"]:
            task = _instance_task(entry["gloss"], instance, videos, ext, where)
            if task.clip_id in seen:
                raise CorpusIndexError(f"{where}: video_id {task.clip_id!r} appears twice")
            seen.add(task.clip_id)
            tasks.append(task)
    return tasks


def filter_glosses(tasks: list[VideoTask], min_videos: int, top_k: int | None) -> list[VideoTask]:
    """Keep glosses with at least ``min_videos`` videos, then the ``top_k`` with the most videos
    (ties broken by gloss name), as the paper builds ASL3DWord and its subset from WLASL."""
    counts = Counter(t.gloss for t in tasks)
    eligible = sorted((g for g, n in counts.items() if n >= min_videos), key=lambda g: (-counts[g], g))
    kept = set(eligible[:top_k] if top_k is not None else eligible)
    log.info(
        "glosses: %d in the index, %d with >= %d videos, %d kept", len(counts), len(eligible), min_videos, len(kept)
    )
    return [t for t in tasks if t.gloss in kept]


def _drawn(names: list[str], fraction: float, seed: int, stream: int, at_most: int) -> set[str]:
    """A seeded draw of ``round(n * fraction)`` of ``names`` (at least 1, at most ``at_most``;
    none when ``fraction`` is 0), depending only on the seed, the stream and the set of names."""
    if fraction <= 0 or at_most < 1:
        return set()
    count = min(max(int(round(len(names) * fraction)), 1), at_most)
    rng = np.random.default_rng([seed, zlib.crc32("\n".join(names).encode("utf-8"))] + ([stream] if stream else []))
    return {names[i] for i in rng.permutation(len(names))[:count]}


def split_per_gloss(tasks: list[VideoTask], test_fraction: float, seed: int, val_fraction: float = 0.0) -> list[VideoTask]:
    """Deterministic train/val/test split inside each gloss: ``round(n * test_fraction)`` videos (at
    least 1, at most n - 1) go to test, then ``round(n * val_fraction)`` of the rest (at least 1 when
    asked for, never the last train video) to val. The draws depend only on the seed, the gloss and
    its set of video ids, so they do not change when other glosses are added or the index is
    reordered, and the test draw is the same with or without a validation part."""
    by_gloss: dict[str, list[VideoTask]] = {}
    for task in tasks:
        by_gloss.setdefault(task.gloss, []).append(task)
    out: dict[str, str] = {}
    for gloss, group in by_gloss.items():
        ids = sorted(t.clip_id for t in group)
        if len(ids) < 2:
            out.update({i: "train" for i in ids})
            continue
        num_test = min(max(int(round(len(ids) * test_fraction)), 1), len(ids) - 1)
        rng = np.random.default_rng([seed, zlib.crc32(gloss.encode("utf-8"))])
        test = {ids[i] for i in rng.permutation(len(ids))[:num_test]}
        rest = [i for i in ids if i not in test]
        val = set()
        if val_fraction > 0 and len(rest) >= 2:
            num_val = min(max(int(round(len(ids) * val_fraction)), 1), len(rest) - 1)
            val_rng = np.random.default_rng([seed, zlib.crc32(gloss.encode("utf-8")), 1])
            val = {rest[i] for i in val_rng.permutation(len(rest))[:num_val]}
        out.update({i: "test" if i in test else "val" if i in val else "train" for i in ids})
    return [VideoTask(**{**asdict(t), "split": out[t.clip_id]}) for t in tasks]


def group_of(task: VideoTask) -> str:
    """The group ``split=group`` keeps together: the entry's ``group``, else its signer."""
    group = task.extra.get("group", task.signer_id)
    if group is None:
        raise CorpusIndexError(
            f"split=group: {task.clip_id!r} has no group (signer_id / participant_id, or extract.group_size for mpdata)"
        )
    return str(group)


def _named_groups(given: list[str] | None, groups: list[str], key: str) -> set[str] | None:
    if given is None:
        return None
    unknown = sorted(set(given) - set(groups), key=natural_key)
    if unknown:
        raise CorpusIndexError(f"extract.{key} {unknown} are not groups of this corpus (it has {groups})")
    return set(given)


def split_by_group(tasks: list[VideoTask], test_fraction: float, seed: int, test_groups: list[str] | None = None,
                   val_groups: list[str] | None = None, val_fraction: float = 0.0) -> list[VideoTask]:
    """Whole groups to one side: ``test_groups`` (every one must exist) or else a seeded draw of
    ``round(n * test_fraction)`` groups (at least 1) go to test; ``val_groups`` or else a seeded
    draw of ``round(n * val_fraction)`` of the groups left (none when 0) go to validation; at least
    one group stays for training. The draws depend only on the seed and the set of group names."""
    groups = sorted({group_of(t) for t in tasks}, key=natural_key)
    test = _named_groups(test_groups, groups, "test_groups")
    val = _named_groups(val_groups, groups, "val_groups")
    if test is None:
        if len(groups) < 2:
            raise CorpusIndexError(f"split=group needs at least two groups; the corpus has {groups}")
        test = _drawn(sorted(groups), test_fraction, seed, 0, len(groups) - 1 - len(val or ()))
    if val is None:
        rest = sorted(g for g in groups if g not in test)
        val = _drawn(rest, val_fraction, seed, 1, len(rest) - 1)
    if not set(groups) - test - val:
        raise CorpusIndexError(f"split=group leaves no group to train on: test {sorted(test)}, val {sorted(val)}")
    side = {g: "test" if g in test else "val" if g in val else "train" for g in groups}
    return [VideoTask(**{**asdict(t), "split": side[group_of(t)]}) for t in tasks]


def assign_splits(tasks: list[VideoTask], cfg: ExtractConfig) -> list[VideoTask]:
    """``cfg.split`` applied: per gloss (seeded), the index's own (train / val / test, else
    ``unsplit``), whole groups, or everything to test."""
    if cfg.split == "per_gloss":
        return split_per_gloss(tasks, cfg.test_fraction, cfg.seed, cfg.val_fraction)
    if cfg.split == "group":
        return split_by_group(tasks, cfg.test_fraction, cfg.seed, cfg.test_groups, cfg.val_groups, cfg.val_fraction)
    if cfg.split == "test":
        return [VideoTask(**{**asdict(t), "split": "test"}) for t in tasks]
    return [
        VideoTask(**{**asdict(t), "split": {"val": "val", "train": "train", "test": "test"}.get(t.split, "unsplit")})
        for t in tasks
    ]


def split_rule(cfg: ExtractConfig, tasks: list[VideoTask]) -> dict[str, Any]:
    """How the split was made, for the manifest (``split=group`` lists the groups of each side)."""
    rule: dict[str, Any] = {"rule": cfg.split}
    if cfg.split in ("per_gloss", "group"):
        rule.update(test_fraction=cfg.test_fraction, seed=cfg.seed)
    if cfg.split == "group":
        sides: dict[str, set[str]] = {}
        for task in tasks:
            sides.setdefault(task.split, set()).add(group_of(task))
        rule["group_by"] = sorted({str(t.extra.get("group_by", "signer_id")) for t in tasks})
        rule.update({f"{side}_groups": sorted(groups, key=natural_key) for side, groups in sorted(sides.items())})
        if cfg.test_groups is not None:
            rule["test_groups_given"] = True
        if cfg.val_groups is not None:
            rule["val_groups_given"] = True
    if cfg.split in ("per_gloss", "group") and (cfg.val_fraction or cfg.val_groups):
        rule["val_fraction"] = cfg.val_fraction
    return rule


def natural_key(name: str) -> tuple:
    """Numbers in numeric order (2 before 10), then other names."""
    return (0, int(name), "") if name.isdigit() else (1, 0, name)


def select_and_split(tasks: list[VideoTask], cfg: ExtractConfig) -> list[VideoTask]:
    """Gloss filter (``min_videos_per_gloss``, ``top_k_glosses``), then ``assign_splits``."""
    return assign_splits(filter_glosses(tasks, cfg.min_videos_per_gloss, cfg.top_k_glosses), cfg)


def build_tasks(cfg: ExtractConfig) -> list[VideoTask]:
    """The tasks of a video run: index -> gloss filter -> split (``assign_splits``)."""
    if not cfg.index or not cfg.videos:
        raise ValueError(
            "extract.index and extract.videos must both be set (index JSON and video folder or s3:// prefix); "
            "for a landmark corpus set extract.source=mpdata|gislr|pose|auto and extract.input"
        )
    try:
        entries = json.loads(storage.read_text(cfg.index))
    except json.JSONDecodeError as exc:
        raise CorpusIndexError(f"{cfg.index}: not valid JSON ({exc})") from exc
    return select_and_split(parse_index(entries, cfg.videos, cfg.video_ext, where=cfg.index), cfg)
