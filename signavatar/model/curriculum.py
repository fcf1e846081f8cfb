"""The masked-motion curriculum: which share of input frames the encoder is denied, per epoch.

SignAvatar hides a growing random share of the input frames, ``g(ep) = min(0.1 * floor(ep / 500),
0.6)`` over 5000 epochs, while the decoder must still reconstruct the full sequence.
"""

from __future__ import annotations

import torch

from signavatar.config import CurriculumConfig


def mask_ratio(epoch: int, cfg: CurriculumConfig, run_epochs: int | None = None) -> float:
    """``g(ep) = min(increment * floor(ep / step_eff), cap)`` for a 0-based ``epoch``.

    ``step_eff = step * run_epochs / total_epochs`` when ``cfg.scale_to_run`` and ``run_epochs``
    is given (a 50-epoch run walks the paper's 5000-epoch schedule, one stage every 5 epochs);
    otherwise ``step``. Always 0 when the curriculum is disabled."""
    if epoch < 0:
        raise ValueError(f"epoch must be >= 0, got {epoch}")
    if not cfg.enabled:
        return 0.0
    if cfg.scale_to_run and run_epochs is not None:
        if run_epochs < 1:
            raise ValueError(f"run_epochs must be >= 1, got {run_epochs}")
        # floor(ep / (step * run / total)) in integers, free of float rounding at stage boundaries
        stage = (epoch * cfg.total_epochs) // (cfg.step * run_epochs)
    else:
        stage = epoch // cfg.step
    return min(cfg.increment * stage, cfg.cap)


def sample_visible_mask(
    batch: int, num_frames: int, ratio: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """bool [batch, num_frames], True = visible to the encoder.

    Exactly ``round(ratio * num_frames)`` frames per sample are hidden (at most
    ``num_frames - 1``: one frame always stays visible), chosen uniformly at random without
    replacement, independently per sample. Created on the generator's device (CPU by default)."""
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"mask ratio must be in [0, 1], got {ratio}")
    hidden = min(round(ratio * num_frames), num_frames - 1)
    device = generator.device if generator is not None else None
    visible = torch.ones(batch, num_frames, dtype=torch.bool, device=device)
    if hidden > 0:
        order = torch.rand(batch, num_frames, generator=generator, device=device).argsort(dim=1)
        visible.scatter_(1, order[:, :hidden], False)
    return visible
