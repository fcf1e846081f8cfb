"""The skeleton preview: forward-kinematics joints drawn as bones with Pillow.

Drawn: the torso from the pelvis up (spine, neck, collars), a head disk with eyes and nose (so the
facing direction reads in every view), both arms, and all 30 finger bones. Legs are left out.
Colours: the signer's right arm vermillion, left arm blue (Okabe-Ito), midline grey; fingers by
finger, the same on both hands (thumb orange, index green, middle pink, ring sky blue, pinky
purple). Everything is painted back to front (painter's algorithm) and fades toward the
background with distance from the camera, measured from the pelvis (stable across frames), which
gives a depth cue in an orthographic view.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageDraw

from signavatar.body.joints import JOINT_NAMES, LEFT_HAND, PARENTS, RIGHT_HAND, joint_index
from signavatar.body.skeleton import forward_kinematics_axis_angle
from signavatar.motion.clip import MotionClip
from signavatar.rendering.camera import OrthoCamera

Color = tuple[int, int, int]

RIGHT_COLOR: Color = (213, 94, 0)
LEFT_COLOR: Color = (0, 114, 178)
MID_COLOR: Color = (90, 90, 90)
HEAD_FILL: Color = (236, 226, 214)
# SMPL-X finger order within a hand: index, middle, pinky, ring, thumb.
FINGER_COLORS: tuple[Color, ...] = ((0, 158, 115), (204, 121, 167), (120, 60, 160), (86, 180, 233), (230, 159, 0))

_HEAD = joint_index("head")
_EYES = (joint_index("left_eye_smplhf"), joint_index("right_eye_smplhf"))
# Points on the head, in the head joint's rest frame (metres from the head joint): approximate
# SMPL-X neutral proportions, enough to draw a recognisable head.
HEAD_CENTER_OFFSET = np.array([0.0, 0.065, 0.0], dtype=np.float32)
NOSE_OFFSET = np.array([0.0, 0.035, 0.115], dtype=np.float32)
HEAD_RADIUS_M = 0.095
# Fading: 0 at FADE_SPAN_M / 2 in front of the pelvis, max_fade at FADE_SPAN_M / 2 behind it.
FADE_SPAN_M = 0.6

_TORSO = ("pelvis", "left_hip", "right_hip", "spine1", "spine2", "spine3", "neck", "head")
_ARM = ("collar", "shoulder", "elbow", "wrist")
# Joints whose positions frame the view (everything drawn; the head disk adds HEAD_RADIUS_M).
FRAMING_JOINTS: tuple[int, ...] = tuple(
    sorted(
        [joint_index(n) for n in _TORSO]
        + [joint_index(f"{side}_{part}") for side in ("left", "right") for part in _ARM]
        + list(range(LEFT_HAND.start, RIGHT_HAND.stop))
    )
)


HAND_JOINTS: tuple[list[int], list[int]] = tuple(  # type: ignore[assignment]
    [joint_index(f"{side}_wrist"), *range(span.start, span.stop)] for side, span in (("right", RIGHT_HAND), ("left", LEFT_HAND))
)
"""Wrist and finger joints of the signer's right and left hand."""


@dataclass(frozen=True)
class Bone:
    parent: int
    child: int
    color: Color
    width_m: float  # line width in metres (scaled by the camera), never thinner than min_px
    min_px: float


