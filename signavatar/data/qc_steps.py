"""The steps of quality control (paper section IV-A), each a pure function returning the new clip
and a record of what it removed or changed and why: trim the idle start, cut the end (where the hands
drop to rest or the signer goes on into another sign), repair short low-confidence gaps, smooth.
``signavatar.data.qc.run_qc`` chains them; the definitions are in its docstring."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from signavatar.body.rotations import axis_angle_to_rot6d, rot6d_to_axis_angle
from signavatar.body.skeleton import DEFAULT_REST_JOINTS
from signavatar.config import QCConfig
from signavatar.data.hand_motion import (
    HAND_JOINTS,
    RestJoints,
    activity_threshold,
    hand_height,
    hand_joints,
    joint_positions,
    rest_wrist_height,
    true_runs,
    sign_onset,
    smooth_time,
    speed_of,
    sustained_peak,
)
from signavatar.motion.clip import MotionClip

Record = dict[str, Any]


class AnnotationError(ValueError):
    """An annotation file or entry is malformed or does not fit its clip; the message names it."""


def check_annotation(clip: MotionClip, annotation: tuple[int, int]) -> tuple[int, int]:
    try:
        start, end = (int(v) for v in annotation)
    except (TypeError, ValueError) as exc:
        raise AnnotationError(f"clip {clip.clip_id!r}: annotation {annotation!r} is not [start, end]") from exc
    if not 0 <= start < end <= clip.num_frames:
        raise AnnotationError(
            f"clip {clip.clip_id!r}: annotation [{start}, {end}) does not fit its {clip.num_frames} frames"
        )
    return start, end


def trim_idle_leading(
    clip: MotionClip, cfg: QCConfig, rest_joints: RestJoints = DEFAULT_REST_JOINTS, joints: np.ndarray | None = None
) -> tuple[MotionClip, Record]:
    """Drop the idle frames before the sign.

    Detection: ``sign_onset`` (hand speed above the clip's ``activity_threshold`` for
    ``cfg.idle_min_active_frames`` frames). Refinement: back from there along falling speed to the
    calm frame before it; the hands' idle position is their mean (smoothed) position over that
    frame and the two before; the sign starts at the last frame before the hand joints move away
    from it by more than ``cfg.still_tolerance`` on average (metres). With no active frame at all the clip
    is returned unchanged and the record says ``active: False``. ``joints``: ``joint_positions`` of
    ``clip``, when the caller has them.
    """
    joints = joint_positions(clip, rest_joints) if joints is None else joints
    hands = smooth_time(hand_joints(clip, rest_joints, joints), cfg.energy_sigma)
    speed = speed_of(hands, clip.fps)
    hands_up = bool((hand_height(joints, cfg) >= rest_wrist_height(rest_joints) + cfg.trailing_rest_zone).any())
    onset = sign_onset(speed, hands_up, cfg)
    frames = clip.num_frames
    if onset is None:
        threshold = activity_threshold(speed, hands_up, cfg) or cfg.motionless_speed
        return clip, {"removed": 0, "kept": [0, frames], "active": False,
                      "reason": f"hand speed never stays above {threshold:.3f} m/s for {cfg.idle_min_active_frames} "
                      f"frames (at most {sustained_peak(speed, cfg.idle_min_active_frames):.3f} m/s"
                      f"{'' if hands_up else ', hands in the rest zone'})"}
    calm = onset
    while calm > 0 and speed[calm - 1] < speed[calm]:
        calm -= 1
    idle = hands[max(calm - 2, 0) : calm + 1].mean(axis=0)
    moved = np.linalg.norm(hands[calm:] - idle, axis=-1).mean(axis=1) > cfg.still_tolerance
    start = calm + max(int(np.argmax(moved)) - 1, 0) if moved.any() else onset
    return clip.slice_frames(start, frames), {"removed": start, "kept": [start, frames], "active": True}


def _hand_distance(a: np.ndarray, b: np.ndarray) -> float:
    """How far the hands are apart between two frames of ``HAND_JOINTS`` positions ``[J, 3]``: the
    larger of the two hands' mean joint distances (m), so a still hand does not dilute a moving one."""
    per_joint = np.linalg.norm(a - b, axis=-1)
    half = len(HAND_JOINTS) // 2
    left = np.concatenate([per_joint[:1], per_joint[2 : 2 + (half - 1)]])
    right = np.concatenate([per_joint[1:2], per_joint[2 + (half - 1) :]])
    return float(max(left.mean(), right.mean()))


