"""The embedded demo corpus: procedurally generated, clearly labelled SYNTHETIC sign clips.

Nothing here is real sign-language data. Each gloss is a hand-designed sign (its own two-hand
motion, handshape and one- or two-handedness) written in joint-rotation space, and every clip is a
variation of it: signer style, speed, amplitude, per-frame estimator noise, occasional
low-confidence glitches, idle frames before the sign (sometimes a long idle hold) and off-sign
frames after it: the hands dropping to rest, a partial drop and a fidget, or the signer going on
into another gloss's sign with the hands still up (so quality control has real work, paper Fig. 3).
``source["sign_range"]`` holds the ground-truth sign frames, ``source["leading"]`` /
``source["trailing"]`` the kind of idle and off-sign frames (and ``next_gloss`` the other sign).

Sign definitions live in ``signavatar.data.sign_lexicon``, the kinematics and trajectory primitives
(and the joint-angle conventions) in ``signavatar.data.synthetic_motion``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from signavatar.body.joints import LEFT_HAND, NUM_JOINTS, RIGHT_HAND, joint_index
from signavatar.config import SyntheticCorpusConfig
from signavatar.data.sign_lexicon import GLOSSES, HANDSHAPES, SIGNS, SignSpec
from signavatar.data.synthetic_motion import (
    ARM_PARAM_INDEX,
    ARM_PARAMS,
    REST_ARM,
    blend,
    compose_pose,
    ease,
    oscillation_offsets,
    spline_through,
)
from signavatar.data.synthetic_timeline import ClipTimeline, clip_timeline
from signavatar.motion.clip import NUM_BETAS, NUM_EXPRESSION, MotionClip

log = logging.getLogger(__name__)

GENERATOR = "signavatar.synthetic/1"
AMPLITUDE_RANGE = 0.15


# --------------------------------------------------------------------------------------------
# Variation: signers, and the clip synthesized on a timeline.


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


def _drop_trail(end: np.ndarray, rest: np.ndarray, tl: ClipTimeline, fidget: np.ndarray | None) -> np.ndarray:
    """Trailing frames of the drop endings: toward rest, with an optional fidget on top."""
    target = end + tl.drop_to * (rest - end)
    trail = blend(end, target, np.arange(1, tl.trail + 1) / tl.drop)
    return trail + fidget if fidget is not None else trail


def _next_sign_trail(end: np.ndarray, path: np.ndarray, tl: ClipTimeline) -> np.ndarray:
    """Trailing frames of the ``next_sign`` ending: a transition from the held ``end`` to the start
    of the other sign's ``path`` (its movement, as long as the sign's), then that path, cut."""
    transition = blend(end, path[0], np.arange(1, tl.transition + 1) / tl.transition)
    return np.concatenate([transition, path[1 : tl.trail - tl.transition + 1]])


def _idle_sway(rng: np.random.Generator, tl: ClipTimeline, fps: float) -> np.ndarray:
    """A long idle hold is not frozen: a slow (0.2-0.4 Hz), 1-2 degree sway of both arms that fades
    out before the sign starts. Short leads are still."""
    out = np.zeros((tl.lead, len(ARM_PARAMS)))
    if tl.long_lead:
        t = np.arange(tl.lead) / fps
        fade = 1.0 - ease(np.arange(tl.lead) / max(tl.lead - 1, 1))
        phase = rng.uniform(0, 2 * np.pi)
        out[:, ARM_PARAM_INDEX["flex"]] = rng.uniform(1.0, 2.0) * fade * np.sin(2 * np.pi * rng.uniform(0.2, 0.4) * t + phase)
        out[:, ARM_PARAM_INDEX["lower"]] = rng.uniform(0.5, 1.0) * fade * np.sin(2 * np.pi * rng.uniform(0.2, 0.4) * t)
    return out


def _sign_frames(start: np.ndarray, keyframes: list[np.ndarray], tl: ClipTimeline, wiggle: np.ndarray) -> np.ndarray:
    """The sign part: rise from ``start`` to the first keyframe, move through them, hold."""
    rise = blend(start, keyframes[0], np.arange(tl.rise) / tl.rise)
    move = spline_through(keyframes, tl.move) + wiggle
    hold = np.repeat(move[-1:], tl.hold, axis=0)
    return np.concatenate([rise, move, hold])


def _fidget(rng: np.random.Generator, tl: ClipTimeline, fps: float) -> np.ndarray:
    """A small unrelated motion after a partial drop: forearm roll and wrist waggle (2 Hz)."""
    out = np.zeros((tl.trail, len(ARM_PARAMS)))
    frames = tl.trail - tl.drop
    if frames > 0:
        u = np.arange(frames) * 2.0 / fps
        out[tl.drop :, ARM_PARAM_INDEX["pronate"]] = rng.uniform(6, 12) * np.sin(2 * np.pi * u)
        out[tl.drop :, ARM_PARAM_INDEX["wrist_flex"]] = rng.uniform(5, 10) * np.sin(2 * np.pi * u + 1.0)
    return out


def _scaled(keyframes: tuple[np.ndarray, ...], amplitude: float) -> list[np.ndarray]:
    """Keyframes with their spread about their mean scaled by ``amplitude``."""
    mean = np.mean(keyframes, axis=0)
    return [mean + amplitude * (k - mean) for k in keyframes]


def _performed(spec: SignSpec, rng: np.random.Generator, amplitude: float, frames: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Keyframes of one performance of ``spec`` (amplitude-scaled, jittered) and its oscillation."""
    jitter = rng.normal(0.0, 1.5, (len(spec.keyframes), len(ARM_PARAMS)))
    keyframes = [k + j for k, j in zip(_scaled(spec.keyframes, amplitude), jitter, strict=True)]
    return keyframes, oscillation_offsets(spec.oscillation, frames, amplitude)


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
    tl = clip_timeline(rng, fps, corpus or SyntheticCorpusConfig())
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
                blend(relaxed, first, np.arange(tl.rise) / tl.rise),
                blend(first, last, np.linspace(0.0, 1.0, tl.move)),
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
                path = spline_through(path_keys, other_frames) + (other_wiggle if own else 0.0)
            arm_trail = _next_sign_trail(sign_arm[-1], path, tl)
            shape_path = blend(next_first, next_last, np.linspace(0.0, 1.0, other_frames))
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


