"""Holistic landmarks -> a ``.pose`` file (pose-format), the sign-language community's usual storage.

The layout is that of pose-format's own MediaPipe Holistic loader
(``pose_format.utils.holistic.load_holistic``), so its tools (visualizer, normalisation, component
selection) work on these files: one person, point format ``XYZC``, components in this order

* ``POSE_LANDMARKS`` (33): x, y in pixels, z MediaPipe's relative depth (normalised like x, as
  written there), confidence = visibility;
* ``FACE_LANDMARKS`` (468, named ``"0"`` .. ``"467"``): pixels and relative depth, confidence 1;
  all masked when the face mesh was not computed;
* ``LEFT_HAND_LANDMARKS``, ``RIGHT_HAND_LANDMARKS`` (21 each; the signer's left and right):
  pixels and depth relative to the wrist, confidence 1;
* ``POSE_WORLD_LANDMARKS`` (33): **metres** (origin between the hips), confidence = visibility.
  (pose-format's loader stores ``(x * width, y * height, z)`` here; ``pose_files`` reads both.)

Undetected components are masked (confidence 0). The header carries the frame size and, when the
caller passes MediaPipe's ``topology`` (the worker reports it), the limbs to draw.
"""

from __future__ import annotations

import io

import numpy as np
from pose_format import Pose
from pose_format.numpy.pose_body import NumPyPoseBody
from pose_format.pose_header import PoseHeader, PoseHeaderComponent, PoseHeaderDimensions
from pose_format.utils.openpose import hand_colors

from signavatar import storage
from signavatar.extraction.estimators.holistic_record import HolisticVideo
from signavatar.extraction.landmarks import HAND_LANDMARK_NAMES, NUM_HAND, NUM_POSE, POSE_LANDMARK_NAMES
from signavatar.extraction.mediapipe_worker import NUM_FACE

POSE_FORMAT_VERSION = 0.2
POINT_FORMAT = "XYZC"
Topology = dict[str, list[tuple[int, int]]]


def _component(name: str, points: list[str], colors: list[tuple[int, int, int]], topology: Topology | None) -> PoseHeaderComponent:
    limbs = [tuple(pair) for pair in (topology or {}).get(name, [])]
    return PoseHeaderComponent(name=name, points=points, limbs=limbs, colors=colors, point_format=POINT_FORMAT)


def _points(
    values: np.ndarray | None, scale: np.ndarray, confidence: np.ndarray | None = None
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """``[T, P, 3]`` data and ``[T, P]`` confidence (``confidence`` or 1 where detected);
    NaN (undetected) -> zeros with confidence 0; None stays None."""
    if values is None:
        return None, None
    found = np.isfinite(values[..., :3]).all(-1)
    data = np.where(found[..., None], values[..., :3] * scale, 0.0)
    conf = found.astype(np.float64) if confidence is None else np.where(found, np.nan_to_num(confidence), 0.0)
    return data, conf


def holistic_pose(video: HolisticVideo, topology: Topology | None = None) -> Pose:
    """One video's Holistic output as a pose-format ``Pose`` (layout in the module docstring)."""
    frames = video.num_frames
    pixels = np.array([video.width, video.height, 1.0])
    parts = [
        _points(video.pose, pixels, video.pose[..., 3]),
        _points(video.face, pixels),
        _points(video.left_hand, pixels),
        _points(video.right_hand, pixels),
        _points(video.world, np.ones(3), video.world[..., 3]),
    ]
    sizes = (NUM_POSE, NUM_FACE, NUM_HAND, NUM_HAND, NUM_POSE)
    data = np.concatenate([np.zeros((frames, n, 3)) if d is None else d for (d, _), n in zip(parts, sizes)], axis=1)
    conf = np.concatenate([np.zeros((frames, n)) if c is None else c for (_, c), n in zip(parts, sizes)], axis=1)
    components = [
        _component("POSE_LANDMARKS", list(POSE_LANDMARK_NAMES), [(255, 0, 0)], topology),
        _component("FACE_LANDMARKS", [str(i) for i in range(NUM_FACE)], [(128, 0, 0)], topology),
        _component("LEFT_HAND_LANDMARKS", list(HAND_LANDMARK_NAMES), hand_colors, topology),
        _component("RIGHT_HAND_LANDMARKS", list(HAND_LANDMARK_NAMES), hand_colors, topology),
        _component("POSE_WORLD_LANDMARKS", list(POSE_LANDMARK_NAMES), [(255, 0, 0)], topology),
    ]
    header = PoseHeader(
        version=POSE_FORMAT_VERSION,
        dimensions=PoseHeaderDimensions(width=video.width, height=video.height, depth=0),
        components=components,
    )
    body = NumPyPoseBody(
        fps=video.fps, data=data[:, None].astype(np.float32), confidence=conf[:, None].astype(np.float32)
    )
    return Pose(header, body)


def write_pose_file(video: HolisticVideo, uri: str, topology: Topology | None = None) -> None:
    """Write ``video`` as a ``.pose`` file (local path or ``s3://``); ``read_pose_file`` reads it back."""
    buffer = io.BytesIO()
    holistic_pose(video, topology).write(buffer)
    storage.write_bytes(uri, buffer.getvalue())
