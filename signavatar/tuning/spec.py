"""A sweep specification (one ``tune_configs/*.yaml``), validated before any trial starts.

Search-space keys are dotted training-config keys (``train.kl_weight``); each value is one
distribution: ``{loguniform: [lo, hi]}``, ``{uniform: [lo, hi]}``, ``{randint: [lo, hi]}``,
``{choice: [...]}`` or ``{grid: [...]}``. An unknown key, or a value the training config would
reject, is an error naming the key.
"""

from __future__ import annotations

import copy
import os
from typing import Any, Literal

from pydantic import Field, PrivateAttr, field_validator, model_validator

from signavatar import storage
from signavatar.config import (
    ConfigError,
    Section,
    SignAvatarConfig,
    apply_overrides,
    check_key,
    load_config,
    read_yaml,
    set_path,
)

DISTRIBUTIONS = ("loguniform", "uniform", "randint", "choice", "grid")


class SchedulerSpec(Section):
    type: Literal["asha", "fifo"] = "asha"
    grace_period: int = Field(2, ge=1, description="epochs every trial runs before ASHA may stop it")
    reduction_factor: float = Field(2.0, gt=1)


class TuneSpec(Section):
    name: str
    base_config: str | None = Field(None, description="training YAML the trials start from, relative to this file")
    overrides: list[str] = []
    search_space: dict[str, dict[str, list[Any]]]
    metric: Literal["val_rec", "gen_acc", "gen_fid", "quality", "gen_dtw"] = Field(
        "val_rec", description="val_rec: validation reconstruction MSE; gen_acc / gen_fid: recognizer accuracy / "
        "FID of generated clips against the validation clips; quality: the generation-quality objective "
        "(evaluation.quality: Gen FID / FID between the real blocks + |1 - Gen/Raw multimodality| + 1 - the "
        "raw-landmark judge's accuracy of Gen where the dataset keeps landmarks) of the "
        "protocol's draws on the validation split, measured at every checkpoint; gen_dtw: the generated clips' DTW "
        "joint error to the nearest real validation clip of their gloss (metres, mean of body and hands; measured "
        "with quality). A recognizer is trained on train first. The test split is never read.")
    quality_repeats: int = Field(1, ge=1, description="protocol repetitions averaged into each quality report")
    mode: Literal["min", "max"] = "min"
    gen_samples_per_gloss: int = Field(10, ge=1, description="generated clips per gloss for gen_acc / gen_fid")
    points_to_evaluate: list[dict[str, Any]] = Field(
        [], description="trials run first with these values (e.g. the paper's settings, as the baseline every other "
        "trial is measured against in the same sweep); keys are search-space keys")
    scheduler: SchedulerSpec = SchedulerSpec()
    num_samples: int = Field(4, ge=1)
    resources_per_trial: dict[str, float] = Field(
        {"cpu": 1}, description="resources of each Ray Train worker of a trial (`cpu`, `gpu`: a fraction shares a "
        "GPU between trials); a trial has the base config's train.num_workers workers (1 unless it says more)")
    max_concurrent_trials: int | None = None
    val_fraction: float = Field(0.2, gt=0, lt=1, description="held out of train when the dataset has no val split")
    storage_path: str = Field("runs/tune", validate_default=True, description="where Tune keeps the experiment; "
                              "relative paths are this working directory's (trials run in others)")
    seed: int = 0

    @field_validator("resources_per_trial")
    @classmethod
    def _lower_resource_names(cls, resources: dict[str, float]) -> dict[str, float]:
        return {name.lower(): amount for name, amount in resources.items()}

    @field_validator("storage_path")
    @classmethod
    def _absolute_storage(cls, path: str) -> str:
        return storage.absolute(path)

    @property
    def needs_recognizer(self) -> bool:
        return self.metric in ("gen_acc", "gen_fid", "quality", "gen_dtw")

    @model_validator(mode="after")
    def _check_space(self) -> TuneSpec:
        expected_mode = {"val_rec": "min", "gen_acc": "max", "gen_fid": "min", "quality": "min",
                         "gen_dtw": "min"}[self.metric]
        if self.mode != expected_mode:
            raise ValueError(f"metric {self.metric} is optimised with mode {expected_mode!r}, not {self.mode!r}")
        if not self.search_space:
            raise ValueError("search_space is empty")
        for key, dist in self.search_space.items():
            check_key(key)
            if len(dist) != 1 or next(iter(dist)) not in DISTRIBUTIONS:
                raise ValueError(f"search_space.{key}: expected one of {DISTRIBUTIONS}, got {list(dist)}")
            kind, values = next(iter(dist.items()))
            if kind in ("loguniform", "uniform", "randint") and len(values) != 2:
                raise ValueError(f"search_space.{key}: {kind} needs [low, high]")
            if not values:
                raise ValueError(f"search_space.{key}: {kind} needs values")
        resources = self.resources_per_trial
        unknown = sorted(set(resources) - {"cpu", "gpu"})
        if unknown:
            raise ValueError(f"resources_per_trial: only cpu and gpu (per Train worker) are known, not {unknown}")
        if any(v < 0 for v in resources.values()) or resources.get("cpu", 1) <= 0:
            raise ValueError(f"resources_per_trial: cpu must be > 0 and gpu >= 0, got {self.resources_per_trial}")
        for point in self.points_to_evaluate:
            if set(point) != set(self.search_space):
                raise ValueError(f"points_to_evaluate: each point sets exactly the search-space keys "
                                 f"{sorted(self.search_space)}; got {sorted(point)}")
        return self

    _base: SignAvatarConfig | None = PrivateAttr(None)

    def base(self) -> SignAvatarConfig:
        """The base training config, loaded once (trials run in other working directories, so they
        receive it resolved rather than re-reading a relative path)."""
        if self._base is None:
            self._base = load_config(self.base_config, self.overrides)
        return self._base

    def trial_config(self, params: dict[str, Any]) -> SignAvatarConfig:
        """The training config of one trial: base + the trial's sampled values."""
        data = copy.deepcopy(self.base().model_dump(mode="json"))
        for key, value in params.items():
            set_path(data, key.split("."), value)
        return SignAvatarConfig.model_validate(data)

    def check_values(self) -> None:
        """Every listed value / bound must make a valid training config (fail before any trial)."""
        for key, dist in self.search_space.items():
            for value in next(iter(dist.values())):
                try:
                    self.trial_config({key: value})
                except Exception as exc:
                    raise ConfigError(f"search_space.{key}: value {value!r} is invalid: {exc}") from exc
        for point in self.points_to_evaluate:
            try:
                self.trial_config(point)
            except Exception as exc:
                raise ConfigError(f"points_to_evaluate: {point} is invalid: {exc}") from exc


def load_spec(path: str, overrides: list[str] | None = None) -> TuneSpec:
    """Load a sweep YAML; ``key=value`` overrides address the spec (``num_samples=8``) or, with a
    ``base.`` prefix, the training config (``base.train.epochs=20``)."""
    data = read_yaml(path) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping")
    for item in overrides or []:
        if item.startswith("base."):
            data.setdefault("overrides", []).append(item.removeprefix("base."))
        else:
            apply_overrides(data, [item])
    base = data.get("base_config")
    if base and not storage.is_remote(base) and not os.path.isabs(base) and not storage.is_remote(path):
        data["base_config"] = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(path)), base))
    try:
        spec = TuneSpec.model_validate(data)
    except ValueError as exc:
        raise ConfigError(f"invalid sweep {path}: {exc}") from exc
    spec.base()
    spec.check_values()
    return spec