def next_sign_boundary(hands: np.ndarray, height: np.ndarray, fps: float, cfg: QCConfig,
                       rest_height: float) -> int | None:
    """Where the sign ends when the signer goes on into another sign with the hands up (the
    trailing-other-sign case of the paper's Fig. 3), or None.

    ``hands``: smoothed ``HAND_JOINTS`` positions ``[T, J, 3]``; ``height``: smoothed hand height.
    Candidates are the holds (see the module docstring) that begin after the sign's movement
    started (``sign_onset``: a still start is the sign's first position, not the end of one),
    after which the hands travel elsewhere and are still at least ``cfg.next_sign_distance``
    metres away from the hold at the end of the clip, and whose remainder looks like a remnant of
    another sign rather than the clip's own sign: it lasts at least ``cfg.next_sign_min_duration``
    seconds and its hand path is at most ``cfg.next_sign_max_path_ratio`` times the path from the
    onset to the hold. (A clip is labelled with its sign, so the sign is its main movement; in a
    short isolated-sign clip a large movement after a hold is the sign itself, after the hands
    arrived and paused at its first position, and a repeated movement is not another sign.)
    A sign's final hold is its longest stop (brief stops also occur where the hands reach a sign's
    first position, in this sign and the next), so the longest candidate wins (the later one on a
    tie). The sign ends at the first frame after that hold where the hands are more than
    ``cfg.still_tolerance`` from where they held. A clip that ends in a still hold (a hold within
    two frames of its end, mean speed below 0.6 ``cfg.hold_speed``) ends with its sign: None. A
    clip already cut at the end of its final hold can still lose its last part (about one in ten
    of the synthetic corpus's: an earlier stop becomes the longest candidate): run QC once."""
    speed = speed_of(hands, fps)
    up = height >= rest_height + cfg.trailing_rest_zone
    min_frames = max(int(round(cfg.hold_min_duration * fps)), 2)
    holds: list[tuple[int, int]] = []
    for start, end in true_runs((speed < cfg.hold_speed) & up):
        if holds and start - holds[-1][1] < min_frames:  # a blip of speed does not end a hold
            start = holds.pop()[0]
        holds.append((start, end))
    if holds and holds[-1][1] >= len(speed) - 2 and holds[-1][1] - holds[-1][0] >= min_frames \
            and speed[holds[-1][0] : holds[-1][1]].mean() < 0.6 * cfg.hold_speed:
        return None  # the clip ends in a hold: with its sign (e.g. one already cut there)
    onset = sign_onset(speed, True, cfg)
    if onset is None:
        return None
    path = np.concatenate([[0.0], np.cumsum(speed)])  # hand path up to each frame (m * fps)
    candidates = [
        (end - start, start, end)
        for start, end in holds
        if start > onset and end - start >= min_frames and len(speed) - end >= cfg.next_sign_min_duration * fps
        and path[-1] - path[end] <= cfg.next_sign_max_path_ratio * (path[start] - path[onset])
        and _hand_distance(hands[end - 1], hands[-1]) >= cfg.next_sign_distance
    ]
    if not candidates:
        return None
    _, start, end = max(candidates)
    held = hands[max(end - 3, start) : end].mean(axis=0)
    moved = [_hand_distance(h, held) > cfg.still_tolerance for h in hands[end - 1 :]]
    return end - 1 + int(np.argmax(moved))


def trim_trailing(
    clip: MotionClip,
    cfg: QCConfig,
    annotation: tuple[int, int] | None = None,
    rest_joints: RestJoints = DEFAULT_REST_JOINTS,
    joints: np.ndarray | None = None,
) -> tuple[MotionClip, Record]:
    """Drop the off-sign frames after the sign.

    With an ``annotation`` (kept frames ``[start, end)`` of this clip, from a per-video annotation
    file) exactly those frames are kept, the leading ones included: the annotation is the
    authority. Otherwise, when ``cfg.trailing_heuristic`` is on: find the last frame with the hands
    up (hand height above the rest zone); if the hands are down by the end of the clip, follow the
    drop back from there while the hand height falls faster than ``cfg.trailing_descent_speed``
    to the frame where the hands were held; the sign ends at the first frame after that whose
    hand height is ``cfg.still_tolerance`` below the height held there. If the hands are still up
    at the end, the signer may have gone on into another sign: with ``cfg.next_sign`` the sign
    ends where ``next_sign_boundary`` says (method ``next_sign``). Hands that never go up, or a
    clip that ends inside its sign, are left as they are. ``joints``: ``joint_positions`` of ``clip``,
    when the caller has them.
    """
    frames = clip.num_frames
    if annotation is not None:
        start, end = check_annotation(clip, annotation)
        return clip.slice_frames(start, end), {
            "method": "annotation",
            "removed": frames - end,
            "leading_removed": start,
            "kept": [start, end],
        }
    if not cfg.trailing_heuristic:
        return clip, {"method": "none", "removed": 0, "kept": [0, frames]}
    joints = joint_positions(clip, rest_joints) if joints is None else joints
    height = hand_height(joints, cfg)
    rest_height = rest_wrist_height(rest_joints)
    up = np.nonzero(height >= rest_height + cfg.trailing_rest_zone)[0]
    if len(up) == 0:
        return clip, {"method": "heuristic", "removed": 0, "kept": [0, frames], "note": "hands never leave the rest zone"}
    if up[-1] == frames - 1:
        hands = smooth_time(hand_joints(clip, rest_joints, joints), cfg.energy_sigma)
        end = next_sign_boundary(hands, height, clip.fps, cfg, rest_height) if cfg.next_sign else None
        if end is None:
            return clip, {"method": "heuristic", "removed": 0, "kept": [0, frames],
                          "note": "hands are still up at the end, no other sign after a hold"}
        return clip.slice_frames(0, end), {"method": "next_sign", "removed": frames - end, "kept": [0, end]}
    fall = -np.gradient(height) * clip.fps  # m/s, positive while the hands descend
    held = int(up[-1])
    while held > 0 and fall[held] > cfg.trailing_descent_speed:
        held -= 1
    # The sign ends where the hands first fall clearly below the held height.
    level = height[max(held - 1, 0) : held + 2].mean()
    below = height[held + 1 :] < level - cfg.still_tolerance
    end = held + 1 + int(np.argmax(below)) if below.any() else frames
    return clip.slice_frames(0, end), {"method": "heuristic", "removed": frames - end, "kept": [0, end]}


