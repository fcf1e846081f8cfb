"""Where torch work runs: the one CUDA-or-CPU choice every model and fit shares."""

from __future__ import annotations

import torch


def torch_device(preferred: str | torch.device | None = None) -> torch.device:
    """``preferred`` when given, else CUDA when this process sees a GPU, else the CPU."""
    return torch.device(preferred or ("cuda" if torch.cuda.is_available() else "cpu"))
