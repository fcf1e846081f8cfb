"""Loading the SMPL-X body model (smplx package) from a local directory or an ``s3://`` prefix.

smplx 0.1.28 quirks handled here:

* ``smplx.create(<directory>, model_type="smplx")`` looks in ``<directory>/smplx/``, not in
  ``<directory>`` itself, so we resolve the ``SMPLX_<GENDER>.npz`` file ourselves and hand smplx
  the file path (it then infers ``model_type`` from the file name).
* A missing file is only an ``assert`` inside smplx; we check first and raise FileNotFoundError.
* The returned module's default parameters (betas, expression, poses) have batch size 1, so
  ``model(...)`` with a batch of B > 1 needs every pose, ``betas`` and ``expression`` passed
  explicitly with batch B.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import smplx
import torch

from signavatar.body.joints import NUM_JOINTS
from signavatar.body.skeleton import DEFAULT_REST_JOINTS

log = logging.getLogger(__name__)

GENDERS = ("neutral", "male", "female")


def _model_filename(gender: str) -> str:
    if gender not in GENDERS:
        raise ValueError(f"unknown SMPL-X gender {gender!r}; expected one of {', '.join(GENDERS)}")
    return f"SMPLX_{gender.upper()}.npz"


def _local_model_file(model_path: str, gender: str, cache_dir: str | Path | None) -> Path:
    filename = _model_filename(gender)
    if model_path.startswith("s3://"):
        from signavatar.storage import cached_local_copy

        return cached_local_copy(f"{model_path.rstrip('/')}/{filename}", cache_dir)
    path = Path(model_path) / filename
    if not path.is_file():
        raise FileNotFoundError(f"SMPL-X model file not found: {path}")
    return path


def load_body_model(
    model_path: str,
    gender: str = "neutral",
    cache_dir: str | Path | None = None,
    device: str | torch.device = "cpu",
) -> torch.nn.Module:
    """An ``smplx.SMPLX`` module (10 betas, 10 expression coefficients, full 45-D axis-angle hand
    poses with a flat hand mean) for ``SMPLX_<GENDER>.npz`` in ``model_path``.

    ``model_path`` is a local directory or an ``s3://`` prefix; from S3 only the needed file is
    downloaded, once, into ``cache_dir`` (storage's default cache when None).
    """
    gender = gender.lower()
    model_file = _local_model_file(str(model_path), gender, cache_dir)
    log.info("loading SMPL-X %s model from %s", gender, model_file)
    model = smplx.create(
        str(model_file),
        model_type="smplx",
        gender=gender,
        use_pca=False,
        flat_hand_mean=True,
        num_betas=10,
        num_expression_coeffs=10,
        ext="npz",
    )
    return model.to(device)


def rest_joints_from_model(model: torch.nn.Module) -> np.ndarray:
    """Rest-pose joints ``[55, 3]`` float32 of the mean shape: ``J_regressor @ v_template``
    (zero betas and expression), i.e. what the model's own FK starts from."""
    with torch.no_grad():
        joints = model.J_regressor[:NUM_JOINTS] @ model.v_template
    return joints.detach().cpu().numpy().astype(np.float32)


def resolve_rest_joints(model_path: str | None, gender: str = "neutral") -> np.ndarray:
    """Rest joints ``[55, 3]`` float32 from the SMPL-X model at ``model_path``, or the built-in
    approximate ``DEFAULT_REST_JOINTS`` when ``model_path`` is None."""
    if model_path is None:
        log.info("using the built-in approximate rest skeleton (no SMPL-X model path given)")
        return DEFAULT_REST_JOINTS.copy()
    log.info("using rest joints of the SMPL-X %s model at %s", gender, model_path)
    return rest_joints_from_model(load_body_model(model_path, gender=gender))
