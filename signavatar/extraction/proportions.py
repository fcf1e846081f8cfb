"""Per-sequence proportions: the rest skeleton with its arm and finger bones sized as the landmarks
show them (``KeypointFitConfig.proportions = "sequence"``).

A fixed rest skeleton cannot match MediaPipe's landmarks: on the real corpus the upper arm is
about 1.1 and the forearm 0.8 shoulder widths (MediaPipe's shoulder points sit inside the
joints), against 0.74 and 0.71 on the built-in skeleton, and finger bones differ by up to 25%.
With fixed proportions the fit bends joints to put a short arm's hand where a long arm's is.

What is estimated (``bone_scale [55]``: each joint's offset from its parent is scaled by it):

* **Arms.** From image lengths (the longest each bone looks, over a 3-frame running median: a
  bone seen end-on looks shorter, never longer; MediaPipe's body depth is too noisy to use): the
  metric scale makes the two arms (upper arm + forearm) as long as the rest skeleton's together,
  and the shoulder span, upper arms and forearms take the lengths they show at that scale (the
  collar -> shoulder bones carry the span). Arms keep their rest length in sum, so a clip
  replayed on the standard skeleton puts the hands nearly where the signer had them.
* **Hands.** Each finger bone (wrist -> knuckle, knuckle -> middle joint, middle -> distal joint;
  the thumb's three alike) from its median 3D length in MediaPipe's hand landmarks (their depth is
  consistent within a hand: 7% frame-to-frame spread on the real corpus), at the hand's palm
  scale; image lengths where there is no depth. Finger tips stay ``TIP_RATIO`` of the distal bone.

Every scale is clipped to a plausible range (``_ARM_RANGE``, ``_HAND_RANGE``); a bone never seen
keeps its rest length. The written clip stays a standard SMPL-X clip (rotations, zero ``betas``):
the scales go into the fit's report (``source["fit"]["bone_scale"]``) and ``scaled_skeleton``
rebuilds the skeleton the fit used, e.g. to project the fit as the judge does.
"""

from __future__ import annotations

import numpy as np

from signavatar.body.joints import NUM_JOINTS, PARENTS, joint_index
from signavatar.extraction.landmarks import HAND_LANDMARK_NAMES, POSE_LANDMARK_NAMES

_ARM_RANGE = (0.5, 2.0)
_HAND_RANGE = (0.6, 1.6)
_MIN_FRAMES = 3

_FINGER_LANDMARKS = {
    "thumb": ("WRIST", "THUMB_CMC", "THUMB_MCP", "THUMB_IP"),
    **{finger: ("WRIST", f"{name}_MCP", f"{name}_PIP", f"{name}_DIP")
       for finger, name in (("index", "INDEX_FINGER"), ("middle", "MIDDLE_FINGER"), ("ring", "RING_FINGER"),
                            ("pinky", "PINKY"))},
}
_HAND_BONES: tuple[tuple[int, int, str], ...] = tuple(
    (HAND_LANDMARK_NAMES.index(names[k]), HAND_LANDMARK_NAMES.index(names[k + 1]), f"{finger}{k + 1}")
    for finger, names in _FINGER_LANDMARKS.items()
    for k in range(3)
)
"""(parent landmark, child landmark, SMPL-X joint without side) of every scaled finger bone."""


def scaled_skeleton(rest_joints: np.ndarray, bone_scale: np.ndarray | None) -> np.ndarray:
    """``rest_joints [55, 3]`` with each joint's offset from its parent multiplied by
    ``bone_scale [55]`` (None: the rest skeleton itself); float32."""
    rest = np.asarray(rest_joints, np.float64)
    if bone_scale is None:
        return rest.astype(np.float32)
    scale = np.asarray(bone_scale, np.float64)
    if scale.shape != (NUM_JOINTS,) or not (np.isfinite(scale).all() and (scale > 0).all()):
        raise ValueError(f"bone_scale must be {NUM_JOINTS} positive finite factors, got shape {scale.shape}")
    out = rest.copy()
    for j in range(1, NUM_JOINTS):
        out[j] = out[PARENTS[j]] + scale[j] * (rest[j] - rest[PARENTS[j]])
    return out.astype(np.float32)


