"""Input checking for the HTTP API: every way a request can be wrong becomes a ``ServiceError``
(4xx) whose message names the field, upload or limit at fault, before anything reaches the model.

Memory is bounded before work starts: bodies by bytes as they arrive (``signavatar.serving.bodies``),
uploads by what they decode to, read from headers before decoding (an npz's zip directory and array
headers, an image's pixel count, a video's frame size and packet count), clips by frames and
plausible magnitudes (``check_clip``). Uploads are decoded from the temporary file their body was
spooled to; what the budgets and routes admit is ``signavatar.serving.admission``.
"""

from __future__ import annotations

import json
import math
import unicodedata
from pathlib import PurePosixPath
from typing import Any, BinaryIO, Literal

import numpy as np
from pydantic import BaseModel, ValidationError

from signavatar.config import ServeConfig
from signavatar.motion.amass import NpzTooLarge, UnreadableNpz, clip_from_npz_bytes
from signavatar.motion.clip import MotionClip
from signavatar.motion.json_io import clip_from_dict
from signavatar.serving.bodies import media_type
from signavatar.serving.errors import InvalidInput, PayloadTooLarge, UndecodableInput, UnsupportedMediaType
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

# Plausible magnitudes of an uploaded clip (generous: real signing stays far inside them); beyond
# them a clip is not motion and would only feed the model inf/NaN.
MAX_ROTATION_RAD = 4 * math.pi  # norm of one joint's axis-angle vector
MAX_TRANS_M = 100.0
MAX_SHAPE_COEFFICIENT = 50.0  # |betas|, |expression|
FPS_RANGE = (1.0, 1000.0)
MAX_NAME_CHARS = 256  # gloss, clip_id
MAX_SOURCE_BYTES = 64 * 1024  # the clip's 'source' record as JSON


def validation_message(exc: ValidationError) -> str:
    """``field: problem; field: problem`` from a pydantic error."""
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors())


def parse_model(model: type[BaseModel], data: object, strict: bool = False) -> BaseModel:
    """``data`` as ``model``; ``strict`` for JSON bodies (``"3"``, ``true`` or ``2.0`` is no
    integer there), lax for form fields, which are text by nature."""
    try:
        return model.model_validate(data, strict=strict)
    except ValidationError as exc:
        raise InvalidInput(validation_message(exc)) from None


# Bidirectional embeddings, overrides and isolates: they reorder how text (a clip name, a log line)
# is displayed, so a name could read as something else.
BIDI_CONTROLS = frozenset([*range(0x202A, 0x202F), *range(0x2066, 0x206A)])


def _bad_character(text: str) -> str | None:
    """Where ``text`` holds a control character, a lone surrogate (no UTF-8 for it) or a
    bidirectional control, which."""
    for i, char in enumerate(text):
        if unicodedata.category(char) in ("Cc", "Cs") or ord(char) in BIDI_CONTROLS:
            return f"U+{ord(char):04X} at position {i}"
    return None


def _visible(text: str) -> bool:
    """Whether ``text`` has a character that is neither a separator nor invisible (format, control)."""
    return any(unicodedata.category(char)[0] not in "ZC" for char in text)


def check_name(value: str, field: str, limit: int = MAX_NAME_CHARS, where: str = "") -> str:
    """A short printable string (a gloss, a clip id): no control characters, lone surrogates or
    bidirectional controls; errors name ``field`` (of ``where``, when given)."""
    field = f"{where}: field {field!r}" if where else f"field {field!r}"
    if len(value) > limit:
        raise InvalidInput(f"{field} has {len(value)} characters; the limit is {limit}")
    if (bad := _bad_character(value)) is not None:
        raise InvalidInput(f"{field} contains a control character, lone surrogate or bidirectional control ({bad})")
    return value


def check_text(text: str, cfg: ServeConfig, field: str = "text") -> str:
    """The text with runs of whitespace (newlines, tabs) made one space; empty (nothing visible:
    zero-width characters count as nothing), longer than ``max_text_chars`` or holding control
    characters, lone surrogates or bidirectional controls is an error naming ``field``."""
    text = " ".join(text.split())
    if not _visible(text):
        raise InvalidInput(f"field {field!r} is empty" + (" (only invisible characters)" if text else ""))
    if len(text) > cfg.max_text_chars:
        raise InvalidInput(f"field {field!r} has {len(text)} characters; the limit is {cfg.max_text_chars}")
    return check_name(text, field, cfg.max_text_chars)


def check_generate_options(options: GenerateOptions, cfg: ServeConfig) -> None:
    if options.num_samples > cfg.max_num_samples:
        raise InvalidInput(f"num_samples: {options.num_samples} is out of range 1..{cfg.max_num_samples}")
    if options.num_frames is not None and options.num_frames > cfg.max_num_frames:
        raise InvalidInput(f"num_frames: {options.num_frames} is out of range 2..{cfg.max_num_frames}")


