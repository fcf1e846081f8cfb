"""A user-supplied TorchScript SMPL-X regressor (e.g. an exported Hand4Whole / SMPLer-X model).

Contract of the scripted module (``torch.jit.script`` or ``torch.jit.trace`` output, saved with
``torch.jit.save``):

* input: one tensor ``float32 [B, 3, S, S]``, RGB in [0, 1], a square crop around the person
  (``extract.frame_size`` = S); any normalisation (ImageNet mean/std, ...) happens inside the
  module;
* output: ``Dict[str, Tensor]`` with
  ``"poses"``: ``[B, 55, 3]`` axis-angle in SMPL-X joint order (required);
  ``"betas"``: ``[B, 10]``, ``"expression"``: ``[B, 10]``, ``"trans"``: ``[B, 3]`` metres,
  ``"confidence"``: ``[B]`` in [0, 1] (each optional: zeros, zeros, zeros, ones).

The file is a local path or an ``s3://`` URI (downloaded once into the cache). A TorchScript file
carries code: load only models you trust.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from signavatar import storage
from signavatar.body.joints import NUM_JOINTS
from signavatar.extraction.estimators.base import Estimator, SmplxFrames
from signavatar.motion.clip import NUM_BETAS, NUM_EXPRESSION

log = logging.getLogger(__name__)

_OPTIONAL = {"betas": (NUM_BETAS,), "expression": (NUM_EXPRESSION,), "trans": (3,), "confidence": ()}


class TorchScriptEstimator(Estimator):
    name = "torchscript"

    def __init__(
        self, model_path: str, device: str | torch.device = "cpu", batch_size: int = 32, cache_dir: str | None = None
    ) -> None:
        local = storage.cached_local_copy(model_path, cache_dir)
        self.device = torch.device(device)
        self.model = torch.jit.load(str(local), map_location=self.device).eval()
        self.batch_size = batch_size
        self.model_path = model_path
        log.info("TorchScript estimator %s on %s", model_path, self.device)

    def _run(self, images: torch.Tensor) -> dict[str, np.ndarray]:
        out = self.model(images)
        if not isinstance(out, dict) or "poses" not in out:
            raise ValueError(f"{self.model_path}: the model must return a dict with 'poses' (got {type(out).__name__})")
        batch = images.shape[0]
        result = {}
        for key, tail in {"poses": (NUM_JOINTS, 3), **_OPTIONAL}.items():
            if key not in out:
                continue
            value = out[key]
            if tuple(value.shape) != (batch, *tail):
                raise ValueError(
                    f"{self.model_path}: output {key!r} has shape {tuple(value.shape)}; expected {[batch, *tail]}"
                )
            result[key] = value.detach().float().cpu().numpy()
        return result

    @torch.inference_mode()
    def estimate(self, frames: np.ndarray) -> SmplxFrames:
        if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(f"frames must be uint8 [N, H, W, 3], got {frames.dtype} {frames.shape}")
        parts = []
        for lo in range(0, len(frames), self.batch_size):
            chunk = torch.from_numpy(np.ascontiguousarray(frames[lo : lo + self.batch_size])).to(self.device)
            parts.append(self._run(chunk.permute(0, 3, 1, 2).float().div_(255.0)))
        n = len(frames)

        def gather(key: str, default: np.ndarray) -> np.ndarray:
            return np.concatenate([p[key] for p in parts]) if parts and key in parts[0] else default

        return SmplxFrames(
            poses=gather("poses", np.zeros((n, NUM_JOINTS, 3), np.float32)),
            expression=gather("expression", np.zeros((n, NUM_EXPRESSION), np.float32)),
            betas=gather("betas", np.zeros((n, NUM_BETAS), np.float32)),
            trans=gather("trans", np.zeros((n, 3), np.float32)),
            confidence=np.clip(gather("confidence", np.ones(n, np.float32)), 0.0, 1.0),
        )
