"""The embedded demo corpus: procedurally generated, clearly labelled SYNTHETIC sign clips.

Nothing here is real sign-language data. Each gloss is a hand-designed sign (its own two-hand
motion, handshape and one- or two-handedness) written in joint-rotation space, and every clip is a
variation of it: signer style, speed, amplitude, per-frame estimator noise, occasional
low-confidence glitches, idle frames before the sign (sometimes a long idle hold) and off-sign
frames after it: the hands dropping to rest, a partial drop and a fidget, or the signer going on
into another gloss's sign with the hands still up (so quality control has real work, paper Fig. 3).
``source["sign_range"]`` holds the ground-truth sign frames, ``source["leading"]`` /
``source["trailing"]`` the kind of idle and off-sign frames (and ``next_gloss`` the other sign).

Conventions (SMPL-X, T-pose rest: y up, z forward, the subject's left at +x, palms down). The
signer is right-handed; everything is designed for the right side and mirrored onto the left
(reflection through the x = 0 plane maps an axis-angle ``(x, y, z)`` to ``(x, -y, -z)``). An arm
is eight anatomical angles in degrees (``ARM_PARAMS``), composed for the right arm as

* shoulder ``R_y(across) R_x(-flex) R_z(lower) R_x(twist)``: ``lower`` brings the arm down from
  the T-pose (about 78 = hanging), ``flex`` raises it forward, ``across`` swings it toward the
  midline, ``twist`` is internal rotation about the upper arm;
* elbow ``R_y(elbow)``, flexion only (clipped to [0, 150], elbows bend one way);
* wrist ``R_x(pronate) R_z(wrist_flex) R_y(wrist_dev)``: forearm roll (0 = palm facing the
  midline with the arm hanging, negative = palm up), palm-ward flexion, radial/ulnar deviation.

Fingers curl about ``bone x palm-normal`` axes taken from ``DEFAULT_REST_JOINTS``; a handshape is
a curl in [0, 1] per finger plus a spread angle.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch
from scipy.interpolate import CubicSpline

from signavatar.body.joints import LEFT_HAND, NUM_JOINTS, RIGHT_HAND, joint_index
from signavatar.body.rotations import matrix_to_axis_angle
from signavatar.body.skeleton import DEFAULT_REST_JOINTS
from signavatar.config import SyntheticCorpusConfig
from signavatar.motion.clip import NUM_BETAS, NUM_EXPRESSION, MotionClip

log = logging.getLogger(__name__)

GENERATOR = "signavatar.synthetic/1"

ARM_PARAMS = ("lower", "flex", "across", "twist", "elbow", "pronate", "wrist_flex", "wrist_dev")
_P = {name: i for i, name in enumerate(ARM_PARAMS)}
_ELBOW_LIMITS_DEG = (0.0, 150.0)

# Clip timeline in frames at 30 fps (scaled to other frame rates, so speeds stay the same).
REFERENCE_FPS = 30.0
SIGN_FRAMES = (30, 60)
LEADING_FRAMES = (5, 20)
LONG_LEADING_FRAMES = (45, 90)  # a long idle hold before the sign
TRAILING_FRAMES = (5, 20)
TRANSITION_FRAMES = (6, 12)  # from the sign's hold into the next sign (ending "next_sign")
NEXT_SIGN_FRAMES = (12, 30)  # of the next sign's movement, cut while the hands are up
AMPLITUDE_RANGE = 0.15

# SMPL-X finger order within a hand: index, middle, pinky, ring, thumb.
_FINGERS = ("index", "middle", "pinky", "ring", "thumb")
# Flexion (deg) of the three joints of a finger at curl = 1.
_FINGER_CURL_DEG = np.array([70.0, 95.0, 65.0])
_THUMB_CURL_DEG = np.array([35.0, 40.0, 45.0])


def arm(
    lower: float = 78.0,
    flex: float = 0.0,
    across: float = 0.0,
    twist: float = 0.0,
    elbow: float = 8.0,
    pronate: float = 0.0,
    wrist_flex: float = 0.0,
    wrist_dev: float = 0.0,
) -> np.ndarray:
    """One arm pose as the ``ARM_PARAMS`` vector (degrees); the defaults are the arm at rest."""
    return np.array([lower, flex, across, twist, elbow, pronate, wrist_flex, wrist_dev], dtype=np.float64)


REST_ARM = arm()


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
class Oscillation:
    """A repetition added over the sign's movement: ``amplitude_deg * sin(2 pi cycles u + phase)``
    on each named arm parameter (``u`` in [0, 1] across the movement, with soft ramps)."""

    params: tuple[str, ...]
    amplitude_deg: tuple[float, ...]
    cycles: float
    phase_deg: tuple[float, ...] = ()


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


# --------------------------------------------------------------------------------------------
# Kinematics: arm parameters and handshapes -> axis-angle of the right-side joints.


def _rotations(axis: np.ndarray, angle_rad: np.ndarray) -> np.ndarray:
    """Rodrigues, ``[T]`` angles about one unit ``axis`` -> ``[T, 3, 3]``."""
    k = np.array(
        [[0.0, -axis[2], axis[1]], [axis[2], 0.0, -axis[0]], [-axis[1], axis[0], 0.0]], dtype=np.float64
    )
    s = np.sin(angle_rad)[:, None, None]
    c = np.cos(angle_rad)[:, None, None]
    return np.eye(3) + s * k + (1.0 - c) * (k @ k)


_X, _Y, _Z = np.eye(3)


def _to_axis_angle(matrices: np.ndarray) -> np.ndarray:
    return matrix_to_axis_angle(torch.from_numpy(matrices)).numpy()


def _right_arm_axis_angle(params: np.ndarray) -> dict[str, np.ndarray]:
    """``[T, 8]`` degrees -> axis-angle ``[T, 3]`` of right shoulder, elbow and wrist."""
    p = np.deg2rad(params)
    col = {name: p[:, i] for name, i in _P.items()}
    shoulder = (
        _rotations(_Y, col["across"])
        @ _rotations(_X, -col["flex"])
        @ _rotations(_Z, col["lower"])
        @ _rotations(_X, col["twist"])
    )
    wrist = _rotations(_X, col["pronate"]) @ _rotations(_Z, col["wrist_flex"]) @ _rotations(_Y, col["wrist_dev"])
    lo, hi = np.deg2rad(_ELBOW_LIMITS_DEG)
    elbow = np.clip(col["elbow"], lo, hi)[:, None] * _Y
    return {
        "right_shoulder": _to_axis_angle(shoulder),
        "right_elbow": elbow,
        "right_wrist": _to_axis_angle(wrist),
    }


def _right_hand_axes() -> tuple[np.ndarray, np.ndarray]:
    """Curl axis per right-hand joint ``[15, 3]`` and the palm normal ``[3]`` (T-pose, palm down)."""
    rest = DEFAULT_REST_JOINTS.astype(np.float64)
    palm_normal = -_Y
    # The thumb curls across the palm toward the little finger (-z on the right hand).
    thumb_target = -_Y - 0.8 * _Z
    axes = np.zeros((15, 3))
    for f, finger in enumerate(_FINGERS):
        chain = [RIGHT_HAND.start + 3 * f + k for k in range(3)]
        for k, j in enumerate(chain):
            bone = rest[chain[k + 1]] - rest[j] if k < 2 else rest[j] - rest[chain[k - 1]]
            bone /= np.linalg.norm(bone)
            target = thumb_target if finger == "thumb" else palm_normal
            axis = np.cross(bone, target)
            axes[3 * f + k] = axis / np.linalg.norm(axis)
    return axes, palm_normal


_HAND_AXES, _PALM_NORMAL = _right_hand_axes()


def _right_hand_axis_angle(shape: np.ndarray) -> np.ndarray:
    """``[T, 10]`` (5 curls, 5 spreads in degrees) -> right-hand axis-angle ``[T, 15, 3]``."""
    frames = shape.shape[0]
    out = np.zeros((frames, 15, 3))
    curls = np.clip(shape[:, :5], 0.0, 1.0)
    spreads = np.deg2rad(shape[:, 5:])
    for f, finger in enumerate(_FINGERS):
        max_deg = _THUMB_CURL_DEG if finger == "thumb" else _FINGER_CURL_DEG
        angles = curls[:, f, None] * np.deg2rad(max_deg)[None, :]  # [T, 3]
        for k in range(3):
            j = 3 * f + k
            if k == 0:
                spread = _rotations(-_PALM_NORMAL, spreads[:, f])
                out[:, j] = _to_axis_angle(spread @ _rotations(_HAND_AXES[j], angles[:, k]))
            else:
                out[:, j] = angles[:, k, None] * _HAND_AXES[j]
    return out


def _mirror(axis_angle: np.ndarray) -> np.ndarray:
    """Reflect rotations through the x = 0 plane (right side <-> left side)."""
    return axis_angle * np.array([1.0, -1.0, -1.0])


def compose_pose(
    right_arm: np.ndarray,
    right_shape: np.ndarray,
    left_arm: np.ndarray,
    left_shape: np.ndarray,
    posture: np.ndarray | None = None,
) -> np.ndarray:
    """Full-body axis-angle ``[T, 55, 3]`` (float64) from both arms' parameters and handshapes.

    ``left_arm`` / ``left_shape`` are given in the right-side convention and mirrored; ``posture``
    is an optional ``[55, 3]`` axis-angle offset for the torso/head joints (signer style).
    """
    frames = right_arm.shape[0]
    poses = np.zeros((frames, NUM_JOINTS, 3))
    if posture is not None:
        poses += posture[None]
    for side, params, shape in (("right", right_arm, right_shape), ("left", left_arm, left_shape)):
        joints = _right_arm_axis_angle(params)
        hand = _right_hand_axis_angle(shape)
        if side == "left":
            joints = {name.replace("right_", "left_"): _mirror(v) for name, v in joints.items()}
            hand = _mirror(hand)
        for name, value in joints.items():
            poses[:, joint_index(name)] = value
        poses[:, RIGHT_HAND if side == "right" else LEFT_HAND] = hand
    return poses


# --------------------------------------------------------------------------------------------
# The signs. Loosely inspired by the ASL signs of the same name; the point is that each gloss is
# a distinct, plausible two-hand motion, not a faithful lexicon.

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


# --------------------------------------------------------------------------------------------
# Variation: signers and per-clip timing.


@dataclass(frozen=True)
class Signer:
    """A synthetic signer's persistent style (never a different handedness)."""

    signer_id: str
    betas: np.ndarray  # [10]
    arm_offset: np.ndarray  # [2, 8] degrees, right then left arm
    shape_offset: np.ndarray  # [10] added to handshape curls/spreads
    posture: np.ndarray  # [55, 3] axis-angle offsets of torso, neck and head


