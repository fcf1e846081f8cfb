"""Reading Holistic keypoints from ``.pose`` files (the pose-format library, PyPI ``pose-format``).

Such files are how sign-language datasets usually distribute MediaPipe Holistic output. What they
hold varies in the wild, and each case is recognised here rather than assumed:

* components are matched by name (``POSE_LANDMARKS``, ``LEFT_HAND_LANDMARKS``,
  ``RIGHT_HAND_LANDMARKS``, optional ``POSE_WORLD_LANDMARKS``) and points by name, so reduced
  point sets (e.g. 8 pose points) work; absent points count as missing;
* masked values (missed detections) become confidence 0;
* image x, y are pixels, or normalised [0, 1] values that are scaled by the header's frame size;
* image z is MediaPipe's relative depth (normalised like x) unless its magnitude says otherwise,
  in which case depth is not used;
* world landmarks written by pose-format's own Holistic loader are stored as
  ``(x * width, y * height, z)`` (``pose_format.utils.holistic.body_points``); that anisotropic
  scaling is undone when the header has the frame size and the shoulder width is clearly not
  metres.

The result is a ``HolisticLandmarks``; ``to_body_keypoints`` then scales everything to the body.
"""

from __future__ import annotations

import logging

import numpy as np
from pose_format import Pose

from signavatar import storage
from signavatar.extraction.landmarks import (
    HAND_LANDMARK_NAMES,
    LEFT_HAND_START,
    LEFT_SHOULDER,
    NUM_LANDMARKS,
    NUM_POSE,
    POSE_LANDMARK_NAMES,
    RIGHT_HAND_START,
    RIGHT_SHOULDER,
    HolisticLandmarks,
)

log = logging.getLogger(__name__)

_COMPONENTS = {
    "POSE_LANDMARKS": (0, POSE_LANDMARK_NAMES),
    "LEFT_HAND_LANDMARKS": (LEFT_HAND_START, HAND_LANDMARK_NAMES),
    "RIGHT_HAND_LANDMARKS": (RIGHT_HAND_START, HAND_LANDMARK_NAMES),
}
WORLD_COMPONENT = "POSE_WORLD_LANDMARKS"
# |z| of MediaPipe's relative depth is O(0.1 - 1); far larger values are something else.
_MAX_RELATIVE_DEPTH = 5.0
# Normalised image coordinates are in [0, 1] for points inside the frame (beyond it for a few others).
_MAX_NORMALISED = 1.5
# A shoulder width above this cannot be metres.
_MAX_METRIC_SHOULDER_WIDTH = 3.0


class PoseFileError(ValueError):
    """A ``.pose`` file that cannot be turned into Holistic landmarks; the message names it and
    ``reason`` is ``empty`` (no bytes, frames or detections) or ``undecodable``."""

    def __init__(self, message: str, reason: str = "undecodable") -> None:
        super().__init__(message)
        self.reason = reason


def _component_arrays(pose: Pose, person: int) -> dict[str, tuple[np.ndarray, np.ndarray, tuple[str, ...]]]:
    data = pose.body.data[:, person]
    confidence = np.asarray(pose.body.confidence[:, person], np.float64)
    mask = np.ma.getmaskarray(data).any(-1)
    values = np.ma.getdata(data).astype(np.float64)
    out = {}
    start = 0
    for component in pose.header.components:
        stop = start + len(component.points)
        conf = np.where(mask[:, start:stop], 0.0, confidence[:, start:stop])
        out[component.name] = (values[:, start:stop, :3], conf, tuple(component.points))
        start = stop
    return out


def _place(
    arrays: tuple[np.ndarray, np.ndarray, tuple[str, ...]], names: tuple[str, ...], points: np.ndarray, conf: np.ndarray
) -> None:
    values, confidence, file_names = arrays
    for i, name in enumerate(file_names):
        if name in names:
            points[:, names.index(name)] = values[:, i]
            conf[:, names.index(name)] = confidence[:, i]


def _median_shoulder_width(points: np.ndarray, conf: np.ndarray, dims: slice = slice(0, 3)) -> float | None:
    ok = (conf[:, LEFT_SHOULDER] > 0) & (conf[:, RIGHT_SHOULDER] > 0)
    if not ok.any():
        return None
    return float(np.median(np.linalg.norm(points[ok, LEFT_SHOULDER, dims] - points[ok, RIGHT_SHOULDER, dims], axis=-1)))


def landmarks_from_pose(pose: Pose, name: str = "<pose>", person: int = 0) -> HolisticLandmarks:
    """Holistic landmarks of one person in a pose-format ``Pose``."""
    components = _component_arrays(pose, person)
    if "POSE_LANDMARKS" not in components:
        raise PoseFileError(f"{name}: no POSE_LANDMARKS component (has {sorted(components)})")
    frames = pose.body.data.shape[0]
    if frames < 1:
        raise PoseFileError(f"{name}: the file has no frames", "empty")
    image = np.zeros((frames, NUM_LANDMARKS, 3))
    image_conf = np.zeros((frames, NUM_LANDMARKS))
    for component, (start, names) in _COMPONENTS.items():
        if component in components:
            stop = start + len(names)
            _place(components[component], names, image[:, start:stop], image_conf[:, start:stop])
    dims = pose.header.dimensions
    width = float(dims.width) if dims.width else None
    height = float(dims.height) if dims.height else None
    seen = image_conf > 0
    if not seen.any():
        raise PoseFileError(f"{name}: every landmark is masked", "empty")
    if width and height and np.median(np.abs(image[seen][:, :2])) <= _MAX_NORMALISED:
        image[..., 0] *= width
        image[..., 1] *= height
    image_depth = bool(np.median(np.abs(image[seen][:, 2])) < _MAX_RELATIVE_DEPTH)
    if not image_depth:
        log.info(
            "%s: image z is not MediaPipe relative depth (median |z| >= %s); fitting x, y only",
            name,
            _MAX_RELATIVE_DEPTH,
        )

    world = world_conf = None
    if WORLD_COMPONENT in components:
        world = np.zeros((frames, NUM_POSE, 3))
        world_conf = np.zeros((frames, NUM_POSE))
        _place(components[WORLD_COMPONENT], POSE_LANDMARK_NAMES, world, world_conf)
        measured = _median_shoulder_width(world, world_conf)
        if measured is None:
            world = world_conf = None
        elif measured > _MAX_METRIC_SHOULDER_WIDTH and width and height:
            # pose-format's Holistic loader stored (x * width, y * height, z): undo it.
            world[..., 0] /= width
            world[..., 1] /= height
            log.info("%s: world landmarks were scaled by the frame size (shoulder width %.1f); undone", name, measured)
    return HolisticLandmarks(
        image=image,
        image_confidence=image_conf,
        fps=float(pose.body.fps),
        width=width,
        world=world,
        world_confidence=world_conf,
        image_depth=image_depth,
        height=height,
    )


def read_pose_file(uri: str, max_bytes: int | None = None) -> HolisticLandmarks:
    """Read a ``.pose`` file (local path or ``s3://``) into Holistic landmarks; with ``max_bytes``,
    a larger file is refused before it is read."""
    data = storage.read_bytes(uri) if max_bytes is None else storage.read_bytes_within(uri, max_bytes, ".pose file")
    if not data:
        raise PoseFileError(f"{uri}: empty file", "empty")
    try:
        pose = Pose.read(data)
    except Exception as exc:  # the library raises assorted errors (struct, value, index) on bad input
        raise PoseFileError(f"{uri}: not a readable .pose file ({type(exc).__name__}: {exc})") from exc
    return landmarks_from_pose(pose, name=uri)
