"""The estimator interface: RGB frames in, per-frame SMPL-X parameters and a confidence out.

A backend implements ``estimate(frames)`` for one chunk of frames. Backends that need the whole
video at once (temporal fitting) override ``estimate_video``, which receives the chunks of one
video in order; the default runs ``estimate`` chunk by chunk, so memory stays bounded by the
chunk size.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from signavatar.body.joints import NUM_JOINTS
from signavatar.motion.clip import NUM_BETAS, NUM_EXPRESSION, MotionClip


@dataclass
class SmplxFrames:
    """Per-frame SMPL-X parameters of N frames: ``poses [N, 55, 3]`` axis-angle, ``expression
    [N, 10]``, ``betas [N, 10]``, ``trans [N, 3]``, ``confidence [N]`` in [0, 1]."""

    poses: np.ndarray
    expression: np.ndarray
    betas: np.ndarray
    trans: np.ndarray
    confidence: np.ndarray

    def __post_init__(self) -> None:
        n = self.poses.shape[0]
        expected = {
            "poses": (n, NUM_JOINTS, 3),
            "expression": (n, NUM_EXPRESSION),
            "betas": (n, NUM_BETAS),
            "trans": (n, 3),
            "confidence": (n,),
        }
        for name, shape in expected.items():
            value = np.asarray(getattr(self, name), dtype=np.float32)
            if value.shape != shape:
                raise ValueError(f"estimator output {name!r} has shape {value.shape}; expected {list(shape)}")
            setattr(self, name, value)

    @property
    def num_frames(self) -> int:
        return int(self.poses.shape[0])

    @classmethod
    def concatenate(cls, parts: list[SmplxFrames]) -> SmplxFrames:
        if not parts:
            raise ValueError("no frames were estimated (empty video or frame range)")
        return cls(**{name: np.concatenate([getattr(p, name) for p in parts]) for name in cls.__dataclass_fields__})

    def clip_betas(self) -> np.ndarray:
        """One shape per clip: the confidence-weighted mean of the per-frame betas."""
        w = np.clip(self.confidence, 1e-6, None)[:, None]
        return (self.betas * w).sum(0) / w.sum()

    def to_clip(self, *, gloss: str, clip_id: str, split: str, fps: float, source: dict) -> MotionClip:
        """These frames as one motion clip (one shape: ``clip_betas``)."""
        return MotionClip(gloss=gloss, clip_id=clip_id, split=split, fps=fps, poses=self.poses,
                          expression=self.expression, betas=self.clip_betas(), trans=self.trans,
                          confidence=self.confidence, source=source)


class Estimator(ABC):
    """A video -> SMPL-X backend. ``name`` is recorded in each clip's ``source["estimator"]``."""

    name: str = "estimator"

    @abstractmethod
    def estimate(self, frames: np.ndarray) -> SmplxFrames:
        """``frames``: uint8 ``[N, H, W, 3]`` RGB of consecutive frames."""

    def estimate_video(self, chunks: Iterable[np.ndarray], fps: float) -> SmplxFrames:
        """All frames of one video, given as consecutive chunks at ``fps``."""
        return SmplxFrames.concatenate([self.estimate(chunk) for chunk in chunks])
