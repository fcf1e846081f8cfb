"""How well a fit keeps the hand's configuration: finger-joint error against the hand landmarks,
per hand, wrist-relative (the arm's error does not count) and in palm lengths (the fitted
skeleton's wrist -> middle knuckle), per finger.

Measured over the frames in which the whole hand was seen (inside the frame). ``2d``: in the image
plane (x, y), the primary evidence; ``3d``: with depth, over the frames whose hand points all have
a depth target from the input (MediaPipe's hand depth at the hand's scale, flattened where it
exceeds what the finger bones allow: ``keypoint_targets``); NaN where there is none.
"""

from __future__ import annotations

import numpy as np

from signavatar.body.joints import joint_index
from signavatar.extraction.landmarks import LEFT_HAND_START, NUM_HAND, RIGHT_HAND_START, BodyKeypoints

FINGER_LANDMARKS: dict[str, tuple[int, ...]] = {
    "thumb": (1, 2, 3, 4), "index": (5, 6, 7, 8), "middle": (9, 10, 11, 12), "ring": (13, 14, 15, 16),
    "pinky": (17, 18, 19, 20),
}  # fmt: skip
"""Hand landmarks (index within a hand's 21) of each finger, knuckle (thumb: CMC) to tip."""
HANDS = ((LEFT_HAND_START, "left"), (RIGHT_HAND_START, "right"))


def _mean(values: list[np.ndarray]) -> float:
    joined = np.concatenate([v.ravel() for v in values]) if values else np.zeros(0)
    return float(joined.mean()) if joined.size else float("nan")


def finger_distances(
    fitted: np.ndarray, keypoints: BodyKeypoints, skeleton: np.ndarray
) -> dict[str, dict[str, list[np.ndarray]]]:
    """Per coordinate kind (``2d``, ``3d``) and finger, the distances ``[frames, 4]`` (one array per
    hand with frames) between fitted and observed wrist-relative finger landmarks, in palm lengths."""
    out: dict[str, dict[str, list[np.ndarray]]] = {kind: {f: [] for f in FINGER_LANDMARKS} for kind in ("2d", "3d")}
    for start, side in HANDS:
        hand = slice(start, start + NUM_HAND)
        seen = keypoints.observed[:, hand].all(1)
        if not seen.any():
            continue
        palm = float(np.linalg.norm(skeleton[joint_index(f"{side}_middle1")] - skeleton[joint_index(f"{side}_wrist")]))
        delta = (fitted[seen, hand] - fitted[seen, start : start + 1]) - (
            keypoints.points[seen, hand] - keypoints.points[seen, start : start + 1]
        )
        depth = keypoints.depth_observed[seen, hand].all(1)
        for finger, landmarks in FINGER_LANDMARKS.items():
            part = delta[:, list(landmarks)] / palm
            out["2d"][finger].append(np.linalg.norm(part[..., :2], axis=-1))
            if depth.any():
                out["3d"][finger].append(np.linalg.norm(part[depth], axis=-1))
    return out


def finger_errors(fitted: np.ndarray, keypoints: BodyKeypoints, skeleton: np.ndarray) -> dict[str, float | dict]:
    """The fit report's finger figures: ``finger_error_2d`` / ``finger_error_3d`` (mean over every
    finger landmark of both hands) and ``fingers_2d`` / ``fingers_3d`` per finger, in palm lengths
    (NaN where no hand, or no hand depth, was seen)."""
    distances = finger_distances(fitted, keypoints, skeleton)
    report: dict[str, float | dict] = {}
    for kind, fingers in distances.items():
        report[f"finger_error_{kind}"] = _mean([d for values in fingers.values() for d in values])
        report[f"fingers_{kind}"] = {finger: _mean(values) for finger, values in fingers.items()}
    return report
