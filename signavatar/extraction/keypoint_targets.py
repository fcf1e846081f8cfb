"""Holistic landmarks -> metric fitting targets in the body frame (``landmarks`` module docstring:
layout and coordinate systems).

``to_body_keypoints`` turns one sequence into fitting targets, in this order:

1. **Seen or not.** Landmarks below ``min_confidence`` are missing. Landmarks outside the frame
   (beyond ``frame_margin``; MediaPipe guesses them, e.g. hips below a webcam's bottom edge) keep
   ``offscreen_weight`` of their weight and do not count as *seen* (the report's image error is
   measured over seen landmarks only).
2. **Upright.** ``detect_rotation`` finds the signer's up direction in the image from the body
   (head above shoulders, shoulders above hips, the shoulder line of a signer facing the camera)
   and the landmarks (image and world) are turned back by the nearest multiple of 90 degrees:
   phone videos stored sideways and upside-down recordings become upright.
3. **Scale and proportions.** With ``proportions="sequence"`` (``proportions`` module) the arms'
   image lengths set the scale (both arms as long as the rest skeleton's together) and the
   sequence's own skeleton (shoulder span, arm and finger bone lengths; ``bone_scale``), which the
   depth targets below and the fit use. With ``"rest"``, image x, y become metres at the largest
   scale at which no seen body bone (shoulder line, upper arms, forearms; 90th percentile over
   frames) looks longer than the rest skeleton's (a bone seen end-on looks shorter, never longer).
   Each hand is sized by its palm alike. They are the primary evidence.
4. **Depth.** MediaPipe's depth (world z where the input has world landmarks, else image
   ``z * width``) is weak evidence: with ``depth="bone_length"`` each arm bone's depth is
   ``sign(dz) * sqrt(L^2 - dxy^2)`` (the depth that the bone length ``L`` leaves for its image
   length ``dxy``), so MediaPipe only decides *toward or away from the camera* (its sign, median
   over 5 frames, so single-frame jumps do not count) and never how far: wrist depths of several
   shoulder widths in front of the body, common in MediaPipe output, cannot pull the fit. Depth
   weights shrink where the sign is uncertain. Hand points hang on the wrist with MediaPipe's
   hand-relative depth (at the hand's own scale), flattened in frames where it exceeds what the
   finger bones allow (``hand_depth_factor``: depth scaled several times on some frames); hips
   carry no depth (``NO_DEPTH_LANDMARKS``).
"""

from __future__ import annotations

import numpy as np

from signavatar.config import KeypointFitConfig
from signavatar.extraction.landmark_depth import arm_depths, hand_depth_factor, hand_reach
from signavatar.extraction.landmark_orientation import detect_rotation, frame_is_known, inside_frame, rotate_xy
from signavatar.extraction.landmark_scale import body_bones, length_bound, median_scale, palm_bones
from signavatar.extraction.landmarks import (
    HEAD_LANDMARKS,
    LEFT_HAND_START,
    LEFT_SHOULDER,
    LEFT_WRIST,
    NUM_HAND,
    NUM_LANDMARKS,
    NUM_POSE,
    RIGHT_HAND_START,
    RIGHT_SHOULDER,
    RIGHT_WRIST,
    BodyKeypoints,
    HolisticLandmarks,
    arm_confidence,
)
from signavatar.extraction.proportions import arm_proportions, hand_proportions, scaled_skeleton

_CAMERA_TO_BODY = np.array([1.0, -1.0, -1.0], dtype=np.float64)
_ASSUMED_TRUST = 0.3
"""Trust in the toward-the-camera depth assumed for arm bones of input without any depth."""
_MIN_SCALE = 0.5
"""The body scale stays within this factor below the shoulder width's; a hand's within it of the body's."""


