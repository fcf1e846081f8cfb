"""Encoding preview frames: H.264 mp4 through PyAV, animated GIF through Pillow.

Writers encode into memory and hand back the file's bytes, so the caller can store them anywhere
``signavatar.storage`` reaches (local path or ``s3://``) with one atomic write.
"""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import PurePosixPath
from typing import Protocol

import av
import numpy as np
from PIL import Image

FORMATS = (".mp4", ".gif")


class FrameWriter(Protocol):
    def write(self, frame: np.ndarray) -> None: ...

    def finish(self) -> bytes: ...


def _check_frame(frame: np.ndarray, size: tuple[int, int]) -> None:
    if frame.dtype != np.uint8 or frame.shape != (size[1], size[0], 3):
        raise ValueError(f"frame must be uint8 [{size[1]}, {size[0]}, 3], got {frame.dtype} {frame.shape}")


class Mp4Writer:
    """H.264 (yuv420p) in an mp4 container; ``size = (width, height)``, both even."""

    def __init__(self, fps: float, size: tuple[int, int], crf: int = 20) -> None:
        if size[0] % 2 or size[1] % 2:
            raise ValueError(f"H.264 needs an even frame size, got {size[0]}x{size[1]}")
        self._size = size
        self._buffer = io.BytesIO()
        self._container = av.open(self._buffer, mode="w", format="mp4")
        self._stream = self._container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        self._stream.width, self._stream.height = size
        self._stream.pix_fmt = "yuv420p"
        self._stream.options = {"crf": str(crf), "preset": "veryfast"}

    def write(self, frame: np.ndarray) -> None:
        _check_frame(frame, self._size)
        video_frame = av.VideoFrame.from_ndarray(frame, format="rgb24")
        self._container.mux(self._stream.encode(video_frame))

    def finish(self) -> bytes:
        self._container.mux(self._stream.encode())  # flush delayed frames
        self._container.close()
        return self._buffer.getvalue()


class GifWriter:
    """Looping animated GIF. Frames are palettised as they come (fast octree quantiser, about 20x
    faster than median cut here and indistinguishable on flat-coloured previews) and kept at one
    byte per pixel until ``finish``; the delay per frame is rounded to GIF's 10 ms resolution.
    Pillow stores identical consecutive frames once with their delays summed, so such a GIF has
    fewer frames than were written but plays for the same time."""

    def __init__(self, fps: float, size: tuple[int, int]) -> None:
        self._size = size
        self._duration_ms = max(10, int(round(100.0 / fps)) * 10)
        self._frames: list[Image.Image] = []

    def write(self, frame: np.ndarray) -> None:
        _check_frame(frame, self._size)
        self._frames.append(Image.fromarray(frame).quantize(colors=255, method=Image.Quantize.FASTOCTREE))

    def finish(self) -> bytes:
        if not self._frames:
            raise ValueError("a GIF needs at least one frame")
        buffer = io.BytesIO()
        first, *rest = self._frames
        first.save(buffer, format="GIF", save_all=True, append_images=rest, duration=self._duration_ms, loop=0)
        return buffer.getvalue()


def output_format(path: str) -> str:
    """``".mp4"`` or ``".gif"`` from ``path``'s suffix; anything else is a ValueError."""
    suffix = PurePosixPath(str(path)).suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"unsupported preview format {suffix or '(none)'!r} for {path}; use one of {FORMATS}")
    return suffix


def open_writer(path: str, fps: float, size: tuple[int, int]) -> FrameWriter:
    """A writer for the format named by ``path``'s suffix."""
    return Mp4Writer(fps, size) if output_format(path) == ".mp4" else GifWriter(fps, size)