def parse_json(data: bytes, what: str) -> Any:
    """JSON ``data`` (any UTF encoding); malformed or nested too deeply for the parser is a 400."""
    try:
        return json.loads(data)
    except RecursionError:
        raise UndecodableInput(f"{what} is nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise UndecodableInput(f"{what} is not valid JSON: {exc}") from None


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


def decode_image(file: BinaryIO, name: str, max_pixels: int) -> np.ndarray:
    """uint8 RGB [H, W, 3] of a png/jpeg upload (its spooled file); its pixel count (from the
    header) is checked before anything is decoded."""
    from PIL import Image, UnidentifiedImageError

    try:
        file.seek(0)
        with Image.open(file, formats=("PNG", "JPEG")) as image:
            width, height = image.size
            if width * height > max_pixels:
                raise PayloadTooLarge(f"image {name!r} is {width}x{height} = {width * height} pixels; the limit is "
                                      f"{max_pixels} pixels (max_image_pixels)")
            return np.asarray(image.convert("RGB"))
    except Image.DecompressionBombError as exc:  # Pillow's own cap, in case it is below ours
        raise PayloadTooLarge(f"image {name!r}: {exc}") from None
    except UnidentifiedImageError:
        raise UndecodableInput(f"image {name!r} is not a png or jpeg image") from None
    except PayloadTooLarge:
        raise
    except Exception as exc:  # truncated or corrupt data: OSError, SyntaxError, ValueError, ...
        raise UndecodableInput(f"image {name!r} could not be decoded: {exc}") from None


def probe_video(file: BinaryIO, name: str, cfg: ServeConfig) -> dict[str, float]:
    """Check a video upload (its spooled file) against the limits from its container alone (frame
    size from the stream header, frames by counting the stream's packets, which decodes nothing),
    then decode its first frame: ``{"width", "height", "fps", "frames"}``."""
    import av

    def undecodable(exc: BaseException) -> UndecodableInput:
        return UndecodableInput(f"video {name!r} could not be decoded: {str(exc) or type(exc).__name__}")

    try:
        file.seek(0)
        with av.open(file, mode="r") as container:
            if not container.streams.video:
                raise ValueError("no video stream")
            stream = container.streams.video[0]
            _check_video_pixels(stream.codec_context.width, stream.codec_context.height, name, cfg)
            fps = float(stream.average_rate or stream.guessed_rate or 0)
            frames = 0
            for packet in container.demux(stream):
                frames += packet.size > 0  # the demuxer ends with an empty flush packet
                if frames > cfg.max_video_frames:
                    raise PayloadTooLarge(f"video {name!r} has more than {cfg.max_video_frames} frames "
                                          "(max_video_frames)")
        seconds = frames / fps if fps > 0 else 0.0
        if seconds > cfg.max_video_seconds:
            raise PayloadTooLarge(f"video {name!r} lasts {seconds:.1f} s ({frames} frames at {fps:g} fps); the limit "
                                  f"is {cfg.max_video_seconds:g} s (max_video_seconds)")
        file.seek(0)
        with av.open(file, mode="r") as container:
            frame = next(container.decode(container.streams.video[0]))
            _check_video_pixels(frame.width, frame.height, name, cfg)
            return {"width": frame.width, "height": frame.height, "fps": fps, "frames": frames}
    except PayloadTooLarge:
        raise
    except Exception as exc:  # av raises its own error types, StopIteration for streams without frames
        raise undecodable(exc) from None


def _check_video_pixels(width: int, height: int, name: str, cfg: ServeConfig) -> None:
    if width * height > cfg.max_video_pixels:
        raise PayloadTooLarge(f"video {name!r} is {width}x{height} = {width * height} pixels per frame; the limit is "
                              f"{cfg.max_video_pixels} (max_video_pixels)")


def parse_npz_clip(file: BinaryIO, name: str, cfg: ServeConfig) -> MotionClip:
    """A motion clip from an AMASS-style .npz upload (its spooled file), size-checked from the zip
    directory and array headers before decoding, then checked by :func:`check_clip`: undecodable is
    a 400, over a limit a 413, breaking the clip contract (NaN, wrong shapes, implausible values) 422."""
    file.seek(0)
    if file.read(2) != b"PK":  # an .npz is a zip archive
        raise UndecodableInput(f"motion clip {name!r} is not an .npz (zip) file")
    file.seek(0)
    try:
        clip = clip_from_npz_bytes(file, name=name, max_decoded_bytes=cfg.max_clip_decoded_bytes,
                                   max_frames=cfg.max_clip_frames)
    except NpzTooLarge as exc:
        setting = "max_clip_frames" if exc.limit == "frames" else "max_clip_decoded_bytes"
        raise PayloadTooLarge(f"motion clip {exc} ({setting})") from None
    except UnreadableNpz as exc:
        raise UndecodableInput(f"motion clip {exc}") from None
    except (ValueError, TypeError) as exc:  # ClipValidationError is a ValueError
        raise InvalidInput(f"motion clip {name!r}: {exc}") from None
    return check_clip(clip, cfg, name)


def read_json_upload(file: BinaryIO, name: str, cfg: ServeConfig) -> bytes:
    """The bytes of a JSON clip upload (its spooled file), at most ``max_json_bytes``."""
    file.seek(0, 2)
    if (size := file.tell()) > cfg.max_json_bytes:
        raise PayloadTooLarge(f"motion clip {name!r} has {size} bytes of JSON; the limit is {cfg.max_json_bytes} "
                              "(max_json_bytes)")
    file.seek(0)
    return file.read()


def json_clip(fields: dict[str, Any], arrays: dict[str, np.ndarray], name: str, cfg: ServeConfig) -> MotionClip:
    """A motion clip from a parsed JSON upload (``json_offload.parse_clip_document``), then checked
    by :func:`check_clip`; a ``num_frames`` field must agree with ``poses``."""
    poses = arrays.get("poses", fields.get("poses"))
    frames = len(poses) if isinstance(poses, (list, np.ndarray)) and np.ndim(poses) else None
    if frames is not None and frames > cfg.max_clip_frames:
        raise PayloadTooLarge(f"motion clip {name!r} has {frames} frames; the limit is {cfg.max_clip_frames} "
                              "(max_clip_frames)")
    declared = fields.get("num_frames")
    if declared is not None and declared != frames:
        raise InvalidInput(f"motion clip {name!r}: field 'num_frames' says {declared!r} but 'poses' has "
                           f"{frames} frames")
    try:
        clip = clip_from_dict({**fields, **arrays})
    except (ValueError, TypeError) as exc:  # ClipValidationError is a ValueError
        raise InvalidInput(f"motion clip {name!r}: {exc}") from None
    return check_clip(clip, cfg, name)


def _over(values: np.ndarray, limit: float) -> tuple[int, float] | None:
    """(first flat index, value) of ``|values| > limit``, if any."""
    bad = np.flatnonzero(np.abs(values) > limit)
    return None if bad.size == 0 else (int(bad[0]), float(values.reshape(-1)[bad[0]]))


def check_clip(clip: MotionClip, cfg: ServeConfig, name: str) -> MotionClip:
    """What the model may see: at most ``max_clip_frames`` frames (413), and plausible values
    (422 naming the field and the bound): joint rotations within ``MAX_ROTATION_RAD``, translation
    within ``MAX_TRANS_M``, shape and expression coefficients within ``MAX_SHAPE_COEFFICIENT``,
    fps in ``FPS_RANGE``, confidences in [0, 1], short printable names, a small ``source``."""
    what = f"motion clip {name!r}"
    if clip.num_frames > cfg.max_clip_frames:
        raise PayloadTooLarge(f"{what} has {clip.num_frames} frames; the limit is {cfg.max_clip_frames} "
                              "(max_clip_frames)")
    if not FPS_RANGE[0] <= clip.fps <= FPS_RANGE[1]:
        raise InvalidInput(f"{what}: fps {clip.fps:g} is outside {FPS_RANGE[0]:g}..{FPS_RANGE[1]:g}")
    angles = np.linalg.norm(clip.poses.astype(np.float64), axis=-1)
    if (bad := _over(angles, MAX_ROTATION_RAD)) is not None:
        frame, joint = divmod(bad[0], clip.poses.shape[1])
        raise InvalidInput(f"{what}: field 'poses' has a rotation of {bad[1]:.3g} rad (frame {frame}, joint {joint}); "
                           f"axis-angle norms must be at most {MAX_ROTATION_RAD:.4g} (4 pi)")
    for field, values, limit, unit in (("trans", clip.trans, MAX_TRANS_M, " m"),
                                       ("betas", clip.betas, MAX_SHAPE_COEFFICIENT, ""),
                                       ("expression", clip.expression, MAX_SHAPE_COEFFICIENT, "")):
        if (bad := _over(values, limit)) is not None:
            raise InvalidInput(f"{what}: field {field!r} has {bad[1]:.3g}{unit} at flat index {bad[0]}; "
                               f"values must be within +-{limit:g}{unit}")
    if clip.confidence is not None and (bad := _over(clip.confidence - 0.5, 0.5)) is not None:
        raise InvalidInput(f"{what}: field 'confidence' has {bad[1] + 0.5:.3g} at frame {bad[0]}; must be in [0, 1]")
    check_name(clip.gloss, "gloss", where=what)
    check_name(clip.clip_id, "clip_id", where=what)
    try:
        source = json.dumps(clip.source, ensure_ascii=False).encode("utf-8")
    except (TypeError, ValueError, RecursionError) as exc:  # not JSON, lone surrogates, nested too deeply
        raise InvalidInput(f"{what}: field 'source' is not plain JSON text ({type(exc).__name__})") from None
    if len(source) > MAX_SOURCE_BYTES:
        raise InvalidInput(f"{what}: field 'source' has {len(source)} bytes of JSON; the limit is {MAX_SOURCE_BYTES}")
    return clip
