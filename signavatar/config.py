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
    noise_deg: float = Field(0.3, ge=0, description="per-frame estimator noise on every joint angle (deg)")
    dropout_probability: float = Field(
        0.2, ge=0, le=1, description="chance that a clip has a 1-3 frame low-confidence glitch inside the sign"
    )


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
    cpus_per_worker: float = Field(1, gt=0, description="CPUs per Ray Train worker (also its torch thread count)")
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
    checkpoint: str | None = Field(None, description="CVAE checkpoint to evaluate; None = <run_dir>/checkpoint")
    recognizer: str | None = Field(None, description="recognizer checkpoint; None = <run_dir>/recognizer.pt, "
                                   "trained on Raw train when missing")
    num_actors: int = Field(1, ge=1, description="Ray Data actors scoring groups (one GPU each when GPUs exist)")
    recognizer_cpus: float = Field(1, gt=0, description="CPUs (= torch threads) of the recognizer-training task")
    paper_dataset: Literal["subset", "full"] | None = Field(
        None, description="the dataset follows the paper's definition: print the paper's numbers beside ours")


class QCConfig(Section):
    """Quality control (paper section IV-A): trim idle leading / off-sign trailing frames, repair
    low-confidence frames. Speeds are hand-joint speeds (wrists and distal finger joints, mean
    over joints) in m/s from forward kinematics; heights are wrist heights in metres."""

    enabled: bool = True
    idle_energy_threshold: float = Field(
        0.3, gt=0, description="m/s; the sign is detected once hand speed stays above this (idle_min_active_frames)"
    )
    idle_min_active_frames: int = Field(3, ge=1, description="consecutive frames above the threshold")
    still_tolerance: float = Field(
        0.015, gt=0, description="m; hands within this of their idle / held position have not started / ended the sign"
    )
    energy_sigma: float = Field(1.0, ge=0, description="Gaussian smoothing (frames) of hand positions and heights")
    trailing_heuristic: bool = Field(True, description="without an annotation, cut where the hands drop to rest")
    trailing_rest_zone: float = Field(
        0.25, gt=0, description="m above the hanging-arm wrist height that counts as 'hands down'"
    )
    trailing_descent_speed: float = Field(
        0.15, ge=0, description="m/s; the drop is followed back while the wrist descends faster than this"
    )
    confidence_threshold: float = Field(0.5, ge=0, le=1)
    max_gap: int = Field(4, ge=0, description="longest run of low-confidence frames filled by interpolation")
    reject_long_gaps: bool = Field(True, description="reject clips with a longer interior low-confidence gap")
    smoothing: bool = False
    smoothing_sigma: float = Field(1.0, gt=0, description="Gaussian temporal smoothing (frames) in 6D space")
    min_frames: int = Field(15, ge=1, description="clips shorter than this after QC are rejected")


class ServeConfig(Section):
    """The Ray Serve application (``signavatar.serving.app:build_app``): the ``args`` of a serve
    config. Replica counts, resources and autoscaling are Serve's own ``deployments`` settings.

    ``clip`` replaces the CLIP settings stored in the checkpoint (e.g. weights from s3:// on a
    cluster); it must be the encoder the checkpoint's gloss embeddings were computed with.
    ``video_estimator`` is ``"module:factory"``: ``factory(ServeConfig)`` returns a callable
    ``(video_bytes, filename) -> MotionClip`` (see ``signavatar.serving.video``, whose
    ``extraction_estimator`` runs the extraction pipeline configured by ``extraction_config``);
    None = video uploads are answered 501."""

    checkpoint: str = Field("runs/demo/checkpoint", description="checkpoint dir or .pt file, local or s3://")
    clip: ClipEncoderConfig | None = None
    device: str | None = Field(None, description="torch device of the model replicas; None = cuda when present")
    video_estimator: str | None = None
    extraction_config: str | None = Field(
        None, description="SignAvatar config file (extract/qc/body) for signavatar.serving.video:extraction_estimator"
    )
    max_upload_bytes: int = Field(100 * 1024 * 1024, ge=1)
    max_text_chars: int = Field(300, ge=1)
    max_num_samples: int = Field(16, ge=1)
    max_num_frames: int = Field(600, ge=2)
    max_batch_size: int = Field(16, ge=1, description="@serve.batch: requests sharing one model call")
    batch_wait_timeout_s: float = Field(0.005, ge=0, description="how long a batch not yet full waits for more")


class KeypointFitConfig(Section):
    """Fitting SMPL-X rotations to Holistic keypoints (``signavatar.extraction.estimators.keypoints``).

    Loss weights are relative to the data term, whose residuals are measured in ``data_sigma``
    units; priors pull rotations (radians) toward rest, per joint group."""

    iterations: int = Field(300, ge=1)
    lr: float = Field(0.05, gt=0)
    data_sigma: float = Field(0.01, gt=0, description="m; residual scale of the data term")
    smooth_weight: float = Field(20.0, ge=0, description="consecutive-frame rotation change")
    limit_weight: float = Field(100.0, ge=0, description="elbow / finger joint-limit hinge")
    root_prior: float = Field(0.01, ge=0)
    torso_prior: float = Field(2.0, ge=0, description="spine, neck, collars, head")
    arm_prior: float = Field(0.01, ge=0)
    hand_prior: float = Field(0.05, ge=0)
    image_depth_weight: float = Field(0.3, ge=0, le=1, description="weight of MediaPipe's relative z")
    min_confidence: float = Field(0.1, ge=0, le=1, description="landmarks below this count as missing")
    seed: int = 0


