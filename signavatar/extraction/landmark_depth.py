"""Depth targets from bone lengths: MediaPipe's depth decides only whether a bone points toward
or away from the camera, the bone's length and image length decide how far (see the
``keypoint_targets`` module docstring, step 4); hand depths are flattened to what the finger
bones allow."""

from __future__ import annotations

import numpy as np

from signavatar.body.joints import joint_index
from signavatar.extraction.landmark_scale import bone_length, shoulder_width
from signavatar.extraction.landmarks import LEFT_SHOULDER, NUM_LANDMARKS, POSE_LANDMARK_NAMES, RIGHT_SHOULDER

_SIGN_WINDOW = 5
"""Frames over which the sign of a bone's MediaPipe depth is taken (median), against jumps."""
_SIGN_NOISE = 0.25
"""A bone's depth sign is trusted fully once MediaPipe's depth difference reaches this fraction of its length."""
_IMPLAUSIBLE = 1.2
"""MediaPipe depth differences beyond this many bone lengths are impossible (counted in the report)."""


def _nan_median_filter(values: np.ndarray, window: int) -> np.ndarray:
    """Median over a centred window along axis 0, ignoring NaN (NaN where the window has none)."""
    if len(values) < 2:
        return values.copy()
    half = window // 2
    padded = np.concatenate([np.full((half,) + values.shape[1:], np.nan), values, np.full((half,) + values.shape[1:], np.nan)])
    windows = np.lib.stride_tricks.sliding_window_view(padded, window, axis=0)
    out = np.full(values.shape, np.nan)
    valid = np.isfinite(windows).any(-1)
    out[valid] = np.nanmedian(windows[valid], axis=-1)
    return out


