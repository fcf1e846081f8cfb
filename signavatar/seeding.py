"""Every derived random seed, one function per stream.

Each stream mixes its inputs with its own large odd (mostly prime) multipliers, so seeds of different
streams, runs, epochs, samples or clips do not collide by accident. The formulas are frozen: changing
one changes trained models, evaluation scores and generated clips for the same configured seed
(``tests/test_seeding.py`` pins values).
"""

from __future__ import annotations

import numpy as np


def mask_seed(train_seed: int, epoch: int) -> int:
    """The seed of the curriculum's visible-frame masks in ``epoch`` of a run seeded ``train_seed``."""
    return train_seed * 100_003 + epoch


def sample_seed(seed: int, index: int) -> int:
    """The seed of sample ``index`` of a request seeded ``seed`` (sample 0 uses ``seed`` itself)."""
    return (seed + index * 1_000_003) % 2**63


def repetition_seed(seed: int, repetition: int) -> int:
    """The seed of repetition ``repetition`` of an evaluation seeded ``seed``."""
    return (seed * 7_919 + repetition * 104_729 + 1) % 2**31


def latent_seeds(keys: np.ndarray, seed: int, stream: int) -> list[int]:
    """One seed per clip (``keys``: ``protocol.clip_key`` of each) for a repetition's ``seed``:
    ``stream`` 0 draws the Rec samples, 1 the Gen samples, so the two never share a draw."""
    return [int(s) for s in (np.asarray(keys, np.int64) + seed * 1_000_003 + stream * 500_009) % 2**31]
