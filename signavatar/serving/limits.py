"""Input checking for the HTTP API: every way a request can be wrong becomes a ``ServiceError``
(4xx) whose message names the field or upload at fault, before anything reaches the model."""

from __future__ import annotations

import io
import json
from pathlib import PurePosixPath
from typing import Literal

import numpy as np
from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData
from starlette.requests import Request

from signavatar.config import ServeConfig
from signavatar.motion.amass import clip_from_npz_bytes
from signavatar.motion.clip import MotionClip
from signavatar.motion.json_io import clip_from_dict
from signavatar.serving.errors import (
    BadRequest,
    InvalidInput,
    PayloadTooLarge,
    UndecodableInput,
    UnsupportedMediaType,
)
from signavatar.serving.schemas import GenerateOptions

UploadKind = Literal["image", "video", "npz", "json"]

# Specific media types first; a generic or missing type falls back to the file extension.
MEDIA_TYPES: dict[str, UploadKind] = {
    "image/png": "image",
    "image/jpeg": "image",
    "video/mp4": "video",
    "video/webm": "video",
    "video/quicktime": "video",
    "application/x-npz": "npz",
    "application/json": "json",
}
EXTENSIONS: dict[str, UploadKind] = {
    ".png": "image",
    ".jpg": "image",
    ".jpeg": "image",
    ".mp4": "video",
    ".webm": "video",
    ".mov": "video",
    ".npz": "npz",
    ".json": "json",
}
GENERIC_TYPES = ("", "application/octet-stream")


def validation_message(exc: ValidationError) -> str:
    """``field: problem; field: problem`` from a pydantic error."""
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors())


def parse_model(model: type[BaseModel], data: object) -> BaseModel:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(validation_message(exc)) from None


def check_text(text: str, cfg: ServeConfig, field: str = "text") -> str:
    """The stripped text; empty or longer than ``max_text_chars`` is an error naming ``field``."""
    text = text.strip()
    if not text:
        raise InvalidInput(f"field {field!r} is empty")
    if len(text) > cfg.max_text_chars:
        raise InvalidInput(f"field {field!r} has {len(text)} characters; the limit is {cfg.max_text_chars}")
    return text


def check_generate_options(options: GenerateOptions, cfg: ServeConfig) -> None:
    if options.num_samples > cfg.max_num_samples:
        raise InvalidInput(f"num_samples: {options.num_samples} is out of range 1..{cfg.max_num_samples}")
    if options.num_frames is not None and options.num_frames > cfg.max_num_frames:
        raise InvalidInput(f"num_frames: {options.num_frames} is out of range 2..{cfg.max_num_frames}")


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refusing more than ``limit`` bytes (declared or actually sent)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"request body of {int(declared)} bytes exceeds the limit of {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_form(request: Request, body: bytes) -> FormData:
    """Parse a multipart body already read (and size-checked) by :func:`read_body`."""

    async def replay() -> dict:
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        return await Request(request.scope, replay).form(max_files=2, max_fields=16)
    except Exception as exc:  # starlette raises several types for malformed multipart bodies
        raise BadRequest(f"malformed multipart body: {getattr(exc, 'detail', exc)}") from None


def upload_kind(content_type: str | None, filename: str | None, allowed: tuple[UploadKind, ...]) -> UploadKind:
    """What an uploaded file is, from its media type or (if generic) its extension."""
    mtype = media_type(content_type)
    kind = MEDIA_TYPES.get(mtype)
    if kind is None and mtype in GENERIC_TYPES:
        kind = EXTENSIONS.get(PurePosixPath(filename or "").suffix.lower())
    if kind not in allowed:
        accepted = sorted(t for t, k in MEDIA_TYPES.items() if k in allowed)
        raise UnsupportedMediaType(
            f"upload {filename or '<unnamed>'!r} of type {mtype or 'unknown'!r} is not accepted here; "
            f"send one of {accepted} (or a matching file extension)"
        )
    return kind


def decode_image(data: bytes, name: str) -> np.ndarray:
    """uint8 RGB [H, W, 3] of a png/jpeg upload."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            return np.asarray(image.convert("RGB"))
    except UnidentifiedImageError:
        raise UndecodableInput(f"image {name!r} is not a png or jpeg image") from None
    except Exception as exc:  # truncated or corrupt data: OSError, SyntaxError, ValueError, ...
        raise UndecodableInput(f"image {name!r} could not be decoded: {exc}") from None


def probe_video(data: bytes, name: str) -> dict[str, float]:
    """Open the container and decode its first frame: ``{"width", "height", "fps"}``."""
    import av

    try:
        with av.open(io.BytesIO(data)) as container:
            if not container.streams.video:
                raise ValueError("no video stream")
            stream = container.streams.video[0]
            frame = next(container.decode(stream))
            return {"width": frame.width, "height": frame.height, "fps": float(stream.average_rate or 0)}
    except Exception as exc:  # av raises its own error types, StopIteration for streams without frames
        raise UndecodableInput(f"video {name!r} could not be decoded: {str(exc) or type(exc).__name__}") from None


def parse_clip(data: bytes, kind: UploadKind, name: str) -> MotionClip:
    """A motion clip from an AMASS-style .npz or our JSON; decoding failures are 400, contract
    violations (NaN, wrong shapes, missing fields) 422."""
    if kind == "npz" and not data.startswith(b"PK"):  # an .npz is a zip archive
        raise UndecodableInput(f"motion clip {name!r} is not an .npz (zip) file")
    payload = None
    if kind == "json":
        try:
            payload = json.loads(data)
        except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
            raise UndecodableInput(f"motion clip {name!r} is not valid JSON: {exc}") from None
    try:
        return clip_from_npz_bytes(data, name=name) if kind == "npz" else clip_from_dict(payload)
    except (ValueError, TypeError) as exc:  # ClipValidationError is a ValueError
        raise InvalidInput(f"motion clip {name!r}: {exc}") from None
