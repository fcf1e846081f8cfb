from pathlib import Path

import pytest

from signavatar.config import ConfigError, SignAvatarConfig, dump_config, load_config

ROOT = Path(__file__).resolve().parents[1]


def test_defaults_match_paper():
    cfg = SignAvatarConfig()
    assert (cfg.model.latent_dim, cfg.model.num_layers, cfg.model.num_heads, cfg.model.ff_size) == (256, 8, 4, 1024)
    assert cfg.train.kl_weight == 1e-5 and cfg.train.lr == 1e-4 and cfg.model.num_frames == 60
    assert (cfg.curriculum.increment, cfg.curriculum.step, cfg.curriculum.cap) == (0.1, 500, 0.6)


def test_yaml_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  epochs: 7\nmodel:\n  latent_dim: 64\n")
    cfg = load_config(path, ["train.epochs=9", "train.use_gpu=false", "clip.pretrained=null"])
    assert cfg.train.epochs == 9 and cfg.model.latent_dim == 64 and cfg.train.use_gpu is False
    assert load_config(None, []).train.epochs == 5000
    again = tmp_path / "again.yaml"
    again.write_text(dump_config(cfg))
    assert load_config(again) == cfg


@pytest.mark.parametrize(
    "override,needle",
    [
        ("train.epoch=3", "train.epoch"),
        ("nosuch.key=1", "nosuch"),
        ("train.epochs=-1", "train.epochs"),
        ("train.epochs", "key=value"),
    ],
)
def test_bad_overrides_name_the_key(override, needle):
    with pytest.raises(ConfigError, match=needle):
        load_config(None, [override])


@pytest.mark.parametrize("key", ["data.num_frames", "model.num_frames"])
def test_the_frame_count_is_set_once_under_either_key(key):
    cfg = load_config(None, [f"{key}=30"])
    assert cfg.data.num_frames == cfg.model.num_frames == 30
    demo = load_config(str(ROOT / "configs" / "demo.yaml"), ["data.num_frames=25"])  # sets it once
    assert demo.model.num_frames == 25
    with pytest.raises(ConfigError, match=r"model.num_frames \(30\) must equal data.num_frames \(20\)"):
        load_config(None, ["model.num_frames=30", "data.num_frames=20"])


@pytest.mark.parametrize("path", sorted((ROOT / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_loads_and_round_trips(path, tmp_path):
    """A shipped config is a valid config (no key in the wrong section), and dumping it loses nothing."""
    cfg = load_config(str(path))
    (tmp_path / "again.yaml").write_text(dump_config(cfg))
    assert load_config(str(tmp_path / "again.yaml")) == cfg


def test_the_demo_protocol_is_whole_blocks():
    """configs/demo.yaml: words by recording blocks of 30, letters by blocks of 10, block 1 validation,
    block 2 test; the full-corpus config keeps the same validation and test blocks."""
    demo = load_config(str(ROOT / "configs" / "demo.yaml")).extract
    full = load_config(str(ROOT / "configs" / "asl_mpdata_full.yaml")).extract
    assert [p.group_size for p in demo.inputs] == [30, 10]
    for cfg in (demo, full):
        assert (cfg.split, cfg.val_groups, cfg.test_groups) == ("group", ["1"], ["2"])
