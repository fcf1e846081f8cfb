"""AMASS-style ``.npz`` export/import, as the SMPL-X Blender add-on imports it.

Keys: ``poses [T, 165]`` (55 joints x axis-angle), ``trans [T, 3]``, ``betas [10]``, ``gender``,
``mocap_framerate``, plus ours: ``expression [T, 10]``, ``gloss``, ``clip_id``, ``split``,
``source`` (JSON), ``confidence [T]`` when known and, for a signed sentence, ``segments [S]``: a
structured array with fields ``gloss`` (unicode), ``start``, ``end`` (int32, end exclusive) and
``kind`` (``sign`` / ``transition``). Strings are stored as numpy unicode arrays so loading never
needs pickle; the Blender add-on reads only the standard keys, so the extra ones do not disturb it.
"""

from __future__ import annotations

import io
import json
import math
import zipfile
import zlib
from typing import BinaryIO

import numpy as np

from signavatar import storage
from signavatar.body.joints import NUM_JOINTS
from signavatar.motion.clip import MotionClip, Segment

GENDERS = ("neutral", "male", "female")


def segments_to_array(segments: tuple[Segment, ...]) -> np.ndarray:
    """``segments`` as the npz's structured array (string widths fit the longest entry)."""
    width = max([1, *(len(s.gloss) for s in segments)])
    dtype = [("gloss", f"<U{width}"), ("start", "<i4"), ("end", "<i4"), ("kind", "<U10")]
    return np.array([(s.gloss, s.start, s.end, s.kind) for s in segments], dtype=dtype)


def segments_from_array(array: np.ndarray, name: str) -> list[Segment]:
    fields = ("gloss", "start", "end", "kind")
    if array.dtype.names is None or not set(fields) <= set(array.dtype.names) or array.ndim != 1:
        raise ValueError(f"{name}: 'segments' must be a 1-d structured array with fields {fields}, "
                         f"got dtype {array.dtype} and shape {array.shape}")
    return [Segment(str(row["gloss"]), int(row["start"]), int(row["end"]), str(row["kind"])) for row in array]


def clip_to_npz_bytes(clip: MotionClip, gender: str = "neutral") -> bytes:
    if gender not in GENDERS:
        raise ValueError(f"gender {gender!r} not in {GENDERS}")
    clip.validate()
    arrays = {
        "poses": clip.poses.reshape(clip.num_frames, NUM_JOINTS * 3),
        "trans": clip.trans,
        "betas": clip.betas,
        "expression": clip.expression,
        "gender": np.array(gender),
        "mocap_framerate": np.array(clip.fps, dtype=np.float64),
        "gloss": np.array(clip.gloss),
        "clip_id": np.array(clip.clip_id),
        "split": np.array(clip.split),
        "source": np.array(json.dumps(clip.source, sort_keys=True)),
    }
    if clip.confidence is not None:
        arrays["confidence"] = clip.confidence
    if clip.segments is not None:
        arrays["segments"] = segments_to_array(clip.segments)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


class NpzTooLarge(ValueError):
    """An npz whose arrays decode to more bytes, or whose clip has more frames, than the caller
    allows (told by the zip directory and the arrays' headers, before anything is decompressed);
    ``limit`` says which: ``"bytes"`` or ``"frames"``."""

    def __init__(self, message: str, limit: str) -> None:
        super().__init__(message)
        self.limit = limit


class UnreadableNpz(ValueError):
    """Bytes that are not a readable npz (empty, not a zip, damaged, truncated, an array header
    that does not match what the archive holds)."""


# What reading a damaged or hostile npz raises: a damaged zip, a truncated member, a header whose
# shape the data does not back.
_UNREADABLE = (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error, MemoryError)
# Any file bigger than the arrays it may decode to plus this is not an npz within the limit.
_ZIP_OVERHEAD = 1024 * 1024


