"""The seam between ``POST /reconstruct`` and a video -> SMPL-X estimator.

Serving does not know how poses are estimated; it only needs a callable

    estimate(video: bytes, filename: str) -> MotionClip

(decode, estimate per frame, quality control: whatever the backend does), built once per replica
by a factory named in ``ServeConfig.video_estimator`` as ``"package.module:factory"`` and called
as ``factory(serve_config)``. Until one is configured, video uploads are answered 501 naming this
setting. A ``ValueError`` from the estimator means the video itself is unusable (no signer found,
rejected by quality control, ...) and becomes a 422 with its message; anything else is a 500.

``extraction_estimator`` below is the factory for the extraction pipeline's own backends
(``signavatar.extraction``: estimator + quality control, configured by the SignAvatar config file
named in ``ServeConfig.extraction_config``, the same file ``workflows.extract`` runs with; without
one, the defaults: the MediaPipe Holistic estimator built by ``make mediapipe-env``).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import PurePosixPath

from signavatar.config import ServeConfig, load_config, load_factory
from signavatar.motion.clip import MotionClip

VideoEstimator = Callable[[bytes, str], MotionClip]


def load_video_estimator(cfg: ServeConfig) -> VideoEstimator:
    if not cfg.video_estimator:
        raise ValueError("no video_estimator is configured")
    estimator = load_factory(cfg.video_estimator, "video_estimator")(cfg)
    if not callable(estimator):
        raise TypeError(f"video_estimator {cfg.video_estimator} returned {type(estimator).__name__}, not a callable")
    return estimator


def extraction_estimator(cfg: ServeConfig) -> VideoEstimator:
    """The extraction pipeline as a video estimator: one uploaded video -> decode, estimate, QC."""
    from signavatar.extraction.corpus_index import VideoTask
    from signavatar.extraction.pipeline import VideoExtractor

    extractor = VideoExtractor(load_config(cfg.extraction_config))  # no file: defaults (MediaPipe Holistic)

    def estimate(video: bytes, filename: str) -> MotionClip:
        name = PurePosixPath(filename)
        with tempfile.NamedTemporaryFile(suffix=name.suffix or ".mp4") as file:
            file.write(video)
            file.flush()
            outcome = extractor(VideoTask(clip_id=f"upload-{name.stem}", gloss="", split="unsplit", uri=file.name))
        if outcome.status == "ok":
            return outcome.clip
        message = str(outcome.message or "").replace(file.name, filename)  # the user's name, not a server path
        if outcome.reason == "estimator_error" and not message.startswith("ValueError:"):
            raise RuntimeError(f"estimator failed on {filename}: {message}")
        # Unusable video: undecodable, rejected by QC, or the estimator's ValueError (e.g. no person
        # in view: "no frame shows both shoulders"). The outcome names the exception type first.
        raise ValueError(f"{filename} {outcome.status} ({outcome.reason}): {message or outcome.qc}")

    return estimate
