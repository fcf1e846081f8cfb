"""Clips -> model tensors: fixed-length 6D features and gloss labels (normalisation: ``model.normalizer``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from signavatar.motion.clip import MotionClip

@dataclass
class FeatureSet:
    """Model-ready tensors for a list of clips."""

    features: torch.Tensor  # [N, T, F], raw 6D (not normalised)
    labels: torch.Tensor  # [N] index into ``glosses``
    glosses: list[str]
    clip_ids: list[str]
    fps: float  # frame rate of the resampled clips (mean duration mapped onto num_frames)

    def __len__(self) -> int:
        return len(self.clip_ids)


def clips_to_features(clips: Sequence[MotionClip], num_frames: int) -> torch.Tensor:
    if not clips:
        return torch.zeros(0, num_frames, 0)
    return torch.from_numpy(np.stack([c.resample(num_frames).to_features() for c in clips]))


def build_feature_set(clips: Sequence[MotionClip], num_frames: int, glosses: Sequence[str] | None = None) -> FeatureSet:
    """Features and labels; ``glosses`` fixes the label order (a clip with a gloss outside it is an
    error naming the unknown glosses)."""
    vocab = sorted({c.gloss for c in clips}) if glosses is None else list(glosses)
    index = {g: i for i, g in enumerate(vocab)}
    unknown = sorted({c.gloss for c in clips} - set(index))
    if unknown:
        raise ValueError(f"clips have glosses unknown to the model vocabulary: {unknown}")
    return FeatureSet(
        features=clips_to_features(clips, num_frames),
        labels=torch.tensor([index[c.gloss] for c in clips], dtype=torch.long),
        glosses=vocab,
        clip_ids=[c.clip_id for c in clips],
        fps=num_frames / float(np.mean([c.num_frames / c.fps for c in clips])) if clips else 30.0,
    )


def hold_out(clips: Sequence[MotionClip], fraction: float, seed: int = 0) -> tuple[list[MotionClip], list[MotionClip]]:
    """Split clips into (train, validation), holding out ``fraction`` of each gloss (at least one
    clip when a gloss has two or more), deterministically for ``seed``."""
    rng = np.random.default_rng(seed)
    by_gloss: dict[str, list[MotionClip]] = {}
    for clip in sorted(clips, key=lambda c: c.clip_id):
        by_gloss.setdefault(clip.gloss, []).append(clip)
    train, val = [], []
    for gloss in sorted(by_gloss):
        group = by_gloss[gloss]
        order = rng.permutation(len(group))
        n_val = max(1, round(fraction * len(group))) if len(group) >= 2 else 0
        val += [group[i] for i in order[:n_val]]
        train += [group[i] for i in order[n_val:]]
    return train, val


def train_val_split(clips: Sequence[MotionClip], val_fraction: float,
                    seed: int = 0) -> tuple[list[MotionClip], list[MotionClip]]:
    """(train, validation) of a dataset's clips: its ``val`` split when it has one, else
    ``val_fraction`` of each gloss of its ``train`` split held out (``hold_out``)."""
    train = [c for c in clips if c.split == "train"]
    val = [c for c in clips if c.split == "val"]
    return (train, val) if val else hold_out(train, val_fraction, seed=seed)
