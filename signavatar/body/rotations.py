"""Batched rotation conversions (axis-angle, rotation matrix, 6D) over arbitrary leading dims.

Conventions:

* Axis-angle ``[..., 3]``: direction = rotation axis, norm = angle in radians (right-handed), as in
  SMPL-X poses. ``matrix_to_axis_angle`` returns angles in ``[0, pi]``.
* Rotation matrices ``[..., 3, 3]`` act on column vectors (``x' = R @ x``), same as smplx's
  ``batch_rodrigues``.
* 6D (Zhou et al., "On the Continuity of Rotation Representations", CVPR 2019): the first two
  COLUMNS of the matrix, flattened as ``[col0, col1]``; mapped back with Gram-Schmidt.

All functions are differentiable with finite gradients at the identity (zero axis-angle uses
Taylor expansions) and are accurate near an angle of ``pi`` (the matrix -> axis-angle path goes
through a quaternion picked with Shepperd's largest-diagonal rule). float32 and float64 both work.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# Below these squared magnitudes the closed forms are replaced by Taylor series; the dropped terms
# are O(x^6) (< 1e-12), far below float64 resolution of the kept terms.
_SMALL_ANGLE_SQ = 1e-4
_SMALL_QUAT_VEC_SQ = 1e-6


def _skew(v: torch.Tensor) -> torch.Tensor:
    """``[..., 3] -> [..., 3, 3]`` cross-product matrix, ``skew(v) @ x == cross(v, x)``."""
    x, y, z = v.unbind(-1)
    o = torch.zeros_like(x)
    return torch.stack([o, -z, y, z, o, -x, -y, x, o], dim=-1).reshape(v.shape[:-1] + (3, 3))


def axis_angle_to_matrix(axis_angle: torch.Tensor) -> torch.Tensor:
    """Rodrigues' formula ``R = I + a K + b K^2`` with ``K = skew(v)``, ``a = sin t / t`` and
    ``b = (1 - cos t) / t^2`` (``t = |v|``); ``[..., 3] -> [..., 3, 3]``."""
    theta_sq = (axis_angle * axis_angle).sum(-1)
    small = theta_sq < _SMALL_ANGLE_SQ
    # Keep the closed-form branch away from 0 so neither branch produces inf/NaN gradients.
    theta = torch.sqrt(torch.where(small, torch.ones_like(theta_sq), theta_sq))
    a_exact = torch.sin(theta) / theta
    b_exact = 2.0 * (torch.sin(0.5 * theta) / theta) ** 2  # (1 - cos t) / t^2 without cancellation
    a_taylor = 1.0 - theta_sq / 6.0 + theta_sq * theta_sq / 120.0
    b_taylor = 0.5 - theta_sq / 24.0 + theta_sq * theta_sq / 720.0
    a = torch.where(small, a_taylor, a_exact)[..., None, None]
    b = torch.where(small, b_taylor, b_exact)[..., None, None]
    k = _skew(axis_angle)
    eye = torch.eye(3, dtype=axis_angle.dtype, device=axis_angle.device)
    return eye + a * k + b * (k @ k)


def _sqrt_positive(x: torch.Tensor) -> torch.Tensor:
    """``sqrt(max(x, 0))`` with a zero (not infinite) gradient where ``x <= 0``."""
    positive = x > 0
    return torch.where(positive, torch.sqrt(torch.where(positive, x, torch.ones_like(x))), torch.zeros_like(x))


def matrix_to_quaternion(matrix: torch.Tensor) -> torch.Tensor:
    """Unit quaternion ``(w, x, y, z)`` with ``w >= 0``; ``[..., 3, 3] -> [..., 4]``.

    Shepperd's method: each of the four candidate formulas divides by one of ``2|w|, 2|x|, 2|y|,
    2|z|``; the largest is always >= 1, so the picked one is well conditioned at every angle,
    including ``pi`` where ``w -> 0``.
    """
    m = matrix
    m00, m01, m02 = m[..., 0, 0], m[..., 0, 1], m[..., 0, 2]
    m10, m11, m12 = m[..., 1, 0], m[..., 1, 1], m[..., 1, 2]
    m20, m21, m22 = m[..., 2, 0], m[..., 2, 1], m[..., 2, 2]
    q_abs = _sqrt_positive(
        torch.stack(
            [
                1.0 + m00 + m11 + m22,
                1.0 + m00 - m11 - m22,
                1.0 - m00 + m11 - m22,
                1.0 - m00 - m11 + m22,
            ],
            dim=-1,
        )
    )  # 2|w|, 2|x|, 2|y|, 2|z|
    candidates = torch.stack(
        [
            torch.stack([q_abs[..., 0] ** 2, m21 - m12, m02 - m20, m10 - m01], dim=-1),
            torch.stack([m21 - m12, q_abs[..., 1] ** 2, m10 + m01, m02 + m20], dim=-1),
            torch.stack([m02 - m20, m10 + m01, q_abs[..., 2] ** 2, m12 + m21], dim=-1),
            torch.stack([m10 - m01, m20 + m02, m21 + m12, q_abs[..., 3] ** 2], dim=-1),
        ],
        dim=-2,
    )
    # Only the best-conditioned row is used; the clamp keeps the others finite.
    candidates = candidates / (2.0 * q_abs[..., None].clamp_min(0.1))
    best = q_abs.argmax(dim=-1)
    index = best[..., None, None].expand(best.shape + (1, 4))
    quat = torch.gather(candidates, -2, index).squeeze(-2)
    quat = F.normalize(quat, dim=-1)
    return torch.where(quat[..., :1] < 0, -quat, quat)


def _quaternion_to_axis_angle(quat: torch.Tensor) -> torch.Tensor:
    """``(w, x, y, z)`` with ``w >= 0`` -> axis-angle with angle ``2 atan2(|xyz|, w)`` in [0, pi]."""
    w = quat[..., 0]
    xyz = quat[..., 1:]
    n_sq = (xyz * xyz).sum(-1)
    small = n_sq < _SMALL_QUAT_VEC_SQ
    n = torch.sqrt(torch.where(small, torch.ones_like(n_sq), n_sq))
    scale_exact = 2.0 * torch.atan2(n, w) / n
    # 2 atan(r) / n with r = n / w ~ (2 / w) (1 - r^2 / 3 + r^4 / 5); w ~ 1 on this branch.
    w_safe = torch.where(small, w, torch.ones_like(w))
    r_sq = n_sq / (w_safe * w_safe)
    scale_taylor = (2.0 / w_safe) * (1.0 - r_sq / 3.0 + r_sq * r_sq / 5.0)
    scale = torch.where(small, scale_taylor, scale_exact)
    return xyz * scale[..., None]


def matrix_to_axis_angle(matrix: torch.Tensor) -> torch.Tensor:
    """``[..., 3, 3] -> [..., 3]``; the angle is in ``[0, pi]`` (at exactly ``pi`` either sign of
    the axis is a valid answer)."""
    return _quaternion_to_axis_angle(matrix_to_quaternion(matrix))


def matrix_to_rot6d(matrix: torch.Tensor) -> torch.Tensor:
    """``[..., 3, 3] -> [..., 6]``: ``[R[:, 0], R[:, 1]]`` (first two columns)."""
    return torch.cat([matrix[..., :, 0], matrix[..., :, 1]], dim=-1)


def rot6d_to_matrix(rot6d: torch.Tensor) -> torch.Tensor:
    """``[..., 6] -> [..., 3, 3]`` by Gram-Schmidt: column 0 = normalised first 3-vector, column 1
    = second 3-vector made orthogonal to it and normalised, column 2 = their cross product.
    Works for any (non-degenerate) 6D input, e.g. raw network outputs."""
    a1, a2 = rot6d[..., :3], rot6d[..., 3:]
    b1 = F.normalize(a1, dim=-1)
    b2 = F.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1)
    b3 = torch.linalg.cross(b1, b2, dim=-1)
    return torch.stack([b1, b2, b3], dim=-1)


def axis_angle_to_rot6d(axis_angle: torch.Tensor) -> torch.Tensor:
    """``[..., 3] -> [..., 6]``."""
    return matrix_to_rot6d(axis_angle_to_matrix(axis_angle))


def rot6d_to_axis_angle(rot6d: torch.Tensor) -> torch.Tensor:
    """``[..., 6] -> [..., 3]``."""
    return matrix_to_axis_angle(rot6d_to_matrix(rot6d))
