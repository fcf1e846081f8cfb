"""Posing the avatar's mesh: linear blend skinning with its four bone influences per vertex (the
same weights a ``.glb`` carries, so a preview shows what an engine shows), and smooth vertex
normals for shading."""

from __future__ import annotations

import numpy as np
from scipy import sparse

from signavatar.avatar.retarget import AvatarMotion
from signavatar.avatar.rig import Avatar


def skin(avatar: Avatar, motion: AvatarMotion, frames: slice | None = None) -> np.ndarray:
    """Posed vertices ``[T, V, 3]`` float32 of ``motion`` (or of its ``frames``)."""
    body = avatar.body
    transforms = motion.transforms(avatar)[frames if frames is not None else slice(None)]
    rest = np.concatenate([body.vertices, np.ones((len(body.vertices), 1))], axis=1)  # [V, 4]
    weights = body.skin_weights.astype(np.float64)[..., None, None]
    out = np.empty((transforms.shape[0], len(rest), 3), np.float32)
    for t, frame in enumerate(transforms):
        blended = (frame[body.skin_bones] * weights).sum(axis=1)  # [V, 3, 4]
        out[t] = (blended @ rest[:, :, None])[..., 0]
    return out


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Unit normals ``[..., V, 3]`` of ``vertices [..., V, 3]``: the area-weighted sum of the normals
    of the faces around each vertex (faces wound counter-clockwise seen from outside)."""
    tri = vertices[..., faces, :]
    face_normals = np.cross(tri[..., 1, :] - tri[..., 0, :], tri[..., 2, :] - tri[..., 0, :])  # |n| = 2 area
    incidence = _incidence(faces, vertices.shape[-2])
    flat = face_normals.reshape(-1, faces.shape[0], 3)
    summed = np.stack([incidence @ f for f in flat]).reshape(vertices.shape)
    return summed / np.maximum(np.linalg.norm(summed, axis=-1, keepdims=True), 1e-12)


def _incidence(faces: np.ndarray, num_vertices: int) -> sparse.csr_matrix:
    """``[V, F]`` with a 1 where a face holds a vertex."""
    rows = faces.reshape(-1)
    cols = np.repeat(np.arange(faces.shape[0]), 3)
    return sparse.csr_matrix((np.ones(rows.size, np.float32), (rows, cols)), shape=(num_vertices, faces.shape[0]))
