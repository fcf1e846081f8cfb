"""Motion clips as Arrow tables and Parquet shards with a manifest.

Schema (one row per clip): per-frame tensors are Arrow lists of fixed-size frames
(``poses: list<fixed_size_list<float32, 165>>``), so clips of different length share one schema and
each frame keeps its fixed shape. Ray Data reads the shards with ``read_parquet`` and hands the
same tables to :func:`table_to_clips`. ``segments`` (a signed sentence's signs and transitions) is a
nullable list of structs; tables written before it existed have no such column and read as None.
"""

from __future__ import annotations

import io
import json
import logging
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from signavatar import storage
from signavatar.body.joints import NUM_JOINTS
from signavatar.motion.clip import NUM_BETAS, NUM_EXPRESSION, MotionClip

log = logging.getLogger(__name__)

FORMAT = "signavatar.motion/1"
MANIFEST = "manifest.json"
POSE_DIM = NUM_JOINTS * 3


def _frames(width: int) -> pa.DataType:
    return pa.list_(pa.list_(pa.float32(), width))


SEGMENT = pa.struct([("gloss", pa.string()), ("start", pa.int32()), ("end", pa.int32()), ("kind", pa.string())])
OPTIONAL_COLUMNS = ("segments",)


SCHEMA = pa.schema(
    [
        ("gloss", pa.string()),
        ("clip_id", pa.string()),
        ("split", pa.string()),
        ("fps", pa.float64()),
        ("num_frames", pa.int32()),
        ("poses", _frames(POSE_DIM)),
        ("expression", _frames(NUM_EXPRESSION)),
        ("betas", pa.list_(pa.float32(), NUM_BETAS)),
        ("trans", _frames(3)),
        ("confidence", pa.list_(pa.float32())),
        ("source", pa.string()),
        ("segments", pa.list_(SEGMENT)),
    ],
    metadata={"format": FORMAT},
)


def frame_array(arrays: Sequence[np.ndarray], width: int) -> pa.Array:
    """Per-row ``[T_i, width]`` arrays -> one ``list<fixed_size_list<float32, width>>`` column."""
    flat = np.concatenate([a.reshape(-1) for a in arrays]).astype(np.float32)
    frames = pa.FixedSizeListArray.from_arrays(pa.array(flat, pa.float32()), width)
    offsets = np.concatenate([[0], np.cumsum([a.shape[0] for a in arrays])]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), frames)


def clips_to_table(clips: Sequence[MotionClip]) -> pa.Table:
    clips = [c.validate() for c in clips]
    columns = {
        "gloss": pa.array([c.gloss for c in clips], pa.string()),
        "clip_id": pa.array([c.clip_id for c in clips], pa.string()),
        "split": pa.array([c.split for c in clips], pa.string()),
        "fps": pa.array([c.fps for c in clips], pa.float64()),
        "num_frames": pa.array([c.num_frames for c in clips], pa.int32()),
        "poses": frame_array([c.poses.reshape(c.num_frames, POSE_DIM) for c in clips], POSE_DIM),
        "expression": frame_array([c.expression for c in clips], NUM_EXPRESSION),
        "betas": pa.FixedSizeListArray.from_arrays(
            pa.array(np.concatenate([c.betas for c in clips]) if clips else np.zeros(0, np.float32), pa.float32()),
            NUM_BETAS,
        ),
        "trans": frame_array([c.trans for c in clips], 3),
        "confidence": pa.array(
            [None if c.confidence is None else c.confidence.tolist() for c in clips], pa.list_(pa.float32())
        ),
        "source": pa.array([json.dumps(c.source, sort_keys=True) for c in clips], pa.string()),
        "segments": pa.array(
            [None if c.segments is None else [s.to_dict() for s in c.segments] for c in clips], pa.list_(SEGMENT)
        ),
    }
    return pa.table(columns, schema=SCHEMA)


def unflatten(column: pa.ChunkedArray | pa.Array, row: int) -> np.ndarray:
    """Row ``row`` of a ``frame_array`` column back to ``[T, width]`` float32."""
    frames = column[row].values  # FixedSizeListArray for this row
    width = frames.type.list_size
    return np.asarray(frames.flatten().to_numpy(zero_copy_only=False), dtype=np.float32).reshape(-1, width)


