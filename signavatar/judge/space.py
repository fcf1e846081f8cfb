"""The judge's landmark space: raw MediaPipe landmarks and projected SMPL-X clips in one normalised
2D space, so a recognizer trained on real signers' landmarks can score any clip.

**Input convention** (``landmark_features``): the 75-point Holistic layout (``extraction.landmarks``:
33 pose points, 21 left-hand, 21 right-hand, "left" the signer's left) in *upright image*
coordinates: x to the image right, y down, any unit (pixels), as MediaPipe reports them once a
sideways video is turned upright; z is not used. ``weights [T, 75]``: 0 where a point is missing
(a hand that was not detected). This is what ``extraction.landmark_store`` keeps beside a dataset.

**Projection of SMPL-X clips** (``project_clip``): the fitter's own forward model
``markers.keypoints_from_poses`` places every Holistic landmark that has an SMPL-X counterpart on
the posed skeleton (body frame: x the signer's left, y up, z forward), then an orthographic
camera looking at the body from the front keeps x and turns y down (``x_image = x_body``,
``y_image = -y_body``: the inverse of ``keypoint_targets``, which maps image x to body x and
image y to -body y). Project a fitted clip on the skeleton its fit used
(``proportions.scaled_skeleton`` with the fit's ``bone_scale``): on the standard skeleton its
arms and fingers have other proportions than the signer's.

**Joint correspondence** (landmark -> SMPL-X, from ``markers.build_markers``): LEFT/RIGHT_SHOULDER,
_ELBOW, _WRIST -> the joints of those names; hand WRIST -> the wrist joint; THUMB_CMC, _MCP, _IP
-> thumb1, thumb2, thumb3; INDEX/MIDDLE/RING/PINKY _MCP, _PIP, _DIP -> <finger>1, 2, 3; every
_TIP -> a marker ``TIP_RATIO`` of the last bone beyond the distal joint. Face, hips and legs are
not used.

**The space** (per frame, ``FEATURE_DIM = 94`` values; every scale is per sequence, so the
signer's distance to the camera does not matter but foreshortening within the clip stays):

* ``ARMS`` (12): shoulders, elbows and wrists relative to the shoulder midpoint, in shoulder
  widths (the median 2D shoulder distance over the sequence), y up;
* ``HANDS`` (2 x 40): the 20 finger landmarks of each hand (thumb, index, middle, ring, pinky,
  knuckle to tip) relative to that hand's wrist, in units of the hand's palm (the 90th
  percentile over frames of its longest 2D wrist -> knuckle distance: the palm seen face-on),
  y up, so the handshape is not drowned by the arm's position;
* ``PRESENCE`` (2): 1 where the hand counts, else 0 and its 40 values are 0.

A hand counts where it was detected *and* its wrist is no lower below its shoulder than
``REST_DROP`` of the arm's length (upper arm + forearm, 90th percentiles of their image lengths):
a hand hanging at rest is often out of the camera's frame, so MediaPipe does not report it while
a projected SMPL-X clip always has it; without this rule every one-handed sign's fit would show a
second hand that its landmarks never had (measured: the judge then took 0 of 30 fits of `a`,
`hello` or `no` for themselves). ``mask [T]`` is False on frames without both shoulders (nothing
to normalise by) and on padding.
"""

from __future__ import annotations

import numpy as np

from signavatar.extraction.estimators.markers import keypoints_from_poses
from signavatar.extraction.landmarks import (
    HAND_LANDMARK_NAMES,
    LEFT_HAND_START,
    LEFT_SHOULDER,
    NUM_HAND,
    NUM_LANDMARKS,
    POSE_LANDMARK_NAMES,
    RIGHT_HAND_START,
    RIGHT_SHOULDER,
)

SIDES = ("LEFT", "RIGHT")
ARM_POINTS = tuple(POSE_LANDMARK_NAMES.index(f"{s}_{p}") for s in SIDES for p in ("SHOULDER", "ELBOW", "WRIST"))
"""Pose landmarks of the arm features: left shoulder, elbow, wrist, then the right's."""
HAND_STARTS = (LEFT_HAND_START, RIGHT_HAND_START)
_KNUCKLES = tuple(HAND_LANDMARK_NAMES.index(f"{f}_MCP") for f in ("INDEX_FINGER", "MIDDLE_FINGER", "PINKY"))
HAND_VALUES = 2 * (NUM_HAND - 1)
ARMS = slice(0, 2 * len(ARM_POINTS))
HANDS = tuple(slice(ARMS.stop + k * HAND_VALUES, ARMS.stop + (k + 1) * HAND_VALUES) for k in range(2))
PRESENCE = slice(HANDS[1].stop, HANDS[1].stop + 2)
FEATURE_DIM = PRESENCE.stop
REST_DROP = 0.7
"""A hand whose wrist is lower than this share of the arm's length below its shoulder is at rest."""
_PALM_PERCENTILE = 90.0
_Y_UP = np.array([1.0, -1.0])


