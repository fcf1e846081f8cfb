"""Quality control of motion clips (paper section IV-A): pure functions on ``MotionClip``.

Each step returns the new clip and a record of what it removed or changed and why; ``run_qc``
chains them and never drops a clip silently (a rejected clip has a ``reason``).

Definitions used throughout:

* **hand speed** (``hand_speed``): joint positions come from forward kinematics of the clip's
  poses on a rest skeleton, without ``trans`` (motion relative to the body). The wrists and the
  distal joint of every finger (the closest SMPL-X joints to the finger tips) are smoothed in time
  with a Gaussian of ``cfg.energy_sigma`` frames; the speed of a frame is the mean over those
  joints of ``|d position / dt|`` in m/s (central differences). Speed thresholds (relative to
  the clip's own peak speed: ``activity_threshold``) find that a sign starts; the exact frame is
  where the hands leave their idle position by more than ``cfg.still_tolerance`` (metres, mean
  over the same joints).
* **hand height**: the higher of the two wrists' ``y`` (metres, y up). The **rest height** is the
  wrist height of straight hanging arms on the rest skeleton (shoulder height minus upper arm and
  forearm length); "hands down" means below rest height + ``cfg.trailing_rest_zone``. It is
  smoothed like the positions.
* a **hold** is a run of at least ``cfg.hold_min_duration`` seconds whose hand speed stays below
  ``cfg.hold_speed`` with the hands up (hand height above the rest zone). Signs end in a hold (or
  move slowly through their last part); a signer who goes on into another sign leaves it with a
  transition to another place in the signing space.
* frame ranges are ``[start, end_exclusive]`` in the numbering of the clip given to a function;
  ``run_qc`` reports ``kept_range`` in the numbering of the clip it was given.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from scipy.ndimage import gaussian_filter1d

from signavatar import storage
from signavatar.body.joints import joint_index
from signavatar.body.rotations import axis_angle_to_rot6d, rot6d_to_axis_angle
from signavatar.body.skeleton import DEFAULT_REST_JOINTS, forward_kinematics_axis_angle
from signavatar.config import QCConfig
from signavatar.motion.clip import MotionClip

log = logging.getLogger(__name__)

_WRISTS = (joint_index("left_wrist"), joint_index("right_wrist"))
HAND_JOINTS: tuple[int, ...] = _WRISTS + tuple(
    joint_index(f"{side}_{finger}3")
    for side in ("left", "right")
    for finger in ("index", "middle", "pinky", "ring", "thumb")
)

Record = dict[str, Any]
RestJoints = np.ndarray | torch.Tensor


class AnnotationError(ValueError):
    """An annotation file or entry is malformed or does not fit its clip; the message names it."""


# --------------------------------------------------------------------------------------------
# Signals


def joint_positions(clip: MotionClip | np.ndarray, rest_joints: RestJoints = DEFAULT_REST_JOINTS) -> np.ndarray:
    """``[T, 55, 3]`` body-relative joint positions (forward kinematics without ``trans``) of a clip,
    or ``[..., 55, 3]`` of axis-angle poses ``[..., 55, 3]`` (frames of several clips in one pass)."""
    poses = clip.poses if isinstance(clip, MotionClip) else clip
    with torch.no_grad():
        return forward_kinematics_axis_angle(torch.from_numpy(poses), rest_joints).numpy()


def _smooth_time(x: np.ndarray, sigma: float) -> np.ndarray:
    return gaussian_filter1d(x, sigma, axis=0, mode="nearest") if sigma > 0 and len(x) > 1 else x


def _hand_joints(clip: MotionClip, rest_joints: RestJoints, joints: np.ndarray | None = None) -> np.ndarray:
    """``HAND_JOINTS`` positions ``[T, J, 3]`` float64, from ``joints`` (``joint_positions`` of
    ``clip``) when the caller has them."""
    joints = joint_positions(clip, rest_joints) if joints is None else joints
    return joints[:, list(HAND_JOINTS)].astype(np.float64)


def _speed(smoothed_hands: np.ndarray, fps: float) -> np.ndarray:
    if len(smoothed_hands) < 2:
        return np.zeros(len(smoothed_hands))
    velocity = np.gradient(smoothed_hands, axis=0) * fps
    return np.linalg.norm(velocity, axis=-1).mean(axis=1)


def hand_speed(clip: MotionClip, sigma: float, rest_joints: RestJoints = DEFAULT_REST_JOINTS) -> np.ndarray:
    """Per-frame hand speed ``[T]`` in m/s (see the module docstring)."""
    return _speed(_smooth_time(_hand_joints(clip, rest_joints), sigma), clip.fps)


def _hand_height(joints: np.ndarray, cfg: QCConfig) -> np.ndarray:
    """Smoothed hand height ``[T]`` (m; see the module docstring) from ``joint_positions``."""
    return _smooth_time(joints[:, list(_WRISTS), 1].max(axis=1).astype(np.float64), cfg.energy_sigma)


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


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Maximal runs ``[(start, end_exclusive)]`` where ``mask`` is True."""
    edges = np.diff(np.concatenate([[0], mask.astype(int), [0]]))
    return list(zip(np.nonzero(edges == 1)[0].tolist(), np.nonzero(edges == -1)[0].tolist(), strict=True))


