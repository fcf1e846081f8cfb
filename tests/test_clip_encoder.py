"""ClipConditioner: every weight source loads the saved tiny CLIP exactly; random init is loud."""

from __future__ import annotations

import logging

import huggingface_hub.constants
import numpy as np
import open_clip
import pytest
import torch
from PIL import Image

from signavatar import storage
from signavatar.config import ClipEncoderConfig
from signavatar.model.clip_encoder import ClipConditioner, truncate_to_longest
from tests.support.tiny_clip import (
    TINY_CLIP_EMBED_DIM,
    TINY_CLIP_NAME,
    register_tiny_clip,
    save_tiny_clip_weights,
    write_tiny_clip_dir,
    write_tiny_clip_hf_cache,
)

WORDS = ["hello", "thank you", "book", "drink", "computer"]
RANDOM_INIT_MESSAGE = "NO pretrained weights"


@pytest.fixture(scope="module", autouse=True)
def tiny_clip_registered():
    register_tiny_clip()


def tiny_cfg(pretrained: str | None, **kw) -> ClipEncoderConfig:
    return ClipEncoderConfig(model_name=TINY_CLIP_NAME, pretrained=pretrained, **kw)


def images() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, size=(40, 48, 3), dtype=np.uint8) for _ in range(3)]


def reference_text(model: torch.nn.Module, texts: list[str]) -> torch.Tensor:
    with torch.no_grad():
        return model.encode_text(open_clip.get_tokenizer(TINY_CLIP_NAME)(texts), normalize=True)


