"""Train, save, load and run the ST-GCN recognizer (plain torch; no Ray here).

The recognizer is trained once on Raw train clips (``MotionClip.to_features()``, resampled to the
model's frame count) and then frozen; every group is scored through ``extract_features``.
"""

from __future__ import annotations

import io
import logging
import time
from typing import Any

import numpy as np
import torch
from torch import nn

from signavatar import storage
from signavatar.config import EvalConfig
from signavatar.devices import torch_device
from signavatar.evaluation.stgcn import STGCN

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "signavatar.stgcn/1"


def build_recognizer(num_classes: int, num_frames: int, cfg: EvalConfig) -> STGCN:
    return STGCN(
        num_classes,
        num_frames=num_frames,
        hidden=tuple(cfg.recognizer_hidden),
        feature_dim=cfg.recognizer_feature_dim,
        dropout=cfg.recognizer_dropout,
        graph=cfg.recognizer_graph,
    )


def _as_inputs(x: np.ndarray | torch.Tensor) -> torch.Tensor:
    x = torch.as_tensor(x, dtype=torch.float32)
    if x.ndim != 3:
        raise ValueError(f"recognizer inputs must be [N, T, D], got shape {tuple(x.shape)}")
    return x


def _as_labels(y: np.ndarray | torch.Tensor, n: int, num_classes: int) -> torch.Tensor:
    y = torch.as_tensor(np.asarray(y), dtype=torch.long)
    if y.shape != (n,):
        raise ValueError(f"labels have shape {tuple(y.shape)}; expected ({n},)")
    if n and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(f"labels must be in [0, {num_classes}), got range [{int(y.min())}, {int(y.max())}]")
    return y


def train_recognizer(
    train_features: np.ndarray,
    labels: np.ndarray,
    num_classes: int,
    cfg: EvalConfig,
    val: tuple[np.ndarray, np.ndarray] | None = None,
    device: str | torch.device | None = None,
) -> tuple[STGCN, list[dict[str, Any]]]:
    """Train an ST-GCN gloss classifier with Adam and cross-entropy, seeded by ``cfg.seed``.

    ``train_features``: ``[N, T, 264]``; ``labels``: ``[N]`` ints in ``[0, num_classes)``. No
    augmentation: the classifier only has to separate the real clips it is trained on, and the
    metrics need it to be a fixed, reproducible function. ``device`` defaults to CUDA when
    available. Returns the model in eval mode (on ``device``) and one history entry per epoch:
    ``epoch``, ``loss`` (mean over samples seen), ``train_acc`` (on the fly, in train mode),
    ``val_acc`` (when ``val`` is given: on the last epoch only, the one whose model is returned;
    scoring it every epoch cost a quarter of the training time) and ``seconds``.
    """
    x = _as_inputs(train_features)
    y = _as_labels(labels, x.shape[0], num_classes)
    if x.shape[0] < 2 or cfg.recognizer_batch_size < 2:
        raise ValueError(
            f"BatchNorm needs at least 2 training clips and batches of 2 or more; "
            f"got {x.shape[0]} clips, batch size {cfg.recognizer_batch_size}"
        )
    if val is not None:
        val_x = _as_inputs(val[0])
        val_y = _as_labels(val[1], val_x.shape[0], num_classes)
    device = torch_device(device)
    torch.manual_seed(cfg.seed)
    generator = torch.Generator().manual_seed(cfg.seed)
    model = build_recognizer(num_classes, x.shape[1], cfg).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.recognizer_lr, weight_decay=cfg.recognizer_weight_decay)
    loss_fn = nn.CrossEntropyLoss(reduction="sum")
    n = x.shape[0]
    history: list[dict[str, Any]] = []
    for epoch in range(cfg.recognizer_epochs):
        start = time.perf_counter()
        model.train()
        order = torch.randperm(n, generator=generator)
        total_loss, correct, seen = 0.0, 0, 0
        for first in range(0, n, cfg.recognizer_batch_size):
            batch = order[first : first + cfg.recognizer_batch_size]
            if len(batch) < 2:  # BatchNorm cannot train on a single sample
                continue
            xb, yb = x[batch].to(device), y[batch].to(device)
            logits = model(xb)
            loss = loss_fn(logits, yb)
            optimizer.zero_grad(set_to_none=True)
            (loss / len(batch)).backward()
            optimizer.step()
            total_loss += float(loss.detach())
            correct += int((logits.argmax(1) == yb).sum())
            seen += len(batch)
        entry: dict[str, Any] = {"epoch": epoch, "loss": total_loss / seen, "train_acc": correct / seen}
        if val is not None and epoch == cfg.recognizer_epochs - 1:
            _, val_logits = extract_features(model, val_x, cfg.feature_batch_size)
            entry["val_acc"] = float((val_logits.argmax(1) == val_y.numpy()).mean()) if len(val_y) else float("nan")
        entry["seconds"] = time.perf_counter() - start
        history.append(entry)
        log.info("recognizer epoch %d/%d: %s", epoch + 1, cfg.recognizer_epochs, _format(entry))
    model.eval()
    return model, history