# --------------------------------------------------------------------------------------------
# Steps


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
    hands = _smooth_time(_hand_joints(clip, rest_joints, joints), cfg.energy_sigma)
    speed = _speed(hands, clip.fps)
    hands_up = bool((_hand_height(joints, cfg) >= rest_wrist_height(rest_joints) + cfg.trailing_rest_zone).any())
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


def _check_annotation(clip: MotionClip, annotation: tuple[int, int]) -> tuple[int, int]:
    try:
        start, end = (int(v) for v in annotation)
    except (TypeError, ValueError) as exc:
        raise AnnotationError(f"clip {clip.clip_id!r}: annotation {annotation!r} is not [start, end]") from exc
    if not 0 <= start < end <= clip.num_frames:
        raise AnnotationError(
            f"clip {clip.clip_id!r}: annotation [{start}, {end}) does not fit its {clip.num_frames} frames"
        )
    return start, end


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
    speed = _speed(hands, fps)
    up = height >= rest_height + cfg.trailing_rest_zone
    min_frames = max(int(round(cfg.hold_min_duration * fps)), 2)
    holds: list[tuple[int, int]] = []
    for start, end in _runs((speed < cfg.hold_speed) & up):
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
        start, end = _check_annotation(clip, annotation)
        return clip.slice_frames(start, end), {
            "method": "annotation",
            "removed": frames - end,
            "leading_removed": start,
            "kept": [start, end],
        }
    if not cfg.trailing_heuristic:
        return clip, {"method": "none", "removed": 0, "kept": [0, frames]}
    joints = joint_positions(clip, rest_joints) if joints is None else joints
    height = _hand_height(joints, cfg)
    rest_height = rest_wrist_height(rest_joints)
    up = np.nonzero(height >= rest_height + cfg.trailing_rest_zone)[0]
    if len(up) == 0:
        return clip, {"method": "heuristic", "removed": 0, "kept": [0, frames], "note": "hands never leave the rest zone"}
    if up[-1] == frames - 1:
        hands = _smooth_time(_hand_joints(clip, rest_joints, joints), cfg.energy_sigma)
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
    gaps = _runs(~good)
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
    poses = rot6d_to_axis_angle(torch.from_numpy(_smooth_time(rot6d, cfg.smoothing_sigma))).numpy()
    return clip.replace(
        poses=poses.astype(np.float32),
        expression=_smooth_time(clip.expression, cfg.smoothing_sigma),
        trans=_smooth_time(clip.trans, cfg.smoothing_sigma),
    ), {"applied": True, "sigma": cfg.smoothing_sigma}


def span_agreement(kept: tuple[int, int] | list[int], truth: tuple[int, int] | list[int]) -> dict[str, float]:
    """Precision (share of kept frames inside the true sign) and recall (share of the true sign's
    frames kept) of a kept range against a known sign range, both ``[start, end_exclusive]``."""
    overlap = max(0, min(kept[1], truth[1]) - max(kept[0], truth[0]))
    return {"precision": overlap / max(kept[1] - kept[0], 1), "recall": overlap / max(truth[1] - truth[0], 1)}


def span_summary(reports: list[Record]) -> dict[str, float | int] | None:
    """Mean precision / recall of the kept frames over the accepted reports that know their clip's
    true sign range (``span_vs_truth``: synthetic clips), or None when none does."""
    known = [r["span_vs_truth"] for r in reports if r.get("span_vs_truth") and r["reason"] is None]
    if not known:
        return None
    return {
        "clips": len(known),
        "precision": float(np.mean([k["precision"] for k in known])),
        "recall": float(np.mean([k["recall"] for k in known])),
    }


# --------------------------------------------------------------------------------------------
# The whole pass


def min_length(cfg: QCConfig, fps: float) -> tuple[int, str]:
    """The fewest frames a clip at ``fps`` may keep, and the rule as the report states it:
    ``cfg.min_frames`` when set, else ``cfg.min_duration`` seconds (at least one frame)."""
    if cfg.min_frames is not None:
        return cfg.min_frames, f"min_frames={cfg.min_frames}"
    frames = max(int(np.ceil(cfg.min_duration * fps - 1e-6)), 1)
    return frames, f"min_frames={frames}: min_duration={cfg.min_duration} s at {fps:g} fps"


@dataclass
class QCResult:
    """``clip`` is None when the clip was rejected; ``report["reason"]`` then says why."""

    clip: MotionClip | None
    report: Record = field(default_factory=dict)

    @property
    def accepted(self) -> bool:
        return self.clip is not None


