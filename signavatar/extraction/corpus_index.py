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


def split_per_gloss(tasks: list[VideoTask], test_fraction: float, seed: int) -> list[VideoTask]:
    """Deterministic train/test split inside each gloss: ``round(n * test_fraction)`` videos (at
    least 1, at most n - 1) go to test. The draw depends only on the seed, the gloss and its set of
    video ids, so it does not change when other glosses are added or the index is reordered."""
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
        out.update({i: "test" if i in test else "train" for i in ids})
    return [VideoTask(**{**asdict(t), "split": out[t.clip_id]}) for t in tasks]


def group_of(task: VideoTask) -> str:
    """The group ``split=group`` keeps together: the entry's ``group``, else its signer."""
    group = task.extra.get("group", task.signer_id)
    if group is None:
        raise CorpusIndexError(
            f"split=group: {task.clip_id!r} has no group (signer_id / participant_id, or extract.group_size for mpdata)"
        )
    return str(group)


def split_by_group(
    tasks: list[VideoTask], test_fraction: float, seed: int, test_groups: list[str] | None = None
) -> list[VideoTask]:
    """Whole groups to one side. ``test_groups`` (every one must exist) or else a seeded draw of
    ``round(n * test_fraction)`` groups (at least 1, at most n - 1) go to test; the draw depends only
    on the seed and the set of group names."""
    groups = sorted({group_of(t) for t in tasks})
    if test_groups is not None:
        unknown = sorted(set(test_groups) - set(groups))
        if unknown:
            raise CorpusIndexError(f"extract.test_groups {unknown} are not groups of this corpus (it has {groups})")
        test = set(test_groups)
    elif len(groups) < 2:
        raise CorpusIndexError(f"split=group needs at least two groups; the corpus has {groups}")
    else:
        num_test = min(max(int(round(len(groups) * test_fraction)), 1), len(groups) - 1)
        rng = np.random.default_rng([seed, zlib.crc32("\n".join(groups).encode("utf-8"))])
        test = {groups[i] for i in rng.permutation(len(groups))[:num_test]}
    return [VideoTask(**{**asdict(t), "split": "test" if group_of(t) in test else "train"}) for t in tasks]


def assign_splits(tasks: list[VideoTask], cfg: ExtractConfig) -> list[VideoTask]:
    """``cfg.split`` applied: per gloss (seeded), the index's own (train / val / test, else
    ``unsplit``), whole groups, or everything to test."""
    if cfg.split == "per_gloss":
        return split_per_gloss(tasks, cfg.test_fraction, cfg.seed)
    if cfg.split == "group":
        return split_by_group(tasks, cfg.test_fraction, cfg.seed, cfg.test_groups)
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