def _format(entry: dict[str, Any]) -> str:
    return " ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in entry.items() if k != "epoch")


@torch.no_grad()
def extract_features(
    model: STGCN, x: np.ndarray | torch.Tensor, batch_size: int = 256
) -> tuple[np.ndarray, np.ndarray]:
    """``(features [N, feature_dim], logits [N, num_classes])`` as float32 numpy, in eval mode,
    batched on the model's device, under autocast to the model's ``inference_dtype`` when it has
    one. The model's train/eval mode is restored afterwards."""
    x = _as_inputs(x)
    device = next(model.parameters()).device
    dtype = getattr(model, "inference_dtype", None)
    was_training = model.training
    model.eval()
    feats, logits = [], []
    try:
        for first in range(0, x.shape[0], batch_size):
            with torch.autocast(device.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None):
                out, f = model.forward_with_features(x[first : first + batch_size].to(device))
            logits.append(out.float().cpu())
            feats.append(f.float().cpu())
    finally:
        model.train(was_training)
    if not feats:
        return np.zeros((0, model.feature_dim), np.float32), np.zeros((0, model.num_classes), np.float32)
    return torch.cat(feats).numpy(), torch.cat(logits).numpy()


def save_recognizer(model: STGCN, class_names: list[str], uri: str) -> None:
    """Write a checkpoint (local path or s3://) loadable with ``torch.load(weights_only=True)``:
    a dict of plain types and tensors (format tag, constructor config, class names, state dict)."""
    if len(class_names) != model.num_classes:
        raise ValueError(f"{len(class_names)} class names for a model with {model.num_classes} classes")
    checkpoint = {
        "format": CHECKPOINT_FORMAT,
        "config": model.config(),
        "class_names": [str(name) for name in class_names],
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    storage.write_bytes(uri, buffer.getvalue())
    log.info("saved recognizer (%d classes) to %s", model.num_classes, uri)


def inference_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype ``extract_features`` runs a recognizer in: None (fp32), or bfloat16 where
    ``precision`` asks for it and the device computes it natively."""
    if precision != "bf16":
        return None
    native = torch.cuda.is_bf16_supported() if device.type == "cuda" else torch.ops.mkldnn._is_mkldnn_bf16_supported()
    if not native:
        log.warning("eval.recognizer_precision=bf16 but %s has no native bfloat16: the recognizer runs in fp32", device)
        return None
    return torch.bfloat16


def load_recognizer(uri: str, map_location: str | torch.device = "cpu",
                    precision: str = "fp32") -> tuple[STGCN, list[str]]:
    """``(model in eval mode, class names)`` from a checkpoint written by ``save_recognizer``;
    ``precision`` sets the model's ``inference_dtype`` (``inference_dtype``)."""
    checkpoint = torch.load(io.BytesIO(storage.read_bytes(uri)), map_location=map_location, weights_only=True)
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != CHECKPOINT_FORMAT:
        found = checkpoint.get("format") if isinstance(checkpoint, dict) else type(checkpoint).__name__
        raise ValueError(f"{uri} is not a recognizer checkpoint ({CHECKPOINT_FORMAT}); found {found!r}")
    config = dict(checkpoint["config"], hidden=tuple(checkpoint["config"]["hidden"]))
    model = STGCN(**config)
    model.load_state_dict(checkpoint["state_dict"])
    model.to(map_location).eval()
    model.inference_dtype = inference_dtype(precision, torch.device(map_location))
    class_names = list(checkpoint["class_names"])
    if len(class_names) != model.num_classes:
        raise ValueError(f"{uri}: {len(class_names)} class names for {model.num_classes} classes")
    return model, class_names
