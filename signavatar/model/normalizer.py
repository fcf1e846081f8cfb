"""Per-dimension standardisation of the model's 6D features: fitted on the training split, saved in
the checkpoint, applied by training and by inference."""

from __future__ import annotations

from dataclasses import dataclass

import torch

STD_FLOOR = 0.05  # near-constant feature dims are not blown up into noise by normalisation


@dataclass
class FeatureNormalizer:
    """Per-dimension standardisation of 6D features, fitted on the training split."""

    mean: torch.Tensor  # [F]
    std: torch.Tensor  # [F]

    @classmethod
    def fit(cls, features: torch.Tensor) -> FeatureNormalizer:
        flat = features.reshape(-1, features.shape[-1])
        return cls(flat.mean(0), flat.std(0).clamp_min(STD_FLOOR))

    def normalize(self, features: torch.Tensor) -> torch.Tensor:
        return (features - self.mean.to(features)) / self.std.to(features)

    def denormalize(self, features: torch.Tensor) -> torch.Tensor:
        return features * self.std.to(features) + self.mean.to(features)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"mean": self.mean.clone(), "std": self.std.clone()}

    @classmethod
    def from_state_dict(cls, state: dict[str, torch.Tensor]) -> FeatureNormalizer:
        return cls(state["mean"], state["std"])
