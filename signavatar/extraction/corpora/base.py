"""What every landmark-corpus reader shares: its errors, its input bounds, and MediaPipe's
normalised arrays -> the fitter's ``HolisticLandmarks``.

A reader turns one sequence of a corpus into ``HolisticLandmarks`` or raises ``CorpusReadError``
with a ``reason`` (``missing``, ``empty``, ``too_large``, ``undecodable``); the import stage
turns that into the sequence's error row. Every input is bounded before it is decoded
(``Limits``): file sizes, frames per sequence, values per frame.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

import numpy as np

from signavatar import storage
from signavatar.config import ExtractConfig
from signavatar.extraction.estimators.holistic_record import HolisticVideo
from signavatar.extraction.landmarks import HolisticLandmarks


class CorpusReadError(ValueError):
    """One sequence cannot be read; the message names it and ``reason`` is its error category."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class CorpusLayoutError(ValueError):
    """The corpus as a whole is malformed (no labels file, bad header, no sequences); the message
    names the file and what is wrong. Stops the run before any work."""


@dataclass(frozen=True)
class Limits:
    """Bounds checked before anything is decoded."""

    max_frames: int
    max_file_bytes: int

    @classmethod
    def from_config(cls, cfg: ExtractConfig) -> Limits:
        return cls(max_frames=cfg.max_sequence_frames, max_file_bytes=cfg.max_file_bytes)

    def check_frames(self, frames: int, where: str) -> None:
        if frames > self.max_frames:
            raise CorpusReadError(
                "too_large", f"{where}: {frames} frames; the limit is {self.max_frames} (extract.max_sequence_frames)"
            )

    def check_size(self, uri: str) -> None:
        """A missing, empty or oversized file is a ``CorpusReadError``."""
        fs, path = storage.filesystem(uri)
        try:
            size = fs.size(path)
        except FileNotFoundError as exc:
            raise CorpusReadError("missing", f"{uri}: no such file or object") from exc
        if size is not None and size > self.max_file_bytes:
            raise CorpusReadError(
                "too_large", f"{uri}: {size} bytes; the limit is {self.max_file_bytes} (extract.max_file_bytes)"
            )
        if size == 0:
            raise CorpusReadError("empty", f"{uri}: zero-length file")

    def read_bytes(self, uri: str) -> bytes:
        """The file's bytes, after ``check_size``."""
        self.check_size(uri)
        try:
            return storage.read_bytes(uri)
        except FileNotFoundError as exc:  # removed in between
            raise CorpusReadError("missing", f"{uri}: no such file or object") from exc


def basename(uri: str) -> str:
    return posixpath.basename(str(uri).replace("\\", "/").rstrip("/"))


def landmarks_from_normalised(
    pose: np.ndarray,
    left_hand: np.ndarray,
    right_hand: np.ndarray,
    face: np.ndarray | None,
    width: int,
    height: int,
    fps: float,
) -> HolisticLandmarks:
    """MediaPipe Holistic's normalised output -> the fitter's input.

    ``pose [T, 33, 4]`` (x, y in [0, 1] of the frame, z relative depth, visibility), hands
    ``[T, 21, 3]``, optional ``face [T, 468, 3]``; NaN marks what was not detected. A pose point
    whose coordinates are not finite is unseen whatever its visibility says."""
    pose = np.array(pose, np.float64)
    pose[..., 3] = np.where(np.isfinite(pose[..., :3]).all(-1), np.nan_to_num(pose[..., 3]), 0.0)
    video = HolisticVideo(
        pose=pose, world=None, left_hand=left_hand, right_hand=right_hand, face=face, width=width, height=height, fps=fps
    )
    return video.to_landmarks()
