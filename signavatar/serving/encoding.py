"""Motion clips in HTTP bodies, both directions (the server encodes, the client decodes).

- ``format=json``: ``{"clips": [clip, ...], "gender": ...}`` (generation) or ``{"clip": clip, ...}``
  (reconstruction), each clip as ``signavatar.motion.json_io.clip_to_dict``.
- ``format=npz``: one clip -> its AMASS-style ``.npz`` (``application/x-npz``); several ->
  a ``.zip`` of ``<clip_id>.npz`` files in sample order (``application/zip``).
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Sequence

from signavatar.motion.amass import clip_from_npz_bytes, clip_to_npz_bytes
from signavatar.motion.clip import MotionClip
from signavatar.motion.json_io import clip_from_dict

NPZ_MEDIA_TYPE = "application/x-npz"
ZIP_MEDIA_TYPE = "application/zip"


def clips_to_npz_payload(clips: Sequence[MotionClip], gender: str) -> tuple[bytes, str, str]:
    """``(body, media type, file name)`` for ``format=npz``."""
    if len(clips) == 1:
        return clip_to_npz_bytes(clips[0], gender), NPZ_MEDIA_TYPE, f"{clips[0].clip_id}.npz"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:  # npz is already compressed
        for clip in clips:
            archive.writestr(f"{clip.clip_id}.npz", clip_to_npz_bytes(clip, gender))
    return buffer.getvalue(), ZIP_MEDIA_TYPE, f"{clips[0].clip_id.rsplit('-', 1)[0]}.zip"


def clips_from_payload(body: bytes, media_type: str) -> list[MotionClip]:
    """Inverse of the server's encodings: an npz, a zip of npz files, or a JSON body."""
    media_type = media_type.split(";", 1)[0].strip().lower()
    if media_type == NPZ_MEDIA_TYPE:
        return [clip_from_npz_bytes(body)]
    if media_type == ZIP_MEDIA_TYPE:
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            return [clip_from_npz_bytes(archive.read(name), name=name) for name in archive.namelist()]
    if media_type == "application/json":
        payload = json.loads(body)
        return [clip_from_dict(c) for c in payload.get("clips", [payload.get("clip")])]
    raise ValueError(f"unexpected response type {media_type!r}")
