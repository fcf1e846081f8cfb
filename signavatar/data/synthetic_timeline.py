"""The timeline of one synthetic clip: how many frames of idle lead, sign (rise, movement, hold) and
off-sign trail it has, and how it ends, drawn per clip."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from signavatar.config import SyntheticCorpusConfig

# Clip timeline in frames at 30 fps (scaled to other frame rates, so speeds stay the same).
REFERENCE_FPS = 30.0
SIGN_FRAMES = (30, 60)
LEADING_FRAMES = (5, 20)
LONG_LEADING_FRAMES = (45, 90)  # a long idle hold before the sign
TRAILING_FRAMES = (5, 20)
TRANSITION_FRAMES = (6, 12)  # from the sign's hold into the next sign (ending "next_sign")
NEXT_SIGN_FRAMES = (12, 30)  # of the next sign's movement, cut while the hands are up


@dataclass(frozen=True)
class ClipTimeline:
    """Frame counts of one clip: ``lead`` idle (a long hold with a slight sway when ``long_lead``),
    then the sign (``rise`` from rest, ``move`` through the keyframes, ``hold``), then ``trail``
    off-sign frames. Endings: ``drop_to_rest`` / ``partial_drop_fidget`` (the first ``drop``
    trailing frames bring the hands ``drop_to`` of the way to rest, then a fidget or stillness),
    or ``next_sign`` (a ``transition`` into another gloss's movement, cut while the hands are up)."""

    lead: int
    rise: int
    move: int
    hold: int
    trail: int
    drop: int
    drop_to: float
    ending: str
    long_lead: bool
    transition: int

    @property
    def sign(self) -> int:
        return self.rise + self.move + self.hold

    @property
    def total(self) -> int:
        return self.lead + self.sign + self.trail


def clip_timeline(rng: np.random.Generator, fps: float, cfg: SyntheticCorpusConfig) -> ClipTimeline:
    def frames(low: int, high: int) -> int:
        """A uniform draw in [low, high] frames at 30 fps, converted to ``fps``."""
        return max(int(round(rng.integers(low, high + 1) * fps / REFERENCE_FPS)), 1)

    sign = frames(*SIGN_FRAMES)
    rise = max(int(round(sign * rng.uniform(0.22, 0.3))), 1)
    hold = frames(3, 6)
    long_lead = bool(rng.random() < cfg.long_lead_probability)
    lead = frames(*(LONG_LEADING_FRAMES if long_lead else LEADING_FRAMES))
    if rng.random() < cfg.next_sign_probability:
        transition = frames(*TRANSITION_FRAMES)
        return ClipTimeline(lead=lead, rise=rise, move=max(sign - rise - hold, 2), hold=hold,
                            trail=transition + frames(*NEXT_SIGN_FRAMES), drop=0, drop_to=0.0, ending="next_sign",
                            long_lead=long_lead, transition=transition)
    trail = frames(*TRAILING_FRAMES)
    fidget = bool(rng.random() < 0.5)
    return ClipTimeline(
        lead=lead,
        rise=rise,
        move=max(sign - rise - hold, 2),
        hold=hold,
        trail=trail,
        drop=min(trail, frames(8, 14)),
        # Either all the way back to rest, or part of the way followed by a small fidget.
        drop_to=float(rng.uniform(0.6, 0.85)) if fidget else 1.0,
        ending="partial_drop_fidget" if fidget else "drop_to_rest",
        long_lead=long_lead,
        transition=0,
    )
