"""A tiny open_clip model for tests: registered under a name like a built-in, weights on disk.

Real CLIP weights are hundreds of MB and are never downloaded in tests; this model has the same
structure (ViT image tower, transformer text tower with the standard BPE tokenizer) at toy size,
so every loading path of ``ClipConditioner`` can be exercised against it.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import open_clip
import torch
from safetensors.torch import save_file

TINY_CLIP_NAME = "signavatar-tiny-clip"
TINY_CLIP_EMBED_DIM = 32
TINY_CLIP_CONFIG = {
    "embed_dim": TINY_CLIP_EMBED_DIM,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 32, "head_width": 16, "patch_size": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2},
}
# open_clip's default preprocessing for CLIP models, spelled out as hub repositories do.
TINY_CLIP_PREPROCESS = {
    "mean": list(open_clip.OPENAI_DATASET_MEAN),
    "std": list(open_clip.OPENAI_DATASET_STD),
    "interpolation": "bicubic",
    "resize_mode": "shortest",
}


def register_tiny_clip() -> str:
    """Make ``TINY_CLIP_NAME`` a known open_clip architecture (idempotent); returns the name."""
    if TINY_CLIP_NAME not in open_clip.list_models():
        directory = Path(tempfile.mkdtemp(prefix="tiny-clip-config-"))
        path = directory / f"{TINY_CLIP_NAME}.json"
        path.write_text(json.dumps(TINY_CLIP_CONFIG))
        open_clip.add_model_config(path)
    return TINY_CLIP_NAME


def build_tiny_clip(seed: int = 1234) -> torch.nn.Module:
    """A tiny CLIP with random weights drawn from ``seed`` (in eval mode)."""
    register_tiny_clip()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = open_clip.create_model(TINY_CLIP_NAME, pretrained=None, pretrained_text=False)
    return model.eval()


def save_tiny_clip_weights(path: Path, seed: int = 1234) -> torch.nn.Module:
    """Save a tiny CLIP's state dict to ``path`` (.safetensors, else torch.save); returns the model."""
    model = build_tiny_clip(seed)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".safetensors":
        save_file(state, str(path))
    else:
        torch.save(state, path)
    return model


def write_tiny_clip_dir(directory: Path, seed: int = 1234) -> torch.nn.Module:
    """An open_clip hub-repository layout: ``open_clip_config.json`` + ``open_clip_model.safetensors``."""
    directory.mkdir(parents=True, exist_ok=True)
    config = {"model_cfg": TINY_CLIP_CONFIG, "preprocess_cfg": TINY_CLIP_PREPROCESS}
    (directory / "open_clip_config.json").write_text(json.dumps(config))
    return save_tiny_clip_weights(directory / "open_clip_model.safetensors", seed)


def write_tiny_clip_hf_cache(cache_dir: Path, repo_id: str, seed: int = 1234) -> torch.nn.Module:
    """The same repository as it sits in a Hugging Face hub cache (``models--ORG--NAME`` with a
    ``refs/main`` pointing at one snapshot), without ever contacting the hub."""
    repo_dir = cache_dir / f"models--{repo_id.replace('/', '--')}"
    commit = "0" * 40
    (repo_dir / "refs").mkdir(parents=True, exist_ok=True)
    (repo_dir / "refs" / "main").write_text(commit)
    return write_tiny_clip_dir(repo_dir / "snapshots" / commit, seed)
