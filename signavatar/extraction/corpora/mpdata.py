"""The "MP_Data" layout of MediaPipe action-recognition tutorials: ``<sign>/<sequence>/<frame>.npy``.

Each frame file is one float vector (``np.save``) of

* 258 values: pose 33 x (x, y, z, visibility), left hand 21 x (x, y, z), right hand 21 x (x, y, z);
* 1662 values: the same with the 468-point face 468 x (x, y, z) after the pose.

x, y are normalised to the image, z is MediaPipe's relative depth; a hand that was not detected is
all zeros (so is an undetected pose, with visibility 0). Frames are numbered 0..T-1; a gap is an
error. Neither the image size nor the frame rate is recorded: they are ``extract.image_width``,
``extract.image_height`` and ``extract.input_fps`` (default 15).

Sequences are listed on the driver (two directory levels); each sequence's frames are listed and
read by the actor that fits it. ``mpdata_pack`` stores a whole corpus of this layout in one file.
"""

from __future__ import annotations

import io

import numpy as np

from signavatar import storage
from signavatar.extraction.corpora.base import CorpusLayoutError, CorpusReadError, Limits, landmarks_from_normalised
from signavatar.extraction.corpus_index import VideoTask, natural_key
from signavatar.extraction.landmarks import HolisticLandmarks, NUM_HAND, NUM_POSE

DEFAULT_FPS = 15.0
POSE_VALUES = NUM_POSE * 4
HAND_VALUES = NUM_HAND * 3
NUM_FACE = 468
FACE_VALUES = NUM_FACE * 3
VALUES_PER_FRAME = (POSE_VALUES + 2 * HAND_VALUES, POSE_VALUES + FACE_VALUES + 2 * HAND_VALUES)  # 258, 1662
_MAX_FRAME_FILE_BYTES = max(VALUES_PER_FRAME) * 8 + 4096  # float64 values + the .npy header


def subdirectories(uri: str) -> list[str]:
    """Names of the folders (or S3 prefixes) directly under ``uri``, in natural order."""
    fs, path = storage.filesystem(uri)
    if storage.is_remote(uri):
        fs.invalidate_cache()
    if not fs.isdir(path):
        raise CorpusLayoutError(f"{uri}: not a folder")
    names = [entry["name"].rstrip("/").rsplit("/", 1)[-1] for entry in fs.ls(path, detail=True)
             if entry["type"] == "directory"]
    return sorted((n for n in names if not n.startswith(".")), key=natural_key)