def table_to_clips(table: pa.Table) -> list[MotionClip]:
    """Rows back to validated clips (a bad row raises, naming the clip)."""
    missing = [name for name in SCHEMA.names if name not in table.column_names and name not in OPTIONAL_COLUMNS]
    if missing:
        raise ValueError(f"table is not a motion-clip table: missing columns {missing}")
    table = table.combine_chunks()
    cols = {name: table.column(name) for name in SCHEMA.names if name in table.column_names}
    clips = []
    for i in range(table.num_rows):
        conf = cols["confidence"][i]
        segments = cols["segments"][i].as_py() if "segments" in cols else None
        clips.append(
            MotionClip(
                gloss=cols["gloss"][i].as_py(),
                clip_id=cols["clip_id"][i].as_py(),
                split=cols["split"][i].as_py(),
                fps=cols["fps"][i].as_py(),
                poses=unflatten(cols["poses"], i).reshape(-1, NUM_JOINTS, 3),
                expression=unflatten(cols["expression"], i),
                betas=np.asarray(cols["betas"][i].as_py(), np.float32),
                trans=unflatten(cols["trans"], i),
                confidence=None if not conf.is_valid else np.asarray(conf.as_py(), np.float32),
                source=json.loads(cols["source"][i].as_py()),
                segments=segments,
            )
        )
    return clips


def write_shard(clips: Sequence[MotionClip], uri: str) -> None:
    """One Parquet file, written atomically (local rename or single S3 PUT)."""
    buffer = io.BytesIO()
    pq.write_table(clips_to_table(clips), buffer, compression="zstd")
    storage.write_bytes(uri, buffer.getvalue())


def read_shard(uri: str) -> list[MotionClip]:
    return table_to_clips(pq.read_table(io.BytesIO(storage.read_bytes(uri))))


def build_manifest(clips: Iterable[MotionClip], shards: Sequence[str], **extra) -> dict:
    clips = list(clips)
    return {
        "format": FORMAT,
        "num_clips": len(clips),
        "shards": list(shards),
        "glosses": dict(sorted(Counter(c.gloss for c in clips).items())),
        "splits": dict(sorted(Counter(c.split for c in clips).items())),
        **extra,
    }


def write_dataset(clips: Sequence[MotionClip], uri: str, shard_size: int = 256, **manifest_extra) -> dict:
    """Shards ``part-00000.parquet``, ... plus ``manifest.json`` under ``uri``; returns the manifest.

    Clip ids must be unique: a duplicate is an error naming it."""
    seen: set[str] = set()
    for clip in clips:
        if clip.clip_id in seen:
            raise ValueError(f"duplicate clip_id {clip.clip_id!r} in dataset {uri}")
        seen.add(clip.clip_id)
    storage.makedirs(uri)
    shards = []
    for start in range(0, len(clips), shard_size):
        name = f"part-{start // shard_size:05d}.parquet"
        write_shard(clips[start : start + shard_size], storage.join(uri, name))
        shards.append(name)
    manifest = build_manifest(clips, shards, **manifest_extra)
    storage.write_text(storage.join(uri, MANIFEST), json.dumps(manifest, indent=2))
    log.info("wrote %d clips in %d shards to %s", len(clips), len(shards), uri)
    return manifest


def read_manifest(uri: str) -> dict:
    manifest_uri = storage.join(uri, MANIFEST)
    try:
        manifest = json.loads(storage.read_text(manifest_uri))
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"no motion dataset at {uri}: {MANIFEST} not found") from exc
    if manifest.get("format") != FORMAT:
        raise ValueError(f"{manifest_uri}: format {manifest.get('format')!r}, expected {FORMAT!r}")
    return manifest


def shard_uris(uri: str) -> list[str]:
    return [storage.join(uri, name) for name in read_manifest(uri)["shards"]]


def read_index(uri: str) -> list[dict[str, str]]:
    """``clip_id``, ``gloss`` and ``split`` of every clip, reading only those columns."""
    rows = []
    for shard in shard_uris(uri):
        table = pq.read_table(io.BytesIO(storage.read_bytes(shard)), columns=["clip_id", "gloss", "split"])
        rows += table.to_pylist()
    return rows


def read_dataset(uri: str, split: str | None = None) -> list[MotionClip]:
    """All clips of a dataset (optionally one split), in shard order."""
    clips = [clip for shard in shard_uris(uri) for clip in read_shard(shard)]
    return [c for c in clips if split is None or c.split == split]
