"""The SignAvatar model: CLIP conditioning, the transformer CVAE and its masking curriculum."""

from signavatar.model.clip_encoder import ClipConditioner
from signavatar.model.curriculum import mask_ratio, sample_visible_mask
from signavatar.model.cvae import SignAvatarCVAE, kl_divergence

__all__ = [
    "ClipConditioner",
    "SignAvatarCVAE",
    "kl_divergence",
    "mask_ratio",
    "sample_visible_mask",
]
