"""What MediaPipe Holistic reports for one video (``HolisticVideo``), and its conversion to the
fitter's input (``HolisticLandmarks``).

A plain record: the worker client (``holistic_worker``), the ``.pose`` writer (``pose_writer``) and
the landmark corpora all use it, so it imports none of them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from signavatar.extraction.landmarks import LEFT_HAND_START, NUM_HAND, NUM_LANDMARKS, NUM_POSE, RIGHT_HAND_START, HolisticLandmarks


@dataclass
class HolisticVideo:
    """Holistic's output for the ``T`` frames of one video, as MediaPipe reports it.

    ``pose [T, 33, 4]``: x, y normalised to the frame, z relative depth (normalised like x),
    visibility; ``world [T, 33, 4]``: metres (origin between the hips) and visibility, or None
    (landmark corpora that kept image landmarks only);
    ``left_hand``, ``right_hand [T, 21, 3]`` and optional ``face [T, 468, 3]`` normalised like the
    pose. Undetected components are NaN. ``width``, ``height``: the frames' size in pixels."""

    pose: np.ndarray
    world: np.ndarray | None
    left_hand: np.ndarray
    right_hand: np.ndarray
    face: np.ndarray | None
    width: int
    height: int
    fps: float

    @property
    def num_frames(self) -> int:
        return int(self.pose.shape[0])

    def detected(self) -> dict[str, int]:
        """Frames in which each component was found."""
        parts = {"pose": self.pose, "left_hand": self.left_hand, "right_hand": self.right_hand}
        if self.face is not None:
            parts["face"] = self.face
        return {name: int(np.isfinite(values).all(axis=(1, 2)).sum()) for name, values in parts.items()}

    def to_landmarks(self) -> HolisticLandmarks:
        """The fitter's input: image landmarks in pixels (z normalised like x), world landmarks in metres."""
        pixels = np.array([self.width, self.height, 1.0])
        image = np.zeros((self.num_frames, NUM_LANDMARKS, 3))
        confidence = np.zeros((self.num_frames, NUM_LANDMARKS))
        image[:, :NUM_POSE] = self.pose[..., :3] * pixels
        confidence[:, :NUM_POSE] = self.pose[..., 3]
        for start, hand in ((LEFT_HAND_START, self.left_hand), (RIGHT_HAND_START, self.right_hand)):
            image[:, start : start + NUM_HAND] = hand * pixels
            confidence[:, start : start + NUM_HAND] = np.isfinite(hand).all(-1)
        return HolisticLandmarks(
            image=image,
            image_confidence=np.nan_to_num(confidence),
            fps=self.fps,
            width=float(self.width),
            height=float(self.height),
            world=None if self.world is None else self.world[..., :3],
            world_confidence=None if self.world is None else np.nan_to_num(self.world[..., 3]),
        )
