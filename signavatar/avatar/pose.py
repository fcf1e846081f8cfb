"""``.pose``: a clip as the MediaPipe Holistic keypoints of the sign-language-processing tools
(pose-format: its viewers, normalisation, pose-to-video), and of this project's ``signavatar fit``.

The keypoints are the fitter's own forward model (``markers.keypoints_from_poses``): what a perfect
detector would report for the motion, so fitting the file gives the motion back. Present: the
shoulders, elbows, wrists and hips, the eyes, nose, ears and mouth corners (placed from the head),
and all 21 points of each hand; the other pose points (legs, eye corners) and the 468-point face
mesh are masked. The file is written by the project's ``.pose`` writer (``pose_writer``), in the
layout of pose-format's Holistic loader, with MediaPipe's connections as limbs.

The camera: a virtual ``FRAME_SIZE`` frame at ``PIXELS_PER_METRE`` in front of the signer (image
x = the signer's left, y down), the clip's median pelvis at ``(0.5, PELVIS_Y)`` of the frame, so
hands raised above the head stay inside. Depth as MediaPipe gives it: pose z relative to the hips'
midpoint, hand z relative to the wrist, both normalised like x; world landmarks in metres about
the hips' midpoint.
"""

from __future__ import annotations

import io

import numpy as np

from signavatar.extraction.estimators.holistic_record import HolisticVideo
from signavatar.extraction.estimators.markers import keypoints_from_poses
from signavatar.extraction.landmarks import LEFT_HAND_START, LEFT_HIP, NUM_HAND, NUM_POSE, RIGHT_HAND_START, RIGHT_HIP
from signavatar.extraction.pose_writer import holistic_pose
from signavatar.motion.clip import MotionClip

FRAME_SIZE = (1280, 720)
PIXELS_PER_METRE = 500.0
PELVIS_Y = 0.8
_BODY_TO_CAMERA = np.array([1.0, -1.0, -1.0])  # body frame (y up, z forward) -> camera (y down, z away)

# MediaPipe's connections (mediapipe.python.solutions.holistic, 0.10): pose-format viewers draw these.
POSE_CONNECTIONS = [
    (0, 1), (0, 4), (1, 2), (2, 3), (3, 7), (4, 5), (5, 6), (6, 8), (9, 10), (11, 12), (11, 13), (11, 23),
    (12, 14), (12, 24), (13, 15), (14, 16), (15, 17), (15, 19), (15, 21), (16, 18), (16, 20), (16, 22), (17, 19),
    (18, 20), (23, 24), (23, 25), (24, 26), (25, 27), (26, 28), (27, 29), (27, 31), (28, 30), (28, 32), (29, 31),
    (30, 32),
]  # fmt: skip
HAND_CONNECTIONS = [
    (0, 1), (0, 5), (0, 17), (1, 2), (2, 3), (3, 4), (5, 6), (5, 9), (6, 7), (7, 8), (9, 10), (9, 13), (10, 11),
    (11, 12), (13, 14), (13, 17), (14, 15), (15, 16), (17, 18), (18, 19), (19, 20),
]  # fmt: skip
TOPOLOGY = {"POSE_LANDMARKS": POSE_CONNECTIONS, "POSE_WORLD_LANDMARKS": POSE_CONNECTIONS,
            "LEFT_HAND_LANDMARKS": HAND_CONNECTIONS, "RIGHT_HAND_LANDMARKS": HAND_CONNECTIONS}


def holistic_video(clip: MotionClip, rest_joints: np.ndarray) -> HolisticVideo:
    """What MediaPipe Holistic would report for ``clip`` filmed by the virtual camera (module doc)."""
    keypoints = keypoints_from_poses(clip.poses, rest_joints, clip.trans)
    camera = keypoints.points.astype(np.float64) * _BODY_TO_CAMERA  # [T, 75, 3] metres
    seen = keypoints.weights > 0
    hips = camera[:, [LEFT_HIP, RIGHT_HIP]].mean(axis=1, keepdims=True)  # [T, 1, 3]
    width, height = FRAME_SIZE
    origin = np.median(hips[:, 0], axis=0)
    pixels = (camera[..., :2] - origin[:2]) * PIXELS_PER_METRE + np.array([0.5 * width, PELVIS_Y * height])
    normalised_xy = pixels / np.array([width, height])

    def image(points: slice, depth_origin: np.ndarray) -> np.ndarray:
        z = (camera[:, points, 2:] - depth_origin[..., 2:]) * PIXELS_PER_METRE / width
        values = np.concatenate([normalised_xy[:, points], z], axis=-1)
        return np.where(seen[:, points, None], values, np.nan)

    pose = image(slice(0, NUM_POSE), hips)
    visibility = seen[:, :NUM_POSE, None].astype(np.float64)
    hands = [image(slice(start, start + NUM_HAND), camera[:, start : start + 1])
             for start in (LEFT_HAND_START, RIGHT_HAND_START)]
    world = np.where(seen[:, :NUM_POSE, None], camera[:, :NUM_POSE] - hips, 0.0)
    return HolisticVideo(
        pose=np.concatenate([np.nan_to_num(pose), visibility], axis=-1),  # unseen: reported with visibility 0
        world=np.concatenate([world, visibility], axis=-1),
        left_hand=hands[0], right_hand=hands[1], face=None, width=width, height=height, fps=clip.fps,
    )


def pose_bytes(clip: MotionClip, rest_joints: np.ndarray) -> bytes:
    """``clip`` as a ``.pose`` file (module doc)."""
    buffer = io.BytesIO()
    holistic_pose(holistic_video(clip, rest_joints), TOPOLOGY).write(buffer)
    return buffer.getvalue()
