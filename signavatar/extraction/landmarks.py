"""MediaPipe Holistic landmarks and their conversion to metric keypoints in the body frame.

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

``to_body_keypoints`` turns one sequence into fitting targets, in this order:

1. **Seen or not.** Landmarks below ``min_confidence`` are missing. Landmarks outside the frame
   (beyond ``frame_margin``; MediaPipe guesses them, e.g. hips below a webcam's bottom edge) keep
   ``offscreen_weight`` of their weight and do not count as *seen* (the report's image error is
   measured over seen landmarks only).
2. **Upright.** ``detect_rotation`` finds the signer's up direction in the image from the body
   (head above shoulders, shoulders above hips, the shoulder line of a signer facing the camera)
   and the landmarks (image and world) are turned back by the nearest multiple of 90 degrees:
   phone videos stored sideways and upside-down recordings become upright.
3. **Scale.** Image x, y become metres at the largest scale at which no seen body bone
   (shoulder line, upper arms, forearms; 90th percentile over frames) looks longer than the
   body's (a bone seen end-on looks shorter, never longer); each hand is sized by its palm
   alike. They are the primary evidence.
4. **Depth.** MediaPipe's depth (world z where the input has world landmarks, else image
   ``z * width``) is weak evidence: with ``depth="bone_length"`` each arm bone's depth is
   ``sign(dz) * sqrt(L^2 - dxy^2)`` (the depth that the bone length ``L`` leaves for its image
   length ``dxy``), so MediaPipe only decides *toward or away from the camera* (its sign, median
   over 5 frames, so single-frame jumps do not count) and never how far: wrist depths of several
   shoulder widths in front of the body, common in MediaPipe output, cannot pull the fit. Depth
   weights shrink where the sign is uncertain. Hand points hang on the wrist with MediaPipe's
   hand-relative depth (at the hand's own scale), flattened in frames where it exceeds what the
   finger bones allow (``_hand_depth_factor``: depth scaled several times on some frames); hips
   carry no depth (``NO_DEPTH_LANDMARKS``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from signavatar.body.joints import joint_index
from signavatar.config import KeypointFitConfig

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
_LEFT_HIP = POSE_LANDMARK_NAMES.index("LEFT_HIP")
_RIGHT_HIP = POSE_LANDMARK_NAMES.index("RIGHT_HIP")
NO_DEPTH_LANDMARKS = (_LEFT_HIP, _RIGHT_HIP)
"""Landmarks that never get a depth target (the hips: their depth would only tilt the torso)."""
_HEAD = tuple(range(POSE_LANDMARK_NAMES.index("MOUTH_RIGHT") + 1))  # nose, eyes, ears, mouth
_CAMERA_TO_BODY = np.array([1.0, -1.0, -1.0], dtype=np.float64)
_SIGN_WINDOW = 5
"""Frames over which the sign of a bone's MediaPipe depth is taken (median), against jumps."""
_SIGN_NOISE = 0.25
"""A bone's depth sign is trusted fully once MediaPipe's depth difference reaches this fraction of its length."""
_IMPLAUSIBLE = 1.2
"""MediaPipe depth differences beyond this many bone lengths are impossible (counted in the report)."""
_ASSUMED_TRUST = 0.3
"""Trust in the toward-the-camera depth assumed for arm bones of input without any depth."""
_MIN_BONE_FRAMES = 3
_MIN_SCALE = 0.5
"""The body scale stays within this factor below the shoulder width's; a hand's within it of the body's."""


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
    length (``landmarks`` module docstring); ``frame_confidence``: ``[T]`` how well the signing
    arms were detected (``arm_confidence``; from ``weights`` when not given).
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
    return np.clip(confidence[:, list(ARM_LANDMARKS)].mean(1), 0.0, 1.0).astype(np.float32)


def _median_distance(a: np.ndarray, b: np.ndarray, ok: np.ndarray) -> float:
    if not ok.any():
        raise ValueError("no frame shows both shoulders: cannot bring the landmarks to metric scale")
    return float(np.median(np.linalg.norm(a[ok] - b[ok], axis=-1)))