def _lerp_gap(values: np.ndarray, start: int, end: int) -> None:
    """Fill ``values[start:end]`` in place by linear interpolation between frames ``start - 1``
    and ``end`` (both must exist)."""
    w = (np.arange(start, end) - (start - 1)) / (end - (start - 1))
    w = w.reshape((-1,) + (1,) * (values.ndim - 1))
    values[start:end] = (1 - w) * values[start - 1] + w * values[end]


def drop_low_confidence(clip: MotionClip, cfg: QCConfig) -> tuple[MotionClip, Record]:
    """Remove frames whose confidence is below ``cfg.confidence_threshold``.

    Low-confidence frames at either end are cut. Interior runs of at most ``cfg.max_gap`` frames
    are filled by interpolation between the good frames around them: rotations linearly in 6D and
    re-orthogonalised (``signavatar.body.rotations``), expression and trans linearly; their
    confidence values are left as they were. Longer interior runs are left untouched and listed in
    ``long_gaps`` (``run_qc`` decides). A clip without confidence passes through.
    """
    frames = clip.num_frames
    base: Record = {"removed": 0, "interpolated": 0, "long_gaps": [], "kept": [0, frames]}
    if clip.confidence is None:
        return clip, {**base, "note": "no confidence"}
    good = clip.confidence >= cfg.confidence_threshold
    if not good.any():
        return clip, {**base, "all_low": True}
    first, last = int(np.argmax(good)), int(frames - np.argmax(good[::-1]))
    clip = clip.slice_frames(first, last)
    good = good[first:last]
    gaps = true_runs(~good)
    short = [(a, b) for a, b in gaps if b - a <= cfg.max_gap]
    record = {
        **base,
        "removed": frames - (last - first),
        "interpolated": sum(b - a for a, b in short),
        "long_gaps": [[a, b] for a, b in gaps if b - a > cfg.max_gap],
        "kept": [first, last],
    }
    if short:
        rot6d = axis_angle_to_rot6d(torch.from_numpy(clip.poses).double()).numpy()
        expression, trans = clip.expression.copy(), clip.trans.copy()
        for a, b in short:
            for values in (rot6d, expression, trans):
                _lerp_gap(values, a, b)
        poses = rot6d_to_axis_angle(torch.from_numpy(rot6d)).numpy().astype(np.float32)
        clip = clip.replace(poses=poses, expression=expression, trans=trans)
    return clip, record


def smooth(clip: MotionClip, cfg: QCConfig) -> tuple[MotionClip, Record]:
    """Optional Gaussian temporal smoothing (``cfg.smoothing_sigma`` frames) of rotations in 6D
    space (re-orthogonalised), expression and trans. Off unless ``cfg.smoothing``."""
    if not cfg.smoothing or clip.num_frames < 2:
        return clip, {"applied": False}
    rot6d = axis_angle_to_rot6d(torch.from_numpy(clip.poses).double()).numpy()
    poses = rot6d_to_axis_angle(torch.from_numpy(smooth_time(rot6d, cfg.smoothing_sigma))).numpy()
    return clip.replace(
        poses=poses.astype(np.float32),
        expression=smooth_time(clip.expression, cfg.smoothing_sigma),
        trans=smooth_time(clip.trans, cfg.smoothing_sigma),
    ), {"applied": True, "sigma": cfg.smoothing_sigma}