def sequence_task(gloss: str, sequence: str, uri: str, layout: str, fps: float, group_size: int | None,
                  skip_frames: int, **extra) -> VideoTask:
    """The task of one mpdata sequence (tree or pack). With ``group_size``, its group for
    ``split=group`` is the block of ``group_size`` consecutive sequence numbers it belongs to."""
    info = {"layout": layout, "sequence": sequence, **extra}
    if group_size is not None:
        if not sequence.isdigit():
            raise CorpusLayoutError(
                f"{uri}: sequence {sequence!r} of sign {gloss!r} is not a number, so extract.group_size cannot block it"
            )
        info.update(group=str(int(sequence) // group_size), group_by=f"sequence // {group_size}")
    return VideoTask(clip_id=f"{gloss}-{sequence}", gloss=gloss, split="unsplit", uri=uri, frame_start=skip_frames,
                     fps=fps, extra=info)


def list_tree(root: str, fps: float, group_size: int | None, skip_frames: int) -> list[VideoTask]:
    """One task per ``<sign>/<sequence>`` folder."""
    tasks = []
    for gloss in subdirectories(root):
        sign = storage.join(root, gloss)
        for sequence in subdirectories(sign):
            tasks.append(sequence_task(gloss, sequence, storage.join(sign, sequence), "mpdata", fps, group_size,
                                       skip_frames))
    if not tasks:
        raise CorpusLayoutError(f"{root}: no <sign>/<sequence>/ folders (mpdata layout)")
    return tasks


def _frame_files(uri: str, limits: Limits) -> list[str]:
    """The sequence's frame files in frame order, checked: numbered 0..T-1, T within limits,
    every file small enough to be one frame vector."""
    fs, path = storage.filesystem(uri)
    try:
        entries = fs.ls(path, detail=True)
    except FileNotFoundError as exc:
        raise CorpusReadError("missing", f"{uri}: no such sequence folder") from exc
    frames: dict[int, dict] = {}
    for entry in entries:
        name = entry["name"].rstrip("/").rsplit("/", 1)[-1]
        if entry["type"] != "file" or not name.endswith(".npy"):
            continue
        stem = name[: -len(".npy")]
        if not stem.isdigit():
            raise CorpusReadError("undecodable", f"{uri}: frame file {name!r} is not named <frame number>.npy")
        frames[int(stem)] = entry
    if not frames:
        raise CorpusReadError("empty", f"{uri}: no <frame>.npy files")
    limits.check_frames(len(frames), uri)
    missing = sorted(set(range(max(frames) + 1)) - set(frames))
    if missing:
        raise CorpusReadError("undecodable", f"{uri}: frames {missing[:10]} are missing (frames must be 0..T-1)")
    for number, entry in frames.items():
        if (entry.get("size") or 0) > _MAX_FRAME_FILE_BYTES:
            raise CorpusReadError("too_large", f"{uri}: frame file {number}.npy has {entry['size']} bytes; one frame "
                                               f"of {max(VALUES_PER_FRAME)} float64 values needs at most {_MAX_FRAME_FILE_BYTES}")
    return [frames[i]["name"] for i in range(len(frames))]


def read_tree_values(uri: str, limits: Limits) -> np.ndarray:
    """One sequence folder -> ``[T, V]`` float64 values exactly as stored (V = 258 or 1662)."""
    fs, _ = storage.filesystem(uri)
    paths = _frame_files(uri, limits)
    contents = fs.cat(paths)  # one call: s3fs fetches the frame objects concurrently
    vectors = []
    for number, path in enumerate(paths):
        try:
            vector = np.load(io.BytesIO(contents[path]), allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise CorpusReadError("undecodable", f"{uri}: frame {number}.npy is not a .npy array ({exc})") from exc
        if vector.ndim != 1 or vector.shape[0] not in VALUES_PER_FRAME or vector.dtype.kind != "f":
            raise CorpusReadError("undecodable", f"{uri}: frame {number}.npy holds {vector.dtype} {list(vector.shape)}; "
                                                 f"expected a float vector of {' or '.join(map(str, VALUES_PER_FRAME))} values")
        if vectors and vector.shape != vectors[0].shape:
            raise CorpusReadError("undecodable", f"{uri}: frame {number}.npy has {vector.shape[0]} values, "
                                                 f"frame 0 has {vectors[0].shape[0]}")
        vectors.append(vector.astype(np.float64, copy=False))
    return np.stack(vectors)


def values_to_landmarks(values: np.ndarray, width: int, height: int, fps: float, where: str) -> HolisticLandmarks:
    """``[T, 258]`` or ``[T, 1662]`` frame vectors -> Holistic landmarks (all-zero hands = not detected)."""
    frames, size = values.shape
    if size not in VALUES_PER_FRAME:
        raise CorpusReadError("undecodable", f"{where}: {size} values per frame; expected 258 or 1662")
    pose = values[:, :POSE_VALUES].reshape(frames, NUM_POSE, 4)
    start = POSE_VALUES
    face = None
    if size == VALUES_PER_FRAME[1]:
        face = values[:, start : start + FACE_VALUES].reshape(frames, NUM_FACE, 3)
        face = np.where((face == 0).all((1, 2), keepdims=True), np.nan, face)
        start += FACE_VALUES
    hands = []
    for _ in range(2):
        hand = values[:, start : start + HAND_VALUES].reshape(frames, NUM_HAND, 3)
        hands.append(np.where((hand == 0).all((1, 2), keepdims=True), np.nan, hand))
        start += HAND_VALUES
    return landmarks_from_normalised(pose, hands[0], hands[1], face, width, height, fps)
