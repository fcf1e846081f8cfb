"""Holistic landmarks as markers on the SMPL-X skeleton: the forward model of keypoint fitting.

Each MediaPipe landmark that has an SMPL-X counterpart is a *marker* rigidly attached to one joint:
at the joint itself (shoulders, elbows, wrists, hips, eyes, hand joints) or at a fixed offset in
the joint's rest frame (finger tips beyond the distal joints; nose, ears and mouth corners on the
head, for an average head). A marker's position is ``p_j + G_j @ offset`` with ``p, G`` from
``forward_kinematics``.

The face markers (eyes, nose, ears, mouth) are *relative*: faces sit at different heights above
the shoulders than on our skeleton, so they are compared up to a common per-frame translation and
inform the head's orientation, not the neck's length.

``MarkerModel`` is the fitter's fast forward model (only the joints that carry markers, a tree
level at a time); ``marker_positions`` is the reference through ``forward_kinematics``, and the
fit's report (``fit_report``) is computed with it from the final poses, as anyone would from the
written clip.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from signavatar.body.joints import NUM_JOINTS, PARENTS, joint_index
from signavatar.body.rotations import axis_angle_to_matrix
from signavatar.body.skeleton import DEFAULT_REST_JOINTS, forward_kinematics
from signavatar.extraction.estimators.finger_errors import finger_errors
from signavatar.extraction.landmarks import (
    HAND_LANDMARK_NAMES,
    LEFT_HAND_START,
    NO_DEPTH_LANDMARKS,
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
_MARKER_WEIGHTS = {"hip": 0.1, "head": 0.25}

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
    return _attach(joints, global_rots, markers)


def _attach(joints: torch.Tensor, global_rots: torch.Tensor, markers: MarkerSet) -> torch.Tensor:
    """Markers ``[..., M, 3]`` on joints ``[..., 55, 3]`` with global rotations ``[..., 55, 3, 3]``."""
    index = torch.as_tensor(markers.joints, device=joints.device)
    offsets = torch.as_tensor(markers.offsets, dtype=joints.dtype, device=joints.device)
    return joints[..., index, :] + (global_rots[..., index, :, :] @ offsets[:, :, None])[..., 0]


def keypoints_from_poses(poses: np.ndarray, rest_joints: np.ndarray, trans: np.ndarray | None = None) -> BodyKeypoints:
    """The keypoints a perfect detector would report for an SMPL-X motion (body frame, metres):
    every marked landmark observed with weight 1, the others missing. Used for round trips and
    to project clips into the landmark space (``signavatar.judge.space``).

    ``poses [..., T, 55, 3]``, ``trans [..., T, 3]``: leading batch dimensions carry through to
    ``points [..., T, 75, 3]`` and ``weights [..., T, 75]``."""
    markers = build_markers(rest_joints)
    rot = axis_angle_to_matrix(torch.as_tensor(poses, dtype=torch.float64))
    tr = None if trans is None else torch.as_tensor(trans, dtype=torch.float64)
    positions = marker_positions(rot, torch.as_tensor(rest_joints, dtype=torch.float64), markers, tr).numpy()
    points = np.zeros(poses.shape[:-2] + (NUM_LANDMARKS, 3), np.float32)
    weights = np.zeros(poses.shape[:-2] + (NUM_LANDMARKS,), np.float32)
    points[..., markers.landmarks, :] = positions
    weights[..., markers.landmarks] = 1.0
    return BodyKeypoints(points=points, weights=weights, depth_weights=np.ones_like(weights), fps=30.0)


class MarkerModel:
    """The fit's forward model: marker positions for the local rotations of the fitted joints.

    Markers on joints that are not fitted (hips, eyes) become offset markers on their nearest
    fitted ancestor (the joints between stay at rest), so forward kinematics runs over the fitted
    joints only, one tree level at a time: a level's rotations are a contiguous block of the
    parameters (``order``: fitted joints by level, siblings together) and its parents a block of
    the level above, shared by equal groups of children (broadcast, no gather). About a dozen
    batched steps instead of one per joint; same result as ``marker_positions`` (tested).
    ``markers`` is the marker set reordered: markers without offset first.

    ``rest_joints`` is one skeleton ``[55, 3]`` for every frame, or one per sequence ``[S, 55, 3]``
    with ``frame_sequence [N]`` naming each frame's (sequences fitted together with their own
    proportions); the markers are ``build_markers``' (finger tips follow each skeleton's last bones)."""

    def __init__(
        self,
        rest_joints: np.ndarray,
        fitted: Sequence[int],
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        frame_sequence: np.ndarray | None = None,
    ) -> None:
        rests = np.asarray(rest_joints, np.float64).reshape(-1, NUM_JOINTS, 3)  # [S, 55, 3]
        if len(rests) > 1 and frame_sequence is None:
            raise ValueError("several skeletons need frame_sequence (each frame's skeleton)")
        markers = build_markers(rests[0])
        fitted_set = set(fitted)
        if 0 not in fitted_set or any(PARENTS[j] not in fitted_set for j in fitted_set - {0}):
            raise ValueError("the fitted joints must include the root and every fitted joint's parent")
        anchors = []
        for joint in markers.joints.tolist():
            anchor = joint
            while anchor not in fitted_set:
                anchor = PARENTS[anchor]
            anchors.append(anchor)
        # Each skeleton's marker offsets from their anchors [S, M, 3] (the tips scale with the skeleton).
        offsets = np.stack([rest[markers.joints] - rest[anchors] + build_markers(rest).offsets for rest in rests])
        needed: set[int] = set()
        for joint in anchors:
            while joint >= 0 and joint not in needed:
                needed.add(joint)
                joint = PARENTS[joint]
        levels = [[0]]
        while True:  # children grouped by parent, parents in the order of the level above
            level = [j for parent in levels[-1] for j in sorted(needed) if PARENTS[j] == parent]
            if not level:
                break
            levels.append(level)
        self.order: tuple[int, ...] = tuple(j for level in levels for j in level)
        tensor = lambda x, dt=dtype: torch.as_tensor(np.asarray(x), dtype=dt, device=device)  # noqa: E731
        per_frame = (lambda x: x) if frame_sequence is None else (lambda x: x[np.asarray(frame_sequence)])  # noqa: E731
        self.root = tensor(per_frame(rests[:, 0]))  # [S or N, 3]
        self.steps: list[tuple[int, int, int, int, int, torch.Tensor]] = []
        start = 1
        for previous, level in zip(levels[:-1], levels[1:], strict=True):
            parents = [previous.index(PARENTS[j]) for j in level]
            first, last = parents[0], parents[-1] + 1
            group = len(level) // (last - first)
            if parents != [first + i // group for i in range(len(level))]:
                raise ValueError(f"joints {level} do not share their parents evenly")  # not the case for SMPL-X
            bones = (rests[:, level] - rests[:, [PARENTS[j] for j in level]]).reshape(-1, last - first, group, 3, 1)
            self.steps.append((start, start + len(level), first, last, group, tensor(per_frame(bones))))
            start += len(level)
        # Markers without offset first: their positions are joint positions, no rotation needed.
        moved = (np.abs(offsets).sum((0, 2)) > 0)
        order = np.argsort(moved, kind="stable")
        self.markers = MarkerSet(
            markers.landmarks[order], np.array(anchors)[order], offsets[0][order].astype(np.float32),
            markers.weights[order], markers.relative[order],
        )  # fmt: skip
        position = {j: i for i, j in enumerate(self.order)}
        self.plain = int((~moved).sum())
        self.marker_index = tensor([position[j] for j in self.markers.joints.tolist()], torch.long)
        self.offset_index = self.marker_index[self.plain :]
        self.offsets = tensor(per_frame(offsets[:, order[self.plain :]]))[..., None]  # [S or N, M', 3, 1]

    def __call__(self, local: torch.Tensor, trans: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``local [N, F, 3, 3]`` (joints in ``order``), ``trans [N, 3]`` -> markers ``[N, M, 3]``
        (in ``markers`` order) and joint positions ``[N, F, 3]`` (in ``order``)."""
        n = local.shape[0]
        rotations = [local[:, :1]]
        positions = [(self.root + trans)[:, None]]
        for start, stop, first, last, group, bones in self.steps:
            parent_rot = rotations[-1][:, first:last, None]  # [N, parents, 1, 3, 3]
            children = stop - start
            positions.append(
                (positions[-1][:, first:last, None] + (parent_rot @ bones)[..., 0]).reshape(n, children, 3)
            )
            rotations.append((parent_rot @ local[:, start:stop].reshape(n, last - first, group, 3, 3)).reshape(n, children, 3, 3))
        joints = torch.cat(positions, dim=1)
        global_rot = torch.cat(rotations, dim=1)
        plain = joints.index_select(1, self.marker_index[: self.plain])
        attached = joints.index_select(1, self.offset_index) + (global_rot.index_select(1, self.offset_index) @ self.offsets)[..., 0]
        return torch.cat([plain, attached], dim=1), joints


