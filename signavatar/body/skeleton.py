"""Rest skeleton and forward kinematics over the SMPL-X kinematic tree."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from signavatar.body.joints import JOINT_NAMES, LEFT_HAND, NUM_JOINTS, PARENTS, RIGHT_HAND, joint_index
from signavatar.body.rotations import axis_angle_to_matrix

_BODY_AND_FACE_LEFT = {
    # Left-side and midline joints in metres (x = left, y = up, z = forward), pelvis at the origin.
    "pelvis": (0.0, 0.0, 0.0),
    "left_hip": (0.058, -0.082, -0.015),
    "spine1": (0.0, 0.110, -0.025),
    "left_knee": (0.100, -0.460, -0.005),
    "spine2": (0.0, 0.245, -0.010),
    "left_ankle": (0.085, -0.860, -0.040),
    "spine3": (0.0, 0.300, 0.000),
    "left_foot": (0.120, -0.915, 0.085),
    "neck": (0.0, 0.515, -0.015),
    "left_collar": (0.075, 0.420, -0.005),
    "head": (0.0, 0.605, 0.035),
    "left_shoulder": (0.175, 0.455, -0.020),
    "left_elbow": (0.435, 0.455, -0.035),
    "left_wrist": (0.685, 0.455, -0.030),
    "jaw": (0.0, 0.575, 0.025),
    "left_eye_smplhf": (0.030, 0.665, 0.085),
}

# Left-hand joints relative to the left wrist (T-pose: fingers along +x, palm facing down). Order:
# index, middle, pinky, ring, thumb; three joints each. The thumb sits forward (+z) and below the
# palm plane (-y, toward the palm side), as in SMPL-X.
_LEFT_HAND_FROM_WRIST = (
    (0.088, 0.005, 0.025), (0.123, 0.005, 0.025), (0.146, 0.004, 0.025),  # index
    (0.095, 0.005, 0.003), (0.133, 0.005, 0.003), (0.158, 0.004, 0.003),  # middle
    (0.075, -0.005, -0.040), (0.100, -0.005, -0.042), (0.118, -0.006, -0.043),  # pinky
    (0.088, 0.000, -0.020), (0.121, 0.000, -0.021), (0.144, -0.001, -0.022),  # ring
    (0.025, -0.015, 0.025), (0.050, -0.023, 0.047), (0.075, -0.028, 0.062),  # thumb
)


def _default_rest_joints() -> np.ndarray:
    mirror = np.array([-1.0, 1.0, 1.0])
    joints = np.zeros((NUM_JOINTS, 3), dtype=np.float64)
    for i, name in enumerate(JOINT_NAMES[: LEFT_HAND.start]):
        left_name = name.replace("right_", "left_")
        position = np.array(_BODY_AND_FACE_LEFT[left_name])
        joints[i] = position * mirror if name.startswith("right_") else position
    hand = np.array(_LEFT_HAND_FROM_WRIST)
    left_wrist = joints[joint_index("left_wrist")]
    right_wrist = joints[joint_index("right_wrist")]
    joints[LEFT_HAND] = left_wrist + hand
    joints[RIGHT_HAND] = right_wrist + hand * mirror
    return joints.astype(np.float32)


DEFAULT_REST_JOINTS: np.ndarray = _default_rest_joints()
"""Approximate SMPL-X-like rest skeleton ``[55, 3]`` float32 (treat as a constant).

