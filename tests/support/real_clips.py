"""Real signing as SMPL-X clips: sequences of the real ASL corpus (``real_corpus/asl_mpdata`` in the
shared data) fitted as the demo's import fits them (first frame dropped, 15 fps, 640x480)."""

from __future__ import annotations

from pathlib import Path

from signavatar.body.skeleton import DEFAULT_REST_JOINTS
from signavatar.config import ExtractConfig
from signavatar.extraction.corpora.base import Limits
from signavatar.extraction.corpora.mpdata import read_tree_values, values_to_landmarks
from signavatar.extraction.estimators.keypoints import fit_landmarks_batch
from signavatar.motion.clip import MotionClip

FPS = 15.0


def fit_real_sequences(tree: Path, picked: list[tuple[str, str]]) -> list[MotionClip]:
    """The ``(gloss, sequence)`` folders of the mpdata ``tree`` fitted to SMPL-X in one batch."""
    cfg = ExtractConfig()
    landmarks = [values_to_landmarks(read_tree_values(str(tree / gloss / seq), Limits.from_config(cfg))[1:],
                                     cfg.image_width, cfg.image_height, FPS, f"{gloss}/{seq}")
                 for gloss, seq in picked]
    fits = fit_landmarks_batch(landmarks, DEFAULT_REST_JOINTS, cfg.keypoints)
    return [fit.to_frames().to_clip(gloss=gloss, clip_id=f"{gloss}-{seq}", split="test", fps=FPS,
                                    source={"corpus": "asl_mpdata", "sequence": seq})
            for (gloss, seq), (fit, _) in zip(picked, fits)]
