"""The motion clip: the one record every stage reads and writes (see DESIGN.md).

Arrays are numpy float32 in axis-angle at every boundary; the model sees 6D rotations of the
upper-body joints (``to_features`` / ``from_features``).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from signavatar.body.joints import NUM_JOINTS, UPPER_BODY_JOINTS
from signavatar.body.rotations import axis_angle_to_rot6d, rot6d_to_axis_angle

NUM_EXPRESSION = 10
NUM_BETAS = 10
SPLITS = ("train", "val", "test", "unsplit")
FEATURE_DIM = len(UPPER_BODY_JOINTS) * 6


class ClipValidationError(ValueError):
    """A clip broke the data contract; the message names the clip and the field."""


@dataclass
class MotionClip:
    gloss: str
    clip_id: str
    split: str
    fps: float
    poses: np.ndarray  # [T, 55, 3] axis-angle
    expression: np.ndarray  # [T, 10]
    betas: np.ndarray  # [10]
    trans: np.ndarray  # [T, 3]
    confidence: np.ndarray | None = None  # [T]
    source: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.validate()

    @property
    def num_frames(self) -> int:
        return int(self.poses.shape[0])

    def _fail(self, field_name: str, problem: str) -> ClipValidationError:
        return ClipValidationError(f"clip {self.clip_id!r} (gloss {self.gloss!r}): field {field_name!r} {problem}")

    def validate(self) -> MotionClip:
        """Check shapes, dtypes and finiteness; arrays are converted to float32 in place."""
        for name in ("gloss", "clip_id", "split"):
            if not isinstance(getattr(self, name), str):
                raise self._fail(name, f"must be a string, got {type(getattr(self, name)).__name__}")
        if not self.clip_id:
            raise self._fail("clip_id", "is empty")
        if self.split not in SPLITS:
            raise self._fail("split", f"is {self.split!r}; expected one of {SPLITS}")
        if not (isinstance(self.fps, (int, float)) and math.isfinite(self.fps) and self.fps > 0):
            raise self._fail("fps", f"must be a positive number, got {self.fps!r}")
        self.fps = float(self.fps)
        poses = self._array("poses", self.poses)
        if poses.ndim != 3 or poses.shape[1:] != (NUM_JOINTS, 3):
            raise self._fail("poses", f"has shape {poses.shape}; expected [T, {NUM_JOINTS}, 3]")
        frames = poses.shape[0]
        if frames < 1:
            raise self._fail("poses", "has T = 0 frames; a clip needs at least one")
        expected = {
            "expression": (frames, NUM_EXPRESSION),
            "betas": (NUM_BETAS,),
            "trans": (frames, 3),
            "confidence": (frames,),
        }
        for name, shape in expected.items():
            value = getattr(self, name)
            if value is None and name == "confidence":
                continue
            array = self._array(name, value)
            if array.shape != shape:
                raise self._fail(name, f"has shape {array.shape}; expected {list(shape)} (T = {frames})")
            setattr(self, name, array)
        self.poses = poses
        if not isinstance(self.source, dict):
            raise self._fail("source", "must be a dict")
        return self

    def _array(self, name: str, value: Any) -> np.ndarray:
        try:
            array = np.asarray(value, dtype=np.float32)
            if not array.flags.writeable:  # e.g. a zero-copy view of an Arrow buffer
                array = array.copy()
        except (TypeError, ValueError) as exc:
            raise self._fail(name, f"is not numeric: {exc}") from exc
        bad = ~np.isfinite(array)
        if bad.any():
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            raise self._fail(name, f"has {int(bad.sum())} non-finite values (NaN/inf), first at index {first}")
        return array

    def replace(self, **changes: Any) -> MotionClip:
        return dataclasses.replace(self, **changes)

    def slice_frames(self, start: int, stop: int) -> MotionClip:
        """Frames [start, stop) as a new clip (used by quality control)."""
        conf = None if self.confidence is None else self.confidence[start:stop]
        return self.replace(
            poses=self.poses[start:stop],
            expression=self.expression[start:stop],
            trans=self.trans[start:stop],
            confidence=conf,
        )

    def resample(self, num_frames: int) -> MotionClip:
        """The clip stretched or squeezed to ``num_frames`` (fps scaled to keep the duration).

        Rotations are interpolated in 6D and re-orthogonalised, which stays on the rotation manifold
        (linear interpolation of axis-angle does not near pi).
        """
        if num_frames < 1:
            raise ValueError(f"num_frames must be >= 1, got {num_frames}")
        src = self.num_frames
        positions = np.linspace(0.0, src - 1, num_frames) if num_frames > 1 else np.zeros(1)
        lo = np.floor(positions).astype(int)
        hi = np.minimum(lo + 1, src - 1)
        w = (positions - lo).astype(np.float32)

        def lerp(a: np.ndarray) -> np.ndarray:
            ww = w.reshape((-1,) + (1,) * (a.ndim - 1))
            return (a[lo] * (1 - ww) + a[hi] * ww).astype(np.float32)

        rot6d = axis_angle_to_rot6d(torch.from_numpy(self.poses)).numpy()
        poses = rot6d_to_axis_angle(torch.from_numpy(lerp(rot6d))).numpy()
        duration = src / self.fps
        return self.replace(
            poses=poses,
            expression=lerp(self.expression),
            trans=lerp(self.trans),
            confidence=None if self.confidence is None else lerp(self.confidence),
            fps=num_frames / duration,
        )

    def to_features(self) -> np.ndarray:
        """Model features: 6D rotations of the upper-body joints, ``[T, 44 * 6]`` float32."""
        upper = torch.from_numpy(self.poses[:, list(UPPER_BODY_JOINTS)])
        return axis_angle_to_rot6d(upper).reshape(self.num_frames, FEATURE_DIM).numpy().astype(np.float32)

    @classmethod
    def from_features(
        cls,
        features: np.ndarray,
        *,
        gloss: str,
        clip_id: str,
        fps: float,
        split: str = "unsplit",
        betas: np.ndarray | None = None,
        source: dict[str, Any] | None = None,
    ) -> MotionClip:
        """A full-body clip from model features; joints outside the upper body stay at rest."""
        features = np.asarray(features, dtype=np.float32)
        if features.ndim != 2 or features.shape[1] != FEATURE_DIM:
            raise ValueError(f"features have shape {features.shape}; expected [T, {FEATURE_DIM}]")
        frames = features.shape[0]
        upper = rot6d_to_axis_angle(torch.from_numpy(features.reshape(frames, -1, 6))).numpy()
        poses = np.zeros((frames, NUM_JOINTS, 3), dtype=np.float32)
        poses[:, list(UPPER_BODY_JOINTS)] = upper
        return cls(
            gloss=gloss,
            clip_id=clip_id,
            split=split,
            fps=fps,
            poses=poses,
            expression=np.zeros((frames, NUM_EXPRESSION), np.float32),
            betas=np.zeros(NUM_BETAS, np.float32) if betas is None else betas,
            trans=np.zeros((frames, 3), np.float32),
            source=source or {},
        )
