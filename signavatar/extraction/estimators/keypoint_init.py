"""The fitter's closed-form starting point: per-frame rotations from the observed bone
directions (``initial_rotations``) and the translation that puts their markers onto the
observations (``initial_trans``)."""

from __future__ import annotations

import numpy as np
import torch

from signavatar.body.joints import NUM_JOINTS, PARENTS, joint_index
from signavatar.body.rotations import axis_angle_to_matrix
from signavatar.extraction.estimators.keypoint_objective import Objective, rodrigues
from signavatar.extraction.estimators.markers import FINGERS, MarkerSet
from signavatar.extraction.landmarks import BodyKeypoints


def _unit(v: np.ndarray) -> np.ndarray:
    """Vectors normalised along the last axis (zero vectors stay zero)."""
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def _rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Minimal rotations ``[..., 3, 3]`` taking unit vectors ``a`` to unit vectors ``b``."""
    axis = np.cross(a, b)
    sin = np.linalg.norm(axis, axis=-1)
    cos = (a * b).sum(-1)
    angle = np.arctan2(sin, cos)
    # Antiparallel: any axis perpendicular to a will do.
    fallback = np.cross(a, np.where(np.abs(a[..., :1]) < 0.9, [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]))
    axis = np.where((sin < 1e-6)[..., None], fallback, axis)
    axis = _unit(axis) * angle[..., None]
    return axis_angle_to_matrix(torch.from_numpy(axis)).numpy()


def _frame(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Orthonormal frames ``[..., 3, 3]`` with columns ``u``, ``v`` made orthogonal to it, and their cross product."""
    e0 = _unit(u)
    e1 = _unit(v - (v * e0).sum(-1, keepdims=True) * e0)
    return np.stack([e0, e1, np.cross(e0, e1)], axis=-1)


