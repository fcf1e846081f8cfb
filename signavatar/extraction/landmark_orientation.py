"""Where the landmarks are: inside the video frame or not, and which way is up for the signer
(sideways phone videos, upside-down recordings)."""

from __future__ import annotations

import numpy as np

from signavatar.extraction.landmarks import HEAD_LANDMARKS, LEFT_HIP, LEFT_SHOULDER, RIGHT_HIP, RIGHT_SHOULDER


def inside_frame(image: np.ndarray, width: float | None, height: float | None, margin: float) -> np.ndarray:
    """``[..., P]`` bool: x, y (pixels) within the frame grown by ``margin`` of its size (True
    where the frame size is unknown)."""
    inside = np.ones(image.shape[:-1], bool)
    for axis, size in ((0, width), (1, height)):
        if size:
            inside &= (image[..., axis] >= -margin * size) & (image[..., axis] <= (1.0 + margin) * size)
    return inside


def body_up_angle(xy: np.ndarray, seen: np.ndarray) -> float | None:
    """The signer's up direction in image coordinates ``xy [T, 75, 2]`` (x right, y down), in
    degrees clockwise from the image's up; None without evidence.

    Votes per frame (unit vectors, summed): head (mean of the seen face points) minus shoulder
    midpoint, shoulder midpoint minus hip midpoint, and at half weight the normal of the shoulder
    line (left minus right shoulder points to the body's left, i.e. image right for a signer
    facing the camera)."""
    shoulders = seen[:, LEFT_SHOULDER] & seen[:, RIGHT_SHOULDER]
    mid = (xy[:, LEFT_SHOULDER] + xy[:, RIGHT_SHOULDER]) / 2
    head_seen = seen[:, list(HEAD_LANDMARKS)]
    head_count = head_seen.sum(1)
    head = (xy[:, list(HEAD_LANDMARKS)] * head_seen[..., None]).sum(1) / np.maximum(head_count, 1)[:, None]
    hips = seen[:, LEFT_HIP] & seen[:, RIGHT_HIP]
    hip_mid = (xy[:, LEFT_HIP] + xy[:, RIGHT_HIP]) / 2
    across = xy[:, LEFT_SHOULDER] - xy[:, RIGHT_SHOULDER]
    votes = [
        (head - mid, shoulders & (head_count > 0), 1.0),
        (mid - hip_mid, shoulders & hips, 1.0),
        (head - hip_mid, ~shoulders & hips & (head_count > 0), 1.0),
        (np.stack([across[:, 1], -across[:, 0]], -1), shoulders, 0.5),
    ]
    total = np.zeros(2)
    for vector, ok, weight in votes:
        length = np.linalg.norm(vector, axis=-1)
        ok = ok & (length > 0)
        total += weight * (vector[ok] / length[ok, None]).sum(0)
    if not np.linalg.norm(total) > 0:
        return None
    return float(np.degrees(np.arctan2(total[0], -total[1])) % 360.0)


def detect_rotation(xy: np.ndarray, seen: np.ndarray) -> int:
    """The input's rotation (0, 90, 180 or 270 degrees clockwise): ``body_up_angle`` rounded to a
    quarter turn; 0 without evidence."""
    angle = body_up_angle(xy, seen)
    return 0 if angle is None else int(round(angle / 90.0)) % 4 * 90


def rotate_xy(xy: np.ndarray, rotation_deg: int) -> np.ndarray:
    """Undo a clockwise rotation of the input by ``rotation_deg`` (a multiple of 90): turn image
    vectors ``[..., 2]`` (x right, y down) counter-clockwise on screen by that angle."""
    quarter = (rotation_deg // 90) % 4
    cos, sin = ((1, 0), (0, 1), (-1, 0), (0, -1))[quarter]
    x, y = xy[..., 0], xy[..., 1]
    return np.stack([x * cos + y * sin, -x * sin + y * cos], axis=-1)


def frame_is_known(image: np.ndarray, conf: np.ndarray, width: float | None, height: float | None) -> bool:
    """Whether ``width`` x ``height`` describe the landmarks' pixel frame: most confidently
    detected shoulders lie inside it (some files carry another size in their header)."""
    if not (width and height):
        return False
    sure = conf[:, [LEFT_SHOULDER, RIGHT_SHOULDER]] >= 0.5
    inside = inside_frame(image[:, [LEFT_SHOULDER, RIGHT_SHOULDER]], width, height, 0.1)
    return bool(inside[sure].mean() >= 0.5) if sure.any() else True
