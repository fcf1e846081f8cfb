"""The training loop, with no Ray in it.

``run_training`` is the one loop: the plain entry point (``train_plain``) and every Ray Train
worker (``signavatar.training.ray_trainer``) call it, differing only in how the model/loader are
prepared and what ``on_epoch_end`` does (log + local checkpoint vs ``ray.train.report``).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from signavatar.config import SignAvatarConfig, TrainConfig
from signavatar.devices import torch_device
from signavatar.model.curriculum import mask_ratio, sample_visible_mask
from signavatar.model.cvae import SignAvatarCVAE, feature_weights
from signavatar.motion.clip import FEATURE_DIM
from signavatar.model.normalizer import FeatureNormalizer
from signavatar.model.prior import fit_gloss_prior
from signavatar.seeding import mask_seed
from signavatar.training.data import FeatureSet

log = logging.getLogger(__name__)

EpochCallback = Callable[[int, dict[str, float]], None]


@dataclass
class TrainingState:
    """What a run needs besides the data; exactly what a checkpoint stores."""

    model: SignAvatarCVAE
    optimizer: torch.optim.Optimizer
    normalizer: FeatureNormalizer
    glosses: list[str]
    gloss_embeddings: torch.Tensor  # [V, C], row i = embedding of glosses[i]
    config: SignAvatarConfig
    fps: float = 30.0  # frame rate of generated clips
    epoch: int = 0  # epochs completed
    history: list[dict[str, float]] = field(default_factory=list)
    gloss_prior: dict[str, torch.Tensor] | None = None  # model.prior == "gloss": model.prior.fit_gloss_prior

    def refresh_gloss_prior(self, train: FeatureSet) -> None:
        """With ``model.prior: gloss``, fit the per-gloss priors to the current model's posteriors of
        the training clips (before a checkpoint or a score that generates)."""
        if self.config.model.prior == "gloss":
            self.gloss_prior = fit_gloss_prior(unwrap(self.model), self.normalizer.normalize(train.features),
                                               train.labels, self.gloss_embeddings)

    def checkpoint_state(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "model": unwrap(self.model).state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "config": self.config.model_dump(mode="json"),
            "normalizer": self.normalizer.state_dict(),
            "glosses": list(self.glosses),
            "gloss_embeddings": self.gloss_embeddings.detach().cpu(),
            "feature_dim": FEATURE_DIM,
            "fps": self.fps,
            "history": list(self.history),
            **({"gloss_prior": self.gloss_prior} if self.gloss_prior is not None else {}),
        }


def build_optimizer(model: nn.Module, train_cfg: TrainConfig, grouped: bool | None = None) -> torch.optim.AdamW:
    """AdamW as nanoGPT's ``configure_optimizers``: matrices (``dim() >= 2``: Linear and embedding
    weights) decay, every other parameter (biases, LayerNorm weights and biases, the mu/sigma token
    vectors) does not.

    ``grouped`` (default: ``weight_decay > 0``) says whether to build those two parameter groups or
    one group of all parameters decaying alike; with weight decay 0 the split changes nothing, so
    one group is built, exactly as before the split. A restored run passes what its checkpoint's
    optimizer state holds, so that state loads into the same group layout."""
    if grouped is None:
        grouped = train_cfg.weight_decay > 0
    params = list(model.parameters())
    groups: list[dict[str, Any]] = [{"params": params}]
    if grouped:
        groups = [{"params": [p for p in params if p.dim() >= 2]},
                  {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=train_cfg.lr, betas=train_cfg.betas, eps=train_cfg.eps,
                             weight_decay=train_cfg.weight_decay)


def unwrap(model: nn.Module) -> SignAvatarCVAE:
    """The CVAE inside ``model``: DDP (``ray.train.torch.prepare_model``) wraps it as ``.module``."""
    return model.module if hasattr(model, "module") else model


def checkpoint_due(epoch: int, train_cfg: TrainConfig) -> bool:
    """Whether a checkpoint is taken after ``epoch`` (0-based): every ``checkpoint_every`` epochs
    and after the last one."""
    return (epoch + 1) % train_cfg.checkpoint_every == 0 or epoch + 1 == train_cfg.epochs


def new_training_state(config: SignAvatarConfig, train: FeatureSet, gloss_embeddings: torch.Tensor,
                       device: torch.device | str = "cpu") -> TrainingState:
    torch.manual_seed(config.train.seed)
    model = SignAvatarCVAE(config.model, feature_dim=FEATURE_DIM, cond_dim=gloss_embeddings.shape[1]).to(device)
    optimizer = build_optimizer(model, config.train)
    return TrainingState(model, optimizer, FeatureNormalizer.fit(train.features), list(train.glosses), gloss_embeddings,
                         config, fps=train.fps)


def restore_training_state(checkpoint: dict[str, Any], config: SignAvatarConfig | None = None,
                           device: torch.device | str = "cpu") -> TrainingState:
    """Rebuild model/optimizer/etc. from a checkpoint dict (see ``training.checkpoint``). The model is
    moved to ``device`` before the optimizer state is loaded, so that state lands there too."""
    config = config or SignAvatarConfig.model_validate(checkpoint["config"])
    embeddings = checkpoint["gloss_embeddings"]
    model = SignAvatarCVAE(config.model, feature_dim=checkpoint["feature_dim"], cond_dim=embeddings.shape[1])
    model.load_state_dict(checkpoint["model"])
    model.to(device)
    optimizer = build_optimizer(model, config.train, grouped=len(checkpoint["optimizer"]["param_groups"]) == 2)
    optimizer.load_state_dict(checkpoint["optimizer"])
    return TrainingState(
        model=model,
        optimizer=optimizer,
        normalizer=FeatureNormalizer.from_state_dict(checkpoint["normalizer"]),
        glosses=list(checkpoint["glosses"]),
        gloss_embeddings=embeddings,
        config=config,
        fps=float(checkpoint["fps"]),
        epoch=int(checkpoint["epoch"]),
        history=list(checkpoint.get("history", [])),
        gloss_prior=checkpoint.get("gloss_prior"),
    )


def make_loader(state: TrainingState, data: FeatureSet, shuffle: bool = True) -> DataLoader:
    if list(data.glosses) != list(state.glosses):
        raise ValueError(f"data vocabulary {data.glosses} differs from the model's {state.glosses}")
    dataset = TensorDataset(state.normalizer.normalize(data.features), data.labels)
    generator = torch.Generator().manual_seed(state.config.train.seed)
    return DataLoader(dataset, batch_size=state.config.train.batch_size, shuffle=shuffle, drop_last=False,
                      generator=generator)


def annealed_kl_weight(epoch: int, weight: float, warmup_epochs: int) -> float:
    """KL annealing (Bowman et al. 2016): ``weight * (epoch + 1) / warmup_epochs`` until it reaches
    ``weight``; ``warmup_epochs=0`` is the constant weight."""
    return weight if warmup_epochs <= 0 else weight * min(1.0, (epoch + 1) / warmup_epochs)


def run_epoch(model: nn.Module, state: TrainingState, loader: DataLoader, epoch: int, device: torch.device) -> dict[str, float]:
    """One pass over ``loader`` with the curriculum's masking ratio for ``epoch``."""
    cfg = state.config
    core = unwrap(model)
    ratio = mask_ratio(epoch, cfg.curriculum, run_epochs=cfg.train.epochs)
    kl_weight = annealed_kl_weight(epoch, cfg.train.kl_weight, cfg.train.kl_warmup_epochs)
    mask_gen = torch.Generator().manual_seed(mask_seed(cfg.train.seed, epoch))
    embeddings = state.gloss_embeddings.to(device)
    weights = feature_weights(cfg.train.hand_loss_weight)
    weights = None if weights is None else weights.to(device)
    model.train()
    totals = {"loss": 0.0, "rec": 0.0, "kl": 0.0}
    clips = 0
    start = time.perf_counter()
    for x, labels in loader:
        x, labels = x.to(device), labels.to(device)
        visible = sample_visible_mask(x.shape[0], x.shape[1], ratio, generator=mask_gen).to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.train.precision == "bf16"):
            out = model(x, embeddings[labels], visible)
            terms = core.loss_terms(out, x, kl_weight, cfg.train.kl_reduction, cfg.train.free_bits, weights)
        if not torch.isfinite(terms["total"]):
            raise FloatingPointError(f"non-finite loss at epoch {epoch}: {({k: float(v) for k, v in terms.items()})}")
        state.optimizer.zero_grad(set_to_none=True)
        terms["total"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.train.grad_clip)
        state.optimizer.step()
        n = x.shape[0]
        clips += n
        totals["loss"] += float(terms["total"].detach()) * n
        totals["rec"] += float(terms["rec"].detach()) * n
        totals["kl"] += float(terms["kl"].detach()) * n
    seconds = time.perf_counter() - start
    metrics = {k: v / max(clips, 1) for k, v in totals.items()}
    metrics.update(epoch=epoch, mask_ratio=ratio, kl_weight=kl_weight, clips=clips, seconds=seconds,
                   clips_per_s=clips / seconds if seconds > 0 else math.inf)
    return metrics


