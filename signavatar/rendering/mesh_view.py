"""The mesh preview: SMPL-X vertices posed by the ``smplx`` model, rasterised on the CPU.

The rasteriser is a small vectorised numpy scanline z-buffer (headless, no OpenGL): each triangle
is cut into pixel rows, each row into the pixels whose centres it covers (half-open on both axes,
so triangles sharing an edge never both claim a pixel), depth is interpolated on the triangle's
plane and the nearest fragment wins per pixel. Shading is flat: one colour per face from a
two-sided Lambert term (faces are lit whichever way they wind) plus ambient light.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from signavatar.body.joints import joint_index
from signavatar.motion.clip import MotionClip
from signavatar.rendering.camera import VIEWS, OrthoCamera
from signavatar.rendering.skeleton_view import FRAMING_JOINTS

Color = tuple[int, int, int]

SKIN_COLOR: Color = (205, 170, 145)
_AMBIENT = 0.3
# Triangles are rasterised in groups whose bounding boxes hold at most this many pixels, which
# bounds the memory of one vectorised pass.
_MAX_BOX_PIXELS_PER_PASS = 1 << 21
# Vertices skinned mostly to these joints frame the view: the skeleton's upper body plus the face.
_FRAMING_OWNERS = sorted(set(FRAMING_JOINTS) | {joint_index(n) for n in ("jaw", "left_eye_smplhf", "right_eye_smplhf")})
_FRAMING_VERTEX_STRIDE = 4  # a subset of those vertices is enough to find the bounding box


@dataclass(frozen=True)
class MeshSequence:
    """Posed geometry of one clip: vertices ``[T, V, 3]`` and faces ``[F, 3]`` of the mesh, and
    the indices of the upper-body vertices that frame the view."""

    vertices: np.ndarray
    faces: np.ndarray
    framing_vertices: np.ndarray

    @property
    def num_frames(self) -> int:
        return int(self.vertices.shape[0])

    def framing_points(self) -> np.ndarray:
        return self.vertices[:, self.framing_vertices].reshape(-1, 3)


def pose_mesh(model: torch.nn.Module, clip: MotionClip, batch_frames: int = 64) -> MeshSequence:
    """Run the ``smplx.SMPLX`` ``model`` on every frame of ``clip`` (poses, expression, betas,
    translation), ``batch_frames`` at a time."""
    vertices = []
    with torch.no_grad():
        for start in range(0, clip.num_frames, batch_frames):
            poses = torch.from_numpy(clip.poses[start : start + batch_frames])
            n = poses.shape[0]
            output = model(
                betas=torch.from_numpy(clip.betas).expand(n, -1),
                expression=torch.from_numpy(clip.expression[start : start + n]),
                transl=torch.from_numpy(clip.trans[start : start + n]),
                global_orient=poses[:, 0],
                body_pose=poses[:, 1:22].reshape(n, -1),
                jaw_pose=poses[:, 22],
                leye_pose=poses[:, 23],
                reye_pose=poses[:, 24],
                left_hand_pose=poses[:, 25:40].reshape(n, -1),
                right_hand_pose=poses[:, 40:55].reshape(n, -1),
            )
            vertices.append(output.vertices.numpy())
    faces = np.asarray(model.faces, dtype=np.int64).reshape(-1, 3)
    owner = model.lbs_weights.argmax(dim=1).numpy()
    framing = np.flatnonzero(np.isin(owner, _FRAMING_OWNERS))[::_FRAMING_VERTEX_STRIDE]
    return MeshSequence(np.concatenate(vertices).astype(np.float32), faces, framing)


def flat_shade(vertices: np.ndarray, faces: np.ndarray, view: str, base: Color = SKIN_COLOR) -> np.ndarray:
    """Per-face colours ``[F, 3]`` uint8 for a light above and slightly left of the camera."""
    right, up, toward = (np.asarray(a, dtype=np.float32) for a in VIEWS[view])
    light = toward + 0.6 * up - 0.3 * right
    light /= np.linalg.norm(light)
    tri = vertices[faces]
    normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    norms = np.linalg.norm(normals, axis=1)
    cosine = np.abs(normals @ light) / np.maximum(norms, 1e-12)
    intensity = _AMBIENT + (1.0 - _AMBIENT) * cosine
    return np.clip(intensity[:, None] * np.asarray(base, dtype=np.float32), 0, 255).astype(np.uint8)


def rasterize(
    xy: np.ndarray,
    depth: np.ndarray,
    faces: np.ndarray,
    face_colors: np.ndarray,
    width: int,
    height: int,
    background: Color,
) -> np.ndarray:
    """Z-buffer rasterisation of triangles ``faces [F, 3]`` over vertices at pixel positions
    ``xy [V, 2]`` with ``depth [V]`` (larger = nearer). Returns an ``[height, width, 3]`` uint8
    image; pixel ``(i, j)`` is covered by a triangle when its centre ``(j + 0.5, i + 0.5)`` is."""
    tri = xy[faces].astype(np.float64)  # [F, 3, 2]
    z = depth[faces].astype(np.float64)
    ex1, ey1 = tri[:, 1, 0] - tri[:, 0, 0], tri[:, 1, 1] - tri[:, 0, 1]
    ex2, ey2 = tri[:, 2, 0] - tri[:, 0, 0], tri[:, 2, 1] - tri[:, 0, 1]
    area2 = ex1 * ey2 - ex2 * ey1
    row_lo = np.maximum(np.ceil(tri[:, :, 1].min(1) - 0.5), 0).astype(np.int64)
    row_hi = np.minimum(np.ceil(tri[:, :, 1].max(1) - 0.5) - 1, height - 1).astype(np.int64)
    col_lo = np.maximum(np.ceil(tri[:, :, 0].min(1) - 0.5), 0)
    col_hi = np.minimum(np.ceil(tri[:, :, 0].max(1) - 0.5) - 1, width - 1)
    keep = np.flatnonzero((np.abs(area2) > 1e-12) & (row_hi >= row_lo) & (col_hi >= col_lo))

    # each triangle's depth plane: z = z0 + dz/dx (x - x0) + dz/dy (y - y0)
    a = area2[keep]
    dz1, dz2 = z[keep, 1] - z[keep, 0], z[keep, 2] - z[keep, 0]
    plane = np.stack(
        [z[keep, 0], (dz1 * ey2[keep] - dz2 * ey1[keep]) / a, (ex1[keep] * dz2 - ex2[keep] * dz1) / a], axis=1
    )
    tri, row_lo, row_hi = tri[keep], row_lo[keep], row_hi[keep]

    zbuffer = np.full(height * width, -np.inf)
    owner = np.full(height * width, -1, dtype=np.int64)
    box = (row_hi - row_lo + 1) * (col_hi[keep] - col_lo[keep] + 1)
    group_of = np.cumsum(box) // _MAX_BOX_PIXELS_PER_PASS
    for group in np.split(np.arange(keep.size), np.flatnonzero(np.diff(group_of)) + 1):
        if group.size == 0:
            continue
        pixel, frag_depth, face = _fragments(tri[group], plane[group], row_lo[group], row_hi[group], width)
        np.maximum.at(zbuffer, pixel, frag_depth)
        won = frag_depth >= zbuffer[pixel]  # exact ties: any of the tied faces may win
        owner[pixel[won]] = group[face[won]]

    image = np.empty((height * width, 3), dtype=np.uint8)
    image[:] = background
    covered = owner >= 0
    image[covered] = face_colors[keep[owner[covered]]]
    return image.reshape(height, width, 3)


def _fragments(
    tri: np.ndarray, plane: np.ndarray, row_lo: np.ndarray, row_hi: np.ndarray, width: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pixel index, depth, triangle index) of every pixel centre covered by triangles ``tri [N, 3, 2]``."""
    rows_per = row_hi - row_lo + 1
    face = np.repeat(np.arange(tri.shape[0]), rows_per)
    row = row_lo[face] + (np.arange(face.size) - np.repeat(np.cumsum(rows_per) - rows_per, rows_per))
    yc = row + 0.5
    left = np.full(face.size, np.inf)
    right = np.full(face.size, -np.inf)
    for a, b in ((0, 1), (1, 2), (2, 0)):
        xa, ya = tri[face, a, 0], tri[face, a, 1]
        xb, yb = tri[face, b, 0], tri[face, b, 1]
        crosses = (ya <= yc) != (yb <= yc)  # half-open in y: a row through a vertex counts once
        with np.errstate(divide="ignore", invalid="ignore"):
            x = xa + (yc - ya) * (xb - xa) / (yb - ya)
        left = np.where(crosses, np.minimum(left, x), left)
        right = np.where(crosses, np.maximum(right, x), right)
    col_start = np.maximum(np.ceil(left - 0.5), 0)
    col_stop = np.minimum(np.ceil(right - 0.5), width)  # exclusive: half-open in x too
    count = np.maximum(col_stop - col_start, 0).astype(np.int64)
    col_start = np.where(count > 0, col_start, 0)  # rows that miss the triangle hold +-inf here
    # depth at each row's first pixel centre, then one step of dz/dx per pixel along the row
    p = plane[face]
    row_depth = p[:, 0] + p[:, 1] * (col_start + 0.5 - tri[face, 0, 0]) + p[:, 2] * (yc - tri[face, 0, 1])
    row_pixel = row * width + col_start.astype(np.int64)

    row_of = np.repeat(np.arange(face.size), count)
    step = np.arange(row_of.size) - (np.cumsum(count) - count)[row_of]
    return row_pixel[row_of] + step, row_depth[row_of] + p[row_of, 1] * step, face[row_of]


def draw_mesh(camera: OrthoCamera, sequence: MeshSequence, frame: int, background: Color) -> np.ndarray:
    """Frame ``frame`` of ``sequence`` as an ``[H, W, 3]`` uint8 image."""
    vertices = sequence.vertices[frame]
    xy, depth = camera.project(vertices)
    colors = flat_shade(vertices, sequence.faces, camera.view)
    return rasterize(xy, depth, sequence.faces, colors, camera.width, camera.height, background)