def run_qc(
    clip: MotionClip,
    cfg: QCConfig,
    annotation: tuple[int, int] | None = None,
    rest_joints: RestJoints = DEFAULT_REST_JOINTS,
    joints: np.ndarray | None = None,
) -> QCResult:
    """Quality control of one clip.

    Order: the annotation's kept frames (when given; they refer to the input's frame numbers),
    then low-confidence repair, then — without an annotation — the trailing heuristic and the idle
    leading trim, then optional smoothing and the length check (``min_length``). The report has
    clip_id, gloss, frames_in, frames_out, kept_range (input frame numbers), removed counts
    (idle_leading, trailing, low_confidence, interpolated), long_gaps, trailing_method,
    ``reason`` (None unless rejected) and, for clips that know their true ``source["sign_range"]``
    (synthetic ones), ``span_vs_truth`` (``span_agreement``). ``joints``: ``joint_positions(clip,
    rest_joints)`` when the caller has them (forward kinematics is most of QC's time).
    """
    report: Record = {
        "clip_id": clip.clip_id,
        "gloss": clip.gloss,
        "frames_in": clip.num_frames,
        "frames_out": clip.num_frames,
        "kept_range": [0, clip.num_frames],
        "removed": {"idle_leading": 0, "trailing": 0, "low_confidence": 0, "interpolated": 0},
        "long_gaps": [],
        "trailing_method": None,
        "reason": None,
    }
    if not cfg.enabled:
        return QCResult(clip, {**report, "note": "qc disabled"})
    removed = report["removed"]
    offset = 0

    def keep(kept: list[int]) -> None:
        nonlocal offset
        report["kept_range"] = [offset + kept[0], offset + kept[1]]
        offset += kept[0]

    def reject(reason: str) -> QCResult:
        log.info("QC rejected clip %s (%s): %s", clip.clip_id, clip.gloss, reason)
        return QCResult(None, {**report, "frames_out": 0, "reason": reason})

    current = clip
    if annotation is not None:
        try:
            current, rec = trim_trailing(current, cfg, annotation, rest_joints)
        except AnnotationError as exc:
            return reject(str(exc))
        removed["idle_leading"] += rec["leading_removed"]
        removed["trailing"] += rec["removed"]
        report["trailing_method"] = rec["method"]
        keep(rec["kept"])

    current, rec = drop_low_confidence(current, cfg)
    if rec.get("all_low"):
        return reject(f"every frame has confidence below {cfg.confidence_threshold}")
    removed["low_confidence"] += rec["removed"]
    removed["interpolated"] += rec["interpolated"]
    keep(rec["kept"])
    report["long_gaps"] = [[offset + a, offset + b] for a, b in rec["long_gaps"]]
    if report["long_gaps"] and cfg.reject_long_gaps:
        return reject(
            f"low-confidence gap(s) longer than max_gap={cfg.max_gap} frames at {report['long_gaps']} "
            "(input frame numbers)"
        )

    if annotation is None:  # forward kinematics once; each step gets the frames it keeps
        kept = rec["kept"]
        joints = (joint_positions(current, rest_joints) if joints is None or rec["interpolated"]
                  else joints[kept[0] : kept[1]])
        current, rec = trim_trailing(current, cfg, None, rest_joints, joints)
        removed["trailing"] += rec["removed"]
        report["trailing_method"] = rec["method"]
        keep(rec["kept"])
        current, rec = trim_idle_leading(current, cfg, rest_joints, joints[rec["kept"][0] : rec["kept"][1]])
        if not rec["active"]:
            return reject(f"no sign found: {rec['reason']}")
        removed["idle_leading"] += rec["removed"]
        keep(rec["kept"])

    current, rec = smooth(current, cfg)
    report["smoothed"] = rec["applied"]
    needed, rule = min_length(cfg, current.fps)
    if current.num_frames < needed:
        return reject(f"only {current.num_frames} frames ({current.num_frames / current.fps:.2f} s) remain after QC "
                      f"({rule})")
    report["frames_out"] = current.num_frames
    truth = clip.source.get("sign_range")
    if truth is not None:
        report["span_vs_truth"] = span_agreement(report["kept_range"], truth)
    return QCResult(current, report)


def load_annotations(uri: str) -> dict[str, tuple[int, int]]:
    """Read a per-video annotation file (local or s3://): JSON ``{clip_id: [start, end_exclusive]}``
    of kept frames. Malformed entries raise ``AnnotationError`` naming the file and the clip."""
    try:
        data = json.loads(storage.read_text(uri))
    except json.JSONDecodeError as exc:
        raise AnnotationError(f"annotation file {uri}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise AnnotationError(f"annotation file {uri}: top level must be an object {{clip_id: [start, end]}}")
    out = {}
    for clip_id, value in data.items():
        ok = (
            isinstance(value, list)
            and len(value) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
            and 0 <= value[0] < value[1]
        )
        if not ok:
            raise AnnotationError(
                f"annotation file {uri}: entry {clip_id!r} is {value!r}; expected [start, end] with 0 <= start < end"
            )
        out[clip_id] = (value[0], value[1])
    return out