def shoulder_width(rest_joints: np.ndarray) -> float:
    """Distance between the two shoulder joints of a rest skeleton (metres)."""
    return float(np.linalg.norm(rest_joints[joint_index("left_shoulder")] - rest_joints[joint_index("right_shoulder")]))


def _bone(rest_joints: np.ndarray, a: str, b: str) -> float:
    return float(np.linalg.norm(np.asarray(rest_joints)[joint_index(a)] - np.asarray(rest_joints)[joint_index(b)]))


def inside_frame(image: np.ndarray, width: float | None, height: float | None, margin: float) -> np.ndarray:
    """``[..., P]`` bool: x, y (pixels) within the frame grown by ``margin`` of its size (True
    where the frame size is unknown)."""
    inside = np.ones(image.shape[:-1], bool)
    for axis, size in ((0, width), (1, height)):
        if size:
            inside &= (image[..., axis] >= -margin * size) & (image[..., axis] <= (1.0 + margin) * size)
    return inside


def body_up_angle(xy: np.ndarray, seen: np.ndarray) -> float | None:
    """The signer's up direction in image coordinates ``xy [T, 75, 2]`` (x right, y down), in
    degrees clockwise from the image's up; None without evidence.

    Votes per frame (unit vectors, summed): head (mean of the seen face points) minus shoulder
    midpoint, shoulder midpoint minus hip midpoint, and at half weight the normal of the shoulder
    line (left minus right shoulder points to the body's left, i.e. image right for a signer
    facing the camera)."""
    shoulders = seen[:, LEFT_SHOULDER] & seen[:, RIGHT_SHOULDER]
    mid = (xy[:, LEFT_SHOULDER] + xy[:, RIGHT_SHOULDER]) / 2
    head_seen = seen[:, list(_HEAD)]
    head_count = head_seen.sum(1)
    head = (xy[:, list(_HEAD)] * head_seen[..., None]).sum(1) / np.maximum(head_count, 1)[:, None]
    hips = seen[:, _LEFT_HIP] & seen[:, _RIGHT_HIP]
    hip_mid = (xy[:, _LEFT_HIP] + xy[:, _RIGHT_HIP]) / 2
    across = xy[:, LEFT_SHOULDER] - xy[:, RIGHT_SHOULDER]
    votes = [
        (head - mid, shoulders & (head_count > 0), 1.0),
        (mid - hip_mid, shoulders & hips, 1.0),
        (head - hip_mid, ~shoulders & hips & (head_count > 0), 1.0),
        (np.stack([across[:, 1], -across[:, 0]], -1), shoulders, 0.5),
    ]
    total = np.zeros(2)
    for vector, ok, weight in votes:
        length = np.linalg.norm(vector, axis=-1)
        ok = ok & (length > 0)
        total += weight * (vector[ok] / length[ok, None]).sum(0)
    if not np.linalg.norm(total) > 0:
        return None
    return float(np.degrees(np.arctan2(total[0], -total[1])) % 360.0)


def detect_rotation(xy: np.ndarray, seen: np.ndarray) -> int:
    """The input's rotation (0, 90, 180 or 270 degrees clockwise): ``body_up_angle`` rounded to a
    quarter turn; 0 without evidence."""
    angle = body_up_angle(xy, seen)
    return 0 if angle is None else int(round(angle / 90.0)) % 4 * 90


