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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from signavatar.body.joints import LEFT_HAND, NUM_JOINTS, PARENTS, RIGHT_HAND, joint_index
from signavatar.body.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from signavatar.config import KeypointFitConfig
from signavatar.extraction.estimators.base import Estimator, SmplxFrames
from signavatar.extraction.estimators.markers import FINGERS, MarkerSet, build_markers, marker_errors, marker_positions
from signavatar.extraction.landmarks import (
    NUM_LANDMARKS,
    POSE_LANDMARK_NAMES,
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


def _prior_weights(cfg: KeypointFitConfig) -> np.ndarray:
    """Per fitted joint weight of the pull toward rest (order of ``FIT_JOINTS``)."""
    weights = {0: cfg.root_prior}
    weights.update({j: cfg.torso_prior for j in TORSO_JOINTS + HEAD_JOINTS})
    weights.update({j: cfg.arm_prior for j in ARM_JOINTS})
    weights.update({j: cfg.hand_prior for j in HAND_JOINTS})
    return np.array([weights[j] for j in FIT_JOINTS], np.float32)


@dataclass
class KeypointFit:
    """A fitted motion: ``poses [T, 55, 3]``, ``trans [T, 3]``, per-frame ``confidence [T]``,
    fitted ``markers [T, 75, 3]`` (body frame; zeros where no marker) and the fit ``errors``."""

    poses: np.ndarray
    trans: np.ndarray
    confidence: np.ndarray
    markers: np.ndarray
    errors: dict[str, float]

    def to_frames(self) -> SmplxFrames:
        frames = self.poses.shape[0]
        return SmplxFrames(
            poses=self.poses,
            expression=np.zeros((frames, NUM_EXPRESSION), np.float32),
            betas=np.zeros((frames, NUM_BETAS), np.float32),
            trans=self.trans,
            confidence=self.confidence,
        )


def fit_keypoints(
    keypoints: BodyKeypoints,
    rest_joints: np.ndarray,
    cfg: KeypointFitConfig | None = None,
    device: str | torch.device = "cpu",
) -> KeypointFit:
    """Fit one clip's keypoints (all frames jointly). See the module docstring for the objective."""
    cfg = cfg or KeypointFitConfig()
    torch.manual_seed(cfg.seed)
    dtype = torch.float32
    frames = keypoints.num_frames
    markers = build_markers(rest_joints)
    rest = torch.as_tensor(rest_joints, dtype=dtype, device=device)
    obs = torch.as_tensor(keypoints.points[:, markers.landmarks], dtype=dtype, device=device)
    weight = torch.as_tensor(keypoints.weights[:, markers.landmarks] * markers.weights, dtype=dtype, device=device)
    depth = torch.as_tensor(keypoints.depth_weights[:, markers.landmarks], dtype=dtype, device=device)
    axis_scale = torch.stack([torch.ones_like(depth), torch.ones_like(depth), depth.sqrt()], dim=-1)
    weight_sum = weight.sum().clamp_min(1e-6)
    relative = torch.as_tensor(markers.relative, device=device)
    face_weight = weight * relative

    fit_index = torch.as_tensor(FIT_JOINTS, device=device)
    limit_joints, limit_bases, limit_lo, limit_hi = _anatomical_limits(np.asarray(rest_joints, np.float64))
    limit_slot = torch.as_tensor([FIT_JOINTS.index(j) for j in limit_joints], device=device)
    limit_bases_t = torch.as_tensor(limit_bases, dtype=dtype, device=device)
    limit_lo_t = torch.as_tensor(limit_lo, dtype=dtype, device=device)
    limit_hi_t = torch.as_tensor(limit_hi, dtype=dtype, device=device)
    prior = torch.as_tensor(_prior_weights(cfg), dtype=dtype, device=device)

    start = matrix_to_axis_angle(
        torch.from_numpy(initial_rotations(keypoints, rest_joints, markers)[:, list(FIT_JOINTS)])
    )
    rotations = start.to(dtype=dtype, device=device).requires_grad_(True)
    trans = torch.zeros(frames, 3, dtype=dtype, device=device)
    base = torch.zeros(frames, NUM_JOINTS, 3, dtype=dtype, device=device)
    with torch.no_grad():  # translate the initial pose's markers onto the observations
        initial = marker_positions(axis_angle_to_matrix(base.index_copy(1, fit_index, rotations)), rest, markers)
        frame_weight = weight.sum(1, keepdim=True)
        centre = (weight[..., None] * (obs - initial)).sum(1) / frame_weight.clamp_min(1e-6)
        fallback = centre[frame_weight[:, 0] > 0].mean(0) if (frame_weight > 0).any() else torch.zeros(3)
        trans[:] = torch.where(frame_weight > 0, centre, fallback)
    trans.requires_grad_(True)

    optimizer = torch.optim.Adam([rotations, trans], lr=cfg.lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg.iterations, eta_min=cfg.lr * 0.05)
    for _ in range(cfg.iterations):
        optimizer.zero_grad(set_to_none=True)
        poses = base.index_copy(1, fit_index, rotations)
        rotmats = axis_angle_to_matrix(poses)
        residual = marker_positions(rotmats, rest, markers, trans) - obs
        if relative.any():  # face markers: compared up to their common per-frame translation
            shift = (face_weight[..., None] * residual).sum(1, keepdim=True) / face_weight.sum(1).clamp_min(1e-6)[
                :, None, None
            ]
            residual = torch.where(relative[None, :, None], residual - shift, residual)
        residual = residual * axis_scale / cfg.data_sigma
        data = (weight * residual.square().sum(-1)).sum() / weight_sum
        local = rotmats[:, fit_index]
        smooth = (local[1:] - local[:-1]).square().sum((-1, -2)).mean() if frames > 1 else local.sum() * 0
        components = (limit_bases_t @ rotations[:, limit_slot, :, None])[..., 0]
        limits = (
            ((components - limit_hi_t).clamp_min(0).square() + (limit_lo_t - components).clamp_min(0).square())
            .sum(-1)
            .mean()
        )
        rest_prior = (prior * rotations.square().sum(-1)).mean()
        loss = data + cfg.smooth_weight * smooth + cfg.limit_weight * limits + rest_prior
        loss.backward()
        optimizer.step()
        schedule.step()

    with torch.no_grad():
        poses = base.index_copy(1, fit_index, rotations)
        fitted = marker_positions(axis_angle_to_matrix(poses), rest, markers, trans)
    all_markers = np.zeros((frames, NUM_LANDMARKS, 3), np.float32)
    all_markers[:, markers.landmarks] = fitted.cpu().numpy()
    errors = marker_errors(all_markers, keypoints)
    errors["loss"] = float(loss.detach())
    log.debug("keypoint fit: %s", errors)
    return KeypointFit(
        poses=poses.cpu().numpy(),
        trans=trans.detach().cpu().numpy(),
        confidence=frame_confidence(keypoints),
        markers=all_markers,
        errors=errors,
    )


ARM_LANDMARKS = tuple(
    POSE_LANDMARK_NAMES.index(f"{side}_{part}") for side in ("LEFT", "RIGHT") for part in ("SHOULDER", "ELBOW", "WRIST")
)


def frame_confidence(keypoints: BodyKeypoints) -> np.ndarray:
    """Per-frame confidence: the mean detection confidence of both shoulders, elbows and wrists
    (how well the signing arms were seen). Missing hands lower nothing here: hands at rest out of
    the frame are normal in signing, and their joints are already masked in the fit."""
    return np.clip(keypoints.weights[:, list(ARM_LANDMARKS)].mean(1), 0.0, 1.0).astype(np.float32)


LandmarkDetector = Callable[[np.ndarray], HolisticLandmarks]
"""Frames uint8 ``[N, H, W, 3]`` -> Holistic landmarks of those frames (e.g. MediaPipe)."""


class KeypointsEstimator(Estimator):
    """Video -> landmarks (a pluggable Holistic detector) -> fitted SMPL-X, one fit per video."""

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

    def estimate(self, frames: np.ndarray) -> SmplxFrames:
        return self.estimate_video([frames], fps=30.0)  # the fit works per frame; fps is only recorded

    def estimate_video(self, chunks: Iterable[np.ndarray], fps: float) -> SmplxFrames:
        parts = [self.detector(chunk) for chunk in chunks]
        if not parts:
            raise ValueError("no frames were decoded (empty video or frame range)")
        landmarks = concatenate_landmarks(parts, fps)
        return self.fit(landmarks).to_frames()

    def fit(self, landmarks: HolisticLandmarks) -> KeypointFit:
        return fit_landmarks(landmarks, self.rest_joints, self.cfg, self.device)[0]


def fit_landmarks(
    landmarks: HolisticLandmarks, rest_joints: np.ndarray, cfg: KeypointFitConfig, device: str | torch.device = "cpu"
) -> tuple[KeypointFit, BodyKeypoints]:
    """Holistic landmarks -> metric body keypoints -> fitted SMPL-X (and the keypoints fitted)."""
    keypoints = to_body_keypoints(
        landmarks, rest_joints, image_depth_weight=cfg.image_depth_weight, min_confidence=cfg.min_confidence
    )
    return fit_keypoints(keypoints, rest_joints, cfg, device), keypoints


def fit_landmarks_batch(
    items: Sequence[HolisticLandmarks],
    rest_joints: np.ndarray,
    cfg: KeypointFitConfig,
    device: str | torch.device = "cpu",
) -> list[tuple[KeypointFit, BodyKeypoints]]:
    """Fit many sequences (e.g. a landmark corpus's batch); results in input order.

    The contract callers rely on: the same result type as ``fit_landmarks`` per item."""
    return [fit_landmarks(landmarks, rest_joints, cfg, device) for landmarks in items]


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
    )
