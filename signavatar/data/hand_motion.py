"""Hand motion signals of a clip, for quality control and sentence trimming: joint positions from
forward kinematics, hand speed and height, sustained activity and the sign's onset (the definitions
are in ``signavatar.data.qc``'s docstring)."""

from __future__ import annotations

import numpy as np
import torch
from scipy.ndimage import gaussian_filter1d

from signavatar.body.joints import joint_index
from signavatar.body.skeleton import DEFAULT_REST_JOINTS, forward_kinematics_axis_angle
from signavatar.config import QCConfig
from signavatar.motion.clip import MotionClip

_WRISTS = (joint_index("left_wrist"), joint_index("right_wrist"))
HAND_JOINTS: tuple[int, ...] = _WRISTS + tuple(
    joint_index(f"{side}_{finger}3")
    for side in ("left", "right")
    for finger in ("index", "middle", "pinky", "ring", "thumb")
)

RestJoints = np.ndarray | torch.Tensor

def joint_positions(clip: MotionClip | np.ndarray, rest_joints: RestJoints = DEFAULT_REST_JOINTS) -> np.ndarray:
    """``[T, 55, 3]`` body-relative joint positions (forward kinematics without ``trans``) of a clip,
    or ``[..., 55, 3]`` of axis-angle poses ``[..., 55, 3]`` (frames of several clips in one pass)."""
    poses = clip.poses if isinstance(clip, MotionClip) else clip
    with torch.no_grad():
        return forward_kinematics_axis_angle(torch.from_numpy(poses), rest_joints).numpy()


def smooth_time(x: np.ndarray, sigma: float) -> np.ndarray:
    return gaussian_filter1d(x, sigma, axis=0, mode="nearest") if sigma > 0 and len(x) > 1 else x


def hand_joints(clip: MotionClip, rest_joints: RestJoints, joints: np.ndarray | None = None) -> np.ndarray:
    """``HAND_JOINTS`` positions ``[T, J, 3]`` float64, from ``joints`` (``joint_positions`` of
    ``clip``) when the caller has them."""
    joints = joint_positions(clip, rest_joints) if joints is None else joints
    return joints[:, list(HAND_JOINTS)].astype(np.float64)


def speed_of(smoothed_hands: np.ndarray, fps: float) -> np.ndarray:
    if len(smoothed_hands) < 2:
        return np.zeros(len(smoothed_hands))
    velocity = np.gradient(smoothed_hands, axis=0) * fps
    return np.linalg.norm(velocity, axis=-1).mean(axis=1)


def hand_speed(clip: MotionClip, sigma: float, rest_joints: RestJoints = DEFAULT_REST_JOINTS) -> np.ndarray:
    """Per-frame hand speed ``[T]`` in m/s (see the module docstring)."""
    return speed_of(smooth_time(hand_joints(clip, rest_joints), sigma), clip.fps)


def hand_height(joints: np.ndarray, cfg: QCConfig) -> np.ndarray:
    """Smoothed hand height ``[T]`` (m; see the module docstring) from ``joint_positions``."""
    return smooth_time(joints[:, list(_WRISTS), 1].max(axis=1).astype(np.float64), cfg.energy_sigma)


def rest_wrist_height(rest_joints: RestJoints = DEFAULT_REST_JOINTS) -> float:
    """Wrist height (m) with the arms hanging straight down on ``rest_joints``."""
    rest = np.asarray(rest_joints, dtype=np.float64)
    heights = []
    for side in ("left", "right"):
        shoulder, elbow, wrist = (rest[joint_index(f"{side}_{j}")] for j in ("shoulder", "elbow", "wrist"))
        heights.append(shoulder[1] - np.linalg.norm(elbow - shoulder) - np.linalg.norm(wrist - elbow))
    return float(np.mean(heights))


def _first_sustained(mask: np.ndarray, length: int) -> int | None:
    """First index where ``mask`` holds for ``length`` consecutive frames, or None."""
    if len(mask) < length:
        return None
    runs = np.convolve(mask.astype(int), np.ones(length, dtype=int), mode="valid")
    hits = np.nonzero(runs == length)[0]
    return int(hits[0]) if len(hits) else None


def sustained_peak(speed: np.ndarray, frames: int) -> float:
    """The highest speed that ``speed`` stays above for ``frames`` consecutive frames (0 if shorter)."""
    if len(speed) < frames:
        return 0.0
    return float(np.lib.stride_tricks.sliding_window_view(speed, frames).min(axis=1).max())


def activity_threshold(speed: np.ndarray, hands_up: bool, cfg: QCConfig) -> float | None:
    """The hand speed (m/s) above which this clip counts as signing, or None when it never moves.

    For a clip whose hands go up into the signing space (``hands_up``): ``cfg.idle_energy_fraction``
    of its sustained peak speed (the highest speed held for ``cfg.idle_min_active_frames``
    frames, so one glitched frame does not set it), capped at ``cfg.idle_energy_threshold``.
    Signers, signs and fits differ several-fold in speed (small fingerspelled or tapping signs of
    a webcam corpus peak near 0.2 m/s, the synthetic arm movements above 1 m/s), so a fixed
    threshold misses slow signing entirely. Hands that stay in the rest zone only sway, however
    fast that is next to the clip's peak: ``cfg.idle_energy_threshold`` applies. A clip whose
    sustained peak stays below ``cfg.motionless_speed`` (fit jitter) has no sign."""
    peak = sustained_peak(speed, cfg.idle_min_active_frames)
    if peak < cfg.motionless_speed:
        return None
    if not hands_up:
        return cfg.idle_energy_threshold
    return min(cfg.idle_energy_threshold, cfg.idle_energy_fraction * peak)


def sign_onset(speed: np.ndarray, hands_up: bool, cfg: QCConfig) -> int | None:
    """First frame from which the hand speed stays above ``activity_threshold`` for
    ``cfg.idle_min_active_frames`` frames, or None."""
    threshold = activity_threshold(speed, hands_up, cfg)
    if threshold is None:
        return None
    return _first_sustained(speed > threshold, cfg.idle_min_active_frames)


def true_runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Maximal runs ``[(start, end_exclusive)]`` where ``mask`` is True."""
    edges = np.diff(np.concatenate([[0], mask.astype(int), [0]]))
    return list(zip(np.nonzero(edges == 1)[0].tolist(), np.nonzero(edges == -1)[0].tolist(), strict=True))
