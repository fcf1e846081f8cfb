"""The SignAvatar CVAE: a transformer VAE over pose-feature sequences, conditioned on a CLIP embedding.

Layout follows ACTOR (Petrovich et al. 2021), with the action label replaced by a word embedding:

- Encoder: each frame's features are projected to ``latent_dim``; the word embedding goes through a
  3-layer MLP into one more token; two tokens (mu, sigma) are prepended; a sinusoidal
  positional encoding is added; a transformer encoder runs over
  ``[mu, sigma, word, frame_1 .. frame_T]`` and mu / logvar are read at the first two positions.
  The mu / sigma tokens come from ``ModelConfig.token_source``: ``"word"`` (the paper) derives
  them from the word embedding with their own 3-layer MLP, so each word queries the sequence with
  its own tokens; ``"learned"`` uses two global learned vectors (ACTOR without action classes;
  what checkpoints saved before the option hold, see ``saved_model_config``).
  Hidden frames (the masking curriculum) are excluded as attention keys and zeroed on input, so
  they cannot influence mu / logvar at all.
- Decoder: the latent ``z`` plus a word-specific bias (an MLP of the embedding) is the single
  memory token; ``T`` sinusoidal time queries attend to it through a transformer decoder and a
  linear head maps each back to pose features. The whole sequence comes out in one pass.

All tensors are batch-first: features ``[B, T, F]``, conditions ``[B, C]``, latents ``[B, L]``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from signavatar.body.joints import LEFT_HAND, RIGHT_HAND, UPPER_BODY_JOINTS
from signavatar.config import ModelConfig
from signavatar.motion.clip import FEATURE_DIM

NUM_SPECIAL_TOKENS = 3  # mu, sigma, word


def sinusoidal_encoding(length: int, dim: int, device: torch.device | None = None) -> torch.Tensor:
    """[length, dim] sinusoidal positional encoding (Vaswani et al. 2017): even dims sin, odd cos."""
    position = torch.arange(length, dtype=torch.float32, device=device)[:, None]
    div = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32, device=device) * (-math.log(10000.0) / dim))
    pe = torch.zeros(length, dim, device=device)
    pe[:, 0::2] = torch.sin(position * div)
    pe[:, 1::2] = torch.cos(position * div)[:, : dim // 2]
    return pe


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor, reduction: str = "sum") -> torch.Tensor:
    """KL(N(mu, diag(exp(logvar))) || N(0, I)) = -1/2 * sum(1 + logvar - mu^2 - exp(logvar)).

    ``reduction="sum"`` sums over the batch AND the latent dims, exactly as ACTOR does; that is
    the scale on which its (and SignAvatar's) KL weight 1e-5 is defined, so the weight's effect
    grows with the batch size. ``"mean"`` averages the per-sample KL over the batch; ``"none"``
    returns it per sample [B]."""
    per_sample = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(dim=-1)
    if reduction == "sum":
        return per_sample.sum()
    if reduction == "mean":
        return per_sample.mean()
    if reduction == "none":
        return per_sample
    raise ValueError(f"reduction must be 'sum', 'mean' or 'none', got {reduction!r}")


def saved_model_config(saved: Mapping[str, Any]) -> ModelConfig:
    """The ``model`` section of a checkpoint's saved config as a ``ModelConfig``. Checkpoints saved
    before ``token_source`` existed were built with global learned tokens, so a missing key means
    ``"learned"`` (the default for new runs, ``"word"``, would not match their weights)."""
    return ModelConfig.model_validate({"token_source": "learned", **saved})


def word_mlp(cond_dim: int, latent_dim: int, out_dim: int | None = None) -> nn.Sequential:
    """3-layer MLP from a CLIP embedding to ``out_dim`` (default ``latent_dim``; hidden layers are
    ``latent_dim`` wide).

    CLIP embeddings are unit vectors (per-dimension scale ~1/sqrt(C)) and different words share a
    large common component (mean pairwise cosine ~0.75 for a random-init ViT-B-32). Without the
    input LayerNorm the MLP's output is dominated by its biases and every word starts as the same
    token; with it, words start apart and word-specific generation is learned sooner."""
    return nn.Sequential(
        nn.LayerNorm(cond_dim),
        nn.Linear(cond_dim, latent_dim),
        nn.GELU(),
        nn.Linear(latent_dim, latent_dim),
        nn.GELU(),
        nn.Linear(latent_dim, out_dim or latent_dim),
    )


class SignAvatarCVAE(nn.Module):
    def __init__(self, cfg: ModelConfig, feature_dim: int = 264, cond_dim: int = 512) -> None:
        super().__init__()
        self.cfg = cfg
        self.feature_dim = feature_dim
        self.cond_dim = cond_dim
        d = cfg.latent_dim

        # encoder
        self.pose_embedding = nn.Linear(feature_dim, d)
        self.encoder_word = word_mlp(cond_dim, d)
        if cfg.token_source == "word":
            self.token_mlp = word_mlp(cond_dim, d, 2 * d)  # -> [mu token, sigma token]
        else:
            self.mu_token = nn.Parameter(torch.randn(d))
            self.sigma_token = nn.Parameter(torch.randn(d))
        self.encoder = nn.TransformerEncoder(
            nn.TransformerEncoderLayer(d, cfg.num_heads, cfg.ff_size, cfg.dropout, activation="gelu", batch_first=True),
            cfg.num_layers,
            enable_nested_tensor=False,
        )

        # decoder
        self.decoder_word_bias = word_mlp(cond_dim, d)
        self.decoder = nn.TransformerDecoder(
            nn.TransformerDecoderLayer(d, cfg.num_heads, cfg.ff_size, cfg.dropout, activation="gelu", batch_first=True),
            cfg.num_layers,
        )
        self.head = nn.Linear(d, feature_dim)
        self.pos_dropout = nn.Dropout(cfg.dropout)

    def _positions(self, tokens: torch.Tensor) -> torch.Tensor:
        pe = sinusoidal_encoding(tokens.shape[1], tokens.shape[2], tokens.device)
        return self.pos_dropout(tokens + pe.to(tokens.dtype))

    def _distribution_tokens(self, cond: torch.Tensor, batch: int) -> torch.Tensor:
        """The mu and sigma query tokens, [B, 2, L]."""
        if self.cfg.token_source == "word":
            return self.token_mlp(cond).view(batch, 2, -1)
        return torch.stack([self.mu_token, self.sigma_token]).expand(batch, -1, -1)

    def encode(
        self, x: torch.Tensor, cond: torch.Tensor, visible: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior parameters ``(mu, logvar)``, each [B, L], from features [B, T, F].

        ``visible`` [B, T] bool marks the frames the encoder may see (None = all)."""
        batch, frames, _ = x.shape
        if visible is None:
            visible = torch.ones(batch, frames, dtype=torch.bool, device=x.device)
        # zeroed as well as masked: a hidden frame's values (even NaN) never reach the attention
        frames_in = self.pose_embedding(x.masked_fill(~visible[..., None], 0.0))
        word = self.encoder_word(cond)[:, None]
        special = self._distribution_tokens(cond, batch)
        tokens = self._positions(torch.cat([special, word, frames_in], dim=1))
        always_seen = torch.zeros(batch, NUM_SPECIAL_TOKENS, dtype=torch.bool, device=x.device)
        hidden = self.encoder(tokens, src_key_padding_mask=torch.cat([always_seen, ~visible], dim=1))
        limit = self.cfg.logvar_clamp
        return hidden[:, 0], hidden[:, 1].clamp(-limit, limit)

    def decode(self, z: torch.Tensor, cond: torch.Tensor, num_frames: int | None = None) -> torch.Tensor:
        """Features [B, T, F] from latents [B, L] (T = ``num_frames`` or ``cfg.num_frames``)."""
        frames = num_frames or self.cfg.num_frames
        memory = (z + self.decoder_word_bias(cond))[:, None]
        queries = self._positions(torch.zeros(z.shape[0], frames, z.shape[1], device=z.device, dtype=z.dtype))
        return self.head(self.decoder(queries, memory))

    def forward(
        self, x: torch.Tensor, cond: torch.Tensor, visible: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """Encode (seeing only ``visible`` frames), sample z by reparameterisation, decode all T frames."""
        mu, logvar = self.encode(x, cond, visible)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        return {"recon": self.decode(z, cond, x.shape[1]), "mu": mu, "logvar": logvar, "z": z}

    @staticmethod
    def loss_terms(out: dict[str, torch.Tensor], x: torch.Tensor, kl_weight: float, reduction: str = "sum",
                   free_bits: float = 0.0, feature_weights: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """``total = rec + kl_weight * kl_penalised``.

        ``rec`` is the MSE averaged over every frame and feature of the full sequence, hidden
        frames included (the model must fill them in). ``kl`` is summed over batch and latent
        dims as in ACTOR (``reduction="sum"``, see ``kl_divergence``; ``kl_weight=1e-5`` means what
        it means there) or averaged over the batch (``"mean"``). With ``free_bits`` > 0 each latent
        dim's batch-mean KL below ``free_bits`` nats costs nothing (it is clamped from below before
        the reduction), so the optimiser gains nothing by collapsing a dim onto the prior; ``kl`` is
        always reported unclamped. ``feature_weights`` [F] (mean 1, ``feature_weights``) weighs each
        feature's squared error in ``rec``."""
        squared = (out["recon"].float() - x).square()  # float32 even when the forward ran under bf16 autocast
        rec = squared.mean() if feature_weights is None else (squared * feature_weights).mean()
        mu, logvar = out["mu"].float(), out["logvar"].float()
        kl = kl_divergence(mu, logvar, reduction=reduction)
        penalised = kl
        if free_bits > 0:
            per_dim = (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp())).mean(dim=0)
            penalised = per_dim.clamp(min=free_bits).sum() * (mu.shape[0] if reduction == "sum" else 1)
        return {"total": rec + kl_weight * penalised, "rec": rec, "kl": kl}


def feature_weights(hand_weight: float) -> torch.Tensor | None:
    """Per-feature weights ``[44 * 6]`` of the reconstruction loss: ``hand_weight`` on the finger
    joints' 6D features, 1 on the body's, normalised to mean 1 (None when every weight is 1)."""
    if hand_weight == 1.0:
        return None
    hands = set(range(LEFT_HAND.start, RIGHT_HAND.stop))
    per_joint = torch.tensor([hand_weight if j in hands else 1.0 for j in UPPER_BODY_JOINTS])
    weights = per_joint.repeat_interleave(FEATURE_DIM // len(UPPER_BODY_JOINTS))
    return weights / weights.mean()
