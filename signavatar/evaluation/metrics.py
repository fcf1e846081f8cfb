"""The paper's four metrics on recognizer outputs (Action2Motion / ACTOR protocol).

Pure functions: numpy arrays in, floats out. Features are the recognizer's penultimate vectors
(``STGCN.features``), one row per clip. Sampled metrics draw from ``numpy.random.default_rng(seed)``
so a (data, seed) pair always gives the same number.
"""

from __future__ import annotations

import numpy as np


def _matrix(name: str, x: np.ndarray, min_rows: int = 1) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"{name} must be 2-D [N, D], got shape {x.shape}")
    if x.shape[0] < min_rows:
        raise ValueError(f"{name} needs at least {min_rows} rows, got {x.shape[0]}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} has non-finite values")
    return x


def accuracy(logits: np.ndarray, labels: np.ndarray, k: int = 1) -> float:
    """Top-k recognition accuracy.

    A sample counts as correct when fewer than ``k`` other classes have a logit at least as large
    as the true class's: top-1 is "the true class is the argmax", and a tie is wrong (a recognizer
    that outputs constant logits scores 0, never 1). The paper's Acc is top-1; top-5 is meaningful
    only with more than 5 classes (the caller decides).
    """
    logits = _matrix("logits", logits)
    labels = np.asarray(labels)
    if labels.shape != (logits.shape[0],):
        raise ValueError(f"labels have shape {labels.shape}; expected ({logits.shape[0]},)")
    if not 1 <= k <= logits.shape[1]:
        raise ValueError(f"k must be in [1, {logits.shape[1]}], got {k}")
    if labels.min() < 0 or labels.max() >= logits.shape[1]:
        raise ValueError(f"labels must be in [0, {logits.shape[1]}), got range [{labels.min()}, {labels.max()}]")
    true_logit = logits[np.arange(len(labels)), labels]
    rivals = (logits >= true_logit[:, None]).sum(axis=1) - 1  # the true class ties with itself
    return float((rivals < k).mean())


def _covariance_factor(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and a factor ``F`` with ``F @ F.T == cov(x)`` (unbiased, ``N - 1``), ``[D, min(N, D)]``."""
    mean = x.mean(axis=0)
    _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    return mean, vt.T * (s / np.sqrt(x.shape[0] - 1))


def fid(feats: np.ndarray, ref_feats: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (Heusel et al. 2017).

    ``FID = |mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2))`` with sample means ``mu`` and unbiased
    sample covariances ``S`` (``np.cov``). ``Tr (S1 S2)^(1/2)`` is computed without a matrix square
    root: with factors ``S1 = F1 F1^T`` and ``S2 = F2 F2^T`` (from an SVD of the centred data), the
    eigenvalues of ``S1 S2`` are the squared singular values of ``F1^T F2``, so the trace is the
    nuclear norm of ``F1^T F2``. This is exact for singular covariances (fewer samples than
    dimensions) with no epsilon on the diagonal, has no imaginary parts to discard, and gives
    ``FID(X, X) = 0`` to rounding (a sqrtm of ``S^2`` would leave errors of ``sqrt(machine eps)``).
    Rounding can take the value a hair below zero; it is clipped at 0 (the true value is a
    squared distance).
    """
    x = _matrix("feats", feats, min_rows=2)
    y = _matrix("ref_feats", ref_feats, min_rows=2)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"feature dims differ: {x.shape[1]} vs {y.shape[1]}")
    mu1, f1 = _covariance_factor(x)
    mu2, f2 = _covariance_factor(y)
    trace_sqrt = np.linalg.svd(f1.T @ f2, compute_uv=False).sum()
    value = np.sum((mu1 - mu2) ** 2) + np.sum(f1**2) + np.sum(f2**2) - 2.0 * trace_sqrt
    return float(max(value, 0.0))


def _mean_pair_distance(feats: np.ndarray, first: np.ndarray, second: np.ndarray) -> float:
    return float(np.linalg.norm(feats[first] - feats[second], axis=1).mean())


