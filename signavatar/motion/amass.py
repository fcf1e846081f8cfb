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
import zipfile
import zlib

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
    """An npz whose arrays decode to more bytes than the caller allows (told by the zip directory,
    before anything is decompressed)."""


class UnreadableNpz(ValueError):
    """Bytes that are not a readable npz (empty, not a zip, damaged, truncated)."""


# What reading a damaged or hostile npz raises: a damaged zip, a truncated member, a header whose
# shape the data does not back (an absurd one fails to allocate).
_UNREADABLE = (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error, MemoryError)


def npz_decoded_bytes(data: bytes, name: str = "<npz>") -> int:
    """Total uncompressed size of an npz's members, from the zip directory alone."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return sum(info.file_size for info in archive.infolist())
    except _UNREADABLE as exc:
        raise UnreadableNpz(f"{name}: not a readable .npz file ({type(exc).__name__}: {exc})") from None


def npz_num_frames(data: bytes, name: str = "<npz>") -> int:
    """The frame count ``T`` of an npz's ``poses [T, 165]``, from its ``.npy`` header alone (no
    array is decompressed beyond the header)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive, archive.open("poses.npy") as member:
            major, _ = np.lib.format.read_magic(member)
            read_header = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
            shape, _, _ = read_header(member)
    except KeyError:
        raise ValueError(f"{name}: missing key 'poses'") from None
    except _UNREADABLE as exc:
        raise UnreadableNpz(f"{name}: not a readable .npz file ({type(exc).__name__}: {exc})") from None
    if len(shape) != 2:
        raise ValueError(f"{name}: 'poses' has shape {shape}; expected [T, {NUM_JOINTS * 3}]")
    return int(shape[0])


def _read_arrays(data: bytes, name: str) -> dict[str, np.ndarray]:
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    except _UNREADABLE as exc:
        raise UnreadableNpz(f"{name}: not a readable .npz file ({type(exc).__name__}: {exc})") from None


def clip_from_npz_bytes(data: bytes, name: str = "<npz>", max_decoded_bytes: int | None = None) -> MotionClip:
    """Load an AMASS-style npz (ours, or a plain AMASS SMPL-X file with only the standard keys).
    With ``max_decoded_bytes``, an archive decoding to more is refused (``NpzTooLarge``) before
    any member is decompressed. Every failure is a ValueError naming ``name``."""
    if max_decoded_bytes is not None and (size := npz_decoded_bytes(data, name)) > max_decoded_bytes:
        raise NpzTooLarge(f"{name}: its arrays decode to {size} bytes; the limit is {max_decoded_bytes} bytes")
    try:
        return _clip_from_arrays(_read_arrays(data, name), name)
    except (TypeError, RecursionError) as exc:  # e.g. a multi-element 'mocap_framerate', a deeply nested 'source'
        raise ValueError(f"{name}: {type(exc).__name__}: {exc}") from None


def _clip_from_arrays(npz: dict[str, np.ndarray], name: str) -> MotionClip:
    if "poses" not in npz:
        raise ValueError(f"{name}: missing key 'poses'")
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


def load_npz(uri: str) -> MotionClip:
    return clip_from_npz_bytes(storage.read_bytes(uri), name=str(uri))
