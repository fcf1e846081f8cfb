"""The mesh previews: a posed mesh (the free avatar, or SMPL-X posed by the ``smplx`` model)
rasterised on the CPU.

The rasteriser is a small vectorised numpy scanline z-buffer (headless, no OpenGL): each triangle
is cut into pixel rows, each row into the pixels whose centres it covers (half-open on both axes,
so triangles sharing an edge never both claim a pixel), depth is interpolated on the triangle's
plane and the nearest fragment wins per pixel. Shading is smooth: every vertex is lit through its
normal (the area-weighted normals of the faces around it) by a key light above and left of the
camera and a weaker fill from the right, and the colours are interpolated across each triangle
from the three corners of the pixel's winning face. Where the depth jumps between neighbouring
pixels (a finger in front of the palm, the body's silhouette) the nearer side is drawn darker, so
overlapping fingers read as separate shapes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from signavatar.avatar.appearance import SKIN, hand_vertices, part, vertex_colors
from signavatar.avatar.retarget import retarget
from signavatar.avatar.rig import load_avatar
from signavatar.avatar.skinning import skin, vertex_normals
from signavatar.body.joints import LEFT_HAND, RIGHT_HAND, joint_index
from signavatar.motion.clip import MotionClip
from signavatar.rendering.camera import VIEWS, OrthoCamera
from signavatar.rendering.skeleton_view import FRAMING_JOINTS

Color = tuple[int, int, int]

_KEY, _FILL, _AMBIENT = 0.62, 0.22, 0.3
OUTLINE_DEPTH_M = 0.01
"""A depth step larger than this between neighbouring pixels draws an outline on the nearer side."""
OUTLINE_SHADE = 0.55
# Triangles are rasterised in groups whose bounding boxes hold at most this many pixels, which
# bounds the memory of one vectorised pass.
_MAX_BOX_PIXELS_PER_PASS = 1 << 21
# SMPL-X vertices skinned mostly to these joints frame the view: the skeleton's upper body plus the face.
_FRAMING_OWNERS = sorted(set(FRAMING_JOINTS) | {joint_index(n) for n in ("jaw", "left_eye_smplhf", "right_eye_smplhf")})
_FRAMING_VERTEX_STRIDE = 4  # a subset of those vertices is enough to find the bounding box


@dataclass(frozen=True)
class MeshSequence:
    """Posed geometry of one clip: vertices ``[T, V, 3]``, their unit normals ``[T, V, 3]``, faces
    ``[F, 3]`` (counter-clockwise seen from outside), vertex colours ``[V, 3]`` uint8, the indices
    of the upper-body vertices that frame the view and of the vertices of the signer's right and
    left hand (``hands``); ``closed``: a closed surface, whose faces turned away from the camera
    are hidden anyway and are skipped."""

    vertices: np.ndarray
    normals: np.ndarray
    faces: np.ndarray
    colors: np.ndarray
    framing_vertices: np.ndarray
    hands: tuple[np.ndarray, np.ndarray]
    closed: bool

    @property
    def num_frames(self) -> int:
        return int(self.vertices.shape[0])

    def framing_points(self) -> np.ndarray:
        return self.vertices[:, self.framing_vertices].reshape(-1, 3)

    def hand_points(self, hand: int) -> np.ndarray:
        """``[T, N, 3]`` points of hand ``hand`` (0: the signer's right, 1: left)."""
        return self.vertices[:, self.hands[hand]]


def avatar_mesh(clip: MotionClip) -> MeshSequence:
    """The free avatar (``signavatar.avatar``) following ``clip``."""
    avatar = load_avatar()
    body = avatar.body
    upper = np.array([part(name) != "trousers" for name in body.bone_names])
    framing = np.flatnonzero(upper[body.skin_bones[:, 0]])[::_FRAMING_VERTEX_STRIDE]
    vertices = skin(avatar, retarget(clip, avatar))
    return MeshSequence(vertices, vertex_normals(vertices, body.faces), body.faces, vertex_colors(body), framing,
                        (hand_vertices(body, "R"), hand_vertices(body, "L")), closed=True)


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
    hands = tuple(np.flatnonzero(np.isin(owner, [joint_index(f"{side}_wrist"), *range(span.start, span.stop)]))
                  for side, span in (("right", RIGHT_HAND), ("left", LEFT_HAND)))
    colors = np.tile(np.array(SKIN, np.uint8), (owner.size, 1))
    vertices = np.concatenate(vertices).astype(np.float32)
    return MeshSequence(vertices, vertex_normals(vertices, faces), faces, colors, framing, hands, closed=False)


def shade_vertices(normals: np.ndarray, colors: np.ndarray, view: str) -> np.ndarray:
    """Lit colours ``[V, 3]`` float of vertices with unit ``normals`` and base ``colors``: ambient,
    a key light above and left of the camera, a fill light from the right. Normals facing away
    from the camera are turned toward it (open edges of a mesh show their inside lit too)."""
    right, up, toward = (np.asarray(a, dtype=np.float32) for a in VIEWS[view])
    key = toward + 0.6 * up - 0.3 * right
    fill = toward + 0.1 * up + 0.8 * right
    normals = np.where((normals @ toward)[:, None] < 0, -normals, normals)
    light = (_AMBIENT + _KEY * np.clip(normals @ (key / np.linalg.norm(key)), 0, 1)
             + _FILL * np.clip(normals @ (fill / np.linalg.norm(fill)), 0, 1))
    return light[:, None] * colors.astype(np.float32)


def rasterize(xy: np.ndarray, depth: np.ndarray, faces: np.ndarray, width: int, height: int,
              front_only: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Z-buffer rasterisation of triangles ``faces [F, 3]`` over vertices at pixel positions
    ``xy [V, 2]`` with ``depth [V]`` (larger = nearer). Returns ``(face [H, W], depth [H, W])``:
    the index of the face seen at each pixel (-1: none) and its depth (-inf: none); pixel
    ``(i, j)`` is covered by a triangle when its centre ``(j + 0.5, i + 0.5)`` is. ``front_only``
    skips faces turned away from the camera (counter-clockwise ones face it)."""
    x, y = xy[:, 0].astype(np.float64), xy[:, 1].astype(np.float64)
    corner = faces.T
    x0, x1, x2 = x[corner[0]], x[corner[1]], x[corner[2]]
    y0, y1, y2 = y[corner[0]], y[corner[1]], y[corner[2]]
    ex1, ey1, ex2, ey2 = x1 - x0, y1 - y0, x2 - x0, y2 - y0
    area2 = ex1 * ey2 - ex2 * ey1  # pixel y grows downward: faces toward the camera have area2 < 0
    row_lo = np.maximum(np.ceil(np.minimum(np.minimum(y0, y1), y2) - 0.5), 0).astype(np.int64)
    row_hi = np.minimum(np.ceil(np.maximum(np.maximum(y0, y1), y2) - 0.5) - 1, height - 1).astype(np.int64)
    col_lo = np.maximum(np.ceil(np.minimum(np.minimum(x0, x1), x2) - 0.5), 0)
    col_hi = np.minimum(np.ceil(np.maximum(np.maximum(x0, x1), x2) - 0.5) - 1, width - 1)
    visible = area2 < -1e-12 if front_only else np.abs(area2) > 1e-12
    keep = np.flatnonzero(visible & (row_hi >= row_lo) & (col_hi >= col_lo))
    tri = np.stack([np.stack([x0[keep], y0[keep]], 1), np.stack([x1[keep], y1[keep]], 1),
                    np.stack([x2[keep], y2[keep]], 1)], axis=1)  # [K, 3, 2]
    z = depth[faces[keep]].astype(np.float64)
    ex1, ey1, ex2, ey2 = ex1[keep], ey1[keep], ex2[keep], ey2[keep]

    # each triangle's depth plane: z = z0 + dz/dx (x - x0) + dz/dy (y - y0)
    a = area2[keep]
    dz1, dz2 = z[:, 1] - z[:, 0], z[:, 2] - z[:, 0]
    plane = np.stack([z[:, 0], (dz1 * ey2 - dz2 * ey1) / a, (ex1 * dz2 - ex2 * dz1) / a], axis=1)
    row_lo, row_hi = row_lo[keep], row_hi[keep]

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
    covered = owner >= 0
    owner[covered] = keep[owner[covered]]
    return owner.reshape(height, width), zbuffer.reshape(height, width)


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


def interpolate(owner: np.ndarray, xy: np.ndarray, faces: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``[H, W, C]`` per-vertex ``values [V, C]`` interpolated (barycentric, at pixel centres)
    across the face seen at each pixel (``owner [H, W]`` from ``rasterize``); 0 where none."""
    height, width = owner.shape
    out = np.zeros((height * width, values.shape[1]), np.float32)
    pixel = np.flatnonzero(owner.reshape(-1) >= 0)
    corner = faces[owner.reshape(-1)[pixel]].T  # [3, N]
    (ax, bx, cx), (ay, by, cy) = (xy[corner, k].astype(np.float64) for k in (0, 1))
    px, py = pixel % width + 0.5 - cx, pixel // width + 0.5 - cy
    denom = (by - cy) * (ax - cx) + (cx - bx) * (ay - cy)
    denom = np.where(np.abs(denom) < 1e-12, 1e-12, denom)
    la = np.clip(((by - cy) * px + (cx - bx) * py) / denom, 0.0, 1.0)
    lb = np.clip(((cy - ay) * px + (ax - cx) * py) / denom, 0.0, 1.0 - la)
    out[pixel] = (la[:, None] * values[corner[0]] + lb[:, None] * values[corner[1]]
                  + (1.0 - la - lb)[:, None] * values[corner[2]])
    return out.reshape(height, width, values.shape[1])


def outline(depth: np.ndarray, step_m: float = OUTLINE_DEPTH_M) -> np.ndarray:
    """``[H, W]`` bool: covered pixels with a 4-neighbour more than ``step_m`` farther (or empty)."""
    padded = np.pad(depth, 1, constant_values=-np.inf)
    edge = np.zeros(depth.shape, bool)
    for dy, dx in ((0, 1), (2, 1), (1, 0), (1, 2)):
        edge |= padded[dy : dy + depth.shape[0], dx : dx + depth.shape[1]] < depth - step_m
    return edge & np.isfinite(depth)


def draw_mesh(camera: OrthoCamera, sequence: MeshSequence, frame: int, background: Color) -> np.ndarray:
    """Frame ``frame`` of ``sequence`` as an ``[H, W, 3]`` uint8 image."""
    xy, depth = camera.project(sequence.vertices[frame])
    owner, zbuffer = rasterize(xy, depth, sequence.faces, camera.width, camera.height, front_only=sequence.closed)
    lit = shade_vertices(sequence.normals[frame], sequence.colors, camera.view)
    image = interpolate(owner, xy, sequence.faces, lit)
    image[outline(zbuffer)] *= OUTLINE_SHADE
    image[owner < 0] = background
    return np.clip(image, 0, 255).astype(np.uint8)