class HolisticConfig(Section):
    """MediaPipe Holistic (``extract.estimator=holistic``), run in its own environment as a child
    process of each actor / replica (``signavatar.extraction.estimators.holistic``).

    ``python`` is that environment's interpreter (``make mediapipe-env`` builds it); a relative path
    is resolved against the repository root. On a cluster, build it on every node and give the
    absolute path."""

    python: str = Field(".venv-mediapipe/bin/python", description="interpreter of the mediapipe environment")
    face: bool = Field(False, description="also return the 468-point face mesh (written to .pose files)")
    smooth_landmarks: bool = True
    min_detection_confidence: float = Field(0.5, ge=0, le=1)
    min_tracking_confidence: float = Field(0.5, ge=0, le=1)
    frame_timeout_s: float = Field(60.0, gt=0, description="a frame taking longer kills the worker (error for that video)")
    startup_timeout_s: float = Field(120.0, gt=0, description="worker start (imports, model load)")


class ExtractConfig(Section):
    """Video corpus -> motion dataset on Ray Data (``workflows.extract``).

    The corpus is a WLASL-format index (``index``) whose files are ``<videos>/<video_id><video_ext>``;
    ``video_ext = ".pose"`` reads Holistic keypoint files (pose-format) instead of decoding video.
    ``landmark_detector`` (``"module:factory"``, ``factory(ExtractConfig)`` returning a
    frames -> ``HolisticLandmarks`` callable) is what the ``keypoints`` backend runs on video."""

    index: str | None = Field(None, description="WLASL-format index JSON (local or s3://)")
    videos: str | None = Field(None, description="folder or s3:// prefix holding the videos")
    video_ext: str = ".mp4"
    output: str = Field("runs/extract", description="dataset dir (local or s3://)")
    min_videos_per_gloss: int = Field(20, ge=1, description="paper: 20 (subset source), 18 (full)")
    top_k_glosses: int | None = Field(None, ge=1, description="keep the K glosses with most videos")
    split: Literal["per_gloss", "index"] = Field("per_gloss", description="seeded split per gloss, or the index's")
    test_fraction: float = Field(0.2, gt=0, lt=1)
    seed: int = 0
    target_fps: float | None = Field(None, gt=0, description="None = the video's own rate")
    frame_size: int = Field(256, ge=8, description="square estimator input side (pixels)")
    crop_to_bbox: bool = True
    bbox_margin: float = Field(0.2, ge=0, description="person box grown by this fraction per side")
    chunk_frames: int = Field(64, ge=1, description="frames decoded at once (bounds memory per video)")
    estimator: Literal["torchscript", "keypoints", "holistic"] = Field(
        "holistic",
        description="unset: torchscript when model_path is set, keypoints when landmark_detector is, else holistic",
    )
    model_path: str | None = Field(None, description="TorchScript regressor file (local or s3://)")
    estimator_batch_size: int = Field(32, ge=1)
    landmark_detector: str | None = None
    keypoints: KeypointFitConfig = KeypointFitConfig()
    holistic: HolisticConfig = HolisticConfig()
    annotations: str | None = Field(None, description="QC kept-frame ranges JSON, in source-video frames")
    num_actors: int = Field(1, ge=1, description="size of the estimator actor pool")
    batch_size: int = Field(4, ge=1, description="videos per actor call; each call writes one shard")
    num_gpus_per_actor: float = Field(1.0, ge=0, description="only used when the cluster has GPUs")
    max_error_fraction: float = Field(0.1, ge=0, le=1, description="more failed videos than this fails the job")
    retry_errors: bool = Field(False, description="rerun videos that failed in an earlier run")
    cache_dir: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _default_estimator(cls, data: Any) -> Any:
        """Without an explicit ``estimator``, the one whose settings are given, else ``holistic``
        (which needs no user-supplied weights)."""
        if isinstance(data, dict) and data.get("estimator") is None:
            backend = "torchscript" if data.get("model_path") else "keypoints" if data.get("landmark_detector") else "holistic"
            data = {**data, "estimator": backend}
        return data


class SignAvatarConfig(Section):
    run_dir: str = "runs/demo"
    body: BodyConfig = BodyConfig()
    data: DataConfig = DataConfig()
    clip: ClipEncoderConfig = ClipEncoderConfig()
    model: ModelConfig = ModelConfig()
    curriculum: CurriculumConfig = CurriculumConfig()
    train: TrainConfig = TrainConfig()
    eval: EvalConfig = EvalConfig()
    qc: QCConfig = QCConfig()
    extract: ExtractConfig = ExtractConfig()

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


def set_path(data: dict, keys: list[str], value: Any) -> dict:
    """``data[k0][k1]...[kn] = value``, creating sections on the way."""
    node = data
    for k in keys[:-1]:
        node = node.setdefault(k, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{'.'.join(keys)}: {k!r} is not a section")
    node[keys[-1]] = value
    return data


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    for item in overrides:
        set_path(data, *parse_override(item))
    return data


def check_key(path: str, cls: type[BaseModel] = SignAvatarConfig) -> None:
    """Raise ConfigError unless ``path`` (``section.key``) names a field of ``cls``."""
    model: Any = cls
    for i, part in enumerate(path.split(".")):
        fields = getattr(model, "model_fields", None)
        if not fields or part not in fields:
            raise ConfigError(f"unknown config key {path!r} ({'.'.join(path.split('.')[:i + 1])!r} does not exist)")
        model = fields[part].annotation


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
