"""The keypoints estimator: video -> Holistic landmarks (a pluggable detector) -> body keypoints
(``keypoint_targets``) -> fitted SMPL-X (``keypoint_fit``), and the landmark fit entry points."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np
import torch

from signavatar.config import KeypointFitConfig
from signavatar.extraction.estimators.base import Estimator, SmplxFrames
from signavatar.extraction.estimators.keypoint_fit import KeypointFit, fit_keypoints, fit_keypoints_batch
from signavatar.extraction.keypoint_targets import to_body_keypoints
from signavatar.extraction.landmarks import BodyKeypoints, HolisticLandmarks


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
    """One video's landmarks from those of its consecutive chunks (frame size and depth kind from the first)."""
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