_POSTURE_JOINTS = ("spine1", "spine2", "spine3", "neck", "head")
_ARM_AND_HAND_JOINTS = [
    joint_index(f"{side}_{part}") for side in ("left", "right") for part in ("shoulder", "elbow", "wrist")
] + list(range(LEFT_HAND.start, RIGHT_HAND.stop))


def make_signer(seed: int, index: int) -> Signer:
    rng = np.random.default_rng([seed, 0, index])
    posture = np.zeros((NUM_JOINTS, 3))
    for name in _POSTURE_JOINTS:
        posture[joint_index(name)] = np.deg2rad(rng.normal(0.0, 2.0, 3))
    return Signer(
        signer_id=f"synthetic-signer-{index:02d}",
        betas=rng.normal(0.0, 0.7, NUM_BETAS).astype(np.float32),
        arm_offset=rng.normal(0.0, 3.0, (2, len(ARM_PARAMS))),
        shape_offset=np.concatenate([rng.normal(0.0, 0.05, 5), rng.normal(0.0, 2.0, 5)]),
        posture=posture,
    )


@dataclass(frozen=True)
class _Timeline:
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


def _clip_timeline(rng: np.random.Generator, fps: float, cfg: SyntheticCorpusConfig) -> _Timeline:
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
        return _Timeline(lead=lead, rise=rise, move=max(sign - rise - hold, 2), hold=hold,
                         trail=transition + frames(*NEXT_SIGN_FRAMES), drop=0, drop_to=0.0, ending="next_sign",
                         long_lead=long_lead, transition=transition)
    trail = frames(*TRAILING_FRAMES)
    fidget = bool(rng.random() < 0.5)
    return _Timeline(
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


def _ease(u: np.ndarray) -> np.ndarray:
    """Cubic ease in/out (zero velocity at both ends)."""
    u = np.clip(u, 0.0, 1.0)
    return u * u * (3.0 - 2.0 * u)


def _blend(a: np.ndarray, b: np.ndarray, u: np.ndarray) -> np.ndarray:
    return a[None] + _ease(u)[:, None] * (b - a)[None]


def _through(keyframes: list[np.ndarray], frames: int) -> np.ndarray:
    """``frames`` samples of a clamped cubic spline through evenly spaced keyframes."""
    if len(keyframes) == 1:
        return np.repeat(keyframes[0][None], frames, axis=0)
    knots = np.linspace(0.0, 1.0, len(keyframes))
    return CubicSpline(knots, np.stack(keyframes), bc_type="clamped")(np.linspace(0.0, 1.0, frames))


def _oscillation(osc: Oscillation | None, frames: int, amplitude: float) -> np.ndarray:
    out = np.zeros((frames, len(ARM_PARAMS)))
    if osc is None:
        return out
    u = np.linspace(0.0, 1.0, frames)
    envelope = _ease(np.minimum(u, 1.0 - u) / 0.15)
    phases = osc.phase_deg or (0.0,) * len(osc.params)
    for name, amp, phase in zip(osc.params, osc.amplitude_deg, phases, strict=True):
        out[:, _P[name]] = amplitude * amp * envelope * np.sin(2 * np.pi * osc.cycles * u + np.deg2rad(phase))
    return out


def _drop_trail(end: np.ndarray, rest: np.ndarray, tl: _Timeline, fidget: np.ndarray | None) -> np.ndarray:
    """Trailing frames of the drop endings: toward rest, with an optional fidget on top."""
    target = end + tl.drop_to * (rest - end)
    trail = _blend(end, target, np.arange(1, tl.trail + 1) / tl.drop)
    return trail + fidget if fidget is not None else trail


def _next_sign_trail(end: np.ndarray, path: np.ndarray, tl: _Timeline) -> np.ndarray:
    """Trailing frames of the ``next_sign`` ending: a transition from the held ``end`` to the start
    of the other sign's ``path`` (its movement, as long as the sign's), then that path, cut."""
    transition = _blend(end, path[0], np.arange(1, tl.transition + 1) / tl.transition)
    return np.concatenate([transition, path[1 : tl.trail - tl.transition + 1]])


def _idle_sway(rng: np.random.Generator, tl: _Timeline, fps: float) -> np.ndarray:
    """A long idle hold is not frozen: a slow (0.2-0.4 Hz), 1-2 degree sway of both arms that fades
    out before the sign starts. Short leads are still."""
    out = np.zeros((tl.lead, len(ARM_PARAMS)))
    if tl.long_lead:
        t = np.arange(tl.lead) / fps
        fade = 1.0 - _ease(np.arange(tl.lead) / max(tl.lead - 1, 1))
        phase = rng.uniform(0, 2 * np.pi)
        out[:, _P["flex"]] = rng.uniform(1.0, 2.0) * fade * np.sin(2 * np.pi * rng.uniform(0.2, 0.4) * t + phase)
        out[:, _P["lower"]] = rng.uniform(0.5, 1.0) * fade * np.sin(2 * np.pi * rng.uniform(0.2, 0.4) * t)
    return out


def _sign_frames(start: np.ndarray, keyframes: list[np.ndarray], tl: _Timeline, wiggle: np.ndarray) -> np.ndarray:
    """The sign part: rise from ``start`` to the first keyframe, move through them, hold."""
    rise = _blend(start, keyframes[0], np.arange(tl.rise) / tl.rise)
    move = _through(keyframes, tl.move) + wiggle
    hold = np.repeat(move[-1:], tl.hold, axis=0)
    return np.concatenate([rise, move, hold])


def _fidget(rng: np.random.Generator, tl: _Timeline, fps: float) -> np.ndarray:
    """A small unrelated motion after a partial drop: forearm roll and wrist waggle (2 Hz)."""
    out = np.zeros((tl.trail, len(ARM_PARAMS)))
    frames = tl.trail - tl.drop
    if frames > 0:
        u = np.arange(frames) * 2.0 / fps
        out[tl.drop :, _P["pronate"]] = rng.uniform(6, 12) * np.sin(2 * np.pi * u)
        out[tl.drop :, _P["wrist_flex"]] = rng.uniform(5, 10) * np.sin(2 * np.pi * u + 1.0)
    return out


def _scaled(keyframes: tuple[np.ndarray, ...], amplitude: float) -> list[np.ndarray]:
    """Keyframes with their spread about their mean scaled by ``amplitude``."""
    mean = np.mean(keyframes, axis=0)
    return [mean + amplitude * (k - mean) for k in keyframes]


def _performed(spec: SignSpec, rng: np.random.Generator, amplitude: float, frames: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Keyframes of one performance of ``spec`` (amplitude-scaled, jittered) and its oscillation."""
    jitter = rng.normal(0.0, 1.5, (len(spec.keyframes), len(ARM_PARAMS)))
    keyframes = [k + j for k, j in zip(_scaled(spec.keyframes, amplitude), jitter, strict=True)]
    return keyframes, _oscillation(spec.oscillation, frames, amplitude)


def _side_of(spec: SignSpec, side: int, keyframes: list[np.ndarray], offset: np.ndarray,
             shape_offset: np.ndarray) -> tuple[list[np.ndarray] | None, np.ndarray, np.ndarray]:
    """What arm ``side`` (0 right, 1 left) does in ``spec``: its keyframes (None = stays at rest),
    and its first and last handshape vectors."""
    def shape(name: str) -> np.ndarray:
        return HANDSHAPES[name].vector() + shape_offset

    if side == 0 or spec.non_dominant == "mirror":
        return [k + offset for k in keyframes], shape(spec.handshape), shape(spec.end_handshape or spec.handshape)
    if spec.non_dominant == "base":
        return [spec.base_arm + offset], shape(spec.base_handshape), shape(spec.base_handshape)
    return None, shape("relaxed"), shape("relaxed")


def synthesize_clip(
    spec: SignSpec,
    signer: Signer,
    rng: np.random.Generator,
    *,
    clip_id: str,
    split: str,
    fps: float,
    noise_deg: float,
    dropout_probability: float,
    corpus: SyntheticCorpusConfig | None = None,
) -> MotionClip:
    """One clip of ``spec`` performed by ``signer``; randomness comes from ``rng`` only.
    ``corpus`` gives the chances of the long idle lead and of the ``next_sign`` ending."""
    tl = _clip_timeline(rng, fps, corpus or SyntheticCorpusConfig())
    amplitude = 1.0 + rng.uniform(-AMPLITUDE_RANGE, AMPLITUDE_RANGE)
    keyframes, wiggle = _performed(spec, rng, amplitude, tl.move)
    sway = _idle_sway(rng, tl, fps)
    other = None
    if tl.ending == "next_sign":
        other = SIGNS[int(rng.choice([i for i, s in enumerate(SIGNS) if s.gloss != spec.gloss]))]
        other_frames = max(tl.move, tl.trail - tl.transition + 1)  # its whole movement, cut below
        other_keyframes, other_wiggle = _performed(other, rng, amplitude, other_frames)
    fidget = _fidget(rng, tl, fps) if tl.ending == "partial_drop_fidget" else None

    arms, shapes = [], []
    for side in (0, 1):  # right (dominant), left
        offset = signer.arm_offset[side]
        rest = REST_ARM + offset
        relaxed = HANDSHAPES["relaxed"].vector() + signer.shape_offset
        moving, first, last = _side_of(spec, side, keyframes, offset, signer.shape_offset)
        if moving is None:
            sign_arm = np.repeat(rest[None], tl.sign, axis=0)
        else:
            sign_arm = _sign_frames(rest, moving, tl, wiggle if len(moving) == len(keyframes) else np.zeros_like(wiggle))
        shape_in_sign = np.concatenate(
            [
                _blend(relaxed, first, np.arange(tl.rise) / tl.rise),
                _blend(first, last, np.linspace(0.0, 1.0, tl.move)),
                np.repeat(last[None], tl.hold, axis=0),
            ]
        )
        if other is None:
            arm_trail = _drop_trail(sign_arm[-1], rest, tl, fidget if side == 0 else None)
            shape_trail = _drop_trail(shape_in_sign[-1], relaxed, tl, None)
        else:
            path_keys, next_first, next_last = _side_of(other, side, other_keyframes, offset, signer.shape_offset)
            if path_keys is None:
                path = np.repeat(rest[None], other_frames, axis=0)
            else:
                own = len(path_keys) == len(other_keyframes)
                path = _through(path_keys, other_frames) + (other_wiggle if own else 0.0)
            arm_trail = _next_sign_trail(sign_arm[-1], path, tl)
            shape_path = _blend(next_first, next_last, np.linspace(0.0, 1.0, other_frames))
            shape_trail = _next_sign_trail(shape_in_sign[-1], shape_path, tl)
        arms.append(np.concatenate([rest[None] + sway, sign_arm, arm_trail]))
        shapes.append(np.concatenate([np.repeat(relaxed[None], tl.lead, axis=0), shape_in_sign, shape_trail]))

    poses = compose_pose(arms[0], shapes[0], arms[1], shapes[1], signer.posture)
    poses += np.deg2rad(rng.normal(0.0, noise_deg, poses.shape))
    confidence = rng.uniform(0.85, 1.0, tl.total)
    sign_start, sign_stop = tl.lead, tl.lead + tl.sign
    length = int(rng.integers(1, 4))
    if rng.random() < dropout_probability and tl.move > length + 1:
        # An estimator glitch inside the sign: a few frames of corrupted, low-confidence poses.
        at = int(rng.integers(sign_start + tl.rise, sign_stop - tl.hold - length))
        glitch = rng.normal(0.0, 12.0, (length, len(_ARM_AND_HAND_JOINTS), 3))
        poses[at : at + length, _ARM_AND_HAND_JOINTS] += np.deg2rad(glitch)
        confidence[at : at + length] = rng.uniform(0.05, 0.3, length)

    frames = tl.total
    source = {
        "synthetic": True,
        "generator": GENERATOR,
        "signer_id": signer.signer_id,
        "sign_range": [sign_start, sign_stop],
        "video": None,
        "estimator": "synthetic",
        "leading": "long_hold" if tl.long_lead else "idle",
        "trailing": tl.ending,
    }
    if other is not None:
        source["next_gloss"] = other.gloss
    return MotionClip(
        gloss=spec.gloss,
        clip_id=clip_id,
        split=split,
        fps=fps,
        poses=poses.astype(np.float32),
        expression=np.zeros((frames, NUM_EXPRESSION), np.float32),
        betas=signer.betas,
        trans=np.zeros((frames, 3), np.float32),
        confidence=confidence.astype(np.float32),
        source=source,
    )


def _test_indices(seed: int, gloss_index: int, count: int, test_fraction: float) -> set[int]:
    num_test = min(max(int(round(count * test_fraction)), 1), count - 1)
    order = np.random.default_rng([seed, 2, gloss_index]).permutation(count)
    return {int(i) for i in order[:num_test]}


def generate_corpus(cfg: SyntheticCorpusConfig) -> list[MotionClip]:
    """The demo corpus: ``num_glosses`` x ``clips_per_gloss`` SYNTHETIC clips, split per gloss.

    Deterministic in ``cfg.seed``; each clip draws from its own generator seeded by
    ``(seed, gloss, clip)``, so a clip does not change when the corpus grows. Signers are assigned
    round-robin; every ``source`` says ``"synthetic": True``.
    """
    if cfg.seed < 0:
        raise ValueError(f"seed must be >= 0, got {cfg.seed}")
    if cfg.num_glosses > len(SIGNS):
        raise ValueError(f"num_glosses={cfg.num_glosses}: the synthetic corpus has only {len(SIGNS)} glosses {GLOSSES}")
    signers = [make_signer(cfg.seed, s) for s in range(cfg.num_signers)]
    clips = []
    for g, spec in enumerate(SIGNS[: cfg.num_glosses]):
        test = _test_indices(cfg.seed, g, cfg.clips_per_gloss, cfg.test_fraction)
        for i in range(cfg.clips_per_gloss):
            clips.append(
                synthesize_clip(
                    spec,
                    signers[i % cfg.num_signers],
                    np.random.default_rng([cfg.seed, 1, g, i]),
                    clip_id=f"synthetic-{spec.gloss}-{i:03d}",
                    split="test" if i in test else "train",
                    fps=cfg.fps,
                    noise_deg=cfg.noise_deg,
                    dropout_probability=cfg.dropout_probability,
                    corpus=cfg,
                )
            )
    log.info(
        "generated %d SYNTHETIC clips (%d glosses x %d, %d signers, seed %d)",
        len(clips),
        cfg.num_glosses,
        cfg.clips_per_gloss,
        cfg.num_signers,
        cfg.seed,
    )
    return clips


def write_annotations(clips: list[MotionClip]) -> dict[str, list[int]]:
    """Kept-frame annotations ``{clip_id: [start, end_exclusive]}`` (the format
    ``signavatar.data.qc.load_annotations`` reads) from the clips' ground-truth ``sign_range``."""
    out = {}
    for clip in clips:
        sign_range = clip.source.get("sign_range")
        if sign_range is None:
            raise ValueError(f"clip {clip.clip_id!r} has no source['sign_range'] (not a synthetic clip?)")
        out[clip.clip_id] = [int(sign_range[0]), int(sign_range[1])]
    return out
