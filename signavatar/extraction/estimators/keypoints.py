"""Fit SMPL-X upper-body and hand rotations to Holistic keypoints by batched optimisation.

The forward model is the marker set of ``markers``. All frames of a clip are fitted together:
a closed-form per-frame initialisation (``initial_rotations``), then Adam over

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

import logging
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import torch

from signavatar.body.joints import LEFT_HAND, NUM_JOINTS, PARENTS, RIGHT_HAND, joint_index
from signavatar.body.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from signavatar.config import KeypointFitConfig
from signavatar.extraction.estimators.base import Estimator, SmplxFrames
from signavatar.extraction.estimators.markers import FINGERS, MarkerModel, MarkerSet, build_markers, fit_report
from signavatar.extraction.landmarks import (
    BodyKeypoints,
    HolisticLandmarks,
    to_body_keypoints,
)
from signavatar.motion.clip import NUM_BETAS, NUM_EXPRESSION

log = logging.getLogger(__name__)

TORSO_JOINTS = tuple(joint_index(n) for n in ("spine1", "spine2", "spine3", "neck", "left_collar", "right_collar"))
HEAD_JOINTS = (joint_index("head"),)
ARM_JOINTS = tuple(
    joint_index(f"{side}_{part}") for side in ("left", "right") for part in ("shoulder", "elbow", "wrist")
)
HAND_JOINTS = tuple(range(LEFT_HAND.start, RIGHT_HAND.stop))
FIT_JOINTS = (0,) + TORSO_JOINTS + HEAD_JOINTS + ARM_JOINTS + HAND_JOINTS
"""Joints whose rotations are fitted (root orientation first); all others stay at rest."""
TRANS_LR = 0.2
"""Learning rate of the translation (metres) relative to the rotations' (radians)."""


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


def _anatomical_limits(rest_joints: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
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
    return np.array(joints), np.array(bases, np.float32), np.array(lo, np.float32), np.array(hi, np.float32)


def _prior_weights(cfg: KeypointFitConfig) -> dict[int, float]:
    """Per fitted joint, the weight of the pull toward rest."""
    weights = {0: cfg.root_prior}
    weights.update({j: cfg.torso_prior for j in TORSO_JOINTS + HEAD_JOINTS})
    weights.update({j: cfg.arm_prior for j in ARM_JOINTS})
    weights.update({j: cfg.hand_prior for j in HAND_JOINTS})
    return weights


@dataclass
class KeypointFit:
    """A fitted motion: ``poses [T, 55, 3]``, ``trans [T, 3]``, per-frame ``confidence [T]``,
    fitted ``markers [T, 75, 3]`` (body frame; zeros where no marker) and ``errors``: the report
    of ``markers.fit_report`` (computed from the poses with the body layer) plus the optimiser's
    ``iterations``. ``report`` is the same as a plain JSON-able dict."""

    poses: np.ndarray
    trans: np.ndarray
    confidence: np.ndarray
    markers: np.ndarray
    errors: dict[str, Any]

    @property
    def report(self) -> dict[str, Any]:
        """``errors`` with NaN as None: what a clip's ``source["fit"]`` and its QC
        record hold, and what ``signavatar fit`` prints."""
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in self.errors.items()}

    def to_frames(self) -> SmplxFrames:
        frames = self.poses.shape[0]
        return SmplxFrames(
            poses=self.poses,
            expression=np.zeros((frames, NUM_EXPRESSION), np.float32),
            betas=np.zeros((frames, NUM_BETAS), np.float32),
            trans=self.trans,
            confidence=self.confidence,
        )


def _rodrigues(axis_angle: torch.Tensor) -> torch.Tensor:
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


class _Objective:
    """The fitting loss over the frames of several sequences, concatenated along one frame axis.

    Every term is normalised per sequence (data by the sequence's total marker weight, the others
    by its frame or frame-pair count), so each sequence's part equals its loss fitted alone and
    the sequences stay independent (Adam's steps are per parameter)."""

    def __init__(
        self, items: Sequence[BodyKeypoints], rest_joints: np.ndarray, cfg: KeypointFitConfig, device: str | torch.device
    ) -> None:
        dtype = torch.float32
        self.cfg = cfg
        self.model = MarkerModel(rest_joints, build_markers(rest_joints), FIT_JOINTS, device, dtype)
        self.joints = self.model.order  # the parameters' joint order
        markers = self.model.markers
        lengths = np.array([k.num_frames for k in items])
        seq = np.repeat(np.arange(len(items)), lengths)
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
        limit_joints, bases, lo, hi = _anatomical_limits(np.asarray(rest_joints, np.float64))
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
        local = _rodrigues(rotations)
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


