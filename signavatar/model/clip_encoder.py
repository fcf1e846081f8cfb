"""CLIP (open_clip) text and image embeddings: the CVAE's conditioning space.

Weights are never downloaded. ``ClipEncoderConfig.pretrained`` names where they already are:

- a local state-dict file (``.pt``/``.pth``/``.bin`` loaded with ``weights_only=True``, or
  ``.safetensors``) for the architecture ``model_name``;
- an ``s3://`` URI of such a file, copied once into ``cache_dir`` (``storage.cached_local_copy``);
- ``local-dir:DIR``: a folder laid out like an open_clip repository on the Hugging Face hub
  (``open_clip_config.json`` with ``model_cfg``/``preprocess_cfg``, plus a weights file); the
  architecture comes from that config and ``model_name`` is not used;
- ``hf-hub:ORG/NAME``: the same layout, only if it is already in the local Hugging Face cache
  (looked up with ``local_files_only=True``: no network call is ever made);
- ``random``: random initialisation, only where a config says so (offline, closed vocabulary),
  still with a warning. The random init is seeded (``RANDOM_INIT_SEED``) so every process (Ray
  workers, serving replicas) builds the same encoder and agrees on every embedding; but a random
  encoder maps words to arbitrary points, so generation for words unseen in training is
  meaningless.
- ``None`` (not set) is an error: there is no silent random fallback.

Missing weights are a ``FileNotFoundError`` that names the source and what to put there.

Embeddings are returned L2-normalised, float32, on the CPU.

Texts are tokenised to CLIP's 77-token context, but a batch runs the text tower only up to its
longest token sequence (``truncate_to_longest``): with the causal mask and end-of-text pooling of
CLIP's text tower nothing after a sequence's last token reaches its embedding, so a one-word batch
costs a few positions instead of 77 and gives the same embeddings.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import open_clip
import torch
from open_clip.transformer import text_global_pool
from PIL import Image

from signavatar import storage
from signavatar.config import ClipEncoderConfig

log = logging.getLogger(__name__)

RANDOM_INIT_SEED = 0
RANDOM = "random"
LOCAL_DIR_PREFIX = "local-dir:"
HF_HUB_PREFIX = "hf-hub:"
# Weight files of an open_clip hub repository, most preferred first.
WEIGHT_FILENAMES = (
    "open_clip_model.safetensors",
    "open_clip_pytorch_model.safetensors",
    "open_clip_pytorch_model.bin",
    "open_clip_pytorch_model.pth",
)

ImageLike = Image.Image | np.ndarray


def _weights_in_dir(directory: Path) -> Path:
    for name in WEIGHT_FILENAMES:
        if (directory / name).is_file():
            return directory / name
    raise FileNotFoundError(f"{directory}: no open_clip weights file (looked for {', '.join(WEIGHT_FILENAMES)})")


def _hf_hub_snapshot(repo_id: str) -> Path:
    """The locally cached snapshot of an hf-hub repository; never contacts the hub."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(repo_id, local_files_only=True))
    except LocalEntryNotFoundError as exc:
        raise FileNotFoundError(
            f"hf-hub:{repo_id} is not in the local Hugging Face cache; nothing is downloaded at run time "
            "(copy the repository into the cache, or use local-dir:DIR / a weights file)"
        ) from exc


def resolve_weights(cfg: ClipEncoderConfig) -> tuple[str, Path | None]:
    """``(open_clip model name, local weights file or None)`` for ``cfg``.

    The model name is ``local-dir:DIR`` for folder sources (open_clip then reads the architecture
    and preprocessing from ``DIR/open_clip_config.json``), else ``cfg.model_name``."""
    source = cfg.pretrained
    if source is None:
        raise ValueError(
            f"clip.pretrained is not set for CLIP {cfg.model_name!r}: name its weights (a file, s3:// URI, "
            f"local-dir:DIR or a cached hf-hub: repository) or say clip.pretrained: {RANDOM} explicitly "
            "(a seeded random encoder: fine for a closed vocabulary offline, meaningless for unseen words)"
        )
    if source == RANDOM:
        return cfg.model_name, None
    if source.startswith(HF_HUB_PREFIX):
        directory = _hf_hub_snapshot(source[len(HF_HUB_PREFIX) :])
    elif source.startswith(LOCAL_DIR_PREFIX):
        directory = Path(source[len(LOCAL_DIR_PREFIX) :]).expanduser()
        if not (directory / "open_clip_config.json").is_file():
            raise FileNotFoundError(f"{source}: no open_clip_config.json in {directory}")
    else:
        try:
            return cfg.model_name, storage.cached_local_copy(source, cfg.cache_dir)
        except FileNotFoundError as exc:
            raise FileNotFoundError(
                f"CLIP weights for {cfg.model_name!r} not found at clip.pretrained={source} ({exc}); nothing is "
                "downloaded at run time: put the weights file there (the paper's CLIP is ViT-B-32-quickgelu with "
                "OpenAI's weights, e.g. open_clip_model.safetensors of the timm/vit_base_patch32_clip_224.openai "
                f"repository) or set clip.pretrained: {RANDOM} for an offline closed-vocabulary run"
            ) from exc
    return f"{LOCAL_DIR_PREFIX}{directory}", _weights_in_dir(directory)


