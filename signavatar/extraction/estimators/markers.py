"""Holistic landmarks as markers on the SMPL-X skeleton: the forward model of keypoint fitting.

Each MediaPipe landmark that has an SMPL-X counterpart is a *marker* rigidly attached to one joint:
at the joint itself (shoulders, elbows, wrists, hips, eyes, hand joints) or at a fixed offset in
the joint's rest frame (finger tips beyond the distal joints; nose, ears and mouth corners on the
head, for an average head). A marker's position is ``p_j + G_j @ offset`` with ``p, G`` from
``forward_kinematics``.

The face markers (eyes, nose, ears, mouth) are *relative*: faces sit at different heights above
the shoulders than on our skeleton, so they are compared up to a common per-frame translation and
inform the head's orientation, not the neck's length.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from signavatar.body.joints import joint_index
from signavatar.body.rotations import axis_angle_to_matrix
from signavatar.body.skeleton import DEFAULT_REST_JOINTS, forward_kinematics
from signavatar.extraction.landmarks import (
    HAND_LANDMARK_NAMES,
    LEFT_HAND_START,
    NUM_LANDMARKS,
    POSE_LANDMARK_NAMES,
    RIGHT_HAND_START,
    BodyKeypoints,
)

FINGERS = ("index", "middle", "pinky", "ring", "thumb")  # SMPL-X order within a hand
_MEDIAPIPE_FINGER = {"index": "INDEX_FINGER", "middle": "MIDDLE_FINGER", "ring": "RING_FINGER", "pinky": "PINKY"}
_MEDIAPIPE_THUMB = ("THUMB_CMC", "THUMB_MCP", "THUMB_IP", "THUMB_TIP")
_FINGER_JOINT_NAMES = ("MCP", "PIP", "DIP", "TIP")
TIP_RATIO = 0.9
"""A finger tip sits this fraction of the last bone's length beyond the distal joint."""

# Head markers relative to the SMPL-X head joint (metres, body frame at rest), for an average head.
_HEAD_OFFSETS = {
    "NOSE": (0.0, 0.035, 0.09),
    "LEFT_EAR": (0.07, 0.05, -0.03),
    "RIGHT_EAR": (-0.07, 0.05, -0.03),
    "MOUTH_LEFT": (0.025, 0.0, 0.065),
    "MOUTH_RIGHT": (-0.025, 0.0, 0.065),
}
_BODY_MARKERS = {
    "LEFT_SHOULDER": "left_shoulder",
    "RIGHT_SHOULDER": "right_shoulder",
    "LEFT_ELBOW": "left_elbow",
    "RIGHT_ELBOW": "right_elbow",
    "LEFT_WRIST": "left_wrist",
    "RIGHT_WRIST": "right_wrist",
    "LEFT_HIP": "left_hip",
    "RIGHT_HIP": "right_hip",
    "LEFT_EYE": "left_eye_smplhf",
    "RIGHT_EYE": "right_eye_smplhf",
}
_MARKER_WEIGHTS = {"hip": 0.5, "head": 0.25}

# Marker groups for error reports: landmark indices in the 75-point layout.
ERROR_GROUPS: dict[str, tuple[int, ...]] = {
    "wrists": (POSE_LANDMARK_NAMES.index("LEFT_WRIST"), POSE_LANDMARK_NAMES.index("RIGHT_WRIST")),
    "elbows": (POSE_LANDMARK_NAMES.index("LEFT_ELBOW"), POSE_LANDMARK_NAMES.index("RIGHT_ELBOW")),
    "fingertips": tuple(
        start + HAND_LANDMARK_NAMES.index(name)
        for start in (LEFT_HAND_START, RIGHT_HAND_START)
        for name in ("THUMB_TIP", "INDEX_FINGER_TIP", "MIDDLE_FINGER_TIP", "RING_FINGER_TIP", "PINKY_TIP")
    ),
}


@dataclass(frozen=True)
class MarkerSet:
    """``landmarks [M]`` (index into the 75-point layout), ``joints [M]``, ``offsets [M, 3]``
    (in the joint's rest frame), ``weights [M]`` and ``relative [M]`` (compared up to a common
    per-frame translation: the face markers)."""

    landmarks: np.ndarray
    joints: np.ndarray
    offsets: np.ndarray
    weights: np.ndarray
    relative: np.ndarray


