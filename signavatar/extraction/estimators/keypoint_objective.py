"""The loss of fitting SMPL-X upper-body and hand rotations to Holistic keypoints.

The forward model is the marker set of ``markers``. All frames of a clip are fitted together:
a closed-form per-frame initialisation (``keypoint_init``), then Adam (``keypoint_fit``) over

* the data term: confidence-weighted squared distance of every observed marker, in units of
  ``data_sigma`` (the z residual scaled by the keypoints' depth weights),
* temporal smoothness: squared Frobenius distance between consecutive local rotations,
* joint limits: hinge penalties on elbow and finger rotations expressed in each joint's anatomical
  basis (flexion axis, bone axis, spread axis), so elbows and finger joints bend one way and
  pronation goes to the wrist,
* a prior pulling every rotation toward rest, strongest on the torso (whose chain is otherwise
  ambiguous) and weakest on the arms.

Missing landmarks (masked hands, off-screen elbows) have weight 0; their joints follow from
smoothness and the prior, never from garbage coordinates. The jaw, eyes and legs stay at rest.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from signavatar.body.joints import LEFT_HAND, RIGHT_HAND, joint_index
from signavatar.config import KeypointFitConfig
from signavatar.extraction.estimators.markers import FINGERS, MarkerModel
from signavatar.extraction.proportions import scaled_skeleton
from signavatar.extraction.landmarks import BodyKeypoints

TORSO_JOINTS = tuple(joint_index(n) for n in ("spine1", "spine2", "spine3", "neck", "left_collar", "right_collar"))
HEAD_JOINTS = (joint_index("head"),)
ARM_JOINTS = tuple(
    joint_index(f"{side}_{part}") for side in ("left", "right") for part in ("shoulder", "elbow", "wrist")
)
HAND_JOINTS = tuple(range(LEFT_HAND.start, RIGHT_HAND.stop))
FIT_JOINTS = (0,) + TORSO_JOINTS + HEAD_JOINTS + ARM_JOINTS + HAND_JOINTS
"""Joints whose rotations are fitted (root orientation first); all others stay at rest."""


_THUMB_LIMITS = (
    ((-45.0, -45.0, -60.0), (70.0, 45.0, 60.0)),  # base (carpometacarpal): flexion, twist, spread
    ((-20.0, -20.0, -20.0), (70.0, 20.0, 20.0)),  # metacarpophalangeal
    ((-30.0, -15.0, -15.0), (90.0, 15.0, 15.0)),  # interphalangeal
)
"""Degrees, (low, high) on the components of ``anatomical_limits``' thumb bases."""