def _initial_trans(objective: _Objective, rotations: torch.Tensor, lengths: list[int]) -> torch.Tensor:
    """Per-frame translation that puts the initial pose's markers onto the observations (weighted
    mean offset per axis; frames without observations get their sequence's mean)."""
    with torch.no_grad():
        zero = torch.zeros(rotations.shape[0], 3, dtype=rotations.dtype, device=rotations.device)
        offset = objective.obs - objective.model(_rodrigues(rotations), zero)[0]
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


def _learning_rate(cfg: KeypointFitConfig, step: int) -> float:
    """Learning-rate factor: linear warm-up over ``cfg.warmup`` steps (the first full-size Adam
    steps from the closed-form start overshoot), then a cosine decay to 5% at ``cfg.iterations``."""
    cosine = 0.5 * (1.0 + math.cos(math.pi * min(step, cfg.iterations) / cfg.iterations))
    return min(1.0, (step + 1) / max(cfg.warmup, 1)) * (0.05 + 0.95 * cosine)


def fit_keypoints_batch(
    items: Sequence[BodyKeypoints],
    rest_joints: np.ndarray,
    cfg: KeypointFitConfig | None = None,
    device: str | torch.device = "cpu",
) -> list[KeypointFit]:
    """Fit several sequences in one optimisation (their frames concatenated; see ``_Objective``).

    Adam from the closed-form start (``_learning_rate`` schedule over ``cfg.iterations``) stops
    early once the loss falls by less than ``cfg.tolerance`` (relative) over
    ``cfg.check_every`` steps. The report of each fit is computed from its final poses."""
    cfg = cfg or KeypointFitConfig()
    if not items:
        return []
    rest = np.asarray(rest_joints, np.float32)
    objective = _Objective(items, rest, cfg, device)
    markers = build_markers(rest)
    start = np.concatenate([initial_rotations(k, rest, markers)[:, list(objective.joints)] for k in items])
    rotations = matrix_to_axis_angle(torch.from_numpy(start)).to(dtype=torch.float32, device=device)
    lengths = [k.num_frames for k in items]
    trans = _initial_trans(objective, rotations, lengths)
    rotations.requires_grad_(True)
    trans.requires_grad_(True)
    optimizer = torch.optim.Adam([{"params": [rotations]}, {"params": [trans], "lr": cfg.lr * TRANS_LR}], lr=cfg.lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, partial(_learning_rate, cfg))
    checked = math.inf
    steps = 0
    for steps in range(1, cfg.iterations + 1):  # noqa: B007 (steps is reported)
        optimizer.zero_grad(set_to_none=True)
        loss = objective(rotations, trans)
        loss.backward()
        optimizer.step()
        schedule.step()
        if steps % cfg.check_every == 0:
            value = float(loss.detach())
            if cfg.tolerance > 0 and checked - value < cfg.tolerance * abs(value):
                break
            checked = value
    all_poses = np.zeros((sum(lengths), NUM_JOINTS, 3), np.float32)
    all_poses[:, list(objective.joints)] = rotations.detach().cpu().numpy()
    all_trans = trans.detach().cpu().numpy()
    fits = []
    offset = 0
    for keypoints, length in zip(items, lengths, strict=True):
        poses, tr = all_poses[offset : offset + length], all_trans[offset : offset + length]
        offset += length
        report, markers = fit_report(poses, tr, keypoints, rest, cfg.max_lean_deg, cfg.max_image_error)
        errors = {**report, "iterations": steps}
        log.debug("keypoint fit: %s", errors)
        fits.append(KeypointFit(poses, tr, keypoints.frame_confidence, markers, errors))
    return fits


def fit_keypoints(
    keypoints: BodyKeypoints,
    rest_joints: np.ndarray,
    cfg: KeypointFitConfig | None = None,
    device: str | torch.device = "cpu",
) -> KeypointFit:
    """Fit one clip's keypoints (all frames jointly). See the module docstring for the objective."""
    return fit_keypoints_batch([keypoints], rest_joints, cfg, device)[0]