def torso_lean_deg(joints: np.ndarray) -> np.ndarray:
    """Per-frame torso lean ``[T]`` in degrees: the angle between the pelvis -> neck direction
    and world up (y) for joint positions ``[T, 55, 3]``."""
    spine = joints[:, joint_index("neck")] - joints[:, 0]
    cos = spine[:, 1] / np.maximum(np.linalg.norm(spine, axis=-1), 1e-9)
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def marker_errors(fitted: np.ndarray, keypoints: BodyKeypoints) -> dict[str, float | int | str]:
    """Mean Euclidean distance between fitted markers and the landmarks that were seen
    (``keypoints.observed``), in metres of the body frame (after scaling to the body's shoulder
    width): per group (``wrists``, ``elbows``, ``fingertips``; NaN for a group never seen) and
    over every seen marker fitted in absolute position (``mean``: shoulders, elbows, wrists, hips
    and hands; not the face).

    A point's distance is 3D where the input has depth for it and 2D (x, y: the image plane)
    where it has none (or only an assumed one); ``coordinates`` says which (``"xyz"``, ``"xy"`` or
    ``"mixed"``) over the points that can have depth (not ``NO_DEPTH_LANDMARKS``). The depth
    compared is the fit's depth target (bone-length depth, see ``landmarks``), not MediaPipe's raw
    z. ``image_error`` is the mean x, y distance over the same points: the primary evidence, in
    metres. Frame counts are included: ``frames`` and ``frames_without_hands`` (neither hand seen)."""
    delta = fitted - keypoints.points
    has_depth = keypoints.depth_observed
    delta[..., 2] *= has_depth
    distance = np.linalg.norm(delta, axis=-1)
    planar = np.linalg.norm(delta[..., :2], axis=-1)
    observed = keypoints.observed
    report: dict[str, float | int | str] = {}
    for name, group in ERROR_GROUPS.items():
        ok = observed[:, list(group)]
        report[name] = float(distance[:, list(group)][ok].mean()) if ok.any() else float("nan")
    marked = list(ABSOLUTE_LANDMARKS)
    ok = observed[:, marked]
    report["mean"] = float(distance[:, marked][ok].mean()) if ok.any() else float("nan")
    report["image_error"] = float(planar[:, marked][ok].mean()) if ok.any() else float("nan")
    with_depth = [j for j in marked if j not in NO_DEPTH_LANDMARKS]
    depth_seen = has_depth[:, with_depth][observed[:, with_depth]]
    report["coordinates"] = "xyz" if depth_seen.all() else "xy" if not depth_seen.any() else "mixed"
    report["frames"] = int(keypoints.num_frames)
    report["frames_without_hands"] = int((~observed[:, LEFT_HAND_START:].any(axis=1)).sum())
    return report