def diversity(feats: np.ndarray, s_d: int = 200, repeats: int = 20, seed: int = 0) -> tuple[float, float, int]:
    """Diversity (Action2Motion): ``(1 / S) sum_i |v_i - v'_i|`` over two random subsets
    ``{v_1..v_S}``, ``{v'_1..v'_S}`` of the group, paired by position.

    Each subset is drawn without replacement, independently of the other (so a sample can be paired
    with itself, as in Action2Motion/ACTOR), with ``S = min(s_d, N)``. Repeated ``repeats`` times.

    Returns ``(mean, std, S)``: mean and population standard deviation (``ddof=0``) over repeats,
    and the subset size actually used.
    """
    x = _matrix("feats", feats, min_rows=2)
    if s_d < 1 or repeats < 1:
        raise ValueError(f"s_d and repeats must be >= 1, got {s_d}, {repeats}")
    rng = np.random.default_rng(seed)
    n = x.shape[0]
    size = min(s_d, n)
    values = [
        _mean_pair_distance(x, rng.choice(n, size, replace=False), rng.choice(n, size, replace=False))
        for _ in range(repeats)
    ]
    return float(np.mean(values)), float(np.std(values)), size


def multimodality(
    feats: np.ndarray, labels: np.ndarray, c: int = 30, s_l: int = 20, repeats: int = 20, seed: int = 0
) -> tuple[float, float, int, int]:
    """Multimodality (Action2Motion): variation within a class.

    One repeat: draw ``C`` classes without replacement; for each class ``c`` draw two subsets
    ``{v_c,1..v_c,S}``, ``{v'_c,1..v'_c,S}`` of its samples (each without replacement, independent,
    paired by position) and take ``(1 / (C S)) sum_c sum_i |v_c,i - v'_c,i|``.

    Classes with fewer than 2 samples are not eligible (no variation to measure).
    ``C = min(c, eligible classes)`` and ``S = min(s_l, smallest eligible class size)``, one ``S``
    for all classes so every class weighs the same. Classes are drawn from the sorted label values.

    Returns ``(mean, std, C, S)``: mean and population std (``ddof=0``) over ``repeats``, and the
    class count and subset size actually used.
    """
    x = _matrix("feats", feats, min_rows=2)
    labels = np.asarray(labels)
    if labels.shape != (x.shape[0],):
        raise ValueError(f"labels have shape {labels.shape}; expected ({x.shape[0]},)")
    if c < 1 or s_l < 1 or repeats < 1:
        raise ValueError(f"c, s_l and repeats must be >= 1, got {c}, {s_l}, {repeats}")
    classes, counts = np.unique(labels, return_counts=True)
    eligible = classes[counts >= 2]
    if len(eligible) == 0:
        raise ValueError("multimodality needs at least one class with 2 or more samples")
    members = {cls: np.flatnonzero(labels == cls) for cls in eligible}
    num_classes = min(c, len(eligible))
    size = min(s_l, int(counts[counts >= 2].min()))
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(repeats):
        chosen = eligible[rng.choice(len(eligible), num_classes, replace=False)]
        firsts, seconds = [], []
        for cls in chosen:
            idx = members[cls]
            firsts.append(rng.choice(idx, size, replace=False))
            seconds.append(rng.choice(idx, size, replace=False))
        values.append(_mean_pair_distance(x, np.concatenate(firsts), np.concatenate(seconds)))
    return float(np.mean(values)), float(np.std(values)), num_classes, size


def nearest_centroid_accuracy(feats: np.ndarray, labels: np.ndarray, ref_feats: np.ndarray,
                              ref_labels: np.ndarray) -> float:
    """Fraction of rows of ``feats`` whose nearest class centroid of ``ref_feats`` (Euclidean) is
    their own label: "are generated clips closer to their gloss's real clips than to others'?",
    measured without any learned recognizer."""
    x = _matrix("feats", feats)
    ref = _matrix("ref_feats", ref_feats)
    classes = np.unique(ref_labels)
    centroids = np.stack([ref[np.asarray(ref_labels) == c].mean(0) for c in classes])
    nearest = classes[np.argmin(((x[:, None, :] - centroids[None]) ** 2).sum(-1), axis=1)]
    return float(np.mean(nearest == np.asarray(labels)))