def to_body_keypoints(
    landmarks: HolisticLandmarks, rest_joints: np.ndarray, cfg: KeypointFitConfig | None = None
) -> BodyKeypoints:
    """Holistic landmarks -> body-frame fitting targets (the steps are in the module docstring)."""
    cfg = cfg or KeypointFitConfig()
    rest_joints = np.asarray(rest_joints, np.float64)
    frames = landmarks.num_frames
    image = landmarks.image.copy()
    if landmarks.image_depth:
        if landmarks.width is None:
            raise ValueError("image landmarks with relative depth need the frame width to scale z")
        image[..., 2] *= landmarks.width
    conf = np.where(landmarks.image_confidence >= cfg.min_confidence, landmarks.image_confidence, 0.0)
    if frame_is_known(image, conf, landmarks.width, landmarks.height):
        inside = inside_frame(image, landmarks.width, landmarks.height, cfg.frame_margin)
    else:
        inside = np.ones(conf.shape, bool)
    seen = (conf > 0) & inside
    weights = np.where(inside, conf, conf * cfg.offscreen_weight)
    observed = weights > 0

    rotation = detect_rotation(image[..., :2], observed) if cfg.detect_rotation else 0
    pixels = rotate_xy(image[..., :2], rotation) * _CAMERA_TO_BODY[:2]
    shoulders = seen if (seen[:, LEFT_SHOULDER] & seen[:, RIGHT_SHOULDER]).any() else observed
    shoulder_scale = length_bound(pixels, shoulders, body_bones(rest_joints)[:1])
    if shoulder_scale is None:
        raise ValueError("no frame shows both shoulders: cannot bring the landmarks to metric scale")
    arms = arm_proportions(pixels, seen, rest_joints) if cfg.proportions == "sequence" else None
    bone_scale = None if arms is None else arms[1]
    skeleton = scaled_skeleton(rest_joints, bone_scale).astype(np.float64)
    scale = arms[0] if arms is not None else length_bound(pixels, seen, body_bones(rest_joints))
    scale = float(np.clip(scale or shoulder_scale, _MIN_SCALE * shoulder_scale, shoulder_scale / _MIN_SCALE))
    xy = pixels * scale
    # Hands nearer the camera than the shoulders look larger: each hand is sized by its own palm.
    # It hangs on the pose's wrist where that is seen: the two detectors' wrists lie ~2 cm apart
    # on the real corpus, which no single wrist joint can match, and the hand's shape is relative.
    hand_scales = {}
    for start, side, wrist in ((LEFT_HAND_START, "left", LEFT_WRIST), (RIGHT_HAND_START, "right", RIGHT_WRIST)):
        hand = slice(start, start + NUM_HAND)
        palm = palm_bones(rest_joints, start, side)
        hand_scale = (median_scale(np.concatenate([pixels, image[..., 2:]], -1), seen, palm) if landmarks.image_depth
                      else None) or length_bound(pixels, seen, palm) or scale
        hand_scale = float(np.clip(hand_scale, _MIN_SCALE * scale, scale / _MIN_SCALE))
        hand_scales[start] = hand_scale
        anchor = np.where(observed[:, wrist, None], xy[:, wrist], xy[:, start])[:, None]
        xy[:, hand] = anchor + (pixels[:, hand] - pixels[:, start : start + 1]) * hand_scale
    if cfg.proportions == "sequence":
        bone_scale = np.ones(skeleton.shape[0]) if bone_scale is None else bone_scale
        for start, side in ((LEFT_HAND_START, "left"), (RIGHT_HAND_START, "right")):
            hand = slice(start, start + NUM_HAND)
            local = np.concatenate([xy[:, hand] - xy[:, start : start + 1],
                                    -(image[:, hand, 2:] - image[:, start : start + 1, 2:]) * hand_scales[start]], -1)
            bone_scale = hand_proportions(local, seen[:, hand], side, rest_joints, landmarks.image_depth, bone_scale)
        skeleton = scaled_skeleton(rest_joints, bone_scale).astype(np.float64)
    reaches = {start: hand_reach(skeleton, side) for start, side in ((LEFT_HAND_START, "left"),
                                                                      (RIGHT_HAND_START, "right"))}

    # MediaPipe depth in the body frame (metres at the body's scale); NaN where there is none.
    raw = np.full((frames, NUM_LANDMARKS), np.nan)
    source = "image"
    if landmarks.world is not None:
        world_conf = np.where(landmarks.world_confidence >= cfg.min_confidence, landmarks.world_confidence, 0.0)
        world_scale = length_bound(landmarks.world, world_conf > 0, body_bones(skeleton))
        if world_scale is not None:
            raw[:, :NUM_POSE] = np.where(world_conf > 0, -landmarks.world[..., 2] * world_scale, np.nan)
            source = "world"
    if source == "image" and landmarks.image_depth:
        raw[:, :NUM_POSE] = -image[:, :NUM_POSE, 2] * scale
    raw[:, :NUM_POSE][~observed[:, :NUM_POSE]] = np.nan

    depth = np.full((frames, NUM_LANDMARKS), np.nan)
    trust = np.zeros((frames, NUM_LANDMARKS))
    implausible = 0.0
    if not np.isfinite(raw).any() and cfg.depth == "bone_length":
        # No depth at all: every arm bone is assumed to point toward the camera (signing happens
        # in front of the body), weakly; the face gets none.
        source = "none"
        depth, trust, implausible = arm_depths(xy, np.where(observed, 0.0, np.nan), skeleton)
        trust *= _ASSUMED_TRUST
    elif np.isfinite(raw).any():
        if cfg.depth == "bone_length":
            depth, trust, implausible = arm_depths(xy, raw, skeleton)
        else:
            depth, trust = raw.copy(), np.isfinite(raw).astype(np.float64)
        for landmark in HEAD_LANDMARKS:  # the face keeps MediaPipe's depth (compared up to a translation)
            depth[:, landmark], trust[:, landmark] = raw[:, landmark], np.isfinite(raw[:, landmark])
    if landmarks.image_depth:
        for start, wrist in ((LEFT_HAND_START, LEFT_WRIST), (RIGHT_HAND_START, RIGHT_WRIST)):
            hand = slice(start, start + NUM_HAND)
            relative = -(image[:, hand, 2] - image[:, start : start + 1, 2]) * hand_scales[start]
            relative *= hand_depth_factor(xy[:, hand] - xy[:, start : start + 1], relative, reaches[start])[:, None]
            depth[:, hand] = np.where(observed[:, hand], depth[:, wrist, None] + relative, np.nan)
            trust[:, hand] = np.where(np.isfinite(depth[:, hand]), np.maximum(trust[:, wrist], 0.5)[:, None], 0.0)

    has_depth = np.isfinite(depth) & observed
    points = np.zeros((frames, NUM_LANDMARKS, 3))
    points[..., :2] = xy
    points[..., 2] = np.where(has_depth, depth, 0.0)
    depth_weights = np.where(has_depth, cfg.image_depth_weight * trust, 0.0)
    if observed.any():
        points[..., :2] -= np.median(xy[observed], axis=0)
    if has_depth.any():
        points[..., 2] -= np.where(has_depth, np.median(depth[has_depth]), 0.0)
    points[~observed] = 0.0
    return BodyKeypoints(
        points=points.astype(np.float32),
        weights=weights.astype(np.float32),
        depth_weights=depth_weights.astype(np.float32),
        fps=landmarks.fps,
        scale=scale,
        source=source,
        seen=seen,
        rotation_deg=rotation,
        depth_implausible=implausible,
        frame_confidence=arm_confidence(conf),
        bone_scale=None if bone_scale is None else bone_scale.astype(np.float32),
    )
