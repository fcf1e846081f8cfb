"""``.bvh``: a clip as a Biovision Hierarchy skeleton animation (Blender, MotionBuilder, most
retargeting tools).

The skeleton is the clip's own: the 55 SMPL-X joints, named as SMPL-X names them (``pelvis``,
``left_wrist``, ``right_index1`` ...), with their rest offsets (the T-pose, metres, y up, z forward)
and an end site past every leaf (the fingertips as the fitter places them, the head's top, the
toes, the eyes). Every frame holds the pelvis position (``Xposition Yposition Zposition``: rest
pelvis plus the clip's translation) and each joint's rotation relative to its parent as
``Zrotation Xrotation Yrotation`` in degrees: the rotation matrix is ``Rz @ Rx @ Ry``, the usual
BVH order. These are the clip's own joint rotations, unchanged (no retargeting), written with six
decimals.
"""

from __future__ import annotations

import io

import numpy as np
import torch

from signavatar.body.joints import JOINT_NAMES, PARENTS, joint_index
from signavatar.body.rotations import axis_angle_to_matrix
from signavatar.extraction.estimators.markers import TIP_RATIO
from signavatar.motion.clip import MotionClip

ROTATION_CHANNELS = ("Zrotation", "Xrotation", "Yrotation")
POSITION_CHANNELS = ("Xposition", "Yposition", "Zposition")
_HEAD_TOP_M = 0.2
_TOE_M = 0.05


def euler_zxy(rotations: np.ndarray) -> np.ndarray:
    """``[..., 3, 3]`` -> ``[..., 3]`` angles (z, x, y) in degrees with ``R = Rz(z) Rx(x) Ry(y)``.

    ``Rz Rx Ry`` has ``R[2, 1] = sin x``, ``R[2, 0] = -cos x sin y``, ``R[2, 2] = cos x cos y``,
    ``R[0, 1] = -sin z cos x``, ``R[1, 1] = cos z cos x``. At ``x = +-90`` degrees (gimbal lock) z
    and y turn about one axis: y is set to 0 and z takes the whole turn."""
    r = np.asarray(rotations, np.float64)
    x = np.arcsin(np.clip(r[..., 2, 1], -1.0, 1.0))
    locked = np.abs(r[..., 2, 1]) > 1.0 - 1e-9
    y = np.where(locked, 0.0, np.arctan2(-r[..., 2, 0], r[..., 2, 2]))
    z = np.where(locked, np.arctan2(r[..., 1, 0], r[..., 0, 0]), np.arctan2(-r[..., 0, 1], r[..., 1, 1]))
    return np.degrees(np.stack([z, x, y], axis=-1))


def _end_site(joint: int, rest: np.ndarray) -> np.ndarray:
    """Offset of the end site past leaf ``joint``."""
    name = JOINT_NAMES[joint]
    if name[-1] == "3" and name[:-1] + "2" in JOINT_NAMES:  # a finger's distal joint: the fitter's tip
        return TIP_RATIO * (rest[joint] - rest[joint_index(name[:-1] + "2")])
    if name == "head":
        return np.array([0.0, _HEAD_TOP_M, 0.0])
    if name.endswith("_foot"):
        return np.array([0.0, 0.0, _TOE_M])
    return rest[joint] - rest[PARENTS[joint]]  # jaw, eyes: one more step of the last bone


def _children() -> list[list[int]]:
    children: list[list[int]] = [[] for _ in JOINT_NAMES]
    for joint, parent in enumerate(PARENTS):
        if parent >= 0:
            children[parent].append(joint)
    return children


def _hierarchy(rest: np.ndarray, children: list[list[int]]) -> tuple[str, list[int]]:
    """The HIERARCHY section and the joints in the order their channels appear (depth first)."""
    lines = ["HIERARCHY"]
    order: list[int] = []

    def offset(v: np.ndarray) -> str:
        return " ".join(f"{x:.6f}" for x in v)

    def write(joint: int, depth: int) -> None:
        pad = "  " * depth
        parent = PARENTS[joint]
        order.append(joint)
        if parent < 0:
            lines.extend([f"ROOT {JOINT_NAMES[joint]}", f"{pad}{{", f"{pad}  OFFSET 0.000000 0.000000 0.000000",
                          f"{pad}  CHANNELS 6 {' '.join(POSITION_CHANNELS + ROTATION_CHANNELS)}"])
        else:
            lines.extend([f"{pad}JOINT {JOINT_NAMES[joint]}", f"{pad}{{",
                          f"{pad}  OFFSET {offset(rest[joint] - rest[parent])}",
                          f"{pad}  CHANNELS 3 {' '.join(ROTATION_CHANNELS)}"])
        for child in children[joint]:
            write(child, depth + 1)
        if not children[joint]:
            lines.extend([f"{pad}  End Site", f"{pad}  {{", f"{pad}    OFFSET {offset(_end_site(joint, rest))}",
                          f"{pad}  }}"])
        lines.append(f"{pad}}}")

    write(0, 0)
    return "\n".join(lines), order


def bvh_text(clip: MotionClip, rest_joints: np.ndarray) -> str:
    """``clip`` as BVH text on the SMPL-X rest skeleton ``rest_joints [55, 3]``."""
    rest = np.asarray(rest_joints, np.float64)
    angles = euler_zxy(axis_angle_to_matrix(torch.from_numpy(clip.poses).double()).numpy())  # [T, 55, 3]
    root = rest[0] + clip.trans.astype(np.float64)
    hierarchy, order = _hierarchy(rest, _children())
    values = np.concatenate([root, angles[:, order].reshape(clip.num_frames, -1)], axis=1)
    out = io.StringIO()
    out.write(hierarchy)
    out.write(f"\nMOTION\nFrames: {clip.num_frames}\nFrame Time: {1.0 / clip.fps:.8f}\n")
    np.savetxt(out, values, fmt="%.6f")
    return out.getvalue()