def run_training(model: nn.Module, state: TrainingState, loader: DataLoader, device: torch.device,
                 on_epoch_end: EpochCallback) -> TrainingState:
    """Train from ``state.epoch`` up to ``config.train.epochs``; ``on_epoch_end`` sees every epoch
    after ``state.epoch`` and ``state.history`` are updated (so a checkpoint taken there resumes at
    the next epoch: nothing lost, nothing repeated)."""
    for epoch in range(state.epoch, state.config.train.epochs):
        sampler = getattr(loader, "sampler", None)
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)
        metrics = run_epoch(model, state, loader, epoch, device)
        metrics["finished_at"] = time.time()  # wall clock, so epoch-to-epoch overhead can be measured
        state.epoch = epoch + 1
        state.history.append(metrics)
        on_epoch_end(epoch, metrics)
    return state


def log_epoch(epoch: int, metrics: dict[str, float], every: int) -> None:
    if epoch % every == 0:
        log.info("epoch %d loss %.4f rec %.4f kl %.2f mask %.2f %.1f clips/s", epoch, metrics["loss"],
                 metrics["rec"], metrics["kl"], metrics["mask_ratio"], metrics["clips_per_s"])


def train_plain(config: SignAvatarConfig, train: FeatureSet, gloss_embeddings: torch.Tensor,
                checkpoint_dir: str | None = None, resume: dict[str, Any] | None = None) -> TrainingState:
    """Train in this process (no Ray). Saves ``checkpoint_dir/checkpoint.pt`` every
    ``train.checkpoint_every`` epochs and at the end when a directory is given."""
    from signavatar.model.checkpoint import save_checkpoint

    device = torch_device()
    if resume:
        state = restore_training_state(resume, config, device)
    else:
        state = new_training_state(config, train, gloss_embeddings, device)
    loader = make_loader(state, train)

    def on_epoch_end(epoch: int, metrics: dict[str, float]) -> None:
        log_epoch(epoch, metrics, config.train.log_every)
        if checkpoint_dir and checkpoint_due(epoch, config.train):
            state.refresh_gloss_prior(train)
            save_checkpoint(state.checkpoint_state(), checkpoint_dir)

    return run_training(state.model, state, loader, device, on_epoch_end)


@torch.no_grad()
def validation_loss(model: nn.Module, state: TrainingState, loader: DataLoader, device: torch.device) -> float:
    """Mean reconstruction MSE with nothing masked and z = mu (deterministic), in eval mode."""
    core = unwrap(model)
    embeddings = state.gloss_embeddings.to(device)
    was_training = core.training
    core.eval()
    total, count = 0.0, 0
    for x, labels in loader:
        x, labels = x.to(device), labels.to(device)
        cond = embeddings[labels]
        mu, _ = core.encode(x, cond, None)
        recon = core.decode(mu, cond, x.shape[1])
        total += float(torch.mean((recon - x) ** 2)) * x.shape[0]
        count += x.shape[0]
    core.train(was_training)
    return total / max(count, 1)
