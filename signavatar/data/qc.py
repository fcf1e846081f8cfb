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

import numpy as np

from signavatar import storage
from signavatar.body.skeleton import DEFAULT_REST_JOINTS
from signavatar.config import QCConfig
from signavatar.data.hand_motion import RestJoints, joint_positions
from signavatar.data.qc_steps import (
    AnnotationError,
    Record,
    drop_low_confidence,
    smooth,
    trim_idle_leading,
    trim_trailing,
)
from signavatar.motion.clip import MotionClip

log = logging.getLogger(__name__)


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
