"""Fitting SMPL-X to body keypoints: Adam over the loss of ``keypoint_objective`` from the start
of ``keypoint_init``, for one sequence or several in one optimisation.

The fit is deterministic: nothing in it draws random numbers."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import torch

from signavatar.body.joints import NUM_JOINTS
from signavatar.body.rotations import matrix_to_axis_angle
from signavatar.config import KeypointFitConfig
from signavatar.extraction.estimators.base import SmplxFrames
from signavatar.extraction.estimators.keypoint_init import initial_rotations, initial_trans
from signavatar.extraction.estimators.keypoint_objective import Objective
from signavatar.extraction.estimators.markers import build_markers, fit_report
from signavatar.extraction.landmarks import BodyKeypoints
from signavatar.motion.clip import NUM_BETAS, NUM_EXPRESSION

log = logging.getLogger(__name__)

TRANS_LR = 0.2
"""Learning rate of the translation (metres) relative to the rotations' (radians)."""


@dataclass
class KeypointFit:
    """A fitted motion: ``poses [T, 55, 3]``, ``trans [T, 3]``, per-frame ``confidence [T]``,
    fitted ``markers [T, 75, 3]`` (body frame; zeros where no marker) and ``errors``: the report
    of ``markers.fit_report`` (computed from the poses with the body layer) plus the optimiser's
    ``iterations`` (and ``bone_scale`` with per-sequence proportions); ``skeleton [55, 3]`` is the
    rest skeleton the poses were fitted on (``proportions.scaled_skeleton``). ``report`` is the
    same as a plain JSON-able dict."""

    poses: np.ndarray
    trans: np.ndarray
    confidence: np.ndarray
    markers: np.ndarray
    errors: dict[str, Any]
    skeleton: np.ndarray | None = None

    @property
    def report(self) -> dict[str, Any]:
        """``errors`` with NaN as None: what a clip's ``source["fit"]`` and its QC
        record hold, and what ``signavatar fit`` prints."""
        return _json_safe(self.errors)

    def to_frames(self) -> SmplxFrames:
        frames = self.poses.shape[0]
        return SmplxFrames(
            poses=self.poses,
            expression=np.zeros((frames, NUM_EXPRESSION), np.float32),
            betas=np.zeros((frames, NUM_BETAS), np.float32),
            trans=self.trans,
            confidence=self.confidence,
        )


def _json_safe(value: Any) -> Any:
    """NaN and inf as None, inside nested dicts too."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    return None if isinstance(value, float) and not math.isfinite(value) else value


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
    """Fit several sequences in one optimisation (their frames concatenated; see ``Objective``).

    Adam from the closed-form start (``_learning_rate`` schedule over ``cfg.iterations``) stops
    early once the loss falls by less than ``cfg.tolerance`` (relative) over
    ``cfg.check_every`` steps. The report of each fit is computed from its final poses."""
    cfg = cfg or KeypointFitConfig()
    if not items:
        return []
    rest = np.asarray(rest_joints, np.float32)
    objective = Objective(items, rest, cfg, device)
    rotations, trans = _starting_point(items, objective, device)
    optimizer, schedule = _build_optimizer(rotations, trans, cfg)
    steps = _optimise(objective, rotations, trans, optimizer, schedule, cfg)
    return _reported_fits(items, objective.joints, rotations, trans, steps, objective.skeletons, cfg)


def _starting_point(
    items: Sequence[BodyKeypoints], objective: Objective, device: str | torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """The optimiser's parameters at the closed-form start: axis-angle rotations ``[F, J, 3]``
    of the objective's joints and translations ``[F, 3]`` over all frames ``F`` of ``items``."""
    start = np.concatenate([
        initial_rotations(k, skeleton, build_markers(skeleton))[:, list(objective.joints)]
        for k, skeleton in zip(items, objective.skeletons, strict=True)
    ])  # fmt: skip
    rotations = matrix_to_axis_angle(torch.from_numpy(start)).to(dtype=torch.float32, device=device)
    trans = initial_trans(objective, rotations, [k.num_frames for k in items])
    rotations.requires_grad_(True)
    trans.requires_grad_(True)
    return rotations, trans


def _build_optimizer(
    rotations: torch.Tensor, trans: torch.Tensor, cfg: KeypointFitConfig
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """Adam over rotations and (at ``TRANS_LR`` of their rate) translations, on ``_learning_rate``."""
    optimizer = torch.optim.Adam([{"params": [rotations]}, {"params": [trans], "lr": cfg.lr * TRANS_LR}], lr=cfg.lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, partial(_learning_rate, cfg))
    return optimizer, schedule


def _optimise(
    objective: Objective,
    rotations: torch.Tensor,
    trans: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    schedule: torch.optim.lr_scheduler.LambdaLR,
    cfg: KeypointFitConfig,
) -> int:
    """Run the iterations in place on ``rotations`` and ``trans``; returns how many were run."""
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
    return steps


def _reported_fits(
    items: Sequence[BodyKeypoints],
    joints: Sequence[int],
    rotations: torch.Tensor,
    trans: torch.Tensor,
    steps: int,
    skeletons: Sequence[np.ndarray],
    cfg: KeypointFitConfig,
) -> list[KeypointFit]:
    """The optimised parameters cut back into one reported fit per sequence (each reported on the
    skeleton it was fitted with)."""
    lengths = [k.num_frames for k in items]
    all_poses = np.zeros((sum(lengths), NUM_JOINTS, 3), np.float32)
    all_poses[:, list(joints)] = rotations.detach().cpu().numpy()
    all_trans = trans.detach().cpu().numpy()
    fits = []
    offset = 0
    for keypoints, length, skeleton in zip(items, lengths, skeletons, strict=True):
        poses, tr = all_poses[offset : offset + length], all_trans[offset : offset + length]
        offset += length
        report, markers = fit_report(poses, tr, keypoints, skeleton, cfg.max_lean_deg, cfg.max_image_error)
        errors = {**report, "iterations": steps}
        if keypoints.bone_scale is not None:
            errors["bone_scale"] = [round(float(v), 4) for v in keypoints.bone_scale]
        log.debug("keypoint fit: %s", errors)
        fits.append(KeypointFit(poses, tr, keypoints.frame_confidence, markers, errors, skeleton))
    return fits


def fit_keypoints(
    keypoints: BodyKeypoints,
    rest_joints: np.ndarray,
    cfg: KeypointFitConfig | None = None,
    device: str | torch.device = "cpu",
) -> KeypointFit:
    """Fit one clip's keypoints (all frames jointly). See ``keypoint_objective`` for the objective."""
    return fit_keypoints_batch([keypoints], rest_joints, cfg, device)[0]

