"""MediaPipe Holistic landmarks and the metric body-frame keypoints made from them: layout, types.

Layout (``NUM_LANDMARKS = 75`` points per frame): 33 pose landmarks, then 21 left-hand and 21
right-hand landmarks, in MediaPipe's order and naming ("left" is the signer's left).

Two coordinate systems:

* **Camera convention** (what MediaPipe and ``.pose`` files hold): x to the image right, y down,
  z away from the camera. Image landmarks are pixels for x, y (normalised [0, 1] values are scaled
  by the frame size first) and MediaPipe's relative depth for z, which is normalised like x
  (so ``z * width`` is in pixels); pose *world* landmarks are metres with the origin between the
  hips, axes along the image's.
* **Body frame** (what the fitter works in, same as ``DEFAULT_REST_JOINTS``): metres, x toward
  the signer's left, y up, z forward (toward the camera for a signer facing it). For an upright
  signer facing the camera this is ``(x, -y, -z)`` of the camera convention (a proper rotation).

``keypoint_targets.to_body_keypoints`` turns one sequence into fitting targets in the body frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

POSE_LANDMARK_NAMES: tuple[str, ...] = (
    "NOSE", "LEFT_EYE_INNER", "LEFT_EYE", "LEFT_EYE_OUTER", "RIGHT_EYE_INNER", "RIGHT_EYE", "RIGHT_EYE_OUTER",
    "LEFT_EAR", "RIGHT_EAR", "MOUTH_LEFT", "MOUTH_RIGHT", "LEFT_SHOULDER", "RIGHT_SHOULDER", "LEFT_ELBOW",
    "RIGHT_ELBOW", "LEFT_WRIST", "RIGHT_WRIST", "LEFT_PINKY", "RIGHT_PINKY", "LEFT_INDEX", "RIGHT_INDEX",
    "LEFT_THUMB", "RIGHT_THUMB", "LEFT_HIP", "RIGHT_HIP", "LEFT_KNEE", "RIGHT_KNEE", "LEFT_ANKLE", "RIGHT_ANKLE",
    "LEFT_HEEL", "RIGHT_HEEL", "LEFT_FOOT_INDEX", "RIGHT_FOOT_INDEX",
)  # fmt: skip
HAND_LANDMARK_NAMES: tuple[str, ...] = (
    "WRIST", "THUMB_CMC", "THUMB_MCP", "THUMB_IP", "THUMB_TIP",
    "INDEX_FINGER_MCP", "INDEX_FINGER_PIP", "INDEX_FINGER_DIP", "INDEX_FINGER_TIP",
    "MIDDLE_FINGER_MCP", "MIDDLE_FINGER_PIP", "MIDDLE_FINGER_DIP", "MIDDLE_FINGER_TIP",
    "RING_FINGER_MCP", "RING_FINGER_PIP", "RING_FINGER_DIP", "RING_FINGER_TIP",
    "PINKY_MCP", "PINKY_PIP", "PINKY_DIP", "PINKY_TIP",
)  # fmt: skip
NUM_POSE = len(POSE_LANDMARK_NAMES)
NUM_HAND = len(HAND_LANDMARK_NAMES)
LEFT_HAND_START = NUM_POSE
RIGHT_HAND_START = NUM_POSE + NUM_HAND
NUM_LANDMARKS = NUM_POSE + 2 * NUM_HAND

LEFT_SHOULDER = POSE_LANDMARK_NAMES.index("LEFT_SHOULDER")
RIGHT_SHOULDER = POSE_LANDMARK_NAMES.index("RIGHT_SHOULDER")
LEFT_WRIST = POSE_LANDMARK_NAMES.index("LEFT_WRIST")
RIGHT_WRIST = POSE_LANDMARK_NAMES.index("RIGHT_WRIST")
LEFT_HIP = POSE_LANDMARK_NAMES.index("LEFT_HIP")
RIGHT_HIP = POSE_LANDMARK_NAMES.index("RIGHT_HIP")
NO_DEPTH_LANDMARKS = (LEFT_HIP, RIGHT_HIP)
"""Landmarks that never get a depth target (the hips: their depth would only tilt the torso)."""
HEAD_LANDMARKS = tuple(range(POSE_LANDMARK_NAMES.index("MOUTH_RIGHT") + 1))
"""The face points of the pose landmarks: nose, eyes, ears, mouth."""


@dataclass
class HolisticLandmarks:
    """One video's Holistic output in the camera convention (see module docstring).

    ``image``: ``[T, 75, 3]`` pixels (x, y) and MediaPipe relative depth (z, normalised like x);
    ``image_confidence``: ``[T, 75]`` visibility/presence in [0, 1], 0 = missing;
    ``world``: optional ``[T, 33, 3]`` pose world landmarks in metres, ``world_confidence`` alike;
    ``width``, ``height``: frame size in pixels (``width`` brings relative depth to pixels; both
    tell landmarks outside the frame, which MediaPipe only guesses; None = unknown);
    ``image_depth``: False when the file's image z is not MediaPipe's relative depth (then only
    x, y of image landmarks are fitted).
    """

    image: np.ndarray
    image_confidence: np.ndarray
    fps: float
    width: float | None = None
    world: np.ndarray | None = None
    world_confidence: np.ndarray | None = None
    image_depth: bool = True
    height: float | None = None

    def __post_init__(self) -> None:
        self.image = np.asarray(self.image, np.float64)
        self.image_confidence = np.asarray(self.image_confidence, np.float64)
        frames = self.image.shape[0]
        if self.image.shape != (frames, NUM_LANDMARKS, 3) or self.image_confidence.shape != (frames, NUM_LANDMARKS):
            raise ValueError(
                f"image landmarks {self.image.shape} / confidence {self.image_confidence.shape}; "
                f"expected [T, {NUM_LANDMARKS}, 3] / [T, {NUM_LANDMARKS}]"
            )
        if frames < 1:
            raise ValueError("landmarks have T = 0 frames")
        if self.world is not None:
            self.world = np.asarray(self.world, np.float64)
            self.world_confidence = np.asarray(
                self.image_confidence[:, :NUM_POSE] if self.world_confidence is None else self.world_confidence,
                np.float64,
            )
            if self.world.shape != (frames, NUM_POSE, 3) or self.world_confidence.shape != (frames, NUM_POSE):
                raise ValueError(f"world landmarks {self.world.shape}; expected [{frames}, {NUM_POSE}, 3]")
        for name in ("image", "world"):
            array = getattr(self, name)
            if array is not None:
                confidence = getattr(self, f"{name}_confidence")
                # Missing points may hold anything (zeros, NaN); they must never reach the fit.
                bad = ~np.isfinite(array).all(-1)
                array[bad] = 0.0
                confidence[bad | ~np.isfinite(confidence) | (confidence < 0)] = 0.0

    @property
    def num_frames(self) -> int:
        return int(self.image.shape[0])

    def select(self, indices: np.ndarray, fps: float) -> HolisticLandmarks:
        """The given frames (e.g. a frame range resampled to a target rate) at ``fps``."""
        return HolisticLandmarks(
            image=self.image[indices],
            image_confidence=self.image_confidence[indices],
            fps=fps,
            width=self.width,
            world=None if self.world is None else self.world[indices],
            world_confidence=None if self.world is None else self.world_confidence[indices],
            image_depth=self.image_depth,
            height=self.height,
        )


MPDATA_SIZES = {258: False, 1662: True}
"""Lengths of an "MP_Data" frame vector -> whether it holds the 468-point face."""


def landmarks_from_mpdata(vectors: np.ndarray, width: float, height: float, fps: float) -> HolisticLandmarks:
    """Frame vectors ``[T, 258]`` (or ``[T, 1662]`` with the face) in the layout of MediaPipe
    action-recognition tutorials' "MP_Data" folders -> Holistic landmarks: pose 33 x (x, y, z,
    visibility), [face 468 x (x, y, z)], left hand 21 x (x, y, z), right hand 21 x (x, y, z); x, y
    normalised to the frame (``width`` x ``height`` pixels), all zeros where a part was not
    detected."""
    vectors = np.asarray(vectors, np.float64)
    if vectors.ndim != 2 or vectors.shape[1] not in MPDATA_SIZES:
        raise ValueError(f"MP_Data frames of shape {list(vectors.shape)}; expected [T, 258] or [T, 1662]")
    frames = len(vectors)
    pose = vectors[:, : 4 * NUM_POSE].reshape(frames, NUM_POSE, 4)
    hands = vectors[:, -6 * NUM_HAND :].reshape(frames, 2 * NUM_HAND, 3)
    image = np.concatenate([pose[..., :3], hands], axis=1) * np.array([width, height, 1.0])
    detected = np.concatenate(
        [np.repeat(np.abs(pose[..., :3]).sum((1, 2), keepdims=True)[..., 0] > 0, NUM_POSE, axis=1),
         np.repeat(np.abs(hands[:, :NUM_HAND]).sum((1, 2))[:, None] > 0, NUM_HAND, axis=1),
         np.repeat(np.abs(hands[:, NUM_HAND:]).sum((1, 2))[:, None] > 0, NUM_HAND, axis=1)],
        axis=1,
    )  # fmt: skip
    confidence = np.concatenate([pose[..., 3], np.ones((frames, 2 * NUM_HAND))], axis=1) * detected
    return HolisticLandmarks(
        image=image, image_confidence=confidence, fps=fps, width=float(width), height=float(height)
    )


@dataclass
class BodyKeypoints:
    """Metric keypoints in the body frame, ready for fitting.

    ``points``: ``[T, 75, 3]`` metres (x, y: the image evidence; z: the depth targets);
    ``weights``: ``[T, 75]`` (0 = missing); ``depth_weights``: ``[T, 75]`` extra factor on the z
    residual (0 = no depth); ``seen``: ``[T, 75]`` observed inside the frame (None: wherever the
    weight is positive); ``scale``: metres per image pixel; ``source``: where the depth came
    from (``"world"`` landmarks, ``"image"`` z, or ``"none"``: arm depths assumed); ``rotation_deg``: the signer's up direction in
    the input image, clockwise from the image's up (0, 90, 180 or 270), undone in ``points``;
    ``depth_implausible``: fraction of observed arm bones whose MediaPipe depth exceeded their
    length (``keypoint_targets`` module docstring); ``frame_confidence``: ``[T]`` how well the signing
    arms were detected (``arm_confidence``; from ``weights`` when not given).
    ``bone_scale``: ``[55]`` the per-sequence proportions to fit with (``proportions``; None: the
    rest skeleton's).
    """

    points: np.ndarray
    weights: np.ndarray
    depth_weights: np.ndarray
    fps: float
    scale: float = 1.0
    source: str = "world"
    seen: np.ndarray | None = None
    rotation_deg: int = 0
    depth_implausible: float = 0.0
    frame_confidence: np.ndarray | None = None
    bone_scale: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.frame_confidence is None:
            self.frame_confidence = arm_confidence(self.weights)

    @property
    def num_frames(self) -> int:
        return int(self.points.shape[0])

    @property
    def observed(self) -> np.ndarray:
        """``[T, 75]`` bool: the landmarks that were actually seen."""
        return self.weights > 0 if self.seen is None else self.seen

    @property
    def depth_observed(self) -> np.ndarray:
        """``[T, 75]`` bool: depth targets that come from the input (not assumed)."""
        return (self.depth_weights > 0) & (self.source != "none")


ARM_LANDMARKS = tuple(
    POSE_LANDMARK_NAMES.index(f"{side}_{part}") for side in ("LEFT", "RIGHT") for part in ("SHOULDER", "ELBOW", "WRIST")
)


def arm_confidence(confidence: np.ndarray) -> np.ndarray:
    """Per-frame confidence ``[T]``: the mean detection confidence (``[T, 75]``) of both shoulders,
    elbows and wrists (how well the signing arms were seen), inside the frame or not. Missing
    hands lower nothing here: hands at rest out of the frame are normal in signing, and their
    joints are masked in the fit."""
    return np.clip(confidence[..., list(ARM_LANDMARKS)].mean(-1), 0.0, 1.0).astype(np.float32)