def _bone_depth(
    xy_parent: np.ndarray, xy_child: np.ndarray, raw: np.ndarray, length: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Depth of a bone's child relative to its parent ``[T]``, how far to trust it ``[T]`` and
    where MediaPipe's own difference was impossible ``[T]`` (``raw``: MediaPipe's child-minus-parent
    depth, NaN where either end is missing). See the module docstring."""
    reach = np.sqrt(np.clip(length**2 - ((xy_child - xy_parent) ** 2).sum(-1), 0.0, None))
    smooth = _nan_median_filter(raw, _SIGN_WINDOW)
    known = np.isfinite(raw) & np.isfinite(smooth)
    sign = np.where(np.nan_to_num(smooth) >= 0, 1.0, -1.0)
    trust = np.clip(np.abs(np.nan_to_num(smooth)) / (_SIGN_NOISE * length), 0.0, 1.0)
    # A bone nearly in the image plane has almost no depth to get wrong.
    trust = np.where(reach < _SIGN_NOISE * length, 1.0, trust)
    implausible = known & (np.abs(np.nan_to_num(raw)) > _IMPLAUSIBLE * length)
    return np.where(known, sign * reach, 0.0), np.where(known, trust, 0.0), implausible


def arm_depths(
    xy: np.ndarray, raw: np.ndarray, rest_joints: np.ndarray
) -> tuple[np.ndarray, np.ndarray, float]:
    """Bone-length depth of shoulders, elbows and wrists (``depth="bone_length"``).

    ``xy [T, 75, 2]``, ``raw [T, 75]`` MediaPipe depth in the body frame (NaN = missing). Returns depths ``[T, 75]`` (NaN where not
    determined), trust ``[T, 75]`` in [0, 1] and the implausible fraction."""
    frames = xy.shape[0]
    depth = np.full((frames, NUM_LANDMARKS), np.nan)
    trust = np.zeros((frames, NUM_LANDMARKS))
    flags: list[np.ndarray] = []
    known = np.isfinite(raw)
    # Shoulders: their common depth as observed, their difference within what the shoulder width
    # allows (MediaPipe's shoulder points sit closer together than the body's joints, so the
    # bone-length rule would invent a turn).
    both = known[:, LEFT_SHOULDER] & known[:, RIGHT_SHOULDER]
    left, right = np.nan_to_num(raw[:, LEFT_SHOULDER]), np.nan_to_num(raw[:, RIGHT_SHOULDER])
    span = shoulder_width(rest_joints)
    reach = np.sqrt(np.clip(span**2 - ((xy[:, LEFT_SHOULDER] - xy[:, RIGHT_SHOULDER]) ** 2).sum(-1), 0.0, None))
    across = np.clip(left - right, -reach, reach)
    flags.append(both & (np.abs(left - right) > _IMPLAUSIBLE * span))
    for landmark, sign in ((LEFT_SHOULDER, 0.5), (RIGHT_SHOULDER, -0.5)):
        depth[:, landmark] = np.where(both, (left + right) / 2 + sign * across, raw[:, landmark])
        trust[:, landmark] = known[:, landmark] * 0.5
    for side in ("LEFT", "RIGHT"):
        shoulder, elbow, wrist = (POSE_LANDMARK_NAMES.index(f"{side}_{p}") for p in ("SHOULDER", "ELBOW", "WRIST"))
        upper = bone_length(rest_joints, f"{side.lower()}_shoulder", f"{side.lower()}_elbow")
        fore = bone_length(rest_joints, f"{side.lower()}_elbow", f"{side.lower()}_wrist")
        dz, t, bad = _bone_depth(xy[:, shoulder], xy[:, elbow], raw[:, elbow] - raw[:, shoulder], upper)
        ok = np.isfinite(depth[:, shoulder]) & known[:, elbow]
        depth[:, elbow] = np.where(ok, depth[:, shoulder] + dz, np.nan)
        trust[:, elbow] = np.where(ok, t * trust[:, shoulder].clip(0.5, 1.0), 0.0)
        flags.append(bad)
        # The wrist hangs on the elbow; without an elbow, on the shoulder within the arm's reach.
        dz, t, bad = _bone_depth(xy[:, elbow], xy[:, wrist], raw[:, wrist] - raw[:, elbow], fore)
        via_elbow = np.isfinite(depth[:, elbow]) & known[:, wrist]
        reach = np.sqrt(np.clip((upper + fore) ** 2 - ((xy[:, wrist] - xy[:, shoulder]) ** 2).sum(-1), 0.0, None))
        direct = np.clip(raw[:, wrist] - raw[:, shoulder], -reach, reach)
        via_shoulder = ~via_elbow & np.isfinite(depth[:, shoulder]) & known[:, wrist]
        depth[:, wrist] = np.where(
            via_elbow, depth[:, elbow] + dz, np.where(via_shoulder, depth[:, shoulder] + np.nan_to_num(direct), np.nan)
        )
        trust[:, wrist] = np.where(via_elbow, t, np.where(via_shoulder, 0.5, 0.0))
        flags.append(bad)
    checked = np.concatenate(flags)
    return depth, trust, float(checked.mean()) if checked.size else 0.0


_HAND_JOINT_NAMES = ("wrist",) + tuple(
    f"{finger}{k}" for finger in ("thumb", "index", "middle", "ring", "pinky") for k in (1, 2, 3, 3)
)
"""The SMPL-X joint of each hand landmark (a tip: its finger's distal joint)."""
_HAND_DEPTH_SLACK = 0.01
"""Metres of a hand point's depth beyond its reach that count as noise, not as an implausible hand."""


def hand_reach(rest_joints: np.ndarray, side: str) -> np.ndarray:
    """``[21]`` the furthest each hand landmark can be from the wrist: the bone lengths along its
    finger (metres; a tip one last bone beyond its distal joint)."""
    rest = np.asarray(rest_joints)
    wrist = rest[joint_index(f"{side}_wrist")]
    joints = [rest[joint_index(f"{side}_{name}")] for name in _HAND_JOINT_NAMES[1:]]
    reach = [0.0]
    for finger in range(5):  # path lengths along each chain; the tip repeats the last bone
        previous, length = wrist, 0.0
        for k in range(3):
            length += float(np.linalg.norm(joints[4 * finger + k] - previous))
            previous = joints[4 * finger + k]
            reach.append(length)
        reach.append(length + float(np.linalg.norm(joints[4 * finger + 2] - joints[4 * finger + 1])))
    return np.array(reach)


def hand_depth_factor(xy: np.ndarray, relative: np.ndarray, reach: np.ndarray) -> np.ndarray:
    """Per frame ``[T]``, the factor (at most 1) that brings a hand's MediaPipe depth (``relative
    [T, 21]`` to the wrist, metres; ``xy [T, 21, 2]`` to the wrist) within what its bones allow:
    depth jumps and depth scaled several times (common in MediaPipe output) flatten the hand
    toward the image plane instead of folding it. The hand's shape in depth is kept."""
    room = np.sqrt(np.clip(reach**2 - (xy**2).sum(-1), 0.0, None)) + _HAND_DEPTH_SLACK
    excess = np.abs(np.nan_to_num(relative)) / room
    return 1.0 / np.maximum(excess.max(-1), 1.0)
