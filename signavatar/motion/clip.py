"""The motion clip: the one record every stage reads and writes (README: "Layout", "Method notes").

Arrays are numpy float32 in axis-angle at every boundary; the model sees 6D rotations of the
upper-body joints (``to_features`` / ``from_features``). A clip made of several signs (a signed
sentence) labels its frames with ``segments``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
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
SEGMENT_KINDS = ("sign", "transition")


class ClipValidationError(ValueError):
    """A clip broke the data contract; the message names the clip and the field."""


@dataclass(frozen=True)
class Segment:
    """Frames ``[start, end)`` of a clip: one sign (``kind="sign"``, ``gloss`` names it) or the
    transition between two signs (``kind="transition"``, ``gloss`` empty)."""

    gloss: str
    start: int
    end: int
    kind: str = "sign"

    def to_dict(self) -> dict[str, Any]:
        return {"gloss": self.gloss, "start": self.start, "end": self.end, "kind": self.kind}

    @classmethod
    def from_value(cls, value: Any) -> Segment:
        """A segment from itself, a dict with the field names, or a ``(gloss, start, end, kind)`` sequence."""
        if isinstance(value, Segment):
            return value
        if isinstance(value, dict):
            unknown = sorted(set(value) - {"gloss", "start", "end", "kind"})
            if unknown:
                raise ValueError(f"unknown key(s) {unknown}")
            return cls(**value)
        if isinstance(value, (list, tuple)) and len(value) in (3, 4):
            return cls(*value)
        raise ValueError(f"{value!r} is not a segment (gloss, start, end, kind)")


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
    segments: tuple[Segment, ...] | None = None  # sorted, non-overlapping; None: not a sentence

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
        if self.segments is not None:
            self.segments = self._segments(self.segments, frames)
        return self

    def _segments(self, values: Any, frames: int) -> tuple[Segment, ...]:
        if isinstance(values, (str, bytes, dict)) or not hasattr(values, "__iter__"):
            raise self._fail("segments", f"must be a list of segments, got {type(values).__name__}")
        segments: list[Segment] = []
        for i, value in enumerate(values):
            try:
                segment = Segment.from_value(value)
            except (TypeError, ValueError) as exc:
                raise self._fail("segments", f"entry {i}: {exc}") from None
            if not isinstance(segment.gloss, str):
                raise self._fail("segments", f"entry {i}: gloss must be a string, got {segment.gloss!r}")
            if segment.kind not in SEGMENT_KINDS:
                raise self._fail("segments", f"entry {i}: kind is {segment.kind!r}; expected one of {SEGMENT_KINDS}")
            bounds = (segment.start, segment.end)
            if not all(isinstance(b, (int, np.integer)) and not isinstance(b, bool) for b in bounds):
                raise self._fail("segments", f"entry {i}: start and end must be integers, got {bounds!r}")
            segment = dataclasses.replace(segment, start=int(segment.start), end=int(segment.end))
            if not 0 <= segment.start < segment.end <= frames:
                raise self._fail("segments", f"entry {i}: frames [{segment.start}, {segment.end}) do not fit "
                                             f"0 <= start < end <= T = {frames}")
            if segments and segment.start < segments[-1].end:
                raise self._fail("segments", f"entry {i} starts at frame {segment.start}, before entry {i - 1} "
                                             f"ends ({segments[-1].end}); segments must be sorted and not overlap")
            segments.append(segment)
        return tuple(segments)

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
        """Frames [start, stop) as a new clip (used by quality control); segments are cut to them."""
        conf = None if self.confidence is None else self.confidence[start:stop]
        start, stop, _ = slice(start, stop).indices(self.num_frames)
        segments = None if self.segments is None else tuple(
            dataclasses.replace(s, start=max(s.start, start) - start, end=min(s.end, stop) - start)
            for s in self.segments if s.start < stop and s.end > start
        )
        return self.replace(
            poses=self.poses[start:stop],
            expression=self.expression[start:stop],
            trans=self.trans[start:stop],
            confidence=conf,
            segments=segments,
        )

    def resample(self, num_frames: int) -> MotionClip:
        """The clip stretched or squeezed to ``num_frames`` (fps scaled to keep the duration).

        Rotations are interpolated in 6D and re-orthogonalised, which stays on the rotation manifold
        (linear interpolation of axis-angle does not near pi). Segment boundaries are scaled to the
        new length (a segment that shrinks to no frame at all is left out).
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
        scaled = None if self.segments is None else [
            dataclasses.replace(s, start=round(s.start * num_frames / src), end=round(s.end * num_frames / src))
            for s in self.segments
        ]
        return self.replace(
            poses=poses,
            expression=lerp(self.expression),
            trans=lerp(self.trans),
            confidence=None if self.confidence is None else lerp(self.confidence),
            fps=num_frames / duration,
            segments=None if scaled is None else tuple(s for s in scaled if s.end > s.start),
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
        """A full-body clip from model features ``[T, F]``; joints outside the upper body stay at rest."""
        features = np.asarray(features, dtype=np.float32)
        if features.ndim != 2 or features.shape[1] != FEATURE_DIM:
            raise ValueError(f"features have shape {features.shape}; expected [T, {FEATURE_DIM}]")
        return cls.batch_from_features(features[None], glosses=[gloss], clip_ids=[clip_id], fps=fps, split=split,
                                       betas=betas, sources=[source or {}])[0]

    @classmethod
    def batch_from_features(
        cls,
        features: np.ndarray,
        *,
        glosses: Sequence[str],
        clip_ids: Sequence[str],
        fps: float,
        sources: Sequence[dict[str, Any]],
        split: str = "unsplit",
        betas: np.ndarray | None = None,
    ) -> list[MotionClip]:
        """``from_features`` for ``N`` clips of one length ``[N, T, F]`` (clip ``i`` named by the
        ``i``-th gloss, id and source), with one rotation conversion for all of them."""
        features = np.asarray(features, dtype=np.float32)
        if features.ndim != 3 or features.shape[2] != FEATURE_DIM:
            raise ValueError(f"features have shape {features.shape}; expected [N, T, {FEATURE_DIM}]")
        count, frames = features.shape[:2]
        if not len(glosses) == len(clip_ids) == len(sources) == count:
            raise ValueError(f"{count} clips of features but {len(glosses)} glosses, {len(clip_ids)} ids "
                             f"and {len(sources)} sources")
        poses = poses_from_features(features)
        return [
            cls(
                gloss=gloss,
                clip_id=clip_id,
                split=split,
                fps=fps,
                poses=pose,
                expression=np.zeros((frames, NUM_EXPRESSION), np.float32),
                betas=np.zeros(NUM_BETAS, np.float32) if betas is None else betas,
                trans=np.zeros((frames, 3), np.float32),
                source=source,
            )
            for pose, gloss, clip_id, source in zip(poses, glosses, clip_ids, sources, strict=True)
        ]


def poses_from_features(features: np.ndarray) -> np.ndarray:
    """Axis-angle poses ``[..., T, 55, 3]`` float32 of model features ``[..., T, F]``: the upper
    body from its 6D rotations, every other joint at rest."""
    features = np.asarray(features, dtype=np.float32)
    upper = rot6d_to_axis_angle(torch.from_numpy(features.reshape(features.shape[:-1] + (-1, 6)))).numpy()
    poses = np.zeros(features.shape[:-1] + (NUM_JOINTS, 3), dtype=np.float32)
    poses[..., list(UPPER_BODY_JOINTS), :] = upper
    return poses