LandmarkDetector = Callable[[np.ndarray], HolisticLandmarks]
"""Frames uint8 ``[N, H, W, 3]`` -> Holistic landmarks of those frames (e.g. MediaPipe)."""


class KeypointsEstimator(Estimator):
    """Video -> landmarks (a pluggable Holistic detector) -> fitted SMPL-X, one fit per video.
    ``last_fit`` is the latest video's fit (its ``report`` goes into the clip's ``source``)."""

    name = "keypoints"

    def __init__(
        self,
        detector: LandmarkDetector,
        rest_joints: np.ndarray,
        cfg: KeypointFitConfig,
        device: str | torch.device = "cpu",
    ) -> None:
        self.detector = detector
        self.rest_joints = rest_joints
        self.cfg = cfg
        self.device = device
        self.last_fit: KeypointFit | None = None

    def estimate(self, frames: np.ndarray) -> SmplxFrames:
        return self.estimate_video([frames], fps=30.0)  # the fit works per frame; fps is only recorded

    def estimate_video(self, chunks: Iterable[np.ndarray], fps: float) -> SmplxFrames:
        parts = [self.detector(chunk) for chunk in chunks]
        if not parts:
            raise ValueError("no frames were decoded (empty video or frame range)")
        landmarks = concatenate_landmarks(parts, fps)
        self.last_fit = self.fit(landmarks)
        return self.last_fit.to_frames()

    def fit(self, landmarks: HolisticLandmarks) -> KeypointFit:
        return fit_landmarks(landmarks, self.rest_joints, self.cfg, self.device)[0]


def fit_landmarks(
    landmarks: HolisticLandmarks, rest_joints: np.ndarray, cfg: KeypointFitConfig, device: str | torch.device = "cpu"
) -> tuple[KeypointFit, BodyKeypoints]:
    """Holistic landmarks -> body keypoints (upright, scaled, plausible depth) -> fitted SMPL-X
    (and the keypoints fitted)."""
    keypoints = to_body_keypoints(landmarks, rest_joints, cfg)
    return fit_keypoints(keypoints, rest_joints, cfg, device), keypoints


class LandmarkBatchError(ValueError):
    """One item of ``fit_landmarks_batch`` cannot be fitted; ``index`` says which."""

    def __init__(self, index: int, message: str) -> None:
        super().__init__(f"item {index}: {message}")
        self.index = index


def fit_landmarks_batch(
    items: Sequence[HolisticLandmarks],
    rest_joints: np.ndarray,
    cfg: KeypointFitConfig,
    device: str | torch.device = "cpu",
) -> list[tuple[KeypointFit, BodyKeypoints]]:
    """Fit many sequences (e.g. a landmark corpus's batch) in joint optimisations of at most
    ``cfg.batch_frames`` frames; results in input order, the same per item as ``fit_landmarks``.

    An item that cannot be turned into keypoints (e.g. no frame shows both shoulders) raises
    ``LandmarkBatchError`` naming its index before anything is fitted."""
    keypoints = []
    for index, landmarks in enumerate(items):
        try:
            keypoints.append(to_body_keypoints(landmarks, rest_joints, cfg))
        except ValueError as exc:
            raise LandmarkBatchError(index, str(exc)) from exc
    fits: list[KeypointFit] = []
    group: list[BodyKeypoints] = []
    for item in keypoints:
        if group and sum(k.num_frames for k in group) + item.num_frames > cfg.batch_frames:
            fits += fit_keypoints_batch(group, rest_joints, cfg, device)
            group = []
        group.append(item)
    fits += fit_keypoints_batch(group, rest_joints, cfg, device)
    return list(zip(fits, keypoints, strict=True))


def concatenate_landmarks(parts: list[HolisticLandmarks], fps: float) -> HolisticLandmarks:
    world = None if parts[0].world is None else np.concatenate([p.world for p in parts])
    return HolisticLandmarks(
        image=np.concatenate([p.image for p in parts]),
        image_confidence=np.concatenate([p.image_confidence for p in parts]),
        fps=fps,
        width=parts[0].width,
        world=world,
        world_confidence=None if world is None else np.concatenate([p.world_confidence for p in parts]),
        image_depth=parts[0].image_depth,
        height=parts[0].height,
    )