def anatomical_limits(rest_joints: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Joint-limit boxes: ``joints [L]``, bases ``[L, 3, 3]`` (rows: flexion, twist, spread axes
    in the rest frame) and bounds ``lo, hi [L, 3]`` in radians on the axis-angle components."""
    joints, bases, lo, hi = [], [], [], []
    palm_normal = np.array([0.0, -1.0, 0.0])  # T-pose, palms down
    for side, sign in (("left", 1.0), ("right", -1.0)):
        elbow = joint_index(f"{side}_elbow")
        # Elbow hinge: flexion about -y on the left, +y on the right brings the forearm forward.
        bone = np.array([sign, 0.0, 0.0])
        flex = np.array([0.0, -sign, 0.0])
        joints.append(elbow)
        bases.append(np.stack([flex, bone, np.cross(flex, bone)]))
        lo.append(np.deg2rad([0.0, -10.0, -5.0]))
        hi.append(np.deg2rad([150.0, 10.0, 5.0]))
        for finger in FINGERS[:4]:
            chain = [joint_index(f"{side}_{finger}{k}") for k in (1, 2, 3)]
            for k, joint in enumerate(chain):
                bone = (
                    rest_joints[chain[k + 1]] - rest_joints[joint]
                    if k < 2
                    else rest_joints[joint] - rest_joints[chain[k - 1]]
                )
                bone = bone / np.linalg.norm(bone)
                flex = np.cross(bone, palm_normal)
                flex /= np.linalg.norm(flex)
                joints.append(joint)
                bases.append(np.stack([flex, bone, np.cross(flex, bone)]))
                if k == 0:
                    lo.append(np.deg2rad([-30.0, -15.0, -30.0]))
                    hi.append(np.deg2rad([100.0, 15.0, 30.0]))
                else:
                    lo.append(np.deg2rad([-15.0, -10.0, -10.0]))
                    hi.append(np.deg2rad([115.0, 10.0, 10.0]))
        # The thumb: the same kind of box about its own bones, wide at the base (the carpometacarpal
        # joint swings the thumb across the palm to oppose it, or alongside the index, and turns it
        # with it), hinges beyond it.
        chain = [joint_index(f"{side}_thumb{k}") for k in (1, 2, 3)]
        for k, joint in enumerate(chain):
            bone = rest_joints[chain[k + 1]] - rest_joints[joint] if k < 2 else rest_joints[joint] - rest_joints[chain[1]]
            bone = bone / np.linalg.norm(bone)
            flex = np.cross(bone, palm_normal)
            flex /= np.linalg.norm(flex)
            joints.append(joint)
            bases.append(np.stack([flex, bone, np.cross(flex, bone)]))
            lo.append(np.deg2rad(_THUMB_LIMITS[k][0]))
            hi.append(np.deg2rad(_THUMB_LIMITS[k][1]))
    return np.array(joints), np.array(bases, np.float32), np.array(lo, np.float32), np.array(hi, np.float32)


def _prior_weights(cfg: KeypointFitConfig) -> dict[int, float]:
    """Per fitted joint, the weight of the pull toward rest."""
    weights = {0: cfg.root_prior}
    weights.update({j: cfg.torso_prior for j in TORSO_JOINTS + HEAD_JOINTS})
    weights.update({j: cfg.arm_prior for j in ARM_JOINTS})
    weights.update({j: cfg.hand_prior for j in HAND_JOINTS})
    return weights


def rodrigues(axis_angle: torch.Tensor) -> torch.Tensor:
    """``rotations.axis_angle_to_matrix`` in half the operations (the optimiser's hot path):
    ``R = cos t I + sin t / t K + (1 - cos t) / t^2 v v^T`` with ``t`` kept off zero, accurate to
    float32 resolution (tested against the reference)."""
    squared = (axis_angle * axis_angle).sum(-1, keepdim=True)
    theta = torch.sqrt(squared + 1e-12)
    a = torch.sin(theta) / theta
    half = torch.sin(0.5 * theta) / theta
    b = 2.0 * half * half  # (1 - cos t) / t^2 without cancellation
    c = (1.0 - b * squared)[..., 0]
    vx, vy, vz = axis_angle.unbind(-1)
    bx, by, bz = (axis_angle * b).unbind(-1)
    ax, ay, az = (axis_angle * a).unbind(-1)
    entries = [c + bx * vx, bx * vy - az, bx * vz + ay,
               by * vx + az, c + by * vy, by * vz - ax,
               bz * vx - ay, bz * vy + ax, c + bz * vz]  # fmt: skip
    return torch.stack(entries, dim=-1).reshape(axis_angle.shape[:-1] + (3, 3))


class Objective:
    """The fitting loss over the frames of several sequences, concatenated along one frame axis.

    Every term is normalised per sequence (data by the sequence's total marker weight, the others
    by its frame or frame-pair count), so each sequence's part equals its loss fitted alone and
    the sequences stay independent (Adam's steps are per parameter)."""

    def __init__(
        self, items: Sequence[BodyKeypoints], rest_joints: np.ndarray, cfg: KeypointFitConfig, device: str | torch.device
    ) -> None:
        dtype = torch.float32
        self.cfg = cfg
        lengths = np.array([k.num_frames for k in items])
        seq = np.repeat(np.arange(len(items)), lengths)
        self.skeletons = [scaled_skeleton(rest_joints, k.bone_scale) for k in items]
        if all(k.bone_scale is None for k in items):
            self.model = MarkerModel(rest_joints, FIT_JOINTS, device, dtype)
        else:
            self.model = MarkerModel(np.stack(self.skeletons), FIT_JOINTS, device, dtype, frame_sequence=seq)
        self.joints = self.model.order  # the parameters' joint order
        markers = self.model.markers
        weight = np.concatenate([k.weights[:, markers.landmarks] for k in items]) * markers.weights
        seq_weight = np.bincount(seq, weights=weight.sum(1), minlength=len(items))
        tensor = lambda x: torch.as_tensor(np.asarray(x, np.float32), device=device)  # noqa: E731
        self.obs = tensor(np.concatenate([k.points[:, markers.landmarks] for k in items]))
        self.weight = tensor(weight / np.maximum(seq_weight[seq], 1e-6)[:, None] / cfg.data_sigma**2)
        self.depth = tensor(np.concatenate([k.depth_weights[:, markers.landmarks] for k in items]))
        self.relative = torch.as_tensor(markers.relative, device=device)
        self.face_weight = self.weight * self.relative
        self.frame_mean = tensor(1.0 / lengths[seq])
        pairs = np.maximum(lengths - 1, 1)[seq[:-1]]
        self.pair_mean = tensor(np.where(seq[1:] == seq[:-1], 1.0 / pairs, 0.0))
        limit_joints, bases, lo, hi = anatomical_limits(np.asarray(rest_joints, np.float64))
        self.limit_slot = torch.as_tensor([self.joints.index(j) for j in limit_joints], device=device)
        self.limit_bases, self.limit_lo, self.limit_hi = tensor(bases), tensor(lo), tensor(hi)
        prior = _prior_weights(cfg)
        self.prior = tensor([prior[j] for j in self.joints])
        self.up = tensor([0.0, 1.0, 0.0])
        neck = joint_index("neck")
        self.neck = self.joints.index(neck)
        self.lean_scale = tensor(np.array([0.5, 0.0, 1.0]) / np.linalg.norm(rest_joints[neck] - rest_joints[0]))

    def __call__(self, rotations: torch.Tensor, trans: torch.Tensor) -> torch.Tensor:
        cfg = self.cfg
        local = rodrigues(rotations)
        predicted, joints = self.model(local, trans)
        residual = predicted - self.obs
        if self.relative.any():  # face markers: compared up to their common per-frame translation
            total = self.face_weight.sum(1).clamp_min(1e-12)[:, None, None]
            shift = (self.face_weight[..., None] * residual).sum(1, keepdim=True) / total
            residual = torch.where(self.relative[None, :, None], residual - shift, residual)
        squared = residual[..., 0].square() + residual[..., 1].square() + self.depth * residual[..., 2].square()
        data = (self.weight * squared).sum()
        count = len(self.joints)
        smooth = (self.pair_mean[:, None] * (local[1:] - local[:-1]).square().sum((-1, -2))).sum() / count
        components = (self.limit_bases @ rotations[:, self.limit_slot, :, None])[..., 0]
        hinge = (components - self.limit_hi).clamp_min(0).square() + (self.limit_lo - components).clamp_min(0).square()
        limits = (self.frame_mean * hinge.sum((-1, -2))).sum() / len(self.limit_slot)
        rest = (self.frame_mean * (self.prior * rotations.square().sum(-1)).sum(-1)).sum() / count
        root = local[:, 0]
        # Upright: the root's up axis stays near world up (tilt, not yaw, is penalised), the body
        # does not turn its back to the camera, and the torso (pelvis -> neck) does not lean,
        # least of all toward or away from the camera, which no image shows.
        tilt = (root[:, :, 1] - self.up).square().sum(-1) + (-root[:, 2, 2]).clamp_min(0).square()
        lean = ((joints[:, self.neck] - joints[:, 0]) * self.lean_scale).square().sum(-1)
        upright = (self.frame_mean * (tilt + lean)).sum()
        return (
            data
            + cfg.smooth_weight * smooth
            + cfg.limit_weight * limits
            + rest
            + cfg.upright_prior * upright
        )


