"""Kinematics of the synthetic signer: arm parameters and handshapes -> SMPL-X axis-angle, and the
trajectory primitives (easing, blending, splines, oscillations) the corpus sampler builds clips from.

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

from dataclasses import dataclass

import numpy as np
import torch
from scipy.interpolate import CubicSpline

from signavatar.body.joints import LEFT_HAND, NUM_JOINTS, RIGHT_HAND, joint_index
from signavatar.body.rotations import matrix_to_axis_angle
from signavatar.body.skeleton import DEFAULT_REST_JOINTS

ARM_PARAMS = ("lower", "flex", "across", "twist", "elbow", "pronate", "wrist_flex", "wrist_dev")
ARM_PARAM_INDEX = {name: i for i, name in enumerate(ARM_PARAMS)}
_ELBOW_LIMITS_DEG = (0.0, 150.0)

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
class Oscillation:
    """A repetition added over the sign's movement: ``amplitude_deg * sin(2 pi cycles u + phase)``
    on each named arm parameter (``u`` in [0, 1] across the movement, with soft ramps)."""

    params: tuple[str, ...]
    amplitude_deg: tuple[float, ...]
    cycles: float
    phase_deg: tuple[float, ...] = ()


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
    col = {name: p[:, i] for name, i in ARM_PARAM_INDEX.items()}
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


def ease(u: np.ndarray) -> np.ndarray:
    """Cubic ease in/out (zero velocity at both ends)."""
    u = np.clip(u, 0.0, 1.0)
    return u * u * (3.0 - 2.0 * u)


def blend(a: np.ndarray, b: np.ndarray, u: np.ndarray) -> np.ndarray:
    return a[None] + ease(u)[:, None] * (b - a)[None]


def spline_through(keyframes: list[np.ndarray], frames: int) -> np.ndarray:
    """``frames`` samples of a clamped cubic spline through evenly spaced keyframes."""
    if len(keyframes) == 1:
        return np.repeat(keyframes[0][None], frames, axis=0)
    knots = np.linspace(0.0, 1.0, len(keyframes))
    return CubicSpline(knots, np.stack(keyframes), bc_type="clamped")(np.linspace(0.0, 1.0, frames))


def oscillation_offsets(osc: Oscillation | None, frames: int, amplitude: float) -> np.ndarray:
    out = np.zeros((frames, len(ARM_PARAMS)))
    if osc is None:
        return out
    u = np.linspace(0.0, 1.0, frames)
    envelope = ease(np.minimum(u, 1.0 - u) / 0.15)
    phases = osc.phase_deg or (0.0,) * len(osc.params)
    for name, amp, phase in zip(osc.params, osc.amplitude_deg, phases, strict=True):
        wave = np.sin(2 * np.pi * osc.cycles * u + np.deg2rad(phase))
        out[:, ARM_PARAM_INDEX[name]] = amplitude * amp * envelope * wave
    return out
