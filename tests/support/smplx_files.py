"""Synthetic SMPL-X model files for tests (the real ones are licensed and not shipped).

The file has every key, shape and dtype that smplx 0.1.28's ``SMPLX`` reads from
``SMPLX_<GENDER>.npz`` (v1.1 layout: 400 shape+expression directions, 486 pose directions), with
random but valid content: the joint regressor is a convex combination of vertices placed around a
jittered copy of ``DEFAULT_REST_JOINTS``, so the model's rest joints are plausible yet differ from
the built-in default skeleton.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from smplx.vertex_ids import vertex_ids as SMPLX_VERTEX_IDS

from signavatar.body.joints import NUM_JOINTS, PARENTS
from signavatar.body.skeleton import DEFAULT_REST_JOINTS

# smplx always picks extra keypoints (nose, ears, toes, fingertips...) at fixed SMPL-X vertex ids,
# so a loadable model needs at least max(id) + 1 vertices. 10475 is the real SMPL-X count.
MIN_VERTICES = max(SMPLX_VERTEX_IDS["smplx"].values()) + 1
SMPLX_NUM_VERTICES = 10475

_SHAPE_SPACE_DIM = 300  # smplx reads betas from shapedirs[..., :300] ...
_EXPRESSION_SPACE_DIM = 100  # ... and expressions from shapedirs[..., 300:400]
_NUM_POSE_BASIS = (NUM_JOINTS - 1) * 9
_NUM_LANDMARKS = 51
_NUM_DYNAMIC_LANDMARK_BINS = 79
_NUM_DYNAMIC_LANDMARKS = 17
_REGRESSOR_VERTICES_PER_JOINT = 8
_POSED_VERTICES = 64


def write_synthetic_smplx(
    directory: Path,
    gender: str = "neutral",
    num_vertices: int = SMPLX_NUM_VERTICES,
    seed: int = 0,
) -> Path:
    """Write ``directory/SMPLX_<GENDER>.npz`` and return its path."""
    if num_vertices < MIN_VERTICES:
        raise ValueError(f"smplx needs at least {MIN_VERTICES} vertices (fixed keypoint vertex ids)")
    rng = np.random.default_rng(seed)
    num_faces = 2 * num_vertices

    joints = DEFAULT_REST_JOINTS + rng.normal(0.0, 0.01, size=(NUM_JOINTS, 3))
    owner = np.arange(num_vertices) % NUM_JOINTS  # each vertex belongs to one joint
    v_template = (joints[owner] + rng.normal(0.0, 0.02, size=(num_vertices, 3))).astype(np.float64)

    j_regressor = np.zeros((NUM_JOINTS, num_vertices), dtype=np.float64)
    for j in range(NUM_JOINTS):
        chosen = np.flatnonzero(owner == j)[:_REGRESSOR_VERTICES_PER_JOINT]
        w = rng.uniform(0.5, 1.5, size=chosen.size)
        j_regressor[j, chosen] = w / w.sum()

    weights = np.zeros((num_vertices, NUM_JOINTS), dtype=np.float64)
    parents = np.array(PARENTS)
    rows = np.arange(num_vertices)
    is_root = owner == 0
    weights[rows, owner] = np.where(is_root, 1.0, 0.7)
    weights[rows[~is_root], parents[owner[~is_root]]] += 0.3

    # Only the directions smplx uses (10 betas, 10 expressions) and the pose correctives of a few
    # vertices are non-zero: the file stays small once compressed, and joints never depend on them.
    shapedirs = np.zeros((num_vertices, 3, _SHAPE_SPACE_DIM + _EXPRESSION_SPACE_DIM), dtype=np.float32)
    shapedirs[:, :, :10] = rng.normal(0.0, 0.01, size=(num_vertices, 3, 10))
    shapedirs[:, :, _SHAPE_SPACE_DIM : _SHAPE_SPACE_DIM + 10] = rng.normal(0.0, 0.005, size=(num_vertices, 3, 10))
    posedirs = np.zeros((num_vertices, 3, _NUM_POSE_BASIS), dtype=np.float32)
    posedirs[:_POSED_VERTICES] = rng.normal(0.0, 1e-3, size=(_POSED_VERTICES, 3, _NUM_POSE_BASIS))

    kintree_table = np.stack([parents, np.arange(NUM_JOINTS)]).astype(np.int64)
    kintree_table[0, 0] = 4294967295  # the real files store the root's parent as uint32(-1)

    def bary(*shape: int) -> np.ndarray:
        b = rng.uniform(0.1, 1.0, size=(*shape, 3))
        return b / b.sum(-1, keepdims=True)

    hand_components = [np.linalg.qr(rng.normal(size=(45, 45)))[0] for _ in range(2)]
    path = Path(directory) / f"SMPLX_{gender.upper()}.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        path,
        v_template=v_template,
        f=rng.integers(0, num_vertices, size=(num_faces, 3)).astype(np.uint32),
        shapedirs=shapedirs,
        posedirs=posedirs,
        J_regressor=j_regressor,
        weights=weights,
        kintree_table=kintree_table,
        hands_componentsl=hand_components[0],
        hands_componentsr=hand_components[1],
        hands_meanl=rng.normal(0.0, 0.2, size=45),
        hands_meanr=rng.normal(0.0, 0.2, size=45),
        lmk_faces_idx=rng.integers(0, num_faces, size=_NUM_LANDMARKS).astype(np.uint32),
        lmk_bary_coords=bary(_NUM_LANDMARKS),
        dynamic_lmk_faces_idx=rng.integers(
            0, num_faces, size=(_NUM_DYNAMIC_LANDMARK_BINS, _NUM_DYNAMIC_LANDMARKS)
        ).astype(np.uint32),
        dynamic_lmk_bary_coords=bary(_NUM_DYNAMIC_LANDMARK_BINS, _NUM_DYNAMIC_LANDMARKS),
    )
    return path
