"""The raw landmarks of an imported dataset, kept beside its clips frame for frame.

Whatever judges the clips against the real signers (``signavatar.judge``) needs the landmarks the
fit was made from, cut exactly as quality control cut the clip. The landmark importer writes one
row per accepted clip into ``<dataset>/landmarks/<batch>.parquet`` (the batch's clip shard name;
written atomically before the batch's commit, removed as an orphan like the other shards when a
run stopped before committing; see ``output``):

* ``clip_id``, ``gloss``, ``split``: as the clip's;
* ``frame_range``: ``[first, last + 1]`` source frame numbers of the kept frames (the clip's
  ``source["frame_range"]`` is the range before quality control);
* ``rotation_deg``: the input's rotation that was undone (``keypoint_targets`` step 2);
* ``points [T, 75, 3]``: upright image coordinates in pixels (x right, y down; z MediaPipe's
  relative depth in pixels like x, 0 where the input has none), one frame per clip frame;
* ``weights [T, 75]``: the detection confidence, 0 where a point was not detected.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from signavatar import storage
from signavatar.extraction.landmark_orientation import rotate_xy
from signavatar.extraction.landmarks import NUM_LANDMARKS, HolisticLandmarks
from signavatar.motion import arrow_io

LANDMARKS = "landmarks"
_POINTS = NUM_LANDMARKS * 3
SCHEMA = pa.schema(
    [
        ("clip_id", pa.string()),
        ("gloss", pa.string()),
        ("split", pa.string()),
        ("frame_range", pa.list_(pa.int64(), 2)),
        ("rotation_deg", pa.int32()),
        ("points", pa.list_(pa.list_(pa.float32(), _POINTS))),
        ("weights", pa.list_(pa.list_(pa.float32(), NUM_LANDMARKS))),
    ]
)


@dataclass
class LandmarkRecord:
    """One clip's raw landmarks (module docstring)."""

    clip_id: str
    gloss: str
    split: str
    frame_range: tuple[int, int]
    rotation_deg: int
    points: np.ndarray
    weights: np.ndarray

    @property
    def num_frames(self) -> int:
        return int(self.points.shape[0])


def record_from_landmarks(
    clip_id: str, gloss: str, split: str, landmarks: HolisticLandmarks, indices: np.ndarray, kept: Sequence[int],
    rotation_deg: int,
) -> LandmarkRecord:
    """The record of a clip fitted from ``landmarks`` (frames ``indices`` of the source) of which
    quality control kept clip frames ``kept = [start, end)``."""
    start, end = int(kept[0]), int(kept[1])
    if not 0 <= start < end <= landmarks.num_frames:
        raise ValueError(f"{clip_id}: kept range {kept} outside the {landmarks.num_frames} landmark frames")
    image = landmarks.image[start:end]
    points = np.zeros(image.shape, np.float32)
    points[..., :2] = rotate_xy(image[..., :2], rotation_deg)
    if landmarks.image_depth and landmarks.width:
        points[..., 2] = image[..., 2] * landmarks.width
    return LandmarkRecord(
        clip_id=clip_id, gloss=gloss, split=split, frame_range=(int(indices[start]), int(indices[end - 1]) + 1),
        rotation_deg=int(rotation_deg), points=points, weights=landmarks.image_confidence[start:end].astype(np.float32),
    )  # fmt: skip


def _frames(arrays: Sequence[np.ndarray], width: int) -> pa.Array:
    return arrow_io.frame_array([a.reshape(a.shape[0], width) for a in arrays], width)


def write_landmarks(records: Sequence[LandmarkRecord], uri: str) -> None:
    """One Parquet file of records, written atomically."""
    table = pa.table(
        {
            "clip_id": [r.clip_id for r in records],
            "gloss": [r.gloss for r in records],
            "split": [r.split for r in records],
            "frame_range": [list(r.frame_range) for r in records],
            "rotation_deg": [r.rotation_deg for r in records],
            "points": _frames([r.points for r in records], _POINTS),
            "weights": _frames([r.weights for r in records], NUM_LANDMARKS),
        },
        schema=SCHEMA,
    )
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    storage.write_bytes(uri, buffer.getvalue())


def _read(uri: str, split: str | None) -> list[LandmarkRecord]:
    table = pq.read_table(io.BytesIO(storage.read_bytes(uri))).combine_chunks()
    if split is not None:
        table = table.filter(pa.compute.equal(table.column("split"), split))
    rows = table.to_pydict() if table.num_rows else {}
    return [
        LandmarkRecord(
            clip_id=rows["clip_id"][i], gloss=rows["gloss"][i], split=rows["split"][i],
            frame_range=tuple(rows["frame_range"][i]), rotation_deg=rows["rotation_deg"][i],
            points=arrow_io.unflatten(table.column("points"), i).reshape(-1, NUM_LANDMARKS, 3),
            weights=arrow_io.unflatten(table.column("weights"), i),
        )
        for i in range(table.num_rows)
    ]  # fmt: skip


def read_landmarks(dataset: str, split: str | None = None) -> list[LandmarkRecord]:
    """The raw landmarks of every clip of ``dataset`` (its committed batches, from the manifest),
    optionally only those of ``split``; in manifest shard order."""
    manifest = arrow_io.read_manifest(dataset)
    folder = storage.join(dataset, LANDMARKS)
    if not storage.exists(folder):
        raise FileNotFoundError(f"{dataset} has no {LANDMARKS}/ folder: it was imported before raw landmarks were "
                                "kept beside the clips (re-import it), or it is not a landmark-corpus import")
    return [record for shard in manifest["shards"] for record in _read(storage.join(folder, shard), split)]