def _array_header(member: BinaryIO, info: zipfile.ZipInfo, name: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    """(shape, Fortran order, dtype) from a member's ``.npy`` header, which must account for exactly the bytes the
    zip directory says the member holds: a header claiming more is refused, never allocated."""
    version = np.lib.format.read_magic(member)
    read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, fortran, dtype = read_header(member)
    if dtype.hasobject:
        raise UnreadableNpz(f"{name}: array {info.filename!r} holds Python objects; only plain arrays are read")
    data_bytes = math.prod(shape) * dtype.itemsize
    if member.tell() + data_bytes != info.file_size:
        raise UnreadableNpz(f"{name}: array {info.filename!r} declares shape {list(shape)} of {dtype} "
                            f"({data_bytes} bytes) but the archive holds {info.file_size - member.tell()} bytes for it")
    return shape, fortran, dtype


def read_npz_arrays(source: bytes | BinaryIO, name: str = "<npz>", max_decoded_bytes: int | None = None,
                    max_frames: int | None = None) -> dict[str, np.ndarray]:
    """The arrays of an npz (bytes or a binary file), checked before anything is decompressed or
    allocated: the zip directory's sizes against ``max_decoded_bytes``, every member's array header
    against the bytes the directory gives it, and the rows of ``poses`` against ``max_frames``
    (``NpzTooLarge`` / ``UnreadableNpz``, both ValueErrors naming ``name``)."""
    try:
        with zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes) else source) as archive:
            infos = archive.infolist()
            size = sum(info.file_size for info in infos)
            if max_decoded_bytes is not None and size > max_decoded_bytes:
                raise NpzTooLarge(f"{name}: its arrays decode to {size} bytes; the limit is {max_decoded_bytes} bytes",
                                  "bytes")
            arrays = {}
            for info in infos:
                key = info.filename.removesuffix(".npy")
                with archive.open(info) as member:
                    shape, fortran, dtype = _array_header(member, info, name)
                    if key == "poses" and max_frames is not None and shape and shape[0] > max_frames:
                        raise NpzTooLarge(f"{name}: 'poses' has {shape[0]} frames; the limit is {max_frames}",
                                          "frames")
                    data = bytearray(math.prod(shape) * dtype.itemsize)  # writable, exactly the checked size
                    if member.readinto(data) != len(data):
                        raise EOFError("truncated array data")
                arrays[key] = np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C")
            return arrays
    except (NpzTooLarge, UnreadableNpz):
        raise
    except _UNREADABLE as exc:
        raise UnreadableNpz(f"{name}: not a readable .npz file ({type(exc).__name__}: {str(exc)[:200]})") from None


def clip_from_npz_bytes(data: bytes | BinaryIO, name: str = "<npz>", max_decoded_bytes: int | None = None,
                        max_frames: int | None = None) -> MotionClip:
    """Load an AMASS-style npz (ours, or a plain AMASS SMPL-X file with only the standard keys)
    from bytes or a binary file, within ``max_decoded_bytes`` and ``max_frames`` when given (see
    ``read_npz_arrays``). Every failure is a ValueError naming ``name``."""
    try:
        return _clip_from_arrays(read_npz_arrays(data, name, max_decoded_bytes, max_frames), name)
    except (TypeError, RecursionError) as exc:  # e.g. a multi-element 'mocap_framerate', a deeply nested 'source'
        raise ValueError(f"{name}: {type(exc).__name__}: {exc}") from None


_NUMERIC = ("poses", "trans", "betas", "expression", "confidence", "mocap_framerate", "mocap_frame_rate")


def _clip_from_arrays(npz: dict[str, np.ndarray], name: str) -> MotionClip:
    if "poses" not in npz:
        raise ValueError(f"{name}: missing key 'poses'")
    for key in _NUMERIC:  # complex values would lose their imaginary part silently; strings fail later, unnamed
        if key in npz and npz[key].dtype.kind not in "fiub":
            raise ValueError(f"{name}: {key!r} holds {npz[key].dtype} values; expected real numbers")
    poses = np.asarray(npz["poses"], np.float32)
    if poses.ndim != 2 or poses.shape[1] != NUM_JOINTS * 3:
        raise ValueError(f"{name}: 'poses' has shape {poses.shape}; expected [T, {NUM_JOINTS * 3}]")
    frames = poses.shape[0]

    def get(key: str, default):
        return npz[key] if key in npz else default

    fps = float(get("mocap_framerate", get("mocap_frame_rate", 30.0)))
    return MotionClip(
        gloss=str(get("gloss", "")),
        clip_id=str(get("clip_id", name)),
        split=str(get("split", "unsplit")),
        fps=fps,
        poses=poses.reshape(frames, NUM_JOINTS, 3),
        expression=get("expression", np.zeros((frames, 10), np.float32)),
        betas=np.asarray(get("betas", np.zeros(10, np.float32)), np.float32)[:10],
        trans=get("trans", np.zeros((frames, 3), np.float32)),
        confidence=get("confidence", None),
        source=json.loads(str(get("source", "{}"))),
        segments=segments_from_array(npz["segments"], name) if "segments" in npz else None,
    )


def save_npz(clip: MotionClip, uri: str, gender: str = "neutral") -> None:
    storage.write_bytes(uri, clip_to_npz_bytes(clip, gender))


def load_npz(uri: str, max_decoded_bytes: int | None = None, max_frames: int | None = None) -> MotionClip:
    """The clip in an npz file (local or s3://); with limits (``read_npz_arrays``), a file larger
    than arrays within ``max_decoded_bytes`` could make is refused before it is read."""
    data = (storage.read_bytes(uri) if max_decoded_bytes is None
            else storage.read_bytes_within(uri, max_decoded_bytes + _ZIP_OVERHEAD, "npz file"))
    return clip_from_npz_bytes(data, name=str(uri), max_decoded_bytes=max_decoded_bytes, max_frames=max_frames)