def fit_report(
    poses: np.ndarray,
    trans: np.ndarray,
    keypoints: BodyKeypoints,
    rest_joints: np.ndarray,
    max_lean_deg: float,
    max_image_error: float,
) -> tuple[dict[str, Any], np.ndarray]:
    """The fit's report, computed from the motion itself (``poses [T, 55, 3]``, ``trans [T, 3]``)
    with the body layer's forward kinematics: ``marker_errors`` plus ``lean_max_deg`` and
    ``lean_mean_deg`` (``torso_lean_deg``), the finger-joint errors (``finger_errors``:
    ``finger_error_2d``, ``finger_error_3d``, ``fingers_2d``, ``fingers_3d``, in palm lengths),
    ``rotation_deg`` and ``depth_implausible`` (from the keypoints), ``plausible`` (finite, lean at most ``max_lean_deg``, image error at most
    ``max_image_error``) and ``problem`` (why not, or None). Also returns the markers ``[T, 75, 3]``."""
    rest = torch.as_tensor(rest_joints, dtype=torch.float64)
    markers = build_markers(np.asarray(rest_joints))
    with torch.no_grad():
        rot = axis_angle_to_matrix(torch.as_tensor(poses, dtype=torch.float64))
        tr = torch.as_tensor(trans, dtype=torch.float64)
        joints, global_rot = forward_kinematics(rot, rest, trans=tr, return_rotations=True)
        positions = _attach(joints, global_rot, markers)
    fitted = np.zeros((len(poses), NUM_LANDMARKS, 3))
    fitted[:, markers.landmarks] = positions.numpy()
    report: dict[str, Any] = dict(marker_errors(fitted, keypoints))
    report.update(finger_errors(fitted, keypoints, np.asarray(rest_joints)))
    lean = torso_lean_deg(joints.numpy())
    report["lean_max_deg"] = float(lean.max())
    report["lean_mean_deg"] = float(lean.mean())
    report["rotation_deg"] = int(keypoints.rotation_deg)
    report["depth_implausible"] = float(keypoints.depth_implausible)
    problems = []
    if not (np.isfinite(poses).all() and np.isfinite(trans).all()):
        problems.append("non-finite poses")
    if not report["lean_max_deg"] <= max_lean_deg:
        problems.append(f"torso leans {report['lean_max_deg']:.1f} deg (max {max_lean_deg:g})")
    if not report["image_error"] <= max_image_error:
        problems.append(f"image error {report['image_error']:.3f} m (max {max_image_error:g})")
    report["plausible"] = not problems
    report["problem"] = "; ".join(problems) or None
    return report, fitted.astype(np.float32)
