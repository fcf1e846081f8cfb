"""The signs of the synthetic corpus: named handshapes and one ``SignSpec`` per gloss.

Loosely inspired by the ASL signs of the same name; the point is that each gloss is a distinct,
plausible two-hand motion, not a faithful lexicon. Arm poses are ``ARM_PARAMS`` vectors (see
``signavatar.data.synthetic_motion`` for the conventions).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from signavatar.data.synthetic_motion import Oscillation, arm


@dataclass(frozen=True)
class Handshape:
    """Curl in [0, 1] per finger (index, middle, pinky, ring, thumb) and joint-1 spread (deg,
    positive toward the thumb side)."""

    curl: tuple[float, float, float, float, float]
    spread: tuple[float, float, float, float, float] = (0.0, 0.0, 0.0, 0.0, 0.0)

    def vector(self) -> np.ndarray:
        return np.array(self.curl + self.spread, dtype=np.float64)


HANDSHAPES: dict[str, Handshape] = {
    "relaxed": Handshape((0.25, 0.3, 0.35, 0.3, 0.15)),
    "flat": Handshape((0.0, 0.0, 0.0, 0.0, 0.25)),
    "five": Handshape((0.0, 0.0, 0.0, 0.0, 0.0), (14.0, 3.0, -16.0, -8.0, 15.0)),
    "fist": Handshape((1.0, 1.0, 1.0, 1.0, 0.7)),
    "a": Handshape((1.0, 1.0, 1.0, 1.0, 0.0)),
    "point": Handshape((0.0, 1.0, 1.0, 1.0, 0.8)),
    "v": Handshape((0.0, 0.0, 1.0, 1.0, 0.8), (12.0, -12.0, 0.0, 0.0, 0.0)),
    "w": Handshape((0.0, 0.0, 1.0, 0.0, 0.8), (10.0, 0.0, 0.0, -10.0, 0.0)),
    "y": Handshape((1.0, 1.0, 0.0, 1.0, 0.0), (0.0, 0.0, -20.0, 0.0, 25.0)),
    "o": Handshape((0.55, 0.6, 0.65, 0.6, 0.55)),
    "flat_o": Handshape((0.45, 0.45, 0.45, 0.45, 0.5)),
    "c": Handshape((0.3, 0.32, 0.35, 0.33, 0.1)),
    "claw": Handshape((0.55, 0.55, 0.55, 0.55, 0.3), (12.0, 3.0, -14.0, -7.0, 10.0)),
}


@dataclass(frozen=True)
class SignSpec:
    """One gloss: the dominant (right) arm passes through ``keyframes`` after rising from rest.

    ``non_dominant``: ``"rest"`` (left hand stays down), ``"mirror"`` (left arm mirrors the right)
    or ``"base"`` (left arm rises to the static ``base_arm`` with ``base_handshape``)."""

    gloss: str
    keyframes: tuple[np.ndarray, ...]
    handshape: str
    end_handshape: str | None = None
    non_dominant: str = "rest"
    base_arm: np.ndarray | None = None
    base_handshape: str = "flat"
    oscillation: Oscillation | None = None
    description: str = ""


SIGNS: tuple[SignSpec, ...] = (
    SignSpec(
        "hello",
        (
            arm(flex=70, across=20, twist=5, elbow=110, pronate=20, wrist_flex=30),
            arm(flex=62, across=-25, twist=5, elbow=90, pronate=40, wrist_flex=-10),
        ),
        "flat",
        description="flat hand salutes from the forehead outward",
    ),
    SignSpec(
        "drink",
        (
            arm(flex=38, across=22, elbow=112, pronate=5),
            arm(flex=60, across=28, elbow=120, pronate=5, wrist_dev=-25),
        ),
        "c",
        description="C hand rises to the mouth and tilts like a cup",
    ),
    SignSpec(
        "book",
        (
            arm(flex=38, across=25, twist=5, elbow=95, pronate=0),
            arm(flex=38, across=22, twist=5, elbow=95, pronate=-80),
        ),
        "flat",
        non_dominant="mirror",
        description="flat palms together open like a book",
    ),
    SignSpec(
        "thanks",
        (
            arm(flex=42, across=19, twist=9, elbow=115, pronate=-34, wrist_flex=50),
            arm(flex=36, across=8, elbow=78, pronate=-75, wrist_flex=10),
        ),
        "flat",
        description="flat hand moves from the chin forward and down",
    ),
    SignSpec(
        "mother",
        (arm(flex=42, across=30, elbow=118, pronate=5, wrist_dev=10),),
        "five",
        oscillation=Oscillation(("elbow", "flex"), (9.0, 3.0), cycles=2.0),
        description="open five hand taps the thumb on the chin twice",
    ),
    SignSpec(
        "house",
        (
            arm(flex=75, across=34, elbow=85, pronate=-20, wrist_flex=-15),
            arm(flex=55, across=2, elbow=85, pronate=-10),
            arm(flex=35, across=2, elbow=85, pronate=0),
        ),
        "flat",
        non_dominant="mirror",
        description="flat hands draw a roof, then the walls",
    ),
    SignSpec(
        "eat",
        (arm(flex=47, across=25, elbow=117, pronate=-40, wrist_flex=45),),
        "flat_o",
        oscillation=Oscillation(("elbow", "flex"), (11.0, 4.0), cycles=2.0),
        description="flat-O hand taps the mouth twice",
    ),
    SignSpec(
        "play",
        (arm(flex=35, across=10, elbow=95, pronate=-10),),
        "y",
        non_dominant="mirror",
        oscillation=Oscillation(("pronate",), (30.0,), cycles=3.0),
        description="both Y hands shake by rolling the forearms",
    ),
    SignSpec(
        "water",
        (arm(flex=44, across=25, elbow=117, pronate=-20, wrist_flex=30),),
        "w",
        oscillation=Oscillation(("flex", "elbow"), (5.0, 6.0), cycles=2.0),
        description="W hand taps the index finger on the chin",
    ),
    SignSpec(
        "help",
        (
            arm(flex=25, across=26, elbow=100, pronate=0),
            arm(flex=45, across=26, elbow=108, pronate=0),
        ),
        "a",
        non_dominant="base",
        base_arm=arm(flex=25, across=30, elbow=92, pronate=-85),
        base_handshape="flat",
        description="A hand rests on the flat left palm and both lift",
    ),
    SignSpec(
        "more",
        (arm(flex=35, across=19, elbow=95, pronate=-30),),
        "o",
        non_dominant="mirror",
        oscillation=Oscillation(("across",), (8.0,), cycles=2.0),
        description="O hands tap their fingertips together twice",
    ),
    SignSpec(
        "sorry",
        (arm(flex=20, across=35, elbow=120, pronate=-60),),
        "a",
        oscillation=Oscillation(("flex", "across"), (8.0, 8.0), cycles=2.0, phase_deg=(0.0, 90.0)),
        description="A hand circles on the chest",
    ),
    SignSpec(
        "want",
        (
            arm(flex=52, across=10, elbow=40, pronate=-80),
            arm(flex=30, across=10, elbow=95, pronate=-80),
        ),
        "five",
        end_handshape="claw",
        non_dominant="mirror",
        description="open palms-up hands pull toward the body, closing to claws",
    ),
    SignSpec(
        "yes",
        (arm(flex=30, across=10, elbow=100, pronate=-30),),
        "fist",
        oscillation=Oscillation(("wrist_flex",), (25.0,), cycles=3.0),
        description="fist nods at the wrist",
    ),
    SignSpec(
        "see",
        (
            arm(flex=60, across=22, elbow=120, pronate=-60, wrist_flex=20),
            arm(flex=55, across=10, elbow=80, pronate=-70),
        ),
        "v",
        description="V hand moves from the eyes forward",
    ),
    SignSpec(
        "you",
        (
            arm(flex=30, across=12, elbow=95, pronate=70),
            arm(flex=45, across=6, elbow=60, pronate=70),
        ),
        "point",
        description="index finger points forward, palm down",
    ),
)
GLOSSES: tuple[str, ...] = tuple(s.gloss for s in SIGNS)