def initial_rotations(keypoints: BodyKeypoints, rest_joints: np.ndarray, markers: MarkerSet) -> np.ndarray:
    """Per-frame closed-form starting rotations ``[T, 55, 3, 3]`` (local) for the optimiser.

    Going down the tree: the root turns the rest shoulder line onto the observed one; each upper
    arm is aligned with its observed direction *and* its elbow's bending plane (so the upper-arm
    twist starts right), the elbow gets the observed flexion angle about its hinge, the wrist the
    observed hand frame (wrist -> middle knuckle, pinky -> index knuckle) and each finger bone
    the minimal rotation onto its observed direction. Joints without observations start at rest.
    """
    rest = np.asarray(rest_joints, np.float64)
    frames = keypoints.num_frames
    points = keypoints.points.astype(np.float64)
    seen = keypoints.weights > 0
    landmark_of: dict[int, int] = {}  # joint -> the first marker sitting on it (the body wrist before the hand's)
    tip_of: dict[int, tuple[int, np.ndarray]] = {}  # distal finger joint -> its tip marker and offset
    for landmark, joint, offset in zip(
        markers.landmarks.tolist(), markers.joints.tolist(), markers.offsets, strict=True
    ):
        if offset.any():
            tip_of.setdefault(joint, (landmark, offset.astype(np.float64)))
        else:
            landmark_of.setdefault(joint, landmark)
    eye = np.broadcast_to(np.eye(3), (frames, 3, 3))
    local = np.tile(np.eye(3), (frames, NUM_JOINTS, 1, 1))
    world = np.tile(np.eye(3), (frames, NUM_JOINTS, 1, 1))

    def observed(*joints: int) -> tuple[np.ndarray, list[np.ndarray]]:
        ok = np.ones(frames, bool)
        for j in joints:
            ok &= seen[:, landmark_of[j]]
        return ok, [points[:, landmark_of[j]] for j in joints]

    def set_global(joint: int, rotation: np.ndarray, ok: np.ndarray) -> None:
        parent = world[:, PARENTS[joint]]
        local[:, joint] = np.where(ok[:, None, None], parent.transpose(0, 2, 1) @ rotation, eye)
        world[:, joint] = parent @ local[:, joint]

    left, right = joint_index("left_shoulder"), joint_index("right_shoulder")
    ok, (pl, pr) = observed(left, right)
    root = _rotation_between(_unit(np.broadcast_to(rest[left] - rest[right], (frames, 3))), _unit(pl - pr))
    local[:, 0] = world[:, 0] = np.where(ok[:, None, None], root, eye)
    for j in range(1, NUM_JOINTS):
        world[:, j] = world[:, PARENTS[j]] @ local[:, j]
    for side, sign in (("left", 1.0), ("right", -1.0)):
        shoulder, elbow, wrist = (joint_index(f"{side}_{p}") for p in ("shoulder", "elbow", "wrist"))
        hinge = np.array([0.0, -sign, 0.0])
        ok, (ps, pe, pw) = observed(shoulder, elbow, wrist)
        u = _unit(pe - ps)
        f = _unit(pw - pe)
        u0 = _unit(rest[elbow] - rest[shoulder])
        bend0 = np.cross(hinge, u0)
        bend = f - (f * u).sum(-1, keepdims=True) * u
        bent = np.linalg.norm(bend, axis=-1) > np.sin(np.deg2rad(15.0))
        swing = _rotation_between(np.broadcast_to(u0, u.shape), u)
        bend = np.where(bent[:, None], bend, swing @ bend0)
        set_global(shoulder, _frame(u, bend) @ _frame(u0, bend0).T, ok)
        angle = np.clip(np.arctan2(np.linalg.norm(np.cross(u, f), axis=-1), (u * f).sum(-1)), 0.0, np.deg2rad(150.0))
        set_global(
            elbow, world[:, shoulder] @ axis_angle_to_matrix(torch.from_numpy(angle[:, None] * hinge)).numpy(), ok
        )
        index1, middle1, pinky1 = (joint_index(f"{side}_{f}1") for f in ("index", "middle", "pinky"))
        ok, (pw, pm, pi, pp) = observed(wrist, middle1, index1, pinky1)
        obs_frame = _frame(pm - pw, pi - pp)
        rest_frame = _frame(rest[middle1] - rest[wrist], rest[index1] - rest[pinky1])
        set_global(wrist, obs_frame @ rest_frame.T, ok)
        for finger in FINGERS:
            chain = [joint_index(f"{side}_{finger}{k}") for k in (1, 2, 3)]
            for k, joint in enumerate(chain):
                if k < 2:
                    ok, (pj, pc) = observed(joint, chain[k + 1])
                    bone0 = rest[chain[k + 1]] - rest[joint]
                else:
                    tip, bone0 = tip_of[joint]
                    ok, (pj,) = observed(joint)
                    ok &= seen[:, tip]
                    pc = points[:, tip]
                parent = world[:, PARENTS[joint]]
                target = (parent.transpose(0, 2, 1) @ _unit(pc - pj)[..., None])[..., 0]
                swing = _rotation_between(np.broadcast_to(_unit(bone0), target.shape), target)
                set_global(joint, parent @ swing, ok)
    return local


def initial_trans(objective: Objective, rotations: torch.Tensor, lengths: list[int]) -> torch.Tensor:
    """Per-frame translation that puts the initial pose's markers onto the observations (weighted
    mean offset per axis; frames without observations get their sequence's mean)."""
    with torch.no_grad():
        zero = torch.zeros(rotations.shape[0], 3, dtype=rotations.dtype, device=rotations.device)
        offset = objective.obs - objective.model(rodrigues(rotations), zero)[0]
        axis_weight = objective.weight[..., None] * torch.stack(
            [torch.ones_like(objective.depth), torch.ones_like(objective.depth), objective.depth], -1
        )
        total = axis_weight.sum(1)
        centre = (axis_weight * offset).sum(1) / total.clamp_min(1e-12)
        known = total > 0
        start = 0
        for length in lengths:
            part, ok = centre[start : start + length], known[start : start + length]
            fallback = (part * ok).sum(0) / ok.sum(0).clamp_min(1)
            centre[start : start + length] = torch.where(ok, part, fallback)
            start += length
    return centre
