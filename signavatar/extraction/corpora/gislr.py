"""The Kaggle "Isolated Sign Language Recognition" (GISLR) layout.

``train.csv`` with columns ``path,participant_id,sequence_id,sign`` (``path`` relative to the
corpus folder), and one Parquet file per sequence with columns
``frame,row_id,type,landmark_index,x,y,z``: ``type`` is ``face`` (468 points), ``left_hand``,
``right_hand`` (21 each) or ``pose`` (33), so 543 rows per frame; x, y are normalised to the
image, z is MediaPipe's relative depth, NaN where a landmark was not detected. There is no
visibility column: a pose point is seen where its coordinates are finite.

The recordings' frame size and rate are not in the data: ``extract.image_width`` /
``extract.image_height`` (they set the aspect ratio of x against y) and ``extract.input_fps``
(default 30, a phone camera's rate). Frame numbers need not start at 0; a frame number missing
inside a sequence becomes a frame with nothing detected (quality control repairs or rejects it).
Groups for ``split=group`` are participants.
"""

from __future__ import annotations

import csv
import io
import posixpath

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from signavatar import storage
from signavatar.extraction.corpora.base import CorpusLayoutError, CorpusReadError, Limits, landmarks_from_normalised
from signavatar.extraction.corpus_index import VideoTask
from signavatar.extraction.landmarks import HolisticLandmarks, NUM_HAND, NUM_POSE

LABELS = "train.csv"
DEFAULT_FPS = 30.0
LABEL_COLUMNS = ("path", "participant_id", "sequence_id", "sign")
COLUMNS = ("frame", "type", "landmark_index", "x", "y", "z")
POINTS = {"face": 468, "left_hand": NUM_HAND, "pose": NUM_POSE, "right_hand": NUM_HAND}
ROWS_PER_FRAME = sum(POINTS.values())  # 543


def safe_relative(path: str, where: str) -> str:
    """A corpus-relative path that cannot leave the corpus folder."""
    clean = path.replace("\\", "/")
    if not clean or clean.startswith("/") or "://" in clean or ".." in clean.split("/"):
        raise CorpusLayoutError(f"{where}: path {path!r} must be relative to the corpus folder, without '..'")
    return posixpath.normpath(clean)


def list_sequences(root: str, limits: Limits, fps: float, skip_frames: int) -> list[VideoTask]:
    """One task per row of ``train.csv``."""
    uri = storage.join(root, LABELS)
    try:
        text = limits.read_bytes(uri).decode("utf-8")
    except CorpusReadError as exc:
        raise CorpusLayoutError(f"gislr corpus {root}: {exc}") from exc
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in LABEL_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise CorpusLayoutError(f"{uri}: missing columns {missing} (has {reader.fieldnames})")
    tasks, seen = [], set()
    for line, row in enumerate(reader, start=2):
        where = f"{uri} line {line}"
        if any(not (row[c] or "").strip() for c in LABEL_COLUMNS):
            raise CorpusLayoutError(f"{where}: empty {[c for c in LABEL_COLUMNS if not (row[c] or '').strip()]}")
        clip_id = row["sequence_id"].strip()
        if clip_id in seen:
            raise CorpusLayoutError(f"{where}: sequence_id {clip_id} appears twice")
        seen.add(clip_id)
        participant = row["participant_id"].strip()
        path = safe_relative(row["path"].strip(), where)
        tasks.append(VideoTask(
            clip_id=clip_id, gloss=row["sign"].strip(), split="unsplit", uri=storage.join(root, *path.split("/")),
            frame_start=skip_frames, fps=fps, signer_id=participant,
            extra={"layout": "gislr", "path": path, "group": participant, "group_by": "participant_id"},
        ))
    if not tasks:
        raise CorpusLayoutError(f"{uri}: no sequences")
    return tasks


def _table(uri: str, limits: Limits) -> pa.Table:
    data = limits.read_bytes(uri)
    try:
        file = pq.ParquetFile(io.BytesIO(data))
        rows = file.metadata.num_rows
        if rows > limits.max_frames * ROWS_PER_FRAME:
            raise CorpusReadError("too_large", f"{uri}: {rows} rows, more than {limits.max_frames} frames of "
                                               f"{ROWS_PER_FRAME} (extract.max_sequence_frames)")
        names = file.schema_arrow.names
        missing = [c for c in COLUMNS if c not in names]
        if missing:
            raise CorpusReadError("undecodable", f"{uri}: missing columns {missing} (has {names})")
        return file.read(columns=list(COLUMNS))
    except CorpusReadError:
        raise
    except Exception as exc:  # pyarrow raises assorted errors on a damaged file
        raise CorpusReadError("undecodable", f"{uri}: not a readable Parquet file ({type(exc).__name__}: {exc})") from exc


def read_sequence(uri: str, limits: Limits, width: int, height: int, fps: float) -> HolisticLandmarks:
    """One sequence's Parquet file -> Holistic landmarks."""
    table = _table(uri, limits)
    if table.num_rows == 0:
        raise CorpusReadError("empty", f"{uri}: no rows")
    try:
        frame = table.column("frame").to_numpy(zero_copy_only=False).astype(np.int64)
        kind = pc.cast(table.column("type"), pa.string()).to_numpy(zero_copy_only=False)
        index = table.column("landmark_index").to_numpy(zero_copy_only=False).astype(np.int64)
        xyz = np.stack([pc.cast(table.column(c), pa.float64()).to_numpy(zero_copy_only=False) for c in "xyz"], -1)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as exc:
        raise CorpusReadError("undecodable", f"{uri}: column types ({exc})") from exc
    unknown = sorted(set(kind.tolist()) - set(POINTS))
    if unknown:
        raise CorpusReadError("undecodable", f"{uri}: unknown landmark types {unknown[:5]} (expected {sorted(POINTS)})")
    first = int(frame.min())
    frames = int(frame.max()) - first + 1
    limits.check_frames(frames, uri)
    arrays = {name: np.full((frames, count, 3), np.nan) for name, count in POINTS.items()}
    for name, count in POINTS.items():
        rows = kind == name
        bad = (index[rows] < 0) | (index[rows] >= count)
        if bad.any():
            raise CorpusReadError("undecodable", f"{uri}: {name} landmark_index {int(index[rows][bad][0])} outside 0..{count - 1}")
        arrays[name][frame[rows] - first, index[rows]] = xyz[rows]
    pose = np.concatenate([arrays["pose"], np.ones((frames, NUM_POSE, 1))], axis=-1)  # visibility: seen if finite
    return landmarks_from_normalised(pose, arrays["left_hand"], arrays["right_hand"], arrays["face"], width, height, fps)