def _split_indices(seed: int, gloss_index: int, count: int, test_fraction: float,
                   val_fraction: float) -> tuple[set[int], set[int]]:
    """(test, val) clip indices of one gloss: the test draw as without validation, then
    ``round(count * val_fraction)`` of the rest (at least 1 when asked for, one train clip kept)."""
    num_test = min(max(int(round(count * test_fraction)), 1), count - 1)
    order = np.random.default_rng([seed, 2, gloss_index]).permutation(count)
    test = {int(i) for i in order[:num_test]}
    rest = order[num_test:]
    num_val = min(max(int(round(count * val_fraction)), 1), len(rest) - 1) if val_fraction > 0 else 0
    return test, {int(i) for i in rest[:num_val]}


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
        test, val = _split_indices(cfg.seed, g, cfg.clips_per_gloss, cfg.test_fraction, cfg.val_fraction)
        for i in range(cfg.clips_per_gloss):
            clips.append(
                synthesize_clip(
                    spec,
                    signers[i % cfg.num_signers],
                    np.random.default_rng([cfg.seed, 1, g, i]),
                    clip_id=f"synthetic-{spec.gloss}-{i:03d}",
                    split="test" if i in test else "val" if i in val else "train",
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


def truth_annotations(clips: list[MotionClip]) -> dict[str, list[int]]:
    """Kept-frame annotations ``{clip_id: [start, end_exclusive]}`` (the format
    ``signavatar.data.qc.load_annotations`` reads) from the clips' ground-truth ``sign_range``."""
    out = {}
    for clip in clips:
        sign_range = clip.source.get("sign_range")
        if sign_range is None:
            raise ValueError(f"clip {clip.clip_id!r} has no source['sign_range'] (not a synthetic clip?)")
        out[clip.clip_id] = [int(sign_range[0]), int(sign_range[1])]
    return out