def _length(points: np.ndarray, ok: np.ndarray, a: int, b: int, stat: str) -> float | None:
    """The distance between points ``a`` and ``b`` over the frames where ``ok`` holds for both:
    ``"image"`` the longest it looks (the maximum of its 3-frame running median, so that one
    frame's jitter does not count: a bone seen end-on looks shorter, never longer), ``"median"``
    its median; None when seen in too few frames."""
    both = ok[:, a] & ok[:, b]
    if both.sum() < min(_MIN_FRAMES, len(both)) or not both.any():
        return None
    lengths = np.linalg.norm(points[both, b] - points[both, a], axis=-1)
    if stat == "median":
        value = float(np.median(lengths))
    else:
        padded = np.concatenate([lengths[:1], lengths, lengths[-1:]])
        value = float(np.median(np.lib.stride_tricks.sliding_window_view(padded, 3), axis=-1).max())
    return value if value > 0 else None


def _bone(rest: np.ndarray, joint: int) -> float:
    return float(np.linalg.norm(rest[joint] - rest[PARENTS[joint]]))


def arm_proportions(pixels: np.ndarray, seen: np.ndarray, rest_joints: np.ndarray) -> tuple[float, np.ndarray] | None:
    """``(metres per input unit, bone_scale [55])`` from the arms' image lengths (``pixels [T, 75, 2]``,
    ``seen [T, 75]``); None when no arm (both bones) is seen in enough frames."""
    rest = np.asarray(rest_joints, np.float64)
    scale = np.ones(NUM_JOINTS)
    rest_sum, seen_sum, measured = 0.0, 0.0, {}
    for side in ("left", "right"):
        names = [POSE_LANDMARK_NAMES.index(f"{side.upper()}_{p}") for p in ("SHOULDER", "ELBOW", "WRIST")]
        upper = _length(pixels, seen, names[0], names[1], "image")
        fore = _length(pixels, seen, names[1], names[2], "image")
        elbow, wrist = joint_index(f"{side}_elbow"), joint_index(f"{side}_wrist")
        measured[elbow], measured[wrist] = upper, fore
        if upper is not None and fore is not None:
            rest_sum += _bone(rest, elbow) + _bone(rest, wrist)
            seen_sum += upper + fore
    if seen_sum <= 0:
        return None
    metres = rest_sum / seen_sum
    for joint, length in measured.items():
        if length is not None:
            scale[joint] = length * metres / _bone(rest, joint)
    left, right = (POSE_LANDMARK_NAMES.index(f"{s}_SHOULDER") for s in ("LEFT", "RIGHT"))
    span = _length(pixels, seen, left, right, "image")
    if span is not None:
        for side in ("left", "right"):  # the collar -> shoulder bones carry the span (x: across the body)
            shoulder, collar = joint_index(f"{side}_shoulder"), joint_index(f"{side}_collar")
            inner, outer = abs(rest[collar, 0] - rest[0, 0]), abs(rest[shoulder, 0] - rest[0, 0])
            scale[shoulder] = (span * metres / 2 - inner) / max(outer - inner, 1e-6)
    return metres, np.clip(scale, *_ARM_RANGE)


def hand_proportions(hand: np.ndarray, ok: np.ndarray, side: str, rest_joints: np.ndarray, has_depth: bool,
                     bone_scale: np.ndarray) -> np.ndarray:
    """``bone_scale`` with the finger bones of one hand set from its landmarks ``hand [T, 21, 3]``
    (metres at the hand's palm scale, wrist-relative; z used when ``has_depth``), ``ok [T, 21]``."""
    rest = np.asarray(rest_joints, np.float64)
    scale = np.array(bone_scale, np.float64)
    points = hand if has_depth else hand[..., :2]
    for a, b, name in _HAND_BONES:
        joint = joint_index(f"{side}_{name}")
        length = _length(points, ok, a, b, "median" if has_depth else "image")
        if length is not None:
            scale[joint] = np.clip(length / _bone(rest, joint), *_HAND_RANGE)
    return scale

