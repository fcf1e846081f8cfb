"""Joining signs into one continuous clip: transitions on the rotation manifold (no Ray, no model).

A transition of ``n`` frames bridges the last frame of one sign (pose ``A``) and the first frame of
the next (pose ``B``), every joint separately, hands and root included:

* rotations: ``R(t) = R_A exp(H(t))`` with ``exp`` the axis-angle map and ``H`` a quintic Hermite
  curve in the tangent space at ``R_A``: ``H(0) = 0``, ``H(1) = log(R_A^T R_B)`` (the geodesic to
  ``B``), first derivatives equal to the joint's angular velocity at the end of the sign and at
  the start of the next, second derivatives zero. With both signs at rest at the join this is a
  slerp along the geodesic with the quintic ease-in/ease-out ``10t^3 - 15t^4 + 6t^5`` (zero
  velocity and acceleration at both ends); a sign that is still moving hands its velocity on, so
  the velocity stays continuous across the joins.
* expression and ``trans`` follow the same curve in their own (Euclidean) space. Before joining,
  each sign's ``trans`` is shifted to start where the previous one ended, so the body never slides
  or jumps between signs (feet follow from root, legs and ``trans``, which all move continuously).

``t`` runs over ``k / (n + 1)`` for ``k = 1..n``: the transition's frames lie strictly between the
two signs' frames. Its default length adapts to how far the body must travel: the largest
displacement of any joint between ``A`` and ``B`` (forward kinematics on the rest skeleton),
covered at no more than ``SentenceConfig.transition_speed`` at the curve's peak (1.875 times
the mean speed for the quintic ease), clamped to ``[min_transition_frames, max_transition_frames]``.

``joint_speeds`` / ``joint_accelerations`` measure smoothness: per frame, the fastest joint's
speed (m/s) and acceleration (m/s^2), world positions (``trans`` included); ``join_kinematics``
keeps the frames that joining added, ``smoothness_reference`` gives what real clips reach.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from signavatar.body.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from signavatar.body.skeleton import DEFAULT_REST_JOINTS, forward_kinematics_axis_angle
from signavatar.config import SentenceConfig
from signavatar.motion.clip import MotionClip, Segment

# Peak of d/dt (10t^3 - 15t^4 + 6t^5) over [0, 1], at t = 1/2: the ease's peak-to-mean speed ratio.
EASE_PEAK_SPEED = 1.875
# Boundary velocities are measured over this many frames at each end of a sign. One step: the
# transition's first (last) step then continues the sign's last (first) step, so the discrete
# acceleration at the join is the curve's own; a longer window smooths jitter but leaves a kink.
VELOCITY_WINDOW = 1


@dataclass(frozen=True)
class SignPart:
    """One sign of a sentence: ``clip`` holds its frames (already cut to the sign), played at
    ``speed`` (2 = twice as fast), its last pose held ``hold_frames`` frames, then joined to the
    next sign by ``transition_frames`` frames (None: ``SentenceConfig.transition_frames``, else
    adaptive). The last part's ``transition_frames`` is unused."""

    clip: MotionClip
    gloss: str
    speed: float = 1.0
    hold_frames: int | None = None
    transition_frames: int | None = None

    def check(self, index: int) -> None:
        where = f"sign {index} ({self.gloss!r})"
        if not (math.isfinite(self.speed) and self.speed > 0):
            raise ValueError(f"{where}: speed must be a positive number, got {self.speed!r}")
        for name in ("hold_frames", "transition_frames"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                raise ValueError(f"{where}: {name} must be an integer >= 0, got {value!r}")


def ease_weights(t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Quintic Hermite basis at ``t`` in [0, 1] with zero end accelerations: the weights of the end
    position, the start velocity and the end velocity (the start position's weight is 1 minus
    the first, and it is zero in the tangent space used here)."""
    t2, t3 = t * t, t * t * t
    end = t3 * (10 - 15 * t + 6 * t2)
    start_velocity = t - 6 * t3 + 8 * t3 * t - 3 * t3 * t2
    end_velocity = -4 * t3 + 7 * t3 * t - 3 * t3 * t2
    return end, start_velocity, end_velocity


def _hermite(start: np.ndarray, end: np.ndarray, v_start: np.ndarray, v_end: np.ndarray, frames: int) -> np.ndarray:
    """``frames`` points strictly between ``start`` and ``end``; velocities are per frame."""
    t = np.arange(1, frames + 1, dtype=np.float64) / (frames + 1)
    w_end, w_v0, w_v1 = (w.reshape((-1,) + (1,) * start.ndim) for w in ease_weights(t))
    scale = frames + 1  # per-frame velocities -> per unit of t
    return start + w_end * (end - start) + scale * (w_v0 * v_start + w_v1 * v_end)


def _tail_velocity(values: np.ndarray, at_end: bool) -> np.ndarray:
    """Per-frame velocity over the last (``at_end``) or first ``VELOCITY_WINDOW`` frames."""
    k = min(VELOCITY_WINDOW, len(values) - 1)
    if k < 1:
        return np.zeros_like(values[0])
    return (values[-1] - values[-1 - k]) / k if at_end else (values[k] - values[0]) / k


def bridge(a: MotionClip, b: MotionClip, frames: int) -> dict[str, np.ndarray]:
    """The ``frames`` frames between the end of ``a`` and the start of ``b``: ``poses``,
    ``expression``, ``trans`` and (when both have one) ``confidence``, float32."""
    return bridges([(a, b, frames)])[0]


def bridges(joins: Sequence[tuple[MotionClip, MotionClip, int]]) -> list[dict[str, np.ndarray]]:
    """``bridge(a, b, frames)`` for every join, with one rotation conversion each way for all of them."""
    if not joins:
        return []
    windows = [(min(VELOCITY_WINDOW, a.num_frames - 1), min(VELOCITY_WINDOW, b.num_frames - 1)) for a, b, _ in joins]
    ends = np.stack([[a.poses[-1 - ka], a.poses[-1], b.poses[0], b.poses[kb]]
                     for (a, b, _), (ka, kb) in zip(joins, windows, strict=True)]).astype(np.float64)
    rot = axis_angle_to_matrix(torch.from_numpy(ends))  # [N, 4, J, 3, 3]
    # one log for all three: the geodesic A -> B and the local angular velocity at each end
    pairs = torch.stack([rot[:, 1].transpose(-1, -2) @ rot[:, 2], rot[:, 0].transpose(-1, -2) @ rot[:, 1],
                         rot[:, 2].transpose(-1, -2) @ rot[:, 3]], dim=1)
    logs = matrix_to_axis_angle(pairs).numpy()  # [N, 3, J, 3]
    tangent = np.concatenate([
        _hermite(np.zeros_like(delta), delta, v_a / max(ka, 1), v_b / max(kb, 1), frames)
        for (delta, v_a, v_b), (ka, kb), (_, _, frames) in zip(logs, windows, joins, strict=True)
    ])
    starts = torch.repeat_interleave(rot[:, 1], torch.tensor([frames for _, _, frames in joins]), dim=0)
    poses = matrix_to_axis_angle(starts @ axis_angle_to_matrix(torch.from_numpy(tangent))).numpy().astype(np.float32)
    out = []
    for (a, b, frames), chunk in zip(joins, np.split(poses, np.cumsum([f for _, _, f in joins[:-1]])), strict=True):
        piece = {"poses": chunk}
        names = ["expression", "trans"] + (["confidence"] if a.confidence is not None and b.confidence is not None
                                           else [])
        for name in names:
            end_values, start_values = getattr(a, name).astype(np.float64), getattr(b, name).astype(np.float64)
            piece[name] = _hermite(end_values[-1], start_values[0], _tail_velocity(end_values, True),
                                   _tail_velocity(start_values, False), frames).astype(np.float32)
        if "confidence" in piece:
            piece["confidence"] = np.clip(piece["confidence"], 0.0, 1.0)
        out.append(piece)
    return out


def body_positions(poses: np.ndarray, rest_joints: np.ndarray = DEFAULT_REST_JOINTS,
                   trans: np.ndarray | None = None) -> np.ndarray:
    """``[..., 55, 3]`` joint positions of axis-angle ``poses [..., 55, 3]`` (body-relative without ``trans``)."""
    with torch.no_grad():
        return forward_kinematics_axis_angle(
            torch.from_numpy(np.asarray(poses, np.float64)), np.asarray(rest_joints, np.float64),
            trans=None if trans is None else torch.from_numpy(np.asarray(trans, np.float64)),
        ).numpy()


def transition_lengths(pairs: Sequence[tuple[MotionClip, MotionClip]], cfg: SentenceConfig,
                       rest_joints: np.ndarray = DEFAULT_REST_JOINTS) -> list[int]:
    """Adaptive transition frames from the end of ``a`` to the start of ``b`` for every pair
    ``(a, b)`` (module docstring), with one forward-kinematics pass for all of them."""
    if not pairs:
        return []
    ends = body_positions(np.stack([[a.poses[-1], b.poses[0]] for a, b in pairs]), rest_joints)
    distances = np.linalg.norm(ends[:, 1] - ends[:, 0], axis=-1).max(axis=-1)
    return [int(min(max(math.ceil(EASE_PEAK_SPEED * float(d) / cfg.transition_speed * a.fps),
                        cfg.min_transition_frames), cfg.max_transition_frames))
            for d, (a, _) in zip(distances, pairs, strict=True)]


def retime(clip: MotionClip, fps: float, speed: float = 1.0) -> MotionClip:
    """``clip`` at ``fps`` frames per second, played ``speed`` times as fast."""
    frames = max(1, round(clip.num_frames * fps / (clip.fps * speed)))
    if frames == clip.num_frames and clip.fps == fps:
        return clip
    return clip.resample(frames).replace(fps=fps)


def _held(clip: MotionClip, frames: int) -> MotionClip:
    """``clip`` with its last frame repeated ``frames`` more times."""
    if frames == 0:
        return clip
    index = np.concatenate([np.arange(clip.num_frames), np.full(frames, clip.num_frames - 1)])
    return clip.replace(poses=clip.poses[index], expression=clip.expression[index], trans=clip.trans[index],
                        confidence=None if clip.confidence is None else clip.confidence[index])


def join_signs(parts: Sequence[SignPart], cfg: SentenceConfig, *, clip_id: str, fps: float | None = None,
               source: dict | None = None, rest_joints: np.ndarray = DEFAULT_REST_JOINTS) -> MotionClip:
    """One clip: the signs in order, each retimed to ``fps`` (default: the first sign's) and its
    speed, held, and joined to the next by a transition. ``segments`` label every frame: one
    ``sign`` segment per part (its hold included), one ``transition`` segment per non-empty
    transition. ``betas`` are the first sign's; ``gloss`` is the glosses joined by spaces."""
    if not parts:
        raise ValueError("a sentence needs at least one sign")
    for i, part in enumerate(parts):
        part.check(i)
    fps = float(fps or parts[0].clip.fps)
    signs = []
    for part in parts:
        hold = cfg.hold_frames if part.hold_frames is None else part.hold_frames
        signs.append(_held(retime(part.clip, fps, part.speed), hold))
    wanted = [cfg.transition_frames if part.transition_frames is None else part.transition_frames
              for part in parts[:-1]]
    adaptive = iter(transition_lengths([(signs[i], signs[i + 1]) for i, w in enumerate(wanted) if w is None],
                                       cfg, rest_joints))
    lengths = [next(adaptive) if w is None else w for w in wanted]
    for i in range(1, len(signs)):  # no root jump: each sign starts where the previous one ended
        signs[i] = signs[i].replace(trans=signs[i].trans - signs[i].trans[0] + signs[i - 1].trans[-1])
    transitions = iter(bridges([(signs[i], signs[i + 1], n) for i, n in enumerate(lengths) if n]))
    pieces: list[dict[str, np.ndarray]] = []
    segments: list[Segment] = []
    frame = 0
    for i, (part, sign) in enumerate(zip(parts, signs, strict=True)):
        if i and lengths[i - 1]:
            pieces.append(next(transitions))
            segments.append(Segment("", frame, frame + lengths[i - 1], "transition"))
            frame += lengths[i - 1]
        pieces.append({"poses": sign.poses, "expression": sign.expression, "trans": sign.trans,
                       **({"confidence": sign.confidence} if sign.confidence is not None else {})})
        segments.append(Segment(part.gloss, frame, frame + sign.num_frames, "sign"))
        frame += sign.num_frames
    with_confidence = all("confidence" in piece for piece in pieces)
    return MotionClip(
        gloss=" ".join(part.gloss for part in parts),
        clip_id=clip_id,
        split="unsplit",
        fps=fps,
        poses=np.concatenate([p["poses"] for p in pieces]),
        expression=np.concatenate([p["expression"] for p in pieces]),
        betas=parts[0].clip.betas,
        trans=np.concatenate([p["trans"] for p in pieces]),
        confidence=np.concatenate([p["confidence"] for p in pieces]) if with_confidence else None,
        source=dict(source or {}),
        segments=tuple(segments),
    )


def _world_positions(clip: MotionClip, rest_joints: np.ndarray) -> np.ndarray:
    return body_positions(clip.poses, rest_joints, clip.trans)


def joint_speeds(clip: MotionClip, rest_joints: np.ndarray = DEFAULT_REST_JOINTS) -> np.ndarray:
    """``[T - 1]``: the fastest joint's speed (m/s) between consecutive frames."""
    positions = _world_positions(clip, rest_joints)
    return np.linalg.norm(np.diff(positions, axis=0), axis=-1).max(axis=-1) * clip.fps


def joint_accelerations(clip: MotionClip, rest_joints: np.ndarray = DEFAULT_REST_JOINTS) -> np.ndarray:
    """``[T - 2]``: the largest joint acceleration (m/s^2) at each interior frame (second differences)."""
    positions = _world_positions(clip, rest_joints)
    return np.linalg.norm(np.diff(positions, n=2, axis=0), axis=-1).max(axis=-1) * clip.fps**2


def smoothness_reference(clips: Sequence[MotionClip], percentile: float = 99.0,
                         rest_joints: np.ndarray = DEFAULT_REST_JOINTS) -> tuple[float, float]:
    """``(speed, acceleration)``: the ``percentile`` of ``joint_speeds`` and ``joint_accelerations``
    over every frame of ``clips`` (e.g. the training clips: what real signing reaches)."""
    speeds = np.concatenate([joint_speeds(c, rest_joints) for c in clips])
    accelerations = np.concatenate([joint_accelerations(c, rest_joints) for c in clips])
    return float(np.percentile(speeds, percentile)), float(np.percentile(accelerations, percentile))


def join_kinematics(clip: MotionClip, rest_joints: np.ndarray = DEFAULT_REST_JOINTS) -> tuple[np.ndarray, np.ndarray]:
    """``joint_speeds`` and ``joint_accelerations`` of ``clip`` (a sentence) at every frame whose
    finite difference is not entirely inside one ``sign`` segment: the transitions and the joins,
    everything that composing added (the frames inside a sign are the sign's own)."""
    if clip.segments is None:
        raise ValueError(f"clip {clip.clip_id!r} has no segments")
    label = np.full(clip.num_frames, -1)
    for i, segment in enumerate(clip.segments):
        if segment.kind == "sign":
            label[segment.start:segment.end] = i
    own = label >= 0
    inside_speed = own[:-1] & (label[:-1] == label[1:])
    inside_accel = inside_speed[:-1] & inside_speed[1:]
    return joint_speeds(clip, rest_joints)[~inside_speed], joint_accelerations(clip, rest_joints)[~inside_accel]


def sign_clips(clip: MotionClip) -> list[MotionClip]:
    """Each ``sign`` segment of ``clip`` as a clip of its own, named ``<clip_id>/<i>`` and labelled
    with the segment's gloss (e.g. to run a recognizer on every sign of a sentence)."""
    if clip.segments is None:
        raise ValueError(f"clip {clip.clip_id!r} has no segments")
    return [clip.slice_frames(s.start, s.end).replace(gloss=s.gloss, clip_id=f"{clip.clip_id}/{i}", segments=None)
            for i, s in enumerate(clip.segments) if s.kind == "sign"]