T-pose in metres, y up, z forward, subject's left at +x, pelvis at the origin; plausible adult
proportions (shoulder joints 0.35 m apart, upper arm 0.26 m, forearm 0.25 m, finger bones
2-4 cm). It is hand-made, NOT the real SMPL-X neutral template: use ``resolve_rest_joints`` with a
model path where exact joint positions matter.
"""


@dataclass(frozen=True)
class _TreeLevels:
    """A kinematic tree by depth, as CPU index tensors (shared between calls: never modified)."""

    parent_index: torch.Tensor  # [J]: each joint's parent, the root its own
    levels: tuple[tuple[torch.Tensor, torch.Tensor], ...]  # below the root: joints, parents' slots in the level above
    inverse: torch.Tensor  # [J]: where each joint lands in the levels concatenated (root first)


@lru_cache(maxsize=8)
def _tree_levels(parents: tuple[int, ...]) -> _TreeLevels:
    if parents[0] != -1 or any(not 0 <= p < j for j, p in enumerate(parents) if j):
        raise ValueError(f"parents {parents} are not a tree rooted at joint 0 with each parent before its child")
    depth = [0] * len(parents)
    for j in range(1, len(parents)):
        depth[j] = depth[parents[j]] + 1
    levels = [[j for j in range(len(parents)) if depth[j] == d] for d in range(max(depth) + 1)]
    slot = {j: i for level in levels for i, j in enumerate(level)}
    order = torch.tensor([j for level in levels for j in level])
    return _TreeLevels(
        parent_index=torch.tensor([0, *parents[1:]]),
        levels=tuple((torch.tensor(level), torch.tensor([slot[parents[j]] for j in level])) for level in levels[1:]),
        inverse=torch.argsort(order),
    )


def forward_kinematics(
    rotmats: torch.Tensor,
    rest_joints: torch.Tensor | np.ndarray,
    parents: Sequence[int] = PARENTS,
    trans: torch.Tensor | None = None,
    return_rotations: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Global joint positions from local joint rotations, exactly as SMPL-X's LBS joint recursion.

    ``G_j = G_parent(j) @ R_j`` and ``p_j = p_parent(j) + G_parent(j) @ (rest_j - rest_parent(j))``;
    the root is at ``rest_joints[0] + trans`` with ``G_0 = R_0``. All joints of one tree depth are
    computed together: one batched matmul per tree level (10 below SMPL-X's root, not 54 joint steps).

    Args:
        rotmats: ``[..., J, 3, 3]`` local (parent-relative) rotations, root first.
        rest_joints: ``[J, 3]`` or ``[..., J, 3]`` rest-pose joint positions (broadcast).
        parents: parent index of each joint (root ``-1``), each parent before its child.
        trans: optional ``[..., 3]`` global translation.
        return_rotations: also return the global rotations ``[..., J, 3, 3]``.

    Returns:
        ``[..., J, 3]`` positions, or ``(positions, global_rotations)``.
    """
    rest = torch.as_tensor(rest_joints, dtype=rotmats.dtype, device=rotmats.device)
    num_joints = rotmats.shape[-3]
    if len(parents) != num_joints or rest.shape[-2] != num_joints:
        raise ValueError(
            f"joint count mismatch: rotmats {tuple(rotmats.shape)}, rest_joints {tuple(rest.shape)}, "
            f"{len(parents)} parents"
        )
    tree = _tree_levels(tuple(parents))
    device = rest.device
    offsets = (rest - rest.index_select(-2, tree.parent_index.to(device)))[..., None]  # [..., J, 3, 1]; row 0 unused
    batch_shape = torch.broadcast_shapes(rotmats.shape[:-3], rest.shape[:-2])
    global_rots = [rotmats[..., :1, :, :]]
    positions = [rest[..., :1, :].expand(batch_shape + (1, 3))]
    for level, parent_slots in tree.levels:
        level, parent_slots = level.to(device), parent_slots.to(device)
        parent_rot = global_rots[-1].index_select(-3, parent_slots)
        positions.append(positions[-1].index_select(-2, parent_slots)
                         + (parent_rot @ offsets.index_select(-3, level))[..., 0])
        global_rots.append(parent_rot @ rotmats.index_select(-3, level))
    inverse = tree.inverse.to(device)
    joints = torch.cat(positions, dim=-2).index_select(-2, inverse)
    if trans is not None:
        joints = joints + trans[..., None, :]
    if return_rotations:
        return joints, torch.cat(global_rots, dim=-3).index_select(-3, inverse)
    return joints


def forward_kinematics_axis_angle(
    poses: torch.Tensor,
    rest_joints: torch.Tensor | np.ndarray,
    trans: torch.Tensor | None = None,
    parents: Sequence[int] = PARENTS,
    return_rotations: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """``forward_kinematics`` for axis-angle poses ``[..., J, 3]`` (SMPL-X ``full_pose`` order)."""
    return forward_kinematics(
        axis_angle_to_matrix(poses), rest_joints, parents=parents, trans=trans, return_rotations=return_rotations
    )