def _to_pil(image: ImageLike) -> Image.Image:
    if isinstance(image, Image.Image):
        return image.convert("RGB")
    array = np.asarray(image)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"an image array must be uint8 [H, W, 3], got {array.dtype} {list(array.shape)}")
    return Image.fromarray(array)


def _batches(items: Sequence, size: int) -> Iterable[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def truncate_to_longest(tokens: torch.Tensor) -> torch.Tensor:
    """``tokens`` [N, 77] cut after the last position any row is pooled at (its highest id, the
    end-of-text token with CLIP's tokenizer)."""
    return tokens[:, : int(tokens.argmax(dim=-1).max()) + 1]


def _encodes_truncated(model: torch.nn.Module) -> bool:
    """Whether ``model``'s text tower is CLIP's causal one pooled at the end-of-text token, where
    ``_encode_tokens`` may run on truncated sequences (other towers get the full context)."""
    return isinstance(model, open_clip.CLIP) and model.text_pool_type == "argmax" and model.attn_mask is not None


def _encode_tokens(model: open_clip.CLIP, tokens: torch.Tensor) -> torch.Tensor:
    """``open_clip.CLIP.encode_text(tokens, normalize=True)`` on the batch's own length."""
    tokens = truncate_to_longest(tokens)
    length = tokens.shape[1]
    cast_dtype = model.transformer.get_cast_dtype()
    x = model.token_embedding(tokens).to(cast_dtype) + model.positional_embedding[:length].to(cast_dtype)
    x = model.ln_final(model.transformer(x, attn_mask=model.attn_mask[:length, :length]))
    x = text_global_pool(x, tokens, "argmax")
    projection = model.text_projection
    if projection is not None:
        x = projection(x) if isinstance(projection, torch.nn.Linear) else x @ projection
    return torch.nn.functional.normalize(x, dim=-1)


class ClipConditioner:
    """Frozen open_clip model mapping words and images into one normalised embedding space."""

    def __init__(self, cfg: ClipEncoderConfig, device: str | torch.device = "cpu") -> None:
        self.cfg = cfg
        self.device = torch.device(device)
        model_name, weights = resolve_weights(cfg)
        # Seeded so that a random init is the same in every process; the global RNG is untouched.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(RANDOM_INIT_SEED)
            model, _, preprocess = open_clip.create_model_and_transforms(
                model_name,
                pretrained=None,
                load_weights=False,
                pretrained_image=False,
                pretrained_text=False,
            )
        if weights is None:
            log.warning(
                "CLIP %s has NO pretrained weights (clip.pretrained: random): using a random init "
                "(seed %d). Fine for a closed vocabulary; embeddings carry no meaning, so words unseen "
                "in training will not generalise.",
                model_name,
                RANDOM_INIT_SEED,
            )
        else:
            open_clip.load_checkpoint(model, str(weights), strict=True, weights_only=True)
            log.info("loaded CLIP %s weights from %s", model_name, cfg.pretrained)
        self.model = model.to(self.device).eval().requires_grad_(False)
        self.preprocess = preprocess
        self.tokenizer = open_clip.get_tokenizer(model_name)
        self.embed_dim: int = int(open_clip.get_model_config(model_name)["embed_dim"])
        self._truncate = _encodes_truncated(self.model)

    @torch.no_grad()
    def encode_text(self, texts: Sequence[str]) -> torch.Tensor:
        """[N, D] normalised text embeddings, computed ``cfg.batch_size`` texts at a time, each batch
        on its longest token sequence (see the module doc)."""
        texts = list(texts)
        if not texts:
            return torch.zeros(0, self.embed_dim)
        out = []
        for chunk in _batches(texts, self.cfg.batch_size):
            tokens = self.tokenizer(list(chunk)).to(self.device)
            embeddings = (_encode_tokens(self.model, tokens) if self._truncate
                          else self.model.encode_text(tokens, normalize=True))
            out.append(embeddings.float().cpu())
        return torch.cat(out)

    @torch.no_grad()
    def encode_images(self, images: Sequence[ImageLike]) -> torch.Tensor:
        """[N, D] normalised image embeddings (PIL images or uint8 [H, W, 3] arrays), in the text space."""
        images = list(images)
        if not images:
            return torch.zeros(0, self.embed_dim)
        out = []
        for chunk in _batches(images, self.cfg.batch_size):
            pixels = torch.stack([self.preprocess(_to_pil(im)) for im in chunk]).to(self.device)
            out.append(self.model.encode_image(pixels, normalize=True).float().cpu())
        return torch.cat(out)
