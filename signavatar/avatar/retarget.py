"""SMPL-X motion -> avatar motion: the one retargeting step behind previews, the viewer and exports.

For a clip, SMPL-X forward kinematics on the rest skeleton the avatar was fitted to gives each
joint's global rotation ``G_j`` and position ``p_j``; each avatar bone takes ``A_c = G_j(c) C_c``
(``signavatar.avatar.rig``), and the avatar's root follows the pelvis: it sits where the pelvis
carries the avatar's rest root (``p_pelvis + G_pelvis (root_rest - pelvis_rest)``). The avatar's
bone positions then follow from its own forward kinematics (the same ``forward_kinematics`` as
SMPL-X's, on the avatar's tree and rest heads).

The collar bones are then aimed at SMPL-X's shoulders: the avatar's clavicle is longer than SMPL-X's
collar segment (15 vs 11 cm) and starts nearer the midline, so the same collar rotation (signers'
fits raise a collar 50 degrees at the 95th percentile) would move its shoulder further; turning the
clavicle (and the scapula bone on it) by the smallest rotation that points it at SMPL-X's shoulder
puts the shoulder, and so the arm, where SMPL-X has it. The arm and hand bones keep their
directions.

The forearm's twist bone (``lowerarm02``) takes half of the twist about the forearm between the
forearm and the hand, so a turned wrist twists the forearm along its length rather than at the
wrist alone (as a real forearm does). Turning a bone about its own axis changes no bone direction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from signavatar.avatar.rig import SIDES, Avatar, load_avatar, local_rotations
from signavatar.body.joints import joint_index
from signavatar.body.rotations import axis_angle_to_matrix, matrix_to_quaternion
from signavatar.body.skeleton import forward_kinematics
from signavatar.motion.clip import MotionClip

# twist bone -> (its segment's bone, the next segment's bone): the twist bone takes half the twist between them
_TWIST = {f"lowerarm02.{s}": (f"lowerarm01.{s}", f"wrist.{s}") for s in SIDES}
# collar bones aimed at SMPL-X's shoulder: side -> (clavicle, scapula, shoulder joint bone, SMPL-X shoulder)
_AIM = {s: (f"clavicle.{s}", f"shoulder01.{s}", f"upperarm01.{s}", joint_index(f"{side}_shoulder"))
        for s, side in SIDES.items()}


@dataclass(frozen=True)
class AvatarMotion:
    """An avatar pose per frame: ``local [T, B, 3, 3]`` parent-relative rotations in world-aligned
    joint frames (the root's is its world rotation), ``root [T, 3]`` the root bone's position,
    ``world [T, B, 3, 3]`` global rotations and ``heads [T, B, 3]`` bone positions (metres, y up);
    ``fps`` as the clip's."""

    local: np.ndarray
    root: np.ndarray
    world: np.ndarray
    heads: np.ndarray
    fps: float

    @property
    def num_frames(self) -> int:
        return int(self.local.shape[0])

    def transforms(self, avatar: Avatar) -> np.ndarray:
        """Skinning transforms ``[T, B, 3, 4]``: rest position -> posed, ``[A_c | w_c - A_c h_c]``."""
        translation = self.heads - (self.world @ avatar.body.heads[None, :, :, None])[..., 0]
        return np.concatenate([self.world, translation[..., None]], axis=-1)


def smplx_kinematics(clip: MotionClip, rest_joints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """SMPL-X joint positions ``[T, 55, 3]`` and global rotations ``[T, 55, 3, 3]`` (float64) of ``clip``."""
    rotations = axis_angle_to_matrix(torch.from_numpy(clip.poses).double())
    positions, world = forward_kinematics(rotations, torch.from_numpy(np.asarray(rest_joints, np.float64)),
                                          trans=torch.from_numpy(clip.trans).double(), return_rotations=True)
    return positions.numpy(), world.numpy()


def _twist_half(parent: np.ndarray, child: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """World rotations ``parent [T, 3, 3]`` turned about the rest direction ``axis [3]`` by half the
    twist about that axis of ``parent^T child`` (swing-twist decomposition)."""
    relative = np.swapaxes(parent, -1, -2) @ child
    # quaternion (w, v) of `relative` with w >= 0: 4 w v = d and 4 w^2 = 1 + trace, so the twist angle
    # 2 atan2(v . axis, w) is 2 atan2(d . axis, 1 + trace)
    d = np.stack([relative[..., 2, 1] - relative[..., 1, 2], relative[..., 0, 2] - relative[..., 2, 0],
                  relative[..., 1, 0] - relative[..., 0, 1]], axis=-1)
    angle = 2.0 * np.arctan2(d @ axis, 1.0 + np.trace(relative, axis1=-2, axis2=-1))
    half = axis_angle_to_matrix(torch.from_numpy((0.5 * angle)[..., None] * axis)).numpy()
    return parent @ half


def _shortest_rotation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``[T, 3, 3]``: the smallest rotations turning directions ``a [T, 3]`` onto ``b [T, 3]``."""
    axis = np.cross(a, b)
    sine = np.linalg.norm(axis, axis=-1, keepdims=True)
    angle = np.arctan2(sine, (a * b).sum(-1, keepdims=True))
    return axis_angle_to_matrix(torch.from_numpy(axis / np.maximum(sine, 1e-12) * angle)).numpy()


def _pose(avatar: Avatar, world: np.ndarray, root: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Local rotations and bone heads ``[T, B, 3]`` of world rotations ``world`` with the root at ``root``."""
    body = avatar.body
    local = local_rotations(world, body.parents)
    heads = forward_kinematics(torch.from_numpy(local), torch.from_numpy(body.heads), parents=body.parents,
                               trans=torch.from_numpy(root - body.heads[0]))
    return local, heads.numpy()


def retarget(clip: MotionClip, avatar: Avatar | None = None) -> AvatarMotion:
    """The avatar's motion for ``clip`` (``avatar``: ``load_avatar()`` by default)."""
    avatar = load_avatar() if avatar is None else avatar
    body = avatar.body
    positions, global_rot = smplx_kinematics(clip, avatar.rest_joints)
    world = global_rot[:, avatar.drivers] @ avatar.alignment  # A_c = G_j(c) C_c
    for twist, (own, nxt) in _TWIST.items():
        b, o, n = body.bone(twist), body.bone(own), body.bone(nxt)
        axis = body.heads[n] - body.heads[o]  # the forearm at rest
        world[:, b] = _twist_half(world[:, o], world[:, n], axis / np.linalg.norm(axis))
    pelvis_rest = avatar.rest_joints[0].astype(np.float64)
    root = positions[:, 0] + (global_rot[:, 0] @ (body.heads[0] - pelvis_rest))
    _, heads = _pose(avatar, world, root)
    for clavicle, scapula, shoulder, joint in ((body.bone(a), body.bone(b), body.bone(c), j) for a, b, c, j in _AIM.values()):
        aim = _shortest_rotation(heads[:, shoulder] - heads[:, clavicle], positions[:, joint] - heads[:, clavicle])
        world[:, clavicle] = world[:, scapula] = aim @ world[:, clavicle]
    local, heads = _pose(avatar, world, root)
    return AvatarMotion(local=local, root=root, world=world, heads=heads, fps=clip.fps)


def retarget_parameters(avatar: Avatar) -> dict:
    """Everything ``retarget`` uses besides the clip, as JSON-ready lists: the browser viewer
    (``viewer/src/retarget.js``) retargets with these the same way. Quaternions are ``(x, y, z, w)``."""
    body = avatar.body

    def index(name: str) -> int:
        return body.bone(name)

    wxyz = matrix_to_quaternion(torch.from_numpy(avatar.alignment)).numpy()
    rounded = lambda a: np.round(np.asarray(a, np.float64), 7).tolist()  # noqa: E731
    return {
        "parents": list(body.parents),
        "heads": rounded(body.heads),
        "drivers": avatar.drivers.tolist(),
        "alignment": rounded(np.concatenate([wxyz[:, 1:], wxyz[:, :1]], axis=1)),
        "root_offset": rounded(body.heads[0] - avatar.rest_joints[0]),
        "twist": [{"bone": index(b), "own": index(o), "next": index(n),
                   "axis": rounded((body.heads[index(n)] - body.heads[index(o)])
                                   / np.linalg.norm(body.heads[index(n)] - body.heads[index(o)]))}
                  for b, (o, n) in _TWIST.items()],
        "aim": [{"clavicle": index(c), "scapula": index(s), "shoulder": index(h), "joint": j}
                for c, s, h, j in _AIM.values()],
    }
