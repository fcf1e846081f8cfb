"""The last step of every extraction path (video or landmark corpus): a fitted clip -> quality
control -> the task's ``Outcome``, keeping the clip as fitted (the un-QC'd copy) beside it.

The fit's report (``KeypointFit.report``: image error, lean, rotation, ``plausible`` ...) goes into
the clip's ``source["fit"]`` and its QC record; with quality control on, a fit the fitter marks
implausible is rejected with the report's figures as the reason.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from signavatar.config import SignAvatarConfig
from signavatar.data.qc import load_annotations, run_qc
from signavatar.extraction.corpus_index import VideoTask
from signavatar.extraction.output import Outcome
from signavatar.motion.clip import MotionClip

log = logging.getLogger(__name__)


def error_outcome(task: VideoTask, reason: str, exc: BaseException) -> Outcome:
    """``task`` failed: an error row with its reason category and the exception's message."""
    log.warning("%s (%s): %s: %s", task.clip_id, task.uri, reason, exc)
    return Outcome(task, "error", reason=reason, message=f"{type(exc).__name__}: {exc}"[:2000])


def _implausible(fit: dict[str, Any]) -> str:
    figures = ", ".join(f"{k}={fit[k]:.3g}" for k in ("image_error", "lean_max_deg", "rotation_deg")
                        if isinstance(fit.get(k), (int, float)))
    return f"implausible fit ({figures})" if figures else "implausible fit"


class ClipQC:
    """Quality control of fitted clips, with the run's annotations (kept frame ranges in source frames)."""

    def __init__(self, config: SignAvatarConfig, rest_joints: np.ndarray) -> None:
        self.qc = config.qc
        self.rest_joints = rest_joints
        self.keep_unqc = config.extract.keep_unqc
        self.annotations = load_annotations(config.extract.annotations) if config.extract.annotations else {}

    def _annotation(self, task: VideoTask, indices: np.ndarray) -> tuple[int, int] | None:
        """The annotation (source frames) in the clip's frame numbers."""
        if task.clip_id not in self.annotations:
            return None
        start, end = self.annotations[task.clip_id]
        return int(np.searchsorted(indices, start)), int(np.searchsorted(indices, end))

    def __call__(self, task: VideoTask, clip: MotionClip, indices: np.ndarray) -> Outcome:
        """``clip`` (frames ``indices`` of the source) -> ok (QC'd clip) or rejected, or an error
        row if quality control itself fails. ``clip.source["fit"]``, when present, is carried."""
        raw = clip if self.keep_unqc else None
        fit = clip.source.get("fit")
        try:
            result = run_qc(clip, self.qc, self._annotation(task, indices), self.rest_joints)
        except Exception as exc:  # a QC failure is this clip's error, not the job's
            log.exception("quality control of %s failed", task.uri)
            return error_outcome(task, "qc_error", exc)
        report = {**result.report, **({"fit": fit} if fit is not None else {})}
        if result.clip is not None and self.qc.enabled and fit is not None and fit.get("plausible") is False:
            reason = _implausible(fit)
            log.info("QC rejected clip %s (%s): %s", task.clip_id, task.gloss, reason)
            return Outcome(task, "rejected", reason=reason, qc={**report, "frames_out": 0, "reason": reason}, raw=raw)
        if result.clip is None:
            return Outcome(task, "rejected", reason=report.get("reason"), qc=report, raw=raw)
        return Outcome(task, "ok", clip=result.clip, qc=report, raw=raw)
