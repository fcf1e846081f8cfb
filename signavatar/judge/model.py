"""The judge's network: residual temporal convolutions over a clip's frames in the landmark space
(``space``), pooled over the frames the mask keeps (mean and max), then a linear head. Any frame
count; small enough to train in seconds on a CPU."""

from __future__ import annotations

import torch
from torch import nn


class Judge(nn.Module):
    """``[N, T, input_dim]`` features and ``[N, T]`` masks -> ``[N, num_classes]`` logits."""

    def __init__(self, input_dim: int, num_classes: int, hidden: int = 128, layers: int = 3, kernel: int = 5,
                 dropout: float = 0.2) -> None:
        super().__init__()
        if kernel % 2 != 1:
            raise ValueError(f"judge kernel must be odd (same-length convolutions), got {kernel}")
        self.input_dim, self.num_classes = input_dim, num_classes
        self.hidden, self.layers, self.kernel, self.dropout_p = hidden, layers, kernel, dropout
        self.embed = nn.Linear(input_dim, hidden)
        self.convs = nn.ModuleList(nn.Conv1d(hidden, hidden, kernel, padding=kernel // 2) for _ in range(layers))
        self.norms = nn.ModuleList(nn.LayerNorm(hidden) for _ in range(layers))
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(2 * hidden, num_classes)

    def config(self) -> dict[str, int | float]:
        """The constructor arguments (what a checkpoint stores)."""
        return {"input_dim": self.input_dim, "num_classes": self.num_classes, "hidden": self.hidden,
                "layers": self.layers, "kernel": self.kernel, "dropout": self.dropout_p}

    def forward(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        keep = mask.to(features.dtype)[..., None]  # [N, T, 1]
        h = torch.relu(self.embed(features * keep)) * keep
        for conv, norm in zip(self.convs, self.norms, strict=True):
            step = conv(self.dropout(h).transpose(1, 2)).transpose(1, 2)
            h = norm(h + torch.relu(step)) * keep
        count = keep.sum(1).clamp_min(1.0)
        mean = h.sum(1) / count
        peak = h.masked_fill(keep == 0, float("-inf")).amax(1)
        peak = torch.where(torch.isfinite(peak), peak, torch.zeros_like(peak))  # a clip without any frame
        return self.head(self.dropout(torch.cat([mean, peak], -1)))
