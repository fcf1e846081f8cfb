"""Body and palm bone lengths of a rest skeleton, and the metric scale they bound: a bone seen
end-on looks shorter, never longer."""

from __future__ import annotations

import numpy as np

from signavatar.body.joints import joint_index
from signavatar.extraction.landmarks import HAND_LANDMARK_NAMES, LEFT_SHOULDER, POSE_LANDMARK_NAMES, RIGHT_SHOULDER

_MIN_BONE_FRAMES = 3


def shoulder_width(rest_joints: np.ndarray) -> float:
    """Distance between the two shoulder joints of a rest skeleton (metres)."""
    return float(np.linalg.norm(rest_joints[joint_index("left_shoulder")] - rest_joints[joint_index("right_shoulder")]))


def bone_length(rest_joints: np.ndarray, a: str, b: str) -> float:
    """Distance between the joints named ``a`` and ``b`` of a rest skeleton (metres)."""
    return float(np.linalg.norm(np.asarray(rest_joints)[joint_index(a)] - np.asarray(rest_joints)[joint_index(b)]))


def length_bound(points: np.ndarray, seen: np.ndarray, bones: list[tuple[int, int, float]]) -> float | None:
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


def body_bones(rest_joints: np.ndarray) -> list[tuple[int, int, float]]:
    """The shoulder line, upper arms and forearms as ``(landmark a, landmark b, length)``."""
    bones = [(LEFT_SHOULDER, RIGHT_SHOULDER, shoulder_width(rest_joints))]
    for side in ("LEFT", "RIGHT"):
        names = [POSE_LANDMARK_NAMES.index(f"{side}_{p}") for p in ("SHOULDER", "ELBOW", "WRIST")]
        joints = [f"{side.lower()}_{p}" for p in ("shoulder", "elbow", "wrist")]
        bones += [(names[i], names[i + 1], bone_length(rest_joints, joints[i], joints[i + 1])) for i in range(2)]
    return bones


def palm_bones(rest_joints: np.ndarray, start: int, side: str) -> list[tuple[int, int, float]]:
    """The palm of the hand whose landmarks begin at ``start`` as ``(landmark a, landmark b, length)``."""
    pairs = (("WRIST", "wrist", "INDEX_FINGER_MCP", "index1"), ("WRIST", "wrist", "MIDDLE_FINGER_MCP", "middle1"),
             ("WRIST", "wrist", "PINKY_MCP", "pinky1"), ("INDEX_FINGER_MCP", "index1", "PINKY_MCP", "pinky1"))  # fmt: skip
    return [
        (start + HAND_LANDMARK_NAMES.index(a), start + HAND_LANDMARK_NAMES.index(b),
         bone_length(rest_joints, f"{side}_{ja}", f"{side}_{jb}"))
        for a, ja, b, jb in pairs
    ]  # fmt: skip


def median_scale(points: np.ndarray, seen: np.ndarray, bones: list[tuple[int, int, float]]) -> float | None:
    """The scale (metres per input unit) at which the ``bones`` have their lengths, from their median
    3D lengths (``points [T, P, 3]``): the median over the bones seen in at least
    ``_MIN_BONE_FRAMES`` frames (or in every frame) of ``length / median(observed length)``. For
    points whose depth is trustworthy at the x, y scale (a hand's, within MediaPipe's hand model),
    where ``length_bound``'s image lengths would take a palm that is never face-on for a smaller one."""
    ratios = []
    for a, b, length in bones:
        ok = seen[:, a] & seen[:, b]
        if ok.sum() >= min(_MIN_BONE_FRAMES, len(ok)) and ok.any():
            observed = np.median(np.linalg.norm(points[ok, a] - points[ok, b], axis=-1))
            if observed > 0:
                ratios.append(length / observed)
    return float(np.median(ratios)) if ratios else None
