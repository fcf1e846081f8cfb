"""Train, run, save and load the judge (plain torch, no Ray).

Trained on the raw landmarks of real signers (``landmark_store.read_landmarks`` ->
``space.landmark_features``), never on fits; it scores anything put into the same space.
Deterministic for ``cfg.seed`` on the CPU.

Augmentation, because the test signers are an unseen recording and the clips it scores are posed
on other skeletons: every training clip is redrawn with other arm and finger proportions
(``_reproportion``), then gets feature noise and hidden frames. Measured on the real letters
(judge trained on sequences 0-14, fits of 15-29 projected on the standard skeleton instead of
their own): recognised 0.94-0.95 (``u`` 0.27-0.32) without the redrawn proportions, 0.96
(``u`` 0.49) with them; on their own skeletons 1.00 either way.
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from signavatar import storage
from signavatar.config import JudgeConfig
from signavatar.judge import space
from signavatar.judge.model import Judge

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "signavatar.judge/1"


def class_labels(labels: Sequence[str] | np.ndarray, classes: Sequence[str]) -> np.ndarray:
    """Gloss names (or class indices) -> class indices ``[N]``; an unknown gloss is an error naming it."""
    array = np.asarray(labels)
    if array.dtype.kind in "iu":
        if array.size and (array.min() < 0 or array.max() >= len(classes)):
            raise ValueError(f"class indices outside [0, {len(classes)})")
        return array.astype(np.int64)
    index = {name: i for i, name in enumerate(classes)}
    unknown = sorted({str(g) for g in array.tolist() if g not in index})
    if unknown:
        raise ValueError(f"glosses {unknown} are not among the judge's classes {list(classes)}")
    return np.array([index[g] for g in array.tolist()], np.int64)


def _inputs(features: np.ndarray, masks: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.as_tensor(np.asarray(features), dtype=torch.float32)
    m = torch.as_tensor(np.asarray(masks), dtype=torch.bool)
    if x.ndim != 3 or m.shape != x.shape[:2]:
        raise ValueError(f"judge inputs: features {tuple(x.shape)} / masks {tuple(m.shape)}; expected [N, T, D] / [N, T]")
    return x, m


def _factors(shape: tuple[int, ...], spread: float, generator: torch.Generator) -> torch.Tensor:
    """Random factors, log-uniform in ``[exp(-spread), exp(spread)]``."""
    return torch.exp(spread * (2 * torch.rand(shape, generator=generator) - 1))


def _reproportion(features: torch.Tensor, cfg: JudgeConfig, generator: torch.Generator) -> torch.Tensor:
    """Training clips ``[B, T, FEATURE_DIM]`` redrawn with other proportions, one draw per clip:
    each side's shoulder span, upper arm and forearm scaled by ``arm_jitter`` factors and every
    finger bone by ``finger_jitter`` factors, the joints' directions kept. Fits and generated clips
    are posed on skeletons other than the signers'; the judge is to see configurations, not bone
    lengths."""
    if not (cfg.arm_jitter or cfg.finger_jitter):
        return features
    if features.shape[-1] != space.FEATURE_DIM:
        raise ValueError(f"redrawing proportions needs the whole landmark space ({space.FEATURE_DIM} values per "
                         f"frame, got {features.shape[-1]}); set arm_jitter and finger_jitter to 0")
    out = features.clone()
    n = features.shape[0]
    if cfg.arm_jitter > 0:
        arms = features[..., space.ARMS].reshape(n, -1, 2, 3, 2)  # [B, T, side, (shoulder, elbow, wrist), xy]
        f = _factors((n, 1, 2, 3, 1), cfg.arm_jitter, generator)
        shoulder = arms[..., 0, :] * f[..., 0, :]
        elbow = shoulder + f[..., 1, :] * (arms[..., 1, :] - arms[..., 0, :])
        wrist = elbow + f[..., 2, :] * (arms[..., 2, :] - arms[..., 1, :])
        moved = torch.stack([shoulder, elbow, wrist], -2)
        seen = (arms != 0).any(-1, keepdim=True)  # a missing point stays 0
        out[..., space.ARMS] = torch.where(seen, moved, arms).reshape(n, -1, space.ARMS.stop)
    if cfg.finger_jitter > 0:
        for block in space.HANDS:
            fingers = features[..., block].reshape(n, -1, 5, 4, 2)  # wrist-relative, knuckle to tip
            bones = torch.diff(fingers, dim=-2, prepend=torch.zeros_like(fingers[..., :1, :]))
            f = _factors((n, 1, 5, 4, 1), cfg.finger_jitter, generator)
            out[..., block] = torch.cumsum(bones * f, -2).reshape(n, -1, block.stop - block.start)
    return out


def train_judge(
    features: np.ndarray,
    masks: np.ndarray,
    labels: Sequence[str] | np.ndarray,
    classes: Sequence[str],
    cfg: JudgeConfig | None = None,
    val: tuple[np.ndarray, np.ndarray, Sequence[str] | np.ndarray] | None = None,
) -> tuple[Judge, list[dict[str, Any]]]:
    """Train a judge on ``features [N, T, D]`` with ``masks [N, T]`` and ``labels`` (glosses or
    indices into ``classes``). Returns the model in eval mode and one history entry per epoch
    (``loss``, ``train_acc`` on the fly, ``val_acc`` when ``val = (features, masks, labels)``)."""
    cfg = cfg or JudgeConfig()
    x, m = _inputs(features, masks)
    y = torch.as_tensor(class_labels(labels, classes))
    if y.shape != (x.shape[0],) or x.shape[0] < 1:
        raise ValueError(f"{len(y)} labels for {x.shape[0]} training clips")
    if val is not None:
        val_x, val_m = _inputs(val[0], val[1])
        val_y = class_labels(val[2], classes)
    torch.manual_seed(cfg.seed)
    generator = torch.Generator().manual_seed(cfg.seed)
    model = Judge(x.shape[-1], len(classes), cfg.hidden, cfg.layers, cfg.kernel, cfg.dropout)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps = cfg.epochs * -(-x.shape[0] // cfg.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, cfg.lr, total_steps=steps, pct_start=0.2)
    loss_fn = nn.CrossEntropyLoss()
    history: list[dict[str, Any]] = []
    for epoch in range(cfg.epochs):
        start = time.perf_counter()
        model.train()
        order = torch.randperm(x.shape[0], generator=generator)
        total, correct = 0.0, 0
        for first in range(0, x.shape[0], cfg.batch_size):
            batch = order[first : first + cfg.batch_size]
            xb, mb = x[batch], m[batch]
            xb = _reproportion(xb, cfg, generator)
            xb = xb + cfg.noise * torch.randn(xb.shape, generator=generator)
            hidden = torch.rand(mb.shape, generator=generator) < cfg.frame_dropout
            mb = mb & ~(hidden & (mb.sum(1, keepdim=True) > 1))
            logits = model(xb, mb)
            loss = loss_fn(logits, y[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            total += float(loss.detach()) * len(batch)
            correct += int((logits.argmax(1) == y[batch]).sum())
        entry: dict[str, Any] = {"epoch": epoch, "loss": total / x.shape[0], "train_acc": correct / x.shape[0]}
        if val is not None and (epoch == cfg.epochs - 1 or epoch % 10 == 9):
            entry["val_acc"] = float((predict(model, val_x, val_m).argmax(1) == val_y).mean())
        entry["seconds"] = time.perf_counter() - start
        history.append(entry)
        log.debug("judge epoch %d/%d: %s", epoch + 1, cfg.epochs, entry)
    model.eval()
    return model, history


@torch.no_grad()
def predict(model: Judge, features: np.ndarray | torch.Tensor, masks: np.ndarray | torch.Tensor,
            batch_size: int = 512) -> np.ndarray:
    """Logits ``[N, classes]`` (float32 numpy) in eval mode; the model's mode is restored after."""
    x, m = _inputs(features, masks)
    was_training = model.training
    model.eval()
    try:
        out = [model(x[i : i + batch_size], m[i : i + batch_size]) for i in range(0, x.shape[0], batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(out).numpy() if out else np.zeros((0, model.num_classes), np.float32)


def save_judge(model: Judge, classes: Sequence[str], uri: str) -> None:
    """A checkpoint (local or s3://) loadable with ``torch.load(weights_only=True)``."""
    if len(classes) != model.num_classes:
        raise ValueError(f"{len(classes)} class names for a judge with {model.num_classes} classes")
    checkpoint = {"format": CHECKPOINT_FORMAT, "config": model.config(), "classes": [str(c) for c in classes],
                  "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}}
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    storage.write_bytes(uri, buffer.getvalue())


def load_judge(uri: str) -> tuple[Judge, list[str]]:
    """``(model in eval mode, class names)`` from ``save_judge``'s checkpoint."""
    checkpoint = torch.load(io.BytesIO(storage.read_bytes(uri)), map_location="cpu", weights_only=True)
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != CHECKPOINT_FORMAT:
        found = checkpoint.get("format") if isinstance(checkpoint, dict) else type(checkpoint).__name__
        raise ValueError(f"{uri} is not a judge checkpoint ({CHECKPOINT_FORMAT}); found {found!r}")
    model = Judge(**checkpoint["config"])
    model.load_state_dict(checkpoint["state_dict"])
    classes = list(checkpoint["classes"])
    if len(classes) != model.num_classes:
        raise ValueError(f"{uri}: {len(classes)} class names for {model.num_classes} classes")
    return model.eval(), classes
