"""MediaPipe Holistic landmarks and their conversion to metric keypoints in the body frame.

Layout (``NUM_LANDMARKS = 75`` points per frame): 33 pose landmarks, then 21 left-hand and 21
right-hand landmarks, in MediaPipe's order and naming ("left" is the signer's left).

Two coordinate systems:

* **Camera convention** (what MediaPipe and ``.pose`` files hold): x to the image right, y down,
  z away from the camera. Image landmarks are pixels for x, y (normalised [0, 1] values are scaled
  by the frame size first) and MediaPipe's relative depth for z, which is normalised like x
  (so ``z * width`` is in pixels); pose *world* landmarks are metres with the origin between the
  hips.
* **Body frame** (what the fitter works in, same as ``DEFAULT_REST_JOINTS``): metres, x toward
  the signer's left, y up, z forward (toward the camera for a signer facing it). For a signer
  facing the camera this is ``(x, -y, -z)`` of the camera convention (a proper rotation).

``to_body_keypoints`` scales everything so that the median observed shoulder width equals the
body's: world landmarks keep their shape (isotropic scale), image landmarks become metric through
the same rule. Hands only exist as image landmarks: their offsets from the hand's wrist are
converted with the image metres-per-pixel factor and attached to the body's wrist point.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from signavatar.body.joints import joint_index

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
_CAMERA_TO_BODY = np.array([1.0, -1.0, -1.0], dtype=np.float64)


@dataclass
class HolisticLandmarks:
    """One video's Holistic output in the camera convention (see module docstring).

    ``image``: ``[T, 75, 3]`` pixels (x, y) and MediaPipe relative depth (z, normalised like x);
    ``image_confidence``: ``[T, 75]`` visibility/presence in [0, 1], 0 = missing;
    ``world``: optional ``[T, 33, 3]`` pose world landmarks in metres, ``world_confidence`` alike;
    ``width``: frame width in pixels, needed to bring relative depth to pixels;
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
                array[~np.isfinite(array).all(-1)] = 0.0
                confidence[~np.isfinite(confidence) | (confidence < 0)] = 0.0

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
        )


@dataclass
class BodyKeypoints:
    """Metric keypoints in the body frame, ready for fitting.

    ``points``: ``[T, 75, 3]`` metres; ``weights``: ``[T, 75]`` (0 = missing); ``depth_weights``:
    ``[T, 75]`` extra factor on the z residual (image depth is noisier than x, y);
    ``scale``: metres per input unit of the body source (world or image); ``source``: which input
    the body points came from (``"world"`` or ``"image"``).
    """

    points: np.ndarray
    weights: np.ndarray
    depth_weights: np.ndarray
    fps: float
    scale: float = 1.0
    source: str = "world"

    @property
    def num_frames(self) -> int:
        return int(self.points.shape[0])


def _median_distance(a: np.ndarray, b: np.ndarray, ok: np.ndarray) -> float:
    if not ok.any():
        raise ValueError("no frame shows both shoulders: cannot bring the landmarks to metric scale")
    return float(np.median(np.linalg.norm(a[ok] - b[ok], axis=-1)))


def shoulder_width(rest_joints: np.ndarray) -> float:
    """Distance between the two shoulder joints of a rest skeleton (metres)."""
    return float(np.linalg.norm(rest_joints[joint_index("left_shoulder")] - rest_joints[joint_index("right_shoulder")]))


def to_body_keypoints(
    landmarks: HolisticLandmarks,
    rest_joints: np.ndarray,
    image_depth_weight: float = 0.3,
    min_confidence: float = 0.1,
) -> BodyKeypoints:
    """Holistic landmarks -> metric body-frame keypoints, scaled to the body's shoulder width.

    Body points come from the world landmarks when present, else from the image landmarks (x, y
    and ``z * width``). Confidences below ``min_confidence`` count as missing. The image shoulder
    width is measured in x, y only (relative depth is too noisy to measure a length).
    """
    target = shoulder_width(rest_joints)
    image = landmarks.image.copy()
    conf = np.where(landmarks.image_confidence >= min_confidence, landmarks.image_confidence, 0.0)
    if landmarks.image_depth:
        if landmarks.width is None:
            raise ValueError("image landmarks with relative depth need the frame width to scale z")
        image[..., 2] *= landmarks.width
    else:
        image[..., 2] = 0.0
    both = (conf[:, LEFT_SHOULDER] > 0) & (conf[:, RIGHT_SHOULDER] > 0)
    image_scale = target / _median_distance(image[:, LEFT_SHOULDER, :2], image[:, RIGHT_SHOULDER, :2], both)

    points = np.zeros((landmarks.num_frames, NUM_LANDMARKS, 3))
    weights = np.zeros((landmarks.num_frames, NUM_LANDMARKS))
    depth = np.full((landmarks.num_frames, NUM_LANDMARKS), image_depth_weight if landmarks.image_depth else 0.0)
    if landmarks.world is not None:
        world_conf = np.where(landmarks.world_confidence >= min_confidence, landmarks.world_confidence, 0.0)
        ok = (world_conf[:, LEFT_SHOULDER] > 0) & (world_conf[:, RIGHT_SHOULDER] > 0)
        body_scale = target / _median_distance(
            landmarks.world[:, LEFT_SHOULDER], landmarks.world[:, RIGHT_SHOULDER], ok
        )
        points[:, :NUM_POSE] = landmarks.world * body_scale
        weights[:, :NUM_POSE] = world_conf
        depth[:, :NUM_POSE] = 1.0
        source = "world"
    else:
        body_scale = image_scale
        points[:, :NUM_POSE] = image[:, :NUM_POSE] * image_scale
        weights[:, :NUM_POSE] = conf[:, :NUM_POSE]
        source = "image"

    for start, pose_wrist in ((LEFT_HAND_START, LEFT_WRIST), (RIGHT_HAND_START, RIGHT_WRIST)):
        hand = slice(start, start + NUM_HAND)
        offsets = (image[:, hand] - image[:, start : start + 1]) * image_scale
        anchored = weights[:, pose_wrist] > 0
        # Without a body wrist, image-space input can still place the hand by its own wrist.
        own = ~anchored & (source == "image")
        anchor = np.where(anchored[:, None], points[:, pose_wrist], image[:, start] * image_scale)
        points[:, hand] = anchor[:, None] + offsets
        present = conf[:, start] > 0
        weights[:, hand] = np.where((present & (anchored | own))[:, None], conf[:, hand], 0.0)

    points *= _CAMERA_TO_BODY
    observed = weights > 0
    if observed.any():
        points -= np.median(points[observed], axis=0)
    points[~observed] = 0.0
    return BodyKeypoints(
        points=points.astype(np.float32),
        weights=weights.astype(np.float32),
        depth_weights=depth.astype(np.float32),
        fps=landmarks.fps,
        scale=body_scale,
        source=source,
    )