def rotate_xy(xy: np.ndarray, rotation_deg: int) -> np.ndarray:
    """Undo a clockwise rotation of the input by ``rotation_deg`` (a multiple of 90): turn image
    vectors ``[..., 2]`` (x right, y down) counter-clockwise on screen by that angle."""
    quarter = (rotation_deg // 90) % 4
    cos, sin = ((1, 0), (0, 1), (-1, 0), (0, -1))[quarter]
    x, y = xy[..., 0], xy[..., 1]
    return np.stack([x * cos + y * sin, -x * sin + y * cos], axis=-1)


def _nan_median_filter(values: np.ndarray, window: int) -> np.ndarray:
    """Median over a centred window along axis 0, ignoring NaN (NaN where the window has none)."""
    if len(values) < 2:
        return values.copy()
    half = window // 2
    padded = np.concatenate([np.full((half,) + values.shape[1:], np.nan), values, np.full((half,) + values.shape[1:], np.nan)])
    windows = np.lib.stride_tricks.sliding_window_view(padded, window, axis=0)
    out = np.full(values.shape, np.nan)
    valid = np.isfinite(windows).any(-1)
    out[valid] = np.nanmedian(windows[valid], axis=-1)
    return out


def _bone_depth(
    xy_parent: np.ndarray, xy_child: np.ndarray, raw: np.ndarray, length: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Depth of a bone's child relative to its parent ``[T]``, how far to trust it ``[T]`` and
    where MediaPipe's own difference was impossible ``[T]`` (``raw``: MediaPipe's child-minus-parent
    depth, NaN where either end is missing). See the module docstring."""
    reach = np.sqrt(np.clip(length**2 - ((xy_child - xy_parent) ** 2).sum(-1), 0.0, None))
    smooth = _nan_median_filter(raw, _SIGN_WINDOW)
    known = np.isfinite(raw) & np.isfinite(smooth)
    sign = np.where(np.nan_to_num(smooth) >= 0, 1.0, -1.0)
    trust = np.clip(np.abs(np.nan_to_num(smooth)) / (_SIGN_NOISE * length), 0.0, 1.0)
    # A bone nearly in the image plane has almost no depth to get wrong.
    trust = np.where(reach < _SIGN_NOISE * length, 1.0, trust)
    implausible = known & (np.abs(np.nan_to_num(raw)) > _IMPLAUSIBLE * length)
    return np.where(known, sign * reach, 0.0), np.where(known, trust, 0.0), implausible


def _arm_depths(
    xy: np.ndarray, raw: np.ndarray, rest_joints: np.ndarray
) -> tuple[np.ndarray, np.ndarray, float]:
    """Bone-length depth of shoulders, elbows and wrists (``depth="bone_length"``).

    ``xy [T, 75, 2]``, ``raw [T, 75]`` MediaPipe depth in the body frame (NaN = missing). Returns depths ``[T, 75]`` (NaN where not
    determined), trust ``[T, 75]`` in [0, 1] and the implausible fraction."""
    frames = xy.shape[0]
    depth = np.full((frames, NUM_LANDMARKS), np.nan)
    trust = np.zeros((frames, NUM_LANDMARKS))
    flags: list[np.ndarray] = []
    known = np.isfinite(raw)
    # Shoulders: their common depth as observed, their difference within what the shoulder width
    # allows (MediaPipe's shoulder points sit closer together than the body's joints, so the
    # bone-length rule would invent a turn).
    both = known[:, LEFT_SHOULDER] & known[:, RIGHT_SHOULDER]
    left, right = np.nan_to_num(raw[:, LEFT_SHOULDER]), np.nan_to_num(raw[:, RIGHT_SHOULDER])
    span = shoulder_width(rest_joints)
    reach = np.sqrt(np.clip(span**2 - ((xy[:, LEFT_SHOULDER] - xy[:, RIGHT_SHOULDER]) ** 2).sum(-1), 0.0, None))
    across = np.clip(left - right, -reach, reach)
    flags.append(both & (np.abs(left - right) > _IMPLAUSIBLE * span))
    for landmark, sign in ((LEFT_SHOULDER, 0.5), (RIGHT_SHOULDER, -0.5)):
        depth[:, landmark] = np.where(both, (left + right) / 2 + sign * across, raw[:, landmark])
        trust[:, landmark] = known[:, landmark] * 0.5
    for side in ("LEFT", "RIGHT"):
        shoulder, elbow, wrist = (POSE_LANDMARK_NAMES.index(f"{side}_{p}") for p in ("SHOULDER", "ELBOW", "WRIST"))
        upper = _bone(rest_joints, f"{side.lower()}_shoulder", f"{side.lower()}_elbow")
        fore = _bone(rest_joints, f"{side.lower()}_elbow", f"{side.lower()}_wrist")
        dz, t, bad = _bone_depth(xy[:, shoulder], xy[:, elbow], raw[:, elbow] - raw[:, shoulder], upper)
        ok = np.isfinite(depth[:, shoulder]) & known[:, elbow]
        depth[:, elbow] = np.where(ok, depth[:, shoulder] + dz, np.nan)
        trust[:, elbow] = np.where(ok, t * trust[:, shoulder].clip(0.5, 1.0), 0.0)
        flags.append(bad)
        # The wrist hangs on the elbow; without an elbow, on the shoulder within the arm's reach.
        dz, t, bad = _bone_depth(xy[:, elbow], xy[:, wrist], raw[:, wrist] - raw[:, elbow], fore)
        via_elbow = np.isfinite(depth[:, elbow]) & known[:, wrist]
        reach = np.sqrt(np.clip((upper + fore) ** 2 - ((xy[:, wrist] - xy[:, shoulder]) ** 2).sum(-1), 0.0, None))
        direct = np.clip(raw[:, wrist] - raw[:, shoulder], -reach, reach)
        via_shoulder = ~via_elbow & np.isfinite(depth[:, shoulder]) & known[:, wrist]
        depth[:, wrist] = np.where(
            via_elbow, depth[:, elbow] + dz, np.where(via_shoulder, depth[:, shoulder] + np.nan_to_num(direct), np.nan)
        )
        trust[:, wrist] = np.where(via_elbow, t, np.where(via_shoulder, 0.5, 0.0))
        flags.append(bad)
    checked = np.concatenate(flags)
    return depth, trust, float(checked.mean()) if checked.size else 0.0


def _length_bound(points: np.ndarray, seen: np.ndarray, bones: list[tuple[int, int, float]]) -> float | None:
    """The largest scale (metres per input unit) at which no bone looks longer than it is: the
    smallest ``length / q90(observed length)`` over the ``bones`` (landmark a, landmark b, body
    length in metres) seen in at least ``_MIN_BONE_FRAMES`` frames (or in every frame). A bone
    seen end-on looks shorter, never longer, so each ratio bounds the scale from above."""
    bounds = []
    for a, b, length in bones:
        ok = seen[:, a] & seen[:, b]
        if ok.sum() >= min(_MIN_BONE_FRAMES, len(ok)) and ok.any():
            observed = np.percentile(np.linalg.norm(points[ok, a] - points[ok, b], axis=-1), 90)
            if observed > 0:
                bounds.append(length / observed)
    return min(bounds) if bounds else None


def _body_bones(rest_joints: np.ndarray) -> list[tuple[int, int, float]]:
    bones = [(LEFT_SHOULDER, RIGHT_SHOULDER, shoulder_width(rest_joints))]
    for side in ("LEFT", "RIGHT"):
        names = [POSE_LANDMARK_NAMES.index(f"{side}_{p}") for p in ("SHOULDER", "ELBOW", "WRIST")]
        joints = [f"{side.lower()}_{p}" for p in ("shoulder", "elbow", "wrist")]
        bones += [(names[i], names[i + 1], _bone(rest_joints, joints[i], joints[i + 1])) for i in range(2)]
    return bones


def _palm_bones(rest_joints: np.ndarray, start: int, side: str) -> list[tuple[int, int, float]]:
    pairs = (("WRIST", "wrist", "INDEX_FINGER_MCP", "index1"), ("WRIST", "wrist", "MIDDLE_FINGER_MCP", "middle1"),
             ("WRIST", "wrist", "PINKY_MCP", "pinky1"), ("INDEX_FINGER_MCP", "index1", "PINKY_MCP", "pinky1"))  # fmt: skip
    return [
        (start + HAND_LANDMARK_NAMES.index(a), start + HAND_LANDMARK_NAMES.index(b),
         _bone(rest_joints, f"{side}_{ja}", f"{side}_{jb}"))
        for a, ja, b, jb in pairs
    ]  # fmt: skip


_HAND_JOINT_NAMES = ("wrist",) + tuple(
    f"{finger}{k}" for finger in ("thumb", "index", "middle", "ring", "pinky") for k in (1, 2, 3, 3)
)
"""The SMPL-X joint of each hand landmark (a tip: its finger's distal joint)."""
_HAND_DEPTH_SLACK = 0.01
"""Metres of a hand point's depth beyond its reach that count as noise, not as an implausible hand."""


def _hand_reach(rest_joints: np.ndarray, side: str) -> np.ndarray:
    """``[21]`` the furthest each hand landmark can be from the wrist: the bone lengths along its
    finger (metres; a tip one last bone beyond its distal joint)."""
    rest = np.asarray(rest_joints)
    wrist = rest[joint_index(f"{side}_wrist")]
    joints = [rest[joint_index(f"{side}_{name}")] for name in _HAND_JOINT_NAMES[1:]]
    reach = [0.0]
    for finger in range(5):  # path lengths along each chain; the tip repeats the last bone
        previous, length = wrist, 0.0
        for k in range(3):
            length += float(np.linalg.norm(joints[4 * finger + k] - previous))
            previous = joints[4 * finger + k]
            reach.append(length)
        reach.append(length + float(np.linalg.norm(joints[4 * finger + 2] - joints[4 * finger + 1])))
    return np.array(reach)


def _hand_depth_factor(xy: np.ndarray, relative: np.ndarray, reach: np.ndarray) -> np.ndarray:
    """Per frame ``[T]``, the factor (at most 1) that brings a hand's MediaPipe depth (``relative
    [T, 21]`` to the wrist, metres; ``xy [T, 21, 2]`` to the wrist) within what its bones allow:
    depth jumps and depth scaled several times (common in MediaPipe output) flatten the hand
    toward the image plane instead of folding it. The hand's shape in depth is kept."""
    room = np.sqrt(np.clip(reach**2 - (xy**2).sum(-1), 0.0, None)) + _HAND_DEPTH_SLACK
    excess = np.abs(np.nan_to_num(relative)) / room
    return 1.0 / np.maximum(excess.max(-1), 1.0)


def _frame_is_known(image: np.ndarray, conf: np.ndarray, width: float | None, height: float | None) -> bool:
    """Whether ``width`` x ``height`` describe the landmarks' pixel frame: most confidently
    detected shoulders lie inside it (some files carry another size in their header)."""
    if not (width and height):
        return False
    sure = conf[:, [LEFT_SHOULDER, RIGHT_SHOULDER]] >= 0.5
    inside = inside_frame(image[:, [LEFT_SHOULDER, RIGHT_SHOULDER]], width, height, 0.1)
    return bool(inside[sure].mean() >= 0.5) if sure.any() else True


def to_body_keypoints(
    landmarks: HolisticLandmarks, rest_joints: np.ndarray, cfg: KeypointFitConfig | None = None
) -> BodyKeypoints:
    """Holistic landmarks -> body-frame fitting targets (the steps are in the module docstring)."""
    cfg = cfg or KeypointFitConfig()
    rest_joints = np.asarray(rest_joints, np.float64)
    frames = landmarks.num_frames
    image = landmarks.image.copy()
    if landmarks.image_depth:
        if landmarks.width is None:
            raise ValueError("image landmarks with relative depth need the frame width to scale z")
        image[..., 2] *= landmarks.width
    conf = np.where(landmarks.image_confidence >= cfg.min_confidence, landmarks.image_confidence, 0.0)
    if _frame_is_known(image, conf, landmarks.width, landmarks.height):
        inside = inside_frame(image, landmarks.width, landmarks.height, cfg.frame_margin)
    else:
        inside = np.ones(conf.shape, bool)
    seen = (conf > 0) & inside
    weights = np.where(inside, conf, conf * cfg.offscreen_weight)
    observed = weights > 0

    rotation = detect_rotation(image[..., :2], observed) if cfg.detect_rotation else 0
    pixels = rotate_xy(image[..., :2], rotation) * _CAMERA_TO_BODY[:2]
    bones = _body_bones(rest_joints)
    shoulders = seen if (seen[:, LEFT_SHOULDER] & seen[:, RIGHT_SHOULDER]).any() else observed
    shoulder_scale = _length_bound(pixels, shoulders, bones[:1])
    if shoulder_scale is None:
        raise ValueError("no frame shows both shoulders: cannot bring the landmarks to metric scale")
    scale = max(_length_bound(pixels, seen, bones) or shoulder_scale, _MIN_SCALE * shoulder_scale)
    xy = pixels * scale
    # Hands nearer the camera than the shoulders look larger: each hand is sized by its own palm.
    hand_scales, reaches = {}, {}
    for start, side in ((LEFT_HAND_START, "left"), (RIGHT_HAND_START, "right")):
        hand = slice(start, start + NUM_HAND)
        hand_scale = _length_bound(pixels, seen, _palm_bones(rest_joints, start, side)) or scale
        hand_scale = float(np.clip(hand_scale, _MIN_SCALE * scale, scale / _MIN_SCALE))
        hand_scales[start], reaches[start] = hand_scale, _hand_reach(rest_joints, side)
        xy[:, hand] = xy[:, start : start + 1] + (pixels[:, hand] - pixels[:, start : start + 1]) * hand_scale

    # MediaPipe depth in the body frame (metres at the body's scale); NaN where there is none.
    raw = np.full((frames, NUM_LANDMARKS), np.nan)
    source = "image"
    if landmarks.world is not None:
        world_conf = np.where(landmarks.world_confidence >= cfg.min_confidence, landmarks.world_confidence, 0.0)
        world_scale = _length_bound(landmarks.world, world_conf > 0, bones)
        if world_scale is not None:
            raw[:, :NUM_POSE] = np.where(world_conf > 0, -landmarks.world[..., 2] * world_scale, np.nan)
            source = "world"
    if source == "image" and landmarks.image_depth:
        raw[:, :NUM_POSE] = -image[:, :NUM_POSE, 2] * scale
    raw[:, :NUM_POSE][~observed[:, :NUM_POSE]] = np.nan

    depth = np.full((frames, NUM_LANDMARKS), np.nan)
    trust = np.zeros((frames, NUM_LANDMARKS))
    implausible = 0.0
    if not np.isfinite(raw).any() and cfg.depth == "bone_length":
        # No depth at all: every arm bone is assumed to point toward the camera (signing happens
        # in front of the body), weakly; the face gets none.
        source = "none"
        depth, trust, implausible = _arm_depths(xy, np.where(observed, 0.0, np.nan), rest_joints)
        trust *= _ASSUMED_TRUST
    elif np.isfinite(raw).any():
        if cfg.depth == "bone_length":
            depth, trust, implausible = _arm_depths(xy, raw, rest_joints)
        else:
            depth, trust = raw.copy(), np.isfinite(raw).astype(np.float64)
        for landmark in _HEAD:  # the face keeps MediaPipe's depth (compared up to a translation)
            depth[:, landmark], trust[:, landmark] = raw[:, landmark], np.isfinite(raw[:, landmark])
    if landmarks.image_depth:
        for start, wrist in ((LEFT_HAND_START, LEFT_WRIST), (RIGHT_HAND_START, RIGHT_WRIST)):
            hand = slice(start, start + NUM_HAND)
            relative = -(image[:, hand, 2] - image[:, start : start + 1, 2]) * hand_scales[start]
            relative *= _hand_depth_factor(xy[:, hand] - xy[:, start : start + 1], relative, reaches[start])[:, None]
            depth[:, hand] = np.where(observed[:, hand], depth[:, wrist, None] + relative, np.nan)
            trust[:, hand] = np.where(np.isfinite(depth[:, hand]), np.maximum(trust[:, wrist], 0.5)[:, None], 0.0)

    has_depth = np.isfinite(depth) & observed
    points = np.zeros((frames, NUM_LANDMARKS, 3))
    points[..., :2] = xy
    points[..., 2] = np.where(has_depth, depth, 0.0)
    depth_weights = np.where(has_depth, cfg.image_depth_weight * trust, 0.0)
    if observed.any():
        points[..., :2] -= np.median(xy[observed], axis=0)
    if has_depth.any():
        points[..., 2] -= np.where(has_depth, np.median(depth[has_depth]), 0.0)
    points[~observed] = 0.0
    return BodyKeypoints(
        points=points.astype(np.float32),
        weights=weights.astype(np.float32),
        depth_weights=depth_weights.astype(np.float32),
        fps=landmarks.fps,
        scale=scale,
        source=source,
        seen=seen,
        rotation_deg=rotation,
        depth_implausible=implausible,
        frame_confidence=arm_confidence(conf),
    )