def build_markers(rest_joints: np.ndarray) -> MarkerSet:
    """The Holistic -> SMPL-X marker set for a rest skeleton (finger tips extend its last bones)."""
    rows: list[tuple[int, int, tuple[float, float, float], float, bool]] = []
    for name, joint in _BODY_MARKERS.items():
        face = "EYE" in name
        weight = _MARKER_WEIGHTS["hip"] if "HIP" in name else _MARKER_WEIGHTS["head"] if face else 1.0
        rows.append((POSE_LANDMARK_NAMES.index(name), joint_index(joint), (0.0, 0.0, 0.0), weight, face))
    for name, offset in _HEAD_OFFSETS.items():
        rows.append((POSE_LANDMARK_NAMES.index(name), joint_index("head"), offset, _MARKER_WEIGHTS["head"], True))
    for side, start in (("left", LEFT_HAND_START), ("right", RIGHT_HAND_START)):
        rows.append((start, joint_index(f"{side}_wrist"), (0.0, 0.0, 0.0), 1.0, False))
        for finger in FINGERS:
            names = (
                _MEDIAPIPE_THUMB
                if finger == "thumb"
                else tuple(f"{_MEDIAPIPE_FINGER[finger]}_{j}" for j in _FINGER_JOINT_NAMES)
            )
            chain = [joint_index(f"{side}_{finger}{k}") for k in (1, 2, 3)]
            for k, joint in enumerate(chain):
                rows.append((start + HAND_LANDMARK_NAMES.index(names[k]), joint, (0.0, 0.0, 0.0), 1.0, False))
            tip = TIP_RATIO * (rest_joints[chain[2]] - rest_joints[chain[1]])
            rows.append((start + HAND_LANDMARK_NAMES.index(names[3]), chain[2], tuple(tip), 1.0, False))
    landmarks, joints, offsets, weights, relative = zip(*rows, strict=True)
    return MarkerSet(
        np.array(landmarks),
        np.array(joints),
        np.array(offsets, np.float32),
        np.array(weights, np.float32),
        np.array(relative, bool),
    )


_MARKERS = build_markers(DEFAULT_REST_JOINTS)
ABSOLUTE_LANDMARKS: tuple[int, ...] = tuple(sorted(set(_MARKERS.landmarks[~_MARKERS.relative].tolist())))
"""Landmark indices (75-point layout) of the markers fitted in absolute position (all but the face)."""


def marker_positions(
    rotmats: torch.Tensor, rest_joints: torch.Tensor, markers: MarkerSet, trans: torch.Tensor | None = None
) -> torch.Tensor:
    """``[..., M, 3]`` marker positions for local rotations ``[..., 55, 3, 3]``."""
    joints, global_rots = forward_kinematics(rotmats, rest_joints, trans=trans, return_rotations=True)
    index = torch.as_tensor(markers.joints, device=rotmats.device)
    offsets = torch.as_tensor(markers.offsets, dtype=rotmats.dtype, device=rotmats.device)
    return joints[..., index, :] + (global_rots[..., index, :, :] @ offsets[:, :, None])[..., 0]


def keypoints_from_poses(poses: np.ndarray, rest_joints: np.ndarray, trans: np.ndarray | None = None) -> BodyKeypoints:
    """The keypoints a perfect detector would report for an SMPL-X motion (body frame, metres):
    every marked landmark observed with weight 1, the others missing. Used for round trips."""
    markers = build_markers(rest_joints)
    rot = axis_angle_to_matrix(torch.as_tensor(poses, dtype=torch.float64))
    tr = None if trans is None else torch.as_tensor(trans, dtype=torch.float64)
    positions = marker_positions(rot, torch.as_tensor(rest_joints, dtype=torch.float64), markers, tr).numpy()
    frames = poses.shape[0]
    points = np.zeros((frames, NUM_LANDMARKS, 3), np.float32)
    weights = np.zeros((frames, NUM_LANDMARKS), np.float32)
    points[:, markers.landmarks] = positions
    weights[:, markers.landmarks] = 1.0
    return BodyKeypoints(points=points, weights=weights, depth_weights=np.ones_like(weights), fps=30.0)


def marker_errors(fitted: np.ndarray, keypoints: BodyKeypoints) -> dict[str, float]:
    """Mean Euclidean distance between fitted markers and observed keypoints, in metres of the
    body frame (after scaling to the body's shoulder width): per group (``wrists``, ``elbows``,
    ``fingertips``; NaN for a group never observed) and over every observed marker fitted in
    absolute position (``mean``: shoulders, elbows, wrists, hips and hands; not the face).

    A point's distance is 3D where the input has depth for it and 2D (x, y: the image plane)
    where it has none; ``coordinates`` says which (``"xyz"``, ``"xy"`` or ``"mixed"``). Frame
    counts are included: ``frames`` and ``frames_without_hands`` (neither hand observed)."""
    delta = fitted - keypoints.points
    has_depth = keypoints.depth_weights > 0
    delta[..., 2] *= has_depth
    distance = np.linalg.norm(delta, axis=-1)
    observed = keypoints.weights > 0
    report: dict[str, float | int | str] = {}
    for name, group in ERROR_GROUPS.items():
        ok = observed[:, list(group)]
        report[name] = float(distance[:, list(group)][ok].mean()) if ok.any() else float("nan")
    marked = list(ABSOLUTE_LANDMARKS)
    ok = observed[:, marked]
    report["mean"] = float(distance[:, marked][ok].mean()) if ok.any() else float("nan")
    depth_seen = has_depth[:, marked][ok]
    report["coordinates"] = "xyz" if depth_seen.all() else "xy" if not depth_seen.any() else "mixed"
    report["frames"] = int(keypoints.num_frames)
    report["frames_without_hands"] = int((~observed[:, LEFT_HAND_START:].any(axis=1)).sum())
    return report
