"""Training checkpoints: one ``checkpoint.pt`` of tensors and plain types.

Everything in it loads with ``torch.load(weights_only=True)``: model and optimizer state, the
config (as plain dict), normalisation stats, the gloss vocabulary and its cached CLIP embeddings
(so serving known glosses needs no CLIP forward), the epoch counter and the loss history.
"""

from __future__ import annotations

import io
import os
from typing import Any

import torch

from signavatar import storage

FORMAT = "signavatar.checkpoint/1"
FILENAME = "checkpoint.pt"


def save_checkpoint(state: dict[str, Any], directory: str | os.PathLike) -> str:
    """Write ``state`` as ``<directory>/checkpoint.pt`` (local or s3://), atomically."""
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, **state}, buffer)
    uri = storage.join(str(directory), FILENAME)
    storage.write_bytes(uri, buffer.getvalue())
    return uri


def load_checkpoint(uri: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint from a file or a directory holding ``checkpoint.pt`` (local or s3://).

    Never unpickles arbitrary objects (``weights_only=True``)."""
    uri = str(uri)
    if not uri.endswith(".pt"):
        uri = storage.join(uri, FILENAME)
    data = storage.read_bytes(uri)
    try:
        state = torch.load(io.BytesIO(data), map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt or unsafe files
        raise ValueError(f"{uri}: not a loadable signavatar checkpoint ({exc})") from exc
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ValueError(f"{uri}: not a signavatar checkpoint (format {state.get('format') if isinstance(state, dict) else None!r})")
    return state
