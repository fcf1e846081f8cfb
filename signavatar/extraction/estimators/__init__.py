"""Video/keypoints -> SMPL-X estimator backends behind one interface (``base.Estimator``)."""

from __future__ import annotations

import numpy as np
import torch

from signavatar.config import ExtractConfig, load_factory
from signavatar.extraction.estimators.base import Estimator, SmplxFrames

__all__ = ["Estimator", "SmplxFrames", "build_estimator"]


def build_estimator(cfg: ExtractConfig, rest_joints: np.ndarray, device: str | torch.device = "cpu") -> Estimator:
    """The video backend named by ``cfg.estimator``."""
    if cfg.estimator == "torchscript":
        from signavatar.extraction.estimators.torchscript import TorchScriptEstimator

        if not cfg.model_path:
            raise ValueError("extract.estimator=torchscript needs extract.model_path (a TorchScript file, local or s3://)")
        return TorchScriptEstimator(cfg.model_path, device, cfg.estimator_batch_size, cfg.cache_dir)
    if cfg.estimator == "holistic":
        from signavatar.extraction.estimators.holistic import HolisticEstimator

        return HolisticEstimator(cfg, rest_joints, device)
    from signavatar.extraction.estimators.keypoints import KeypointsEstimator

    if not cfg.landmark_detector:
        raise ValueError(
            "extract.estimator=keypoints on video needs extract.landmark_detector ('module:factory' returning a "
            "frames -> HolisticLandmarks callable); corpora of .pose files need none (extract.video_ext='.pose')"
        )
    return KeypointsEstimator(load_factory(cfg.landmark_detector, "extract.landmark_detector")(cfg), rest_joints, cfg.keypoints, device)
