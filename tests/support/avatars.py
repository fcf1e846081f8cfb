"""The product's sampling path (``SignAvatar``) around a bare CVAE, for tests of sampling."""

from __future__ import annotations

import torch

from signavatar.config import SignAvatarConfig
from signavatar.model.cvae import SignAvatarCVAE
from signavatar.model.normalizer import FeatureNormalizer
from signavatar.model.pipeline import SignAvatar


def avatar_around(model: SignAvatarCVAE, embeddings: torch.Tensor | None = None) -> SignAvatar:
    """``model`` with an identity normaliser and one gloss ``"a"`` (embedding zeros unless given)."""
    normalizer = FeatureNormalizer(torch.zeros(model.feature_dim), torch.ones(model.feature_dim))
    embeddings = torch.zeros(1, model.cond_dim) if embeddings is None else embeddings
    config = SignAvatarConfig(model=model.cfg, data={"num_frames": model.cfg.num_frames})
    return SignAvatar(model, normalizer, ["a"], embeddings, config)