def assert_same_encoder(conditioner: ClipConditioner, model: torch.nn.Module) -> None:
    torch.testing.assert_close(conditioner.encode_text(WORDS), reference_text(model, WORDS), rtol=0, atol=1e-6)
    _, _, preprocess = open_clip.create_model_and_transforms(TINY_CLIP_NAME, pretrained_text=False)
    pixels = torch.stack([preprocess(Image.fromarray(a)) for a in images()])
    with torch.no_grad():
        expected = model.encode_image(pixels, normalize=True)
    torch.testing.assert_close(conditioner.encode_images(images()), expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("suffix", [".pt", ".bin", ".safetensors"])
def test_weights_file_loads_exactly(tmp_path, suffix, caplog):
    model = save_tiny_clip_weights(tmp_path / f"tiny{suffix}")
    with caplog.at_level(logging.WARNING, logger="signavatar.model.clip_encoder"):
        conditioner = ClipConditioner(tiny_cfg(str(tmp_path / f"tiny{suffix}")))
    assert RANDOM_INIT_MESSAGE not in caplog.text
    assert conditioner.embed_dim == TINY_CLIP_EMBED_DIM
    assert_same_encoder(conditioner, model)


def test_local_dir_loads_exactly(tmp_path):
    model = write_tiny_clip_dir(tmp_path / "repo")
    # the architecture comes from the folder's config, whatever model_name says
    cfg = ClipEncoderConfig(model_name="ViT-B-32", pretrained=f"local-dir:{tmp_path / 'repo'}")
    assert_same_encoder(ClipConditioner(cfg), model)


def test_hf_hub_only_from_local_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    model = write_tiny_clip_hf_cache(tmp_path, "signavatar/tiny-clip")
    assert_same_encoder(ClipConditioner(tiny_cfg("hf-hub:signavatar/tiny-clip")), model)
    with pytest.raises(FileNotFoundError, match="not in the local Hugging Face cache"):
        ClipConditioner(tiny_cfg("hf-hub:signavatar/not-cached"))


def test_s3_weights_are_fetched_once_into_the_cache(tmp_path, s3_bucket):
    model = save_tiny_clip_weights(tmp_path / "tiny.safetensors")
    uri = f"{s3_bucket}/clip/tiny.safetensors"
    storage.write_bytes(uri, (tmp_path / "tiny.safetensors").read_bytes())
    cfg = tiny_cfg(uri, cache_dir=str(tmp_path / "cache"))
    assert_same_encoder(ClipConditioner(cfg), model)
    assert len(list((tmp_path / "cache").rglob("tiny.safetensors"))) == 1
    storage.remove(uri)  # the second load is served from the cache
    assert_same_encoder(ClipConditioner(cfg), model)


def test_missing_sources_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"not found at clip.pretrained=.*nope.pt.*clip.pretrained: random"):
        ClipConditioner(tiny_cfg(str(tmp_path / "nope.pt")))
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="open_clip_config.json"):
        ClipConditioner(tiny_cfg(f"local-dir:{tmp_path / 'empty'}"))
    write_tiny_clip_dir(tmp_path / "repo")
    (tmp_path / "repo" / "open_clip_model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="no open_clip weights file"):
        ClipConditioner(tiny_cfg(f"local-dir:{tmp_path / 'repo'}"))


def test_unset_weights_are_an_error_never_a_silent_random_encoder():
    with pytest.raises(ValueError, match=r"clip.pretrained is not set.*clip.pretrained: random"):
        ClipConditioner(tiny_cfg(None))


def test_paper_config_names_the_openai_clip_and_fails_clearly_without_it(tmp_path):
    """configs/asl3dword.yaml: ViT-B/32 with OpenAI's weights (QuickGELU towers), from a local file."""
    from pathlib import Path

    from signavatar.config import load_config

    root = Path(__file__).resolve().parents[1]
    cfg = load_config(root / "configs" / "asl3dword.yaml", [f"clip.pretrained={tmp_path / 'ViT-B-32-openai.bin'}"])
    assert cfg.clip.model_name == "ViT-B-32-quickgelu"
    assert open_clip.get_model_config(cfg.clip.model_name)["quick_gelu"] is True
    with pytest.raises(FileNotFoundError, match="ViT-B-32-openai.bin.*OpenAI"):
        ClipConditioner(cfg.clip)
    shipped = load_config(root / "configs" / "asl3dword.yaml").clip.pretrained
    assert shipped not in (None, "random") and "openai" in shipped.lower()
    for offline in ("demo.yaml", "synthetic.yaml"):  # offline configs say so explicitly
        assert load_config(root / "configs" / offline).clip.pretrained == "random"


def test_random_init_warns_and_is_the_same_in_every_process(tmp_path, caplog):
    rng_before = torch.get_rng_state()
    with caplog.at_level(logging.WARNING, logger="signavatar.model.clip_encoder"):
        first = ClipConditioner(tiny_cfg("random"))
    assert RANDOM_INIT_MESSAGE in caplog.text and "will not generalise" in caplog.text
    assert torch.equal(torch.get_rng_state(), rng_before), "building the encoder must not move the global RNG"
    torch.manual_seed(99)  # the caller's RNG state does not matter either
    second = ClipConditioner(tiny_cfg("random"))
    torch.testing.assert_close(first.encode_text(WORDS), second.encode_text(WORDS), rtol=0, atol=0)
    trained = save_tiny_clip_weights(tmp_path / "tiny.pt")
    assert not torch.allclose(first.encode_text(WORDS), reference_text(trained, WORDS), atol=1e-3)


def test_text_embeddings_are_normalised_and_independent_of_batching(tmp_path):
    save_tiny_clip_weights(tmp_path / "tiny.pt")
    one_batch = ClipConditioner(tiny_cfg(str(tmp_path / "tiny.pt"), batch_size=64)).encode_text(WORDS)
    small_batches = ClipConditioner(tiny_cfg(str(tmp_path / "tiny.pt"), batch_size=2)).encode_text(WORDS)
    assert one_batch.shape == (len(WORDS), TINY_CLIP_EMBED_DIM) and one_batch.dtype == torch.float32
    torch.testing.assert_close(one_batch.norm(dim=-1), torch.ones(len(WORDS)))
    torch.testing.assert_close(one_batch, small_batches, rtol=0, atol=1e-6)
    assert len(set(map(tuple, one_batch.tolist()))) == len(WORDS)


def test_text_tower_runs_on_the_batch_longest_sequence_with_the_same_embeddings(tmp_path):
    trained = save_tiny_clip_weights(tmp_path / "tiny.pt")
    conditioner = ClipConditioner(tiny_cfg(str(tmp_path / "tiny.pt")))
    lengths: list[int] = []
    conditioner.model.transformer.register_forward_pre_hook(lambda _, args: lengths.append(args[0].shape[1]))
    short, long = ["hi", "book"], ["hi", "a much longer text of several words"]
    tokens = open_clip.get_tokenizer(TINY_CLIP_NAME)(long)
    cut = truncate_to_longest(tokens)
    assert torch.equal(cut, tokens[:, : cut.shape[1]]) and not tokens[:, cut.shape[1]:].any()  # only padding cut
    overfull = ["word " * 100]  # tokenised to the full 77-token context
    for texts in (short, long, overfull):
        torch.testing.assert_close(conditioner.encode_text(texts), reference_text(trained, texts), rtol=0, atol=1e-6)
    assert lengths == [3, cut.shape[1], 77] and cut.shape[1] < 77  # start, "hi"/"book", end for the short batch


def test_images_as_arrays_or_pil_agree_and_bad_arrays_are_rejected(tmp_path):
    save_tiny_clip_weights(tmp_path / "tiny.pt")
    conditioner = ClipConditioner(tiny_cfg(str(tmp_path / "tiny.pt")))
    arrays = images()
    from_arrays = conditioner.encode_images(arrays)
    torch.testing.assert_close(conditioner.encode_images([Image.fromarray(a) for a in arrays]), from_arrays)
    torch.testing.assert_close(from_arrays.norm(dim=-1), torch.ones(len(arrays)))
    assert conditioner.encode_images([]).shape == (0, TINY_CLIP_EMBED_DIM)
    with pytest.raises(ValueError, match="uint8"):
        conditioner.encode_images([arrays[0].astype(np.float32)])


