"""Typed configuration: one source of defaults, loaded from YAML with ``key=value`` overrides.

Every workflow takes ``--config FILE`` and overrides like ``train.epochs=20`` or
``model.latent_dim=128``. Unknown keys are errors that name the key, never silently ignored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from signavatar import storage


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class BodyConfig(Section):
    model_path: str | None = Field(None, description="dir or s3:// prefix with SMPLX_{NEUTRAL,MALE,FEMALE}.npz")
    gender: Literal["neutral", "male", "female"] = "neutral"


class SyntheticCorpusConfig(Section):
    """The embedded demo corpus (procedural, clearly synthetic)."""

    num_glosses: int = Field(6, ge=2)
    clips_per_gloss: int = Field(20, ge=2)
    num_signers: int = Field(4, ge=1)
    fps: float = 30.0
    test_fraction: float = Field(0.2, gt=0, lt=1)
    seed: int = 0


class DataConfig(Section):
    dataset: str | None = Field(None, description="parquet dataset dir (local or s3://); None = synthesize")
    synthetic: SyntheticCorpusConfig = SyntheticCorpusConfig()
    num_frames: int = Field(60, ge=2, description="clips are resampled to this length for the model")


class ClipEncoderConfig(Section):
    """open_clip text/image encoder. ``pretrained`` is a file, an s3:// URI, ``local-dir:DIR`` or
    ``hf-hub:...`` already in the local cache; None = random init (loud warning)."""

    model_name: str = "ViT-B-32"
    pretrained: str | None = None
    cache_dir: str | None = None
    batch_size: int = 64


class ModelConfig(Section):
    latent_dim: int = 256
    num_layers: int = 8
    num_heads: int = 4
    ff_size: int = 1024
    dropout: float = Field(0.1, ge=0, lt=1)
    num_frames: int = Field(60, ge=2)
    logvar_clamp: float = Field(10.0, gt=0, description="|logvar| bound, for stability")


class CurriculumConfig(Section):
    """Masking ratio g(ep) = min(increment * floor(ep / step), cap) over ``total_epochs``.

    With ``scale_to_run`` the paper schedule (step 500 of 5000 epochs) is stretched to the run's
    own epoch count; set it False to use ``step`` literally."""

    enabled: bool = True
    increment: float = Field(0.1, ge=0)
    step: int = Field(500, ge=1)
    cap: float = Field(0.6, ge=0, le=1)
    total_epochs: int = Field(5000, ge=1)
    scale_to_run: bool = True


class TrainConfig(Section):
    epochs: int = Field(5000, ge=1)
    batch_size: int = Field(32, ge=1)
    lr: float = Field(1e-4, gt=0)
    kl_weight: float = Field(1e-5, ge=0)
    grad_clip: float = Field(1.0, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    seed: int = 0
    num_workers: int = Field(1, ge=1, description="Ray Train workers (DDP)")
    use_gpu: bool | None = Field(None, description="None = use GPUs when the cluster has them")
    checkpoint_every: int = Field(10, ge=1)
    keep_checkpoints: int = Field(3, ge=1)
    storage_path: str = "runs/train"
    name: str = "signavatar"
    max_failures: int = Field(3, ge=0)
    log_every: int = Field(1, ge=1)


class EvalConfig(Section):
    """Paper metrics (Action2Motion / ACTOR protocol) and the ST-GCN recognizer behind them.

    The recognizer is trained on Raw train clips; FID/Diversity/Multimodality use its penultimate
    features. ``diversity_size`` is S_d, ``multimodality_classes`` C and ``multimodality_samples`` S_l;
    each sampled metric is repeated ``repeats`` times and reported as mean and std."""

    recognizer_epochs: int = Field(60, ge=1)
    recognizer_batch_size: int = Field(32, ge=1)
    recognizer_lr: float = Field(1e-3, gt=0)
    recognizer_weight_decay: float = Field(0.0, ge=0)
    recognizer_hidden: tuple[int, ...] = Field((64, 64, 128, 128, 256), min_length=1)
    recognizer_feature_dim: int = Field(256, ge=1)
    recognizer_dropout: float = Field(0.2, ge=0, lt=1)
    recognizer_graph: Literal["spatial", "uniform"] = "spatial"
    seed: int = 0
    diversity_size: int = Field(200, ge=1)
    multimodality_classes: int = Field(30, ge=1)
    multimodality_samples: int = Field(20, ge=1)
    repeats: int = Field(20, ge=1)
    gen_samples_per_class: int = Field(20, ge=1)
    feature_batch_size: int = Field(256, ge=1)


class SignAvatarConfig(Section):
    run_dir: str = "runs/demo"
    body: BodyConfig = BodyConfig()
    data: DataConfig = DataConfig()
    clip: ClipEncoderConfig = ClipEncoderConfig()
    model: ModelConfig = ModelConfig()
    curriculum: CurriculumConfig = CurriculumConfig()
    train: TrainConfig = TrainConfig()
    eval: EvalConfig = EvalConfig()

    @model_validator(mode="after")
    def _frames_agree(self) -> SignAvatarConfig:
        if self.model.num_frames != self.data.num_frames:
            raise ValueError(
                f"model.num_frames ({self.model.num_frames}) must equal data.num_frames ({self.data.num_frames})"
            )
        return self


C = TypeVar("C", bound=BaseModel)


class ConfigError(ValueError):
    """A config file or override is invalid; the message names the key."""


def parse_override(item: str) -> tuple[list[str], Any]:
    """``a.b.c=value`` -> (["a", "b", "c"], value parsed as YAML: numbers, bools, null, lists)."""
    if "=" not in item:
        raise ConfigError(f"override {item!r} is not of the form key=value")
    key, raw = item.split("=", 1)
    if not key.strip():
        raise ConfigError(f"override {item!r} has an empty key")
    return key.strip().split("."), yaml.safe_load(raw) if raw.strip() else ""


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    for item in overrides:
        keys, value = parse_override(item)
        node = data
        for k in keys[:-1]:
            node = node.setdefault(k, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r}: {k!r} is not a section")
        node[keys[-1]] = value
    return data


def load_config(path: str | Path | None = None, overrides: list[str] | None = None, cls: type[C] = SignAvatarConfig) -> C:
    """Defaults <- YAML file (local or s3://) <- overrides, validated into ``cls``."""
    data: dict = {}
    if path is not None:
        loaded = yaml.safe_load(storage.read_text(path)) or {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: top level must be a mapping")
        data = loaded
    data = apply_overrides(data, list(overrides or []))
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"invalid config{f' {path}' if path else ''}: {problems}") from exc


def dump_config(config: BaseModel) -> str:
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
