"""MediaPipe Holistic as a video -> SMPL-X backend that needs no user-supplied weights.

A ``HolisticWorker`` (``holistic_worker``: MediaPipe in its own process and environment) turns a
video's frames into landmarks, which are fitted to SMPL-X by the ``keypoints`` backend's fit
(``fit_landmarks``).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch

from signavatar.config import ExtractConfig
from signavatar.extraction.estimators.base import Estimator, SmplxFrames
from signavatar.extraction.estimators.holistic_record import HolisticVideo
from signavatar.extraction.estimators.holistic_worker import HolisticWorker
from signavatar.extraction.estimators.keypoints import fit_landmarks
from signavatar.extraction.pose_writer import write_pose_file


class HolisticEstimator(Estimator):
    """Video -> MediaPipe Holistic landmarks (child process) -> SMPL-X fit, one fit per video.

    ``last_video`` holds the landmarks of the latest video (e.g. to write them as a ``.pose`` file
    with ``signavatar.extraction.pose_writer``)."""

    name = "holistic"

    def __init__(self, cfg: ExtractConfig, rest_joints: np.ndarray, device: str | torch.device = "cpu") -> None:
        self.worker = HolisticWorker(cfg.holistic)
        self.fit_cfg = cfg.keypoints
        self.rest_joints = rest_joints
        self.device = device
        self.last_video: HolisticVideo | None = None

    def estimate(self, frames: np.ndarray) -> SmplxFrames:
        return self.estimate_video([frames], fps=30.0)

    def estimate_video(self, chunks: Iterable[np.ndarray], fps: float) -> SmplxFrames:
        self.last_video = self.worker.process_video(chunks, fps)
        fit, _ = fit_landmarks(self.last_video.to_landmarks(), self.rest_joints, self.fit_cfg, self.device)
        return fit.to_frames()

    def write_landmarks(self, uri: str) -> None:
        """The latest video's landmarks as a ``.pose`` file (pose-format), for the community's tools."""
        if self.last_video is None:
            raise RuntimeError("no video estimated yet")
        write_pose_file(self.last_video, uri, (self.worker.hello or {}).get("topology"))

    def close(self) -> None:
        self.worker.close()
