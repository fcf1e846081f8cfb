"""Motion clips in HTTP bodies, both directions (the server encodes, the client decodes).

- ``format=json``: ``{"clips": [clip, ...], "gender": ...}`` (generation) or ``{"clip": clip, ...}``
  (reconstruction), each clip as ``signavatar.motion.json_io.clip_to_dict``, written by orjson
  from the arrays (``clips_to_json_payload``).
- ``format=npz``: one clip -> its AMASS-style ``.npz`` (``application/x-npz``); several ->
  a ``.zip`` of ``<clip id>.npz`` files in sample order (``application/zip``).

File names (the download's and the zip members') never carry raw user text: a clip id (which holds
the request's text) becomes a slug of letters, digits and ``-`` (``safe_stem``), and the
``content-disposition`` header gives an ASCII ``filename`` plus an RFC 6266 / 5987 ``filename*``
with the Unicode slug percent-encoded (``attachment_header``).
"""

from __future__ import annotations

import io
import re
import unicodedata
import zipfile
from collections.abc import Sequence
from urllib.parse import quote

import orjson

from signavatar.motion.amass import clip_from_npz_bytes, clip_to_npz_bytes
from signavatar.motion.clip import MotionClip
from signavatar.motion.json_io import clip_from_dict, clip_to_dict, dumps

NPZ_MEDIA_TYPE = "application/x-npz"
ZIP_MEDIA_TYPE = "application/zip"
MAX_STEM_CHARS = 64


def safe_stem(text: str, ascii_only: bool = True, fallback: str = "clip") -> str:
    """A file-name stem from any text: letters and digits (ASCII only, after dropping accents, with
    ``ascii_only``), every other run of characters one ``-``, at most ``MAX_STEM_CHARS``; never
    empty, never a path, never starting with a dot."""
    if ascii_only:
        text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    stem = "-".join(part for part in re.split(r"[^\w]+|_", text) if part)
    if ascii_only:
        stem = re.sub(r"[^A-Za-z0-9-]+", "-", stem)
    return stem.strip("-")[:MAX_STEM_CHARS].strip("-") or fallback


def attachment_header(stem: str, suffix: str) -> str:
    """``content-disposition`` for a download named after ``stem``: ``filename`` is the ASCII
    slug, ``filename*`` the Unicode one (percent-encoded UTF-8), so no header can be injected."""
    ascii_name = safe_stem(stem) + suffix
    unicode_name = quote(safe_stem(stem, ascii_only=False) + suffix, safe="")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{unicode_name}"


def clips_to_json_payload(clips: Sequence[MotionClip], gender: str, single: bool) -> bytes:
    """The ``format=json`` body: ``{"clip": ...}`` with ``single`` (reconstruction), else ``{"clips": [...]}``."""
    encoded = [clip_to_dict(c, numpy=True) for c in clips]
    body = {"clip": encoded[0]} if single else {"clips": encoded}
    return dumps({**body, "gender": gender})


def clips_to_npz_payload(clips: Sequence[MotionClip], gender: str) -> tuple[bytes, str, str]:
    """``(body, media type, content-disposition)`` for ``format=npz``; zip members are
    ``<safe clip id>.npz`` (made unique with ``-<i>`` where two slugs collide)."""
    if len(clips) == 1:
        return clip_to_npz_bytes(clips[0], gender), NPZ_MEDIA_TYPE, attachment_header(clips[0].clip_id, ".npz")
    buffer, names = io.BytesIO(), set()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:  # npz is already compressed
        for i, clip in enumerate(clips):
            name = f"{safe_stem(clip.clip_id)}.npz"
            name = f"{name[:-4]}-{i}.npz" if name in names else name
            names.add(name)
            archive.writestr(name, clip_to_npz_bytes(clip, gender))
    return buffer.getvalue(), ZIP_MEDIA_TYPE, attachment_header(clips[0].clip_id.rsplit("-", 1)[0], ".zip")


def clips_from_payload(body: bytes, media_type: str) -> list[MotionClip]:
    """Inverse of the server's encodings: an npz, a zip of npz files, or a JSON body."""
    media_type = media_type.split(";", 1)[0].strip().lower()
    if media_type == NPZ_MEDIA_TYPE:
        return [clip_from_npz_bytes(body)]
    if media_type == ZIP_MEDIA_TYPE:
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            return [clip_from_npz_bytes(archive.read(name), name=name) for name in archive.namelist()]
    if media_type == "application/json":
        payload = orjson.loads(body)
        return [clip_from_dict(c) for c in payload.get("clips", [payload.get("clip")])]
    raise ValueError(f"unexpected response type {media_type!r}")