def _bones() -> tuple[Bone, ...]:
    bones = []
    for child in FRAMING_JOINTS:
        parent = PARENTS[child]
        if parent < 0:
            continue
        name = JOINT_NAMES[child]
        if LEFT_HAND.start <= child < RIGHT_HAND.stop:
            hand_start = LEFT_HAND.start if child < LEFT_HAND.stop else RIGHT_HAND.start
            bones.append(Bone(parent, child, FINGER_COLORS[(child - hand_start) // 3], 0.012, 2.0))
        elif name.startswith("left_") and not name.endswith("_hip"):
            bones.append(Bone(parent, child, LEFT_COLOR, 0.022, 2.0))
        elif name.startswith("right_") and not name.endswith("_hip"):
            bones.append(Bone(parent, child, RIGHT_COLOR, 0.022, 2.0))
        else:  # spine, neck, head and the pelvis bar
            bones.append(Bone(parent, child, MID_COLOR, 0.028, 2.0))
    return tuple(bones)


BONES: tuple[Bone, ...] = _bones()


@dataclass(frozen=True)
class SkeletonSequence:
    """Per-frame geometry of one clip: joints ``[T, 55, 3]``, head centre and nose ``[T, 3]``."""

    joints: np.ndarray
    head_center: np.ndarray
    nose: np.ndarray

    @property
    def num_frames(self) -> int:
        return int(self.joints.shape[0])

    def framing_points(self) -> np.ndarray:
        return np.concatenate([self.joints[:, FRAMING_JOINTS].reshape(-1, 3), self.head_center], axis=0)

    def hand_points(self, hand: int) -> np.ndarray:
        """``[T, 16, 3]`` wrist and finger joints of hand ``hand`` (0: the signer's right, 1: left)."""
        return self.joints[:, HAND_JOINTS[hand]]


def skeleton_sequence(clip: MotionClip, rest_joints: np.ndarray) -> SkeletonSequence:
    """Forward kinematics of every frame of ``clip`` (with its translation) on ``rest_joints``."""
    joints, rotations = forward_kinematics_axis_angle(
        torch.from_numpy(clip.poses), rest_joints, trans=torch.from_numpy(clip.trans), return_rotations=True
    )
    joints = joints.numpy()
    head_rot = rotations[:, _HEAD].numpy()
    head = joints[:, _HEAD]
    return SkeletonSequence(
        joints=joints,
        head_center=head + head_rot @ HEAD_CENTER_OFFSET,
        nose=head + head_rot @ NOSE_OFFSET,
    )


def draw_skeleton(
    image: Image.Image,
    camera: OrthoCamera,
    sequence: SkeletonSequence,
    frame: int,
    background: Color,
    max_fade: float = 0.45,
) -> None:
    """Paint frame ``frame`` of ``sequence`` onto ``image`` (whose size is the camera's)."""
    draw = ImageDraw.Draw(image)
    extra = np.stack([sequence.head_center[frame], sequence.nose[frame]])
    xy, depth = camera.project(np.concatenate([sequence.joints[frame], extra]))
    (head_xy, nose_xy), head_depth = xy[-2:], float(depth[-2])
    xy, depth = xy[:-2], depth[:-2]
    pelvis_depth = float(depth[0])
    scale = camera.scale

    def color_at(color: Color, d: float) -> Color:
        fade = max_fade * min(max(0.5 - (d - pelvis_depth) / FADE_SPAN_M, 0.0), 1.0)
        return tuple(int(round(c + (b - c) * fade)) for c, b in zip(color, background))  # type: ignore[return-value]

    # painter's algorithm: the head (None) and every bone, far to near
    items: list[tuple[float, Bone | None]] = [(head_depth, None)]
    items += [(float(depth[b.parent] + depth[b.child]) / 2.0, b) for b in BONES]
    for d, bone in sorted(items, key=lambda item: item[0]):
        if bone is None:
            r = HEAD_RADIUS_M * scale
            outline = color_at(MID_COLOR, d)
            draw.ellipse(
                [head_xy[0] - r, head_xy[1] - r, head_xy[0] + r, head_xy[1] + r],
                fill=color_at(HEAD_FILL, d),
                outline=outline,
                width=max(1, int(round(0.006 * scale))),
            )
            dot = max(1.5, 0.012 * scale)
            for p in (*xy[list(_EYES)], nose_xy):
                draw.ellipse([p[0] - dot, p[1] - dot, p[0] + dot, p[1] + dot], fill=outline)
            continue
        width = max(bone.min_px, bone.width_m * scale)
        color = color_at(bone.color, d)
        a, b = xy[bone.parent], xy[bone.child]
        draw.line([float(a[0]), float(a[1]), float(b[0]), float(b[1])], fill=color, width=int(round(width)))
        r = width * 0.6  # round joint caps so chains read as one limb
        draw.ellipse([b[0] - r, b[1] - r, b[0] + r, b[1] + r], fill=color)