def _sequence_stat(values: np.ndarray, ok: np.ndarray, stat: str) -> np.ndarray:
    """Per sequence (over the frame axis -1) the median (``"median"``) or 90th percentile
    (``"high"``) of ``values`` where ``ok``; NaN for a sequence with none, or with a value of 0."""
    masked = np.where(ok, values, np.nan)
    empty = ~ok.any(-1)
    masked[empty] = 1.0  # keeps nan-statistics quiet; replaced below
    out = np.nanmedian(masked, -1) if stat == "median" else np.nanpercentile(masked, _PALM_PERCENTILE, axis=-1)
    return np.where(empty | ~(out > 0), np.nan, out)


def _length(xy: np.ndarray, seen: np.ndarray, a: int, b: int, stat: str) -> np.ndarray:
    """Per sequence, the median or high percentile of the 2D distance between points ``a`` and ``b``."""
    return _sequence_stat(np.linalg.norm(xy[..., b, :] - xy[..., a, :], axis=-1), seen[..., a] & seen[..., b], stat)


def landmark_features(points: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Landmarks -> the judge's space (module docstring): ``points [..., T, 75, 3]`` in upright image
    coordinates, ``weights [..., T, 75]`` -> ``features [..., T, FEATURE_DIM]`` float32 and ``mask
    [..., T]`` bool. Leading dimensions are independent sequences (padding frames: weight 0)."""
    points = np.asarray(points, np.float64)
    weights = np.asarray(weights, np.float64)
    if points.shape[-2:] != (NUM_LANDMARKS, 3) or weights.shape != points.shape[:-1]:
        raise ValueError(f"landmarks {points.shape} / weights {weights.shape}; expected [..., T, {NUM_LANDMARKS}, 3] "
                         f"/ [..., T, {NUM_LANDMARKS}]")
    xy = points[..., :2] * _Y_UP
    seen = (weights > 0) & np.isfinite(points).all(-1)
    width = _length(xy, seen, LEFT_SHOULDER, RIGHT_SHOULDER, "median")[..., None, None, None]  # per sequence
    centre = 0.5 * (xy[..., LEFT_SHOULDER, :] + xy[..., RIGHT_SHOULDER, :])[..., None, :]
    arms = np.where(seen[..., list(ARM_POINTS), None], (xy[..., list(ARM_POINTS), :] - centre) / width, 0.0)
    parts, present = [arms.reshape(arms.shape[:-2] + (-1,))], []
    for side, start in enumerate(HAND_STARTS):
        shoulder, elbow, wrist = ARM_POINTS[3 * side : 3 * side + 3]
        reach = _length(xy, seen, shoulder, elbow, "high") + _length(xy, seen, elbow, wrist, "high")
        drop = (xy[..., shoulder, 1] - xy[..., wrist, 1]) / reach[..., None]
        counts = seen[..., start : start + NUM_HAND].all(-1) & ~(drop > REST_DROP)
        local = xy[..., start + 1 : start + NUM_HAND, :] - xy[..., start : start + 1, :]
        knuckles = np.linalg.norm(local[..., [k - 1 for k in _KNUCKLES], :], axis=-1).max(-1)
        palm = _sequence_stat(knuckles, counts, "high")[..., None, None, None]
        local = np.where(counts[..., None, None], local / palm, 0.0)
        parts.append(local.reshape(local.shape[:-2] + (-1,)))
        present.append(counts.astype(np.float64))
    features = np.concatenate(parts + [np.stack(present, -1)], -1)
    shoulders = seen[..., LEFT_SHOULDER] & seen[..., RIGHT_SHOULDER]
    mask = shoulders & np.isfinite(width[..., 0, 0, 0])[..., None]
    features = np.where(mask[..., None] & np.isfinite(features), features, 0.0)
    return features.astype(np.float32), mask


def project_clip(poses: np.ndarray, trans: np.ndarray | None, rest_joints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """SMPL-X motion ``poses [..., T, 55, 3]`` (``trans [..., T, 3]`` or None) on ``rest_joints``
    -> the landmarks a frontal orthographic camera sees: ``points [..., T, 75, 3]`` in the input
    convention of ``landmark_features`` (metres, y down) and ``weights [..., T, 75]`` (1 on every
    landmark with an SMPL-X counterpart)."""
    keypoints = keypoints_from_poses(np.asarray(poses, np.float32), np.asarray(rest_joints), trans)
    return keypoints.points * np.array([1.0, -1.0, -1.0], np.float32), keypoints.weights


def clip_features(poses: np.ndarray, trans: np.ndarray | None, rest_joints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """SMPL-X clips -> the judge's space: ``project_clip`` then ``landmark_features``; batched over
    leading dimensions (``[N, T, 55, 3]`` -> ``[N, T, FEATURE_DIM]``)."""
    return landmark_features(*project_clip(poses, trans, rest_joints))


def stack_clips(items: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Clips of different lengths (``(features [T_i, D], mask [T_i])`` each) -> ``features
    [N, T_max, D]`` and ``masks [N, T_max]``, padded at the end with masked-out zeros."""
    if not items:
        return np.zeros((0, 0, FEATURE_DIM), np.float32), np.zeros((0, 0), bool)
    frames = max(f.shape[0] for f, _ in items)
    features = np.zeros((len(items), frames, items[0][0].shape[-1]), np.float32)
    masks = np.zeros((len(items), frames), bool)
    for i, (f, m) in enumerate(items):
        features[i, : len(f)], masks[i, : len(m)] = f, m
    return features, masks
