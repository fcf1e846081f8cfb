"""Small random motion clips for tests."""

from __future__ import annotations

import numpy as np

from signavatar.motion.clip import MotionClip


def random_clip(clip_id: str = "c0", frames: int = 12, gloss: str = "drink", split: str = "train", seed: int = 0,
                confidence: bool = True) -> MotionClip:
    rng = np.random.default_rng(seed)
    return MotionClip(
        gloss=gloss,
        clip_id=clip_id,
        split=split,
        fps=30.0,
        poses=rng.normal(0, 0.4, (frames, 55, 3)).astype(np.float32),
        expression=rng.normal(0, 1, (frames, 10)).astype(np.float32),
        betas=rng.normal(0, 1, 10).astype(np.float32),
        trans=rng.normal(0, 0.1, (frames, 3)).astype(np.float32),
        confidence=rng.uniform(0.5, 1, frames).astype(np.float32) if confidence else None,
        source={"video": f"videos/{clip_id}.mp4", "frame_range": [0, frames], "signer_id": 3, "estimator": "test"},
    )
