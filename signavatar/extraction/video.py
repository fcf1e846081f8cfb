"""Decoding one video with decord: frame range, target fps, person-box crop, bounded chunks.

Memory per video: the compressed file (read once, local or streamed from S3 through s3fs) plus
one chunk of ``chunk_frames`` output frames; decoded frames are never all held at once. decord
scales while decoding (to the size at which the person box becomes ``frame_size`` pixels), so a
full-HD source never materialises full-resolution chunks.

Rotation metadata (the display matrix of phone recordings) is honoured by decord itself, at full
size and when it scales while decoding: frames, ``width`` and ``height`` are upright as a player
shows them (tested with 90 and 270 degree files), for this pipeline and for the MediaPipe
landmarks command (``landmarks_cli``), which decodes with decord too.
"""

from __future__ import annotations

import io
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass

import decord
import numpy as np
import torch
import torch.nn.functional as F

from signavatar import storage

log = logging.getLogger(__name__)


class VideoError(RuntimeError):
    """A video that cannot be used; ``reason`` is one of ``missing``, ``empty``, ``undecodable``,
    ``frame_range``, ``too_long``, ``too_large``."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def read_video_bytes(uri: str, max_bytes: int | None = None) -> bytes:
    """The compressed video (local path or ``s3://``, streamed through s3fs); with ``max_bytes``, a
    larger file is refused before it is read."""
    try:
        data = storage.read_bytes(uri) if max_bytes is None else storage.read_bytes_within(uri, max_bytes, "video")
    except FileNotFoundError as exc:
        raise VideoError("missing", f"{uri}: no such file or object") from exc
    except ValueError as exc:
        raise VideoError("too_large", str(exc)) from exc
    if not data:
        raise VideoError("empty", f"{uri}: zero-length file")
    return data


def select_frames(
    num_frames: int, fps: float, start: int = 0, end: int | None = None, target_fps: float | None = None
) -> tuple[np.ndarray, float]:
    """Source frame indices for the range ``[start, end)`` resampled to ``target_fps``, and the
    output frame rate. Frames are dropped to lower the rate, never duplicated to raise it."""
    end = num_frames if end is None else min(end, num_frames)
    if start >= end:
        raise VideoError("frame_range", f"frame range [{start}, {end}) is empty for a video of {num_frames} frames")
    if target_fps is None or target_fps >= fps:
        return np.arange(start, end), fps
    step = fps / target_fps
    indices = np.unique(np.floor(np.arange(start, end, step) + 1e-6).astype(np.int64))
    return indices[indices < end], target_fps


def square_box(width: int, height: int, bbox: list[float] | None, margin: float) -> tuple[float, float, float]:
    """``(x0, y0, side)`` of the square crop: the person box grown by ``margin`` of its size per
    side and squared around its centre; without a box, the square around the whole frame. The
    square may extend past the frame; that part is black."""
    if bbox is None:
        x1, y1, x2, y2, margin = 0.0, 0.0, float(width), float(height), 0.0
    else:
        x1, y1, x2, y2 = bbox
    side = max(x2 - x1, y2 - y1) * (1.0 + 2.0 * margin)
    return (x1 + x2 - side) / 2.0, (y1 + y2 - side) / 2.0, side


@dataclass
class VideoStream:
    """An opened video: source size/rate and the chunked, cropped, resized frame iterator."""

    uri: str
    num_frames: int
    fps: float
    width: int
    height: int
    _reader: decord.VideoReader
    _scale: float
    _box: tuple[float, float, float]
    _size: int

    def chunks(self, indices: np.ndarray, chunk_frames: int) -> Iterator[np.ndarray]:
        """uint8 ``[n <= chunk_frames, size, size, 3]`` RGB chunks of the given source frames."""
        for lo in range(0, len(indices), chunk_frames):
            batch = indices[lo : lo + chunk_frames]
            try:
                frames = self._reader.get_batch(batch.tolist()).asnumpy()
            except (decord.DECORDError, RuntimeError, IndexError) as exc:
                raise VideoError(
                    "undecodable", f"{self.uri}: frames {batch[0]}..{batch[-1]} failed to decode: {exc}"
                ) from exc
            yield self._crop_resize(frames)

    def _crop_resize(self, frames: np.ndarray) -> np.ndarray:
        x0, y0, side = (v * self._scale for v in self._box)
        n, height, width, _ = frames.shape
        side_px = max(int(round(side)), 1)
        if abs(side_px - self._size) <= 2:  # decode-time scaling came within 2 pixels: no resampling
            x0, y0, side_px = x0 + (side_px - self._size) / 2, y0 + (side_px - self._size) / 2, self._size
        canvas = np.zeros((n, side_px, side_px, 3), np.uint8)
        ix0, iy0 = int(round(x0)), int(round(y0))
        sx, sy = max(ix0, 0), max(iy0, 0)
        ex, ey = min(ix0 + side_px, width), min(iy0 + side_px, height)
        if ex > sx and ey > sy:
            canvas[:, sy - iy0 : ey - iy0, sx - ix0 : ex - ix0] = frames[:, sy:ey, sx:ex]
        if side_px == self._size:
            return canvas
        tensor = torch.from_numpy(canvas).permute(0, 3, 1, 2).float()
        resized = F.interpolate(
            tensor, size=(self._size, self._size), mode="bilinear", antialias=True, align_corners=False
        )
        return resized.round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()


def _reader(data: bytes, uri: str, width: int = -1, height: int = -1) -> decord.VideoReader:
    try:
        reader = decord.VideoReader(io.BytesIO(data), ctx=decord.cpu(0), width=width, height=height, num_threads=1)
    except (decord.DECORDError, RuntimeError, AssertionError) as exc:
        raise VideoError("undecodable", f"{uri}: decord cannot open it ({str(exc).splitlines()[0][:200]})") from exc
    if len(reader) < 1:
        raise VideoError("undecodable", f"{uri}: no video frames")
    return reader


def _first_frame_shape(reader: decord.VideoReader, uri: str) -> tuple[int, int]:
    try:
        shape = reader.get_batch([0]).shape
    except (decord.DECORDError, RuntimeError) as exc:
        raise VideoError("undecodable", f"{uri}: the first frame does not decode ({exc})") from exc
    return int(shape[1]), int(shape[2])


def open_video(uri: str, frame_size: int, bbox: list[float] | None = None, margin: float = 0.0) -> VideoStream:
    """Open ``uri`` for frames cropped to the (squared, grown) person box and resized to
    ``frame_size`` square; decord downscales at decode time when the box is larger than that."""
    data = read_video_bytes(uri)
    probe = _reader(data, uri)
    height, width = _first_frame_shape(probe, uri)
    num_frames, fps = len(probe), float(probe.get_avg_fps())
    box = square_box(width, height, bbox, margin)
    scale = min(1.0, frame_size / box[2])
    reader = probe
    if scale < 1.0:
        try:
            scaled = _reader(
                data,
                uri,
                width=max(2, 2 * math.ceil(width * scale / 2)),
                height=max(2, 2 * math.ceil(height * scale / 2)),
            )
            reader, scale = scaled, _first_frame_shape(scaled, uri)[1] / width
        except VideoError:
            # decord 0.6 fails to scale to some sizes (a buffer size check): decode at full size.
            log.debug("%s: decord cannot decode at reduced size; decoding at %dx%d", uri, width, height)
            scale = 1.0
    return VideoStream(uri, num_frames, fps, int(width), int(height), reader, scale, box, frame_size)
