"""Where generation draws its latents from (``model.prior``).

``standard`` is the paper's N(0, I): the KL term pulls every posterior toward it, and a sample is
decoded with the word's condition. With the tiny KL weights that keep reconstructions faithful, the
posteriors of a gloss's clips end up in a tight cluster well away from the origin (on the demo
corpus: posterior means of norm ~11 in 128 dims, a gloss's cluster spread ~3), so most prior draws
land where the decoder saw no clip of that gloss, and some glosses come out as another's motion
(``get`` as ``medium``).

``gloss`` fits, after training, one diagonal Gaussian per gloss to the posteriors of that gloss's
training clips (an ex-post density estimate of the aggregate posterior, as Ghosh et al. 2020 fit one
to a deterministic autoencoder's codes): mean = the mean of the clips' posterior means, variance =
their variance plus the mean posterior variance, so a draw covers both the spread between clips and
each clip's own uncertainty. Generation then draws ``z = mean_g + T * std_g * eps``; the decoder and
the training are the paper's. The statistics live in the checkpoint (``gloss_prior``).
"""

from __future__ import annotations

import torch

from signavatar.model.cvae import SignAvatarCVAE


@torch.no_grad()
def fit_gloss_prior(model: SignAvatarCVAE, features: torch.Tensor, labels: torch.Tensor, embeddings: torch.Tensor,
                    batch_size: int = 256) -> dict[str, torch.Tensor]:
    """``{"mean", "std"}`` ``[V, L]`` (CPU): per gloss ``v``, the Gaussian of the posteriors of the
    clips labelled ``v``. ``features`` are normalised model features ``[N, T, F]``, ``embeddings``
    the glosses' conditions ``[V, C]``. A gloss without clips keeps N(0, I)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    mus, variances = [], []
    try:
        for first in range(0, len(features), batch_size):
            part = slice(first, first + batch_size)
            mu, logvar = model.encode(features[part].to(device), embeddings.to(device)[labels[part].to(device)])
            mus.append(mu.float().cpu())
            variances.append(logvar.float().exp().cpu())
    finally:
        model.train(was_training)
    mu, variance = torch.cat(mus), torch.cat(variances)
    vocabulary, latent = embeddings.shape[0], mu.shape[1]
    mean, std = torch.zeros(vocabulary, latent), torch.ones(vocabulary, latent)
    for v in range(vocabulary):
        rows = labels == v
        if rows.any():
            mean[v] = mu[rows].mean(0)
            std[v] = (mu[rows].var(0, unbiased=False) + variance[rows].mean(0)).sqrt()
    return {"mean": mean, "std": std}
