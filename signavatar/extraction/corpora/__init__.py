"""Labelled landmark corpora (no video): list their sequences as tasks, read one sequence as
``HolisticLandmarks``. Layouts (``extract.source``):

* ``mpdata`` (``mpdata``): ``<sign>/<sequence>/<frame>.npy``, or its pack (``mpdata_pack``);
* ``gislr`` (``gislr``): Kaggle ISLR, ``train.csv`` + one Parquet file per sequence;
* ``pose`` (``pose_folder``): ``.pose`` files labelled by folder or by a CSV;
* ``auto``: detected from the folder (``detect_source``).

Listing runs on the driver and reads only names and label files; each sequence is read by the
actor that fits it. Local folders and ``s3://`` prefixes alike.
"""

from __future__ import annotations

from typing import Any

from signavatar import storage
from signavatar.config import CorpusPart, ExtractConfig
from signavatar.extraction.corpora import gislr, mpdata, mpdata_pack, pose_folder
from signavatar.extraction.corpora.base import CorpusLayoutError, CorpusReadError, Limits, basename
from signavatar.extraction.corpus_index import VideoTask, select_and_split
from signavatar.extraction.landmarks import HolisticLandmarks

__all__ = ["CorpusLayoutError", "CorpusReadError", "Limits", "build_tasks", "corpus_info", "detect_source",
           "read_sequence"]

DEFAULT_FPS = {"mpdata": mpdata.DEFAULT_FPS, "gislr": gislr.DEFAULT_FPS}


def detect_source(root: str) -> str:
    """``mpdata``, ``gislr`` or ``pose``, from what the folder holds."""
    if mpdata_pack.is_pack(root):
        return "mpdata"
    if storage.exists(storage.join(root, gislr.LABELS)):
        return "gislr"
    entries = storage.listdir(root)
    if any(e.endswith(pose_folder.POSE_EXT) for e in entries):
        return "pose"
    signs = mpdata.subdirectories(root)
    if signs:
        first = storage.join(root, signs[0])
        if storage.listdir(first, pose_folder.POSE_EXT):
            return "pose"
        sequences = mpdata.subdirectories(first)
        if sequences and storage.listdir(storage.join(first, sequences[0]), ".npy"):
            return "mpdata"
    raise CorpusLayoutError(
        f"cannot tell the layout of {root}: name it with extract.source=mpdata|gislr|pose "
        "(mpdata: <sign>/<sequence>/<frame>.npy or mpdata_pack.json; gislr: train.csv; pose: .pose files)"
    )


def resolve_source(cfg: ExtractConfig) -> str:
    """The layout of ``extract.input`` (every folder of a list alike)."""
    if not cfg.inputs:
        raise ValueError(f"extract.source={cfg.source} needs extract.input (the corpus folder or s3:// prefix)")
    if cfg.source != "auto":
        return cfg.source
    sources = {part.path: detect_source(part.path) for part in cfg.inputs}
    if len(set(sources.values())) > 1:
        raise CorpusLayoutError(f"the folders of extract.input hold different layouts: {sources}")
    return next(iter(sources.values()))


def _fps(cfg: ExtractConfig, source: str) -> float:
    return cfg.input_fps or DEFAULT_FPS[source]


def _list_folder(cfg: ExtractConfig, source: str, part: CorpusPart) -> list[VideoTask]:
    limits = Limits.from_config(cfg)
    root = part.path
    if source == "mpdata":
        lister = mpdata_pack.list_pack if mpdata_pack.is_pack(root) else mpdata.list_tree
        return lister(root, _fps(cfg, source), part.group_size, cfg.skip_frames)
    if part.group_size is not None:
        raise ValueError(f"extract.group_size blocks mpdata sequence numbers; {source} corpora group by "
                         f"{'participant_id' if source == 'gislr' else 'the signer column of extract.labels'}")
    if source == "gislr":
        return gislr.list_sequences(root, limits, _fps(cfg, source), cfg.skip_frames)
    return pose_folder.list_sequences(root, cfg.labels, limits, cfg.skip_frames)


def list_sequences(cfg: ExtractConfig, source: str) -> list[VideoTask]:
    """Every sequence of the corpus (of every folder of ``extract.input``) as an unsplit task
    (``frame_start`` = ``skip_frames``); a clip id found in two folders is an error."""
    tasks: list[VideoTask] = []
    where: dict[str, str] = {}
    for part in cfg.inputs:
        for task in _list_folder(cfg, source, part):
            if task.clip_id in where:
                raise CorpusLayoutError(f"sequence {task.clip_id!r} is in both {where[task.clip_id]} and {part.path}: "
                                        "the folders of extract.input must hold different sequences")
            where[task.clip_id] = part.path
            tasks.append(task)
    return tasks


def build_tasks(cfg: ExtractConfig) -> tuple[str, list[VideoTask]]:
    """The layout and the tasks of an import run: list -> gloss filter -> split."""
    source = resolve_source(cfg)
    if cfg.labels and source != "pose":
        raise ValueError(f"extract.labels labels .pose files; {source} corpora carry their own labels")
    return source, select_and_split(list_sequences(cfg, source), cfg)


def read_sequence(task: VideoTask, cfg: ExtractConfig) -> HolisticLandmarks:
    """One sequence's landmarks, all frames (``frame_start`` is applied by the caller)."""
    limits = Limits.from_config(cfg)
    layout = task.extra["layout"]
    if layout == "pose":
        return pose_folder.read_sequence(task.uri, limits)
    if layout == "gislr":
        return gislr.read_sequence(task.uri, limits, cfg.image_width, cfg.image_height, task.fps)
    if layout == "mpdata":
        values = mpdata.read_tree_values(task.uri, limits)
    elif layout == "mpdata_pack":
        values = mpdata_pack.read_sequence_values(task.uri, int(task.extra["index"]), limits)
    else:
        raise ValueError(f"{task.clip_id}: unknown corpus layout {layout!r}")
    return mpdata.values_to_landmarks(values, cfg.image_width, cfg.image_height, task.fps, task.uri)


def corpus_info(cfg: ExtractConfig, source: str) -> dict[str, Any]:
    """What the manifest records about the corpus read (beside its glosses, splits and rule)."""
    info: dict[str, Any] = {
        "name": cfg.corpus_name or "+".join(basename(part.path) for part in cfg.inputs),
        "source": source,
        "input": [part.model_dump() for part in cfg.inputs] if isinstance(cfg.input, list) else cfg.input,
        "skip_frames": cfg.skip_frames,
    }
    if source == "mpdata" and all(mpdata_pack.is_pack(part.path) for part in cfg.inputs):
        info["packed"] = True
    if source in DEFAULT_FPS:
        info.update(image_size=[cfg.image_width, cfg.image_height], fps=_fps(cfg, source))
    if cfg.labels:
        info["labels"] = cfg.labels
    return info
