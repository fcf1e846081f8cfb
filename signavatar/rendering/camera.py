"""Orthographic cameras for the preview views, and how they are framed.

World convention (SMPL-X): metres, y up, z forward (the way the signer faces), the signer's left at
+x. A view is three world directions: the image's right, the image's up, and ``toward``, the
direction from the subject to the camera (depth grows toward the camera, so nearer = larger).

* ``front``: the camera stands in front of the signer and looks at the face. The signer's left
  hand (+x) appears on the image's right, as when facing a person (not a mirror image).
* ``side``: the camera stands at the signer's right (-x) and looks across; the signer faces the
  image's right.
* ``hands``: a close-up from the front of each hand, the signer's right hand in the left half of
  the view and the left hand in the right half (as ``front`` shows them); each half follows its
  hand from frame to frame (``track_cameras``) at one scale, so handshapes read at any hand
  position and compare across frames and panels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

VIEWS: dict[str, tuple[tuple[float, float, float], ...]] = {
    # name: (image right, image up, toward the camera)
    "front": ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)),
    "side": ((0.0, 0.0, 1.0), (0.0, 1.0, 0.0), (-1.0, 0.0, 0.0)),
    "hands": ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)),
}
TRACKING_VIEWS = ("hands",)
"""Views whose cameras follow their points frame by frame (``track_cameras``), not ``fit_cameras``."""


def check_views(views: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    views = tuple(views)
    if not views:
        raise ValueError("at least one view is needed")
    unknown = [v for v in views if v not in VIEWS]
    if unknown:
        raise ValueError(f"unknown view(s) {unknown}; expected some of {sorted(VIEWS)}")
    return views


@dataclass(frozen=True)
class OrthoCamera:
    """Orthographic projection of world points onto a ``width x height`` pixel image.

    ``center`` is the world point (in the view's right/up plane coordinates) that lands on the
    image centre; ``scale`` is pixels per metre. Pixel y grows downward, as in every image library.
    """

    view: str
    center: tuple[float, float]
    scale: float
    width: int
    height: int

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``points [..., 3]`` -> (pixel coordinates ``[..., 2]`` float32, depth ``[...]``)."""
        axes = np.asarray(VIEWS[self.view], dtype=np.float32)  # rows: right, up, toward
        local = np.asarray(points, dtype=np.float32) @ axes.T
        x = (local[..., 0] - self.center[0]) * self.scale + self.width / 2.0
        y = self.height / 2.0 - (local[..., 1] - self.center[1]) * self.scale
        return np.stack([x, y], axis=-1), local[..., 2]

    def scaled(self, factor: int) -> OrthoCamera:
        """The same framing on a ``factor`` times larger image (for supersampling)."""
        return OrthoCamera(self.view, self.center, self.scale * factor, self.width * factor, self.height * factor)


def fit_cameras(
    point_sets: list[np.ndarray],
    views: tuple[str, ...],
    width: int,
    height: int,
    margin_m: float = 0.12,
    pad_px: int = 4,
) -> list[list[OrthoCamera]]:
    """Cameras ``[view][set]``: one per view for each point set (e.g. all frames' joints of one
    clip), framing the set's bounding box grown by ``margin_m`` metres. All share one
    pixels-per-metre scale (the largest at which every set fits in every view), so that bodies in
    side-by-side panels and in different views compare at one size, even when the clips' global
    translations differ."""
    boxes = {}
    for view in views:
        axes = np.asarray(VIEWS[view], dtype=np.float32)[:2]
        for i, points in enumerate(point_sets):
            plane = np.asarray(points, dtype=np.float32).reshape(-1, 3) @ axes.T
            boxes[view, i] = (plane.min(0) - margin_m, plane.max(0) + margin_m)
    extents = np.array([hi - lo for lo, hi in boxes.values()])
    usable = np.array([max(width - 2 * pad_px, 1), max(height - 2 * pad_px, 1)], dtype=np.float32)
    scale = float(np.min(usable / np.maximum(extents, 1e-6)))
    return [
        [
            OrthoCamera(view, tuple(float(c) for c in (lo + hi) / 2.0), scale, width, height)
            for lo, hi in (boxes[view, i] for i in range(len(point_sets)))
        ]
        for view in views
    ]


def track_cameras(point_sets: list[np.ndarray], view: str, width: int, height: int, margin_m: float = 0.02,
                  pad_px: int = 2) -> list[list[OrthoCamera]]:
    """Cameras ``[set][frame]`` for point sets ``[T, N, 3]`` (e.g. one hand's points of a clip):
    each frame's camera is centred on that frame's points; all share one pixels-per-metre scale,
    the largest at which every set fits in every frame (with ``margin_m`` around it)."""
    axes = np.asarray(VIEWS[view], dtype=np.float32)[:2]
    planes = [np.asarray(points, dtype=np.float32) @ axes.T for points in point_sets]  # [T, N, 2] each
    extents = np.concatenate([(p.max(1) - p.min(1)).reshape(-1, 2) for p in planes]) + 2 * margin_m
    usable = np.array([max(width - 2 * pad_px, 1), max(height - 2 * pad_px, 1)], dtype=np.float32)
    scale = float(np.min(usable / np.maximum(extents, 1e-6)))
    return [[OrthoCamera(view, tuple(float(c) for c in (lo + hi) / 2.0), scale, width, height)
             for lo, hi in zip(p.min(1), p.max(1))] for p in planes]
