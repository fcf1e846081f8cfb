"""Faithfulness beside FID: does a generated (or reconstructed) sign move like real signing of the
same gloss? Per-part dynamic-time-warping joint errors (after SOKE's DTW-JPE), without Ray.

Positions. Model features (6D rotations of the 44 upper-body joints) go through forward kinematics
on the rest skeleton with the root at the origin and unrotated ("after aligning the root"; the
model has no global orientation or translation), so Raw, Rec and Gen clips are compared in one
frame, in metres. Parts (``PARTS``): ``body`` (spine, neck, head, collars, shoulders, elbows,
wrists), ``left_hand`` and ``right_hand`` (the 15 finger joints of each).

Distance of two clips, per part. Frame cost: the root-mean-square Euclidean distance over the
part's joints (metres). Alignment: DTW with the ``symmetric2`` step pattern (a diagonal step counts
its cost twice, a horizontal or vertical step once; both ends matched) and the distance normalised
by ``Ta + Tb``, exactly as dtw-python's ``normalizedDistance`` (the tests check against it): a
weighted mean of frame costs along the best alignment, in metres. Identical clips, and a clip
shifted in time within still frames, score 0; moving one hand changes that hand's error only.

Per clip of a group (Rec or Gen of a split): its distance to every real clip of the same gloss in
the split, reduced to the ``nearest`` (min) and the ``mean``; per gloss and overall they are
averaged over the group's clips. The evaluation repeats this in every repetition (fresh draws)
and reports mean and CI95 (``protocol.summarize``).

Why not call dtw-python here: an evaluation aligns ~10^4 clip pairs per group and part in every
repetition, one Python call per pair in the packages; here a gloss's frame costs are one GEMM per
part (the RMS cost is what makes that possible: squared distances summed over joints are inner
products) and the recursion runs one anti-diagonal at a time for every pair at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from signavatar.body.joints import LEFT_HAND, NUM_JOINTS, RIGHT_HAND, UPPER_BODY_JOINTS, joint_index
from signavatar.body.rotations import rot6d_to_matrix
from signavatar.body.skeleton import forward_kinematics

_BODY = ("spine1", "spine2", "spine3", "neck", "head", "left_collar", "right_collar", "left_shoulder",
         "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist")
PARTS: dict[str, tuple[int, ...]] = {
    "body": tuple(joint_index(n) for n in _BODY),
    "left_hand": tuple(range(LEFT_HAND.start, LEFT_HAND.stop)),
    "right_hand": tuple(range(RIGHT_HAND.start, RIGHT_HAND.stop)),
}
PART_JOINTS: tuple[int, ...] = tuple(j for joints in PARTS.values() for j in joints)
"""SMPL-X joints whose positions ``positions`` returns, part after part."""


def positions(features: torch.Tensor | np.ndarray, rest_joints: np.ndarray) -> np.ndarray:
    """``[N, T, len(PART_JOINTS), 3]`` float32 joint positions (metres, root-aligned) of model
    features ``[N, T, 44 * 6]``."""
    features = torch.as_tensor(np.asarray(features), dtype=torch.float32)
    n, t = features.shape[:2]
    rotations = torch.eye(3).repeat(n, t, NUM_JOINTS, 1, 1)
    rotations[:, :, list(UPPER_BODY_JOINTS)] = rot6d_to_matrix(features.reshape(n, t, len(UPPER_BODY_JOINTS), 6))
    joints = forward_kinematics(rotations, torch.as_tensor(rest_joints, dtype=torch.float32))
    joints = joints - joints[:, :, :1]  # root at the origin
    return joints[:, :, list(PART_JOINTS)].numpy()


def _part_slices() -> dict[str, slice]:
    slices, start = {}, 0
    for name, joints in PARTS.items():
        slices[name] = slice(start, start + len(joints))
        start += len(joints)
    return slices


PART_SLICES = _part_slices()


def frame_costs(a: np.ndarray, b: np.ndarray) -> torch.Tensor:
    """Frame costs ``[Na, Nb, parts, Ta, Tb]`` between every clip of ``a [Na, Ta, J, 3]`` and every
    clip of ``b [Nb, Tb, J, 3]`` (``positions`` arrays): per part (``PART_SLICES``), the RMS
    Euclidean distance over its joints, from one float64 GEMM per part."""
    na, ta = a.shape[:2]
    nb, tb = b.shape[:2]
    x, y = torch.from_numpy(np.asarray(a, np.float64)), torch.from_numpy(np.asarray(b, np.float64))
    costs = []
    for part in PART_SLICES.values():
        xp, yp = x[:, :, part].reshape(na * ta, -1), y[:, :, part].reshape(nb * tb, -1)
        squared = (xp * xp).sum(1)[:, None] + (yp * yp).sum(1)[None, :] - 2.0 * (xp @ yp.T)
        costs.append((squared.clamp_min(0.0) / (part.stop - part.start)).sqrt())
    return torch.stack(costs).view(len(costs), na, ta, nb, tb).permute(1, 3, 0, 2, 4).float()


def dtw(costs: torch.Tensor) -> torch.Tensor:
    """Normalised ``symmetric2`` DTW distance of every frame-cost matrix ``[..., Ta, Tb]``, ``[...]``:
    ``g(i, j) = min(g(i-1, j-1) + 2 c(i, j), g(i-1, j) + c(i, j), g(i, j-1) + c(i, j))``,
    ``g(0, 0) = c(0, 0)``, divided by ``Ta + Tb`` (dtw-python's ``normalizedDistance``).

    The cells of an anti-diagonal ``d = i + j`` depend only on the two anti-diagonals before, so
    the costs are laid out by anti-diagonal (entry ``i`` of diagonal ``d`` is cell ``(i, d - i)``,
    inf outside the matrix) and each diagonal is one vector step over every pair at once."""
    *batch, ta, tb = costs.shape
    flat = costs.reshape(-1, ta * tb)
    diagonals = ta + tb - 1
    i = torch.arange(ta)[None, :]
    j = torch.arange(diagonals)[:, None] - i  # [D, Ta]
    inside = ((j >= 0) & (j < tb)).reshape(-1)
    skewed = torch.where(inside, flat[:, (i * tb + j.clamp(0, tb - 1)).reshape(-1)], torch.inf).view(-1, diagonals, ta)
    inf = torch.full_like(skewed[:, 0, :1], torch.inf)

    def shifted(v: torch.Tensor) -> torch.Tensor:  # entry i holds v[i - 1]
        return torch.cat([inf, v[:, :-1]], 1)

    before = torch.full_like(skewed[:, 0], torch.inf)  # diagonal d - 2
    acc = torch.where(i == 0, skewed[:, 0], torch.inf)  # diagonal 0: cell (0, 0) only
    for d in range(1, diagonals):
        cost = skewed[:, d]
        step = torch.minimum(shifted(acc), acc) + cost  # from (i-1, j) or (i, j-1)
        before, acc = acc, torch.minimum(shifted(before) + 2.0 * cost, step)  # or the diagonal (i-1, j-1)
    return (acc[:, ta - 1] / (ta + tb)).view(batch)


def clip_errors(clips: np.ndarray, glosses: np.ndarray, references: np.ndarray,
                reference_glosses: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
    """Per part, per clip: its ``nearest`` and ``mean`` DTW distance to the references of its gloss
    (both ``positions`` arrays; NaN for a clip whose gloss has no reference), computed gloss by
    gloss: ``{part: {"nearest": [N], "mean": [N]}}``."""
    glosses, reference_glosses = np.asarray(glosses), np.asarray(reference_glosses)
    nearest = np.full((len(PARTS), len(glosses)), np.nan)
    mean = np.full_like(nearest, np.nan)
    for gloss in np.unique(glosses):
        rows, refs = np.flatnonzero(glosses == gloss), np.flatnonzero(reference_glosses == gloss)
        if len(refs):
            distances = dtw(frame_costs(clips[rows], references[refs])).numpy()  # [rows, refs, parts]
            nearest[:, rows] = distances.min(1).T
            mean[:, rows] = distances.mean(1).T
    return {name: {"nearest": nearest[k], "mean": mean[k]} for k, name in enumerate(PARTS)}


def summarize_errors(errors: Mapping[str, Mapping[str, np.ndarray]], glosses: np.ndarray) -> dict:
    """One group's figures of one repetition: overall (mean over clips) and per gloss, for every
    part and reduction: ``{"overall": {"body_nearest": .., ...}, "per_gloss": {gloss: {...}}}``."""
    glosses = np.asarray(glosses)

    def figures(rows: np.ndarray | slice) -> dict[str, float]:
        return {f"{part}_{kind}": float(np.nanmean(values[rows])) if np.isfinite(values[rows]).any() else float("nan")
                for part, reductions in errors.items() for kind, values in reductions.items()}

    return {"overall": figures(slice(None)),
            "per_gloss": {str(g): figures(np.flatnonzero(glosses == g)) for g in sorted(set(glosses.tolist()))}}


def group_faithfulness(clips: np.ndarray, glosses: Sequence[str], references: np.ndarray,
                       reference_glosses: Sequence[str]) -> dict:
    """``summarize_errors`` of ``clip_errors``: a group's faithfulness in one repetition."""
    glosses = np.asarray(glosses)
    return summarize_errors(clip_errors(clips, glosses, references, np.asarray(reference_glosses)), glosses)
