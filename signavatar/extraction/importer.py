"""Landmark corpus import, one batch at a time (what each Ray Data actor runs; no Ray here):
read every sequence of the batch -> fit all readable ones in one ``fit_landmarks_batch`` call (the
batched optimisation is where the speed comes from) -> clips -> quality control -> outcomes, each
accepted clip with its raw landmarks cut as quality control cut it (``landmark_store``).

A sequence that cannot be read, selected or fitted becomes its own error row (reasons: the
reader's ``missing`` / ``empty`` / ``too_large`` / ``undecodable``, ``frame_range`` when
``skip_frames`` leaves nothing, ``fit_error``, ``invalid_estimate``); the rest of the batch goes on.
"""

from __future__ import annotations

import logging

import numpy as np

from signavatar.body.body_model import resolve_rest_joints
from signavatar.config import SignAvatarConfig
from signavatar.devices import torch_device
from signavatar.extraction.clip_qc import ClipQC, error_outcome
from signavatar.extraction.corpora import CorpusReadError, read_sequence
from signavatar.extraction.corpus_index import VideoTask
from signavatar.extraction.estimators.keypoint_fit import KeypointFit
from signavatar.extraction.estimators.keypoints import LandmarkBatchError, fit_landmarks_batch
from signavatar.extraction.landmark_store import record_from_landmarks
from signavatar.extraction.landmarks import HolisticLandmarks
from signavatar.extraction.output import Outcome
from signavatar.extraction.video import VideoError, select_frames
from signavatar.motion.clip import ClipValidationError, MotionClip

log = logging.getLogger(__name__)

ESTIMATOR = "keypoints"


class LandmarkImporter:
    """A batch of landmark-sequence tasks (``corpora.build_tasks``) -> one ``Outcome`` each."""

    def __init__(self, config: SignAvatarConfig) -> None:
        self.config = config
        self.cfg = config.extract
        self.rest_joints = resolve_rest_joints(config.body.model_path, config.body.gender)
        self.device = torch_device()
        self.quality = ClipQC(config, self.rest_joints)

    def read(self, task: VideoTask) -> tuple[HolisticLandmarks, np.ndarray]:
        """The sequence's landmarks from ``frame_start`` on, at ``target_fps`` when set, and the
        source frame numbers kept."""
        landmarks = read_sequence(task, self.cfg)
        indices, fps = select_frames(
            landmarks.num_frames, task.fps or landmarks.fps, task.frame_start, task.frame_end, self.cfg.target_fps
        )
        return landmarks.select(indices, fps), indices

    def fit(self, items: list[HolisticLandmarks]) -> list[KeypointFit | Exception]:
        """One batched fit; an item the fitter refuses (``LandmarkBatchError``) gets its error and
        the others are fitted without it. Any other failure is isolated by fitting one at a time."""
        results: list[KeypointFit | Exception | None] = [None] * len(items)
        todo = list(range(len(items)))
        while todo:
            try:
                fits = fit_landmarks_batch([items[i] for i in todo], self.rest_joints, self.cfg.keypoints, self.device)
            except LandmarkBatchError as exc:
                results[todo.pop(exc.index)] = exc
                continue
            except Exception as exc:
                if len(todo) == 1:
                    results[todo[0]] = exc
                else:
                    log.warning("batched fit of %d sequences failed (%s); fitting them one by one", len(todo), exc)
                    for i in todo:
                        results[i] = self.fit([items[i]])[0]
                break
            for i, (fit, _) in zip(todo, fits, strict=True):
                results[i] = fit
            break
        return results  # type: ignore[return-value]

    def _clip(self, task: VideoTask, fit: KeypointFit, fps: float, indices: np.ndarray) -> MotionClip:
        return fit.to_frames().to_clip(
            gloss=task.gloss,
            clip_id=task.clip_id,
            split=task.split,
            fps=fps,
            source={
                "video": task.uri,  # the sequence's file or folder (the clip contract's source uri)
                "frame_range": [int(indices[0]), int(indices[-1]) + 1],
                "signer_id": task.signer_id,
                "estimator": ESTIMATOR,
                "corpus": {k: v for k, v in task.extra.items() if k != "group_by"},
                "fit": fit.report,
            },
        )

    def __call__(self, tasks: list[VideoTask]) -> list[Outcome]:
        outcomes: list[Outcome | None] = [None] * len(tasks)
        readable: list[tuple[int, HolisticLandmarks, np.ndarray]] = []
        for i, task in enumerate(tasks):
            try:
                landmarks, indices = self.read(task)
                readable.append((i, landmarks, indices))
            except (CorpusReadError, VideoError) as exc:
                outcomes[i] = error_outcome(task, exc.reason, exc)
            except Exception as exc:  # one unreadable sequence must not stop the batch
                log.exception("reading %s failed", task.uri)
                outcomes[i] = error_outcome(task, "undecodable", exc)
        fits = self.fit([landmarks for _, landmarks, _ in readable])
        for (i, landmarks, indices), fit in zip(readable, fits, strict=True):
            task = tasks[i]
            if isinstance(fit, Exception):
                outcomes[i] = error_outcome(task, "fit_error", fit)
                continue
            try:
                clip = self._clip(task, fit, landmarks.fps, indices)
            except ClipValidationError as exc:
                outcomes[i] = error_outcome(task, "invalid_estimate", exc)
                continue
            outcome = self.quality(task, clip, indices)
            if outcome.clip is not None:
                outcome.landmarks = record_from_landmarks(
                    task.clip_id, task.gloss, task.split, landmarks, indices, outcome.qc["kept_range"],
                    fit.errors["rotation_deg"],
                )
                if outcome.landmarks.num_frames != outcome.clip.num_frames:  # QC cuts, never resamples
                    raise AssertionError(f"{task.clip_id}: {outcome.landmarks.num_frames} landmark frames "
                                         f"for {outcome.clip.num_frames} clip frames")
            outcomes[i] = outcome
        return outcomes  # type: ignore[return-value]
