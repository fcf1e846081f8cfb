"""Typed configuration: one source of defaults, loaded from YAML with ``key=value`` overrides.

Every workflow takes ``--config FILE`` and overrides like ``train.epochs=20`` or
``model.latent_dim=128``. Unknown keys are errors that name the key, never silently ignored.

Why one long module: it is the schema of every YAML file (one ``Section`` class per top-level key,
mostly field declarations with their descriptions), so a reader finds every key and its default in
one place; the logic is the small loader at the end.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, PositiveInt, ValidationError, field_validator, model_validator

from signavatar import storage


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class BodyConfig(Section):
    model_path: str | None = Field(None, description="dir or s3:// prefix with SMPLX_{NEUTRAL,MALE,FEMALE}.npz")
    gender: Literal["neutral", "male", "female"] = "neutral"
    preview: Literal["auto", "avatar", "skeleton", "smplx"] = Field(
        "auto", description="body drawn in previews and sheets: the free avatar mesh, the stick figure, or the "
                            "SMPL-X mesh (needs model_path); auto: smplx with model_path, else avatar")


class SyntheticCorpusConfig(Section):
    """The embedded demo corpus (procedural, clearly synthetic)."""

    num_glosses: int = Field(6, ge=2)
    clips_per_gloss: int = Field(20, ge=2)
    num_signers: int = Field(4, ge=1)
    fps: float = 30.0
    test_fraction: float = Field(0.2, gt=0, lt=1)
    val_fraction: float = Field(0.0, ge=0, lt=1, description="share of each gloss's clips held out for validation")
    seed: int = 0
    noise_deg: float = Field(0.3, ge=0, description="per-frame estimator noise on every joint angle (deg)")
    dropout_probability: float = Field(
        0.2, ge=0, le=1, description="chance that a clip has a 1-3 frame low-confidence glitch inside the sign"
    )
    long_lead_probability: float = Field(0.25, ge=0, le=1, description="chance of a long idle hold (1.5-3 s) first")
    next_sign_probability: float = Field(
        0.35, ge=0, le=1, description="chance that the signer goes on into another gloss's sign (hands stay up)")


class DataConfig(Section):
    dataset: str | None = Field(None, description="parquet dataset dir (local or s3://); None = synthesize")
    synthetic: SyntheticCorpusConfig = SyntheticCorpusConfig()
    num_frames: int = Field(60, ge=2, description="clips are resampled to this length for the model")


class ClipEncoderConfig(Section):
    """open_clip text/image encoder. ``pretrained`` is a file, an s3:// URI, ``local-dir:DIR`` or
    ``hf-hub:...`` already in the local cache, or ``random`` (a seeded random init, for closed
    vocabularies offline: unseen words and images mean nothing). It must be set: None is an error
    when an encoder is built, never a silent random fallback. The paper's CLIP is ViT-B/32 with
    OpenAI's weights, ``model_name: ViT-B-32-quickgelu`` (OpenAI's towers use QuickGELU)."""

    model_name: str = "ViT-B-32"
    pretrained: str | None = Field(None, description="weights file / s3:// / local-dir: / hf-hub:, or 'random'")
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
    token_source: Literal["word", "learned"] = Field(
        "word", description="mu/sigma encoder tokens: from the word embedding by a 3-layer MLP (paper), "
        "or two global learned tokens (ACTOR's class-free variant; checkpoints saved before this option)")
    sampling_temperature: float = Field(
        1.0, gt=0, description="generation draws z ~ N(0, T^2 I) (prior standard; gloss: z ~ N(mean_g, T^2 std_g^2)); "
        "T > 1 widens the prior where training left the posteriors narrower or off-centre (reconstruction is "
        "unaffected); checkpoints without it: 1")
    prior: Literal["standard", "gloss"] = Field(
        "standard", description="what generation samples z from: standard: N(0, I), the paper's; gloss: per gloss, "
        "a diagonal Gaussian fitted after training to the posteriors of that gloss's training clips (kept in the "
        "checkpoint; words outside the vocabulary and images fall back to N(0, I))")


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
    kl_reduction: Literal["sum", "mean"] = Field(
        "sum", description="sum: KL summed over batch and latent dims (ACTOR, the scale of kl_weight 1e-5); mean: "
        "per-sample KL averaged over the batch (a weight independent of the batch size)")
    kl_warmup_epochs: int = Field(0, ge=0, description="KL annealing: the weight rises linearly from 0 over these epochs")
    free_bits: float = Field(
        0.0, ge=0, description="nats per latent dim (batch mean) below which the KL is not penalised (Kingma et al. "
        "2016): keeps the posterior informative instead of collapsing onto the prior")
    hand_loss_weight: float = Field(
        1.0, gt=0, description="weight of the 30 finger joints' features in the reconstruction loss against the 14 "
        "body joints' (1: every feature alike, the paper's); the loss is normalised to the same mean weight, so the "
        "KL balance is unchanged")
    grad_clip: float = Field(1.0, gt=0)
    precision: Literal["fp32", "bf16"] = Field(
        "fp32", description="bf16: forward and loss under torch.autocast in bfloat16 (weights, optimizer and "
        "checkpoints stay float32); for GPUs with bf16 units")
    weight_decay: float = Field(
        0.0, ge=0, description="AdamW decoupled weight decay, applied to matrices (Linear and embedding weights) "
        "only, never to biases, LayerNorm parameters or the mu/sigma token vectors")
    betas: tuple[float, float] = Field((0.9, 0.999), description="AdamW (beta1, beta2)")
    eps: float = Field(1e-8, gt=0, description="AdamW epsilon")
    seed: int = 0
    num_workers: int = Field(1, ge=1, description="Ray Train workers (DDP)")
    cpus_per_worker: float = Field(1, gt=0, description="CPUs per Ray Train worker (also its torch thread count)")
    use_gpu: bool | None = Field(None, description="None = use GPUs when the cluster has them")
    gpus_per_worker: float = Field(1, gt=0, description="GPUs per Ray Train worker when it uses GPUs (a fraction "
                                   "shares one GPU between workers, e.g. two sweep trials per GPU)")
    checkpoint_every: int = Field(10, ge=1)
    keep_checkpoints: int = Field(3, ge=1)
    storage_path: str = "runs/train"
    name: str = "signavatar"
    max_failures: int = Field(3, ge=0)
    log_every: int = Field(1, ge=1)


class JudgeConfig(Section):
    """The raw-landmark judge (``signavatar.judge``): a small temporal-conv recognizer trained on
    real signers' MediaPipe landmarks (never on fits), scoring clips projected into the same space."""

    hidden: int = Field(128, ge=1, description="channels of the temporal convolutions")
    layers: int = Field(3, ge=1, description="residual temporal-conv blocks")
    kernel: int = Field(5, ge=1, description="frames per convolution (odd)")
    dropout: float = Field(0.2, ge=0, lt=1)
    epochs: int = Field(60, ge=1)
    batch_size: int = Field(32, ge=2)
    lr: float = Field(2e-3, gt=0)
    weight_decay: float = Field(1e-4, ge=0)
    arm_jitter: float = Field(0.2, ge=0, description="training clips' shoulder span, upper arms and forearms "
                              "rescaled by log-uniform factors within exp(+-this)")
    finger_jitter: float = Field(0.15, ge=0, description="training clips' finger bones rescaled alike")
    noise: float = Field(0.02, ge=0, description="std of Gaussian noise added to training features")
    frame_dropout: float = Field(0.1, ge=0, lt=1, description="share of training frames hidden per step")
    seed: int = 0


class EvalConfig(Section):
    """Paper metrics (Action2Motion / ACTOR protocol) and the ST-GCN recognizer behind them.

    The recognizer is trained on Raw train clips; FID/Diversity/Multimodality use its penultimate
    features. ``diversity_size`` is S_d, ``multimodality_classes`` C and ``multimodality_samples`` S_l.
    The protocol is repeated ``repeats`` times (R), each repetition with its own seed: one
    reconstruction and one generated clip (that clip's gloss) per real clip, one Diversity and one
    Multimodality draw; every metric is reported as mean and 95% confidence interval
    (``signavatar.evaluation.protocol``)."""

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
    repeats: int = Field(20, ge=1, description="R repetitions of the whole protocol (ACTOR and the paper: 20)")
    gen_samples_per_class: int | None = Field(
        None, ge=1, description="unused: Gen has one clip per real clip (kept so existing configs load)")
    temperature_curve: tuple[float, ...] = Field(
        (), description="sampling temperatures at which Gen of the test split is also drawn and scored in every "
        "repetition (quality.md's trade-off curve between closeness and variety)")
    feature_batch_size: int = Field(64, ge=1, description="clips per decoder / recognizer pass (on CPU the "
                                    "ST-GCN runs about twice as fast in batches of 32-64 as of 512: cache)")
    recognizer_precision: Literal["fp32", "bf16"] = Field(
        "fp32", description="the scoring recognizer's inference: bf16 runs it under autocast (2.7x faster on a CPU with "
        "AVX512-BF16, where its features move by <0.5% and FID by ~0.1%, far inside the CI); where the device has "
        "no native bf16 it stays fp32, with a warning. Training the recognizer is always fp32")
    checkpoint: str | None = Field(None, description="CVAE checkpoint to evaluate; None = <run_dir>/checkpoint")
    recognizer: str | None = Field(None, description="recognizer checkpoint; None = <run_dir>/recognizer.pt, "
                                   "trained on Raw train when missing")
    num_actors: int = Field(1, ge=1, description="actors encoding clips and scoring repetitions "
                            "(one GPU each when GPUs exist)")
    cpus_per_actor: float = Field(1, gt=0, description="CPUs (= torch threads) of each evaluation actor")
    recognizer_cpus: float = Field(1, gt=0, description="CPUs (= torch threads) of the recognizer-training task")
    paper_dataset: Literal["subset", "full"] | None = Field(
        None, description="the dataset follows the paper's definition: print the paper's numbers beside ours")
    judge: JudgeConfig = JudgeConfig()


class QCConfig(Section):
    """Quality control (paper section IV-A): trim idle leading / off-sign trailing frames, repair
    low-confidence frames. Speeds are hand-joint speeds (wrists and distal finger joints, mean
    over joints) in m/s from forward kinematics; heights are wrist heights in metres."""

    enabled: bool = True
    idle_energy_threshold: float = Field(
        0.3, gt=0, description="m/s; the sign is detected once hand speed stays above this (idle_min_active_frames), "
        "or above idle_energy_fraction of the clip's peak speed when that is lower")
    idle_energy_fraction: float = Field(
        0.5, gt=0, le=1, description="share of the clip's peak hand speed that counts as signing (slow signers)")
    motionless_speed: float = Field(
        0.05, ge=0, description="m/s; a clip whose peak hand speed stays below this has no sign (fit jitter)")
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
    next_sign: bool = Field(
        True, description="without an annotation, cut where the signer goes on into another sign (hands up)")
    hold_speed: float = Field(0.18, gt=0, description="m/s; hands slower than this (and up) are holding")
    hold_min_duration: float = Field(0.1, gt=0, description="s; the shortest hold that can end a sign")
    next_sign_distance: float = Field(
        0.08, gt=0, description="m; after the sign's last hold the hands end at least this far away: another sign")
    next_sign_min_duration: float = Field(
        0.5, ge=0, description="s; another sign after the last hold lasts at least this (shorter: the sign's own end)")
    next_sign_max_path_ratio: float = Field(
        2.5, ge=0, description="another sign after the last hold moves the hands at most this times as far as the "
        "sign before it (more: the clip's own sign, after a pause at its first position)")
    confidence_threshold: float = Field(0.5, ge=0, le=1)
    max_gap: int = Field(4, ge=0, description="longest run of low-confidence frames filled by interpolation")
    reject_long_gaps: bool = Field(True, description="reject clips with a longer interior low-confidence gap")
    smoothing: bool = False
    smoothing_sigma: float = Field(1.0, gt=0, description="Gaussian temporal smoothing (frames) in 6D space")
    min_duration: float = Field(
        0.4, ge=0, description="s; clips shorter than this after QC are rejected (isolated signs last about 0.3-1 s)")
    min_frames: int | None = Field(
        None, ge=1, description="clips with fewer frames than this after QC are rejected; None: min_duration at the "
        "clip's frame rate")


class SentenceConfig(Section):
    """Signed sentences (``signavatar.model.sentence``): each gloss's active span joined to the next
    by a transition on the rotation manifold (``signavatar.motion.transitions``). Per-gloss
    speed, hold and transition frames override these defaults."""

    transition_frames: int | None = Field(
        None, ge=0, description="frames between two signs; None = adaptive to the distance between the poses")
    transition_speed: float = Field(
        1.5, gt=0, description="m/s; adaptive transitions last long enough that no joint moves faster than this")
    min_transition_frames: int = Field(4, ge=0, description="shortest adaptive transition")
    max_transition_frames: int = Field(20, ge=0, description="longest adaptive transition")
    hold_frames: int = Field(0, ge=0, description="frames each sign's last pose is held before the transition")
    trim: bool = Field(True, description="cut each sign to its active span with quality control's segmentation")

    @model_validator(mode="after")
    def _range(self) -> SentenceConfig:
        if self.min_transition_frames > self.max_transition_frames:
            raise ValueError(f"min_transition_frames ({self.min_transition_frames}) exceeds "
                             f"max_transition_frames ({self.max_transition_frames})")
        return self


# What a user may hand over as one input, to the server (upload limits, below) or to a command
# (``signavatar render``, ``fit``, ``landmarks``): one set of defaults for both.
DEFAULT_MAX_CLIP_FRAMES = 3600  # 2 min at 30 fps
DEFAULT_MAX_CLIP_DECODED_BYTES = 16 * 1024 * 1024  # an .npz's arrays, uncompressed
DEFAULT_MAX_UPLOAD_BYTES = 100 * 1024 * 1024  # a file as it comes (a video, a .pose file)
DEFAULT_MAX_VIDEO_FRAMES = 1800
DEFAULT_MAX_VIDEO_PIXELS = 1920 * 1080


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
    max_upload_bytes: int = Field(DEFAULT_MAX_UPLOAD_BYTES, ge=1, description="a multipart request body (uploads)")
    max_text_chars: int = Field(300, ge=1)
    max_num_samples: int = Field(16, ge=1)
    max_num_frames: int = Field(1200, ge=2, description="frames of a generated clip or signed sentence")
    # Decoded-size limits, checked before decoding (signavatar.serving.limits): over them is a 413
    # naming the limit. Timeouts and per-route concurrency bound what slow or many clients hold.
    max_request_json_bytes: int = Field(64 * 1024, ge=1, description="a JSON request body (POST /generate): "
                                        "small, so parsing it never holds up the replica")
    max_json_bytes: int = Field(16 * 1024 * 1024, ge=1, description="a JSON motion clip upload")
    max_clip_frames: int = Field(DEFAULT_MAX_CLIP_FRAMES, ge=1, description="frames of an uploaded motion clip")
    max_clip_decoded_bytes: int = Field(DEFAULT_MAX_CLIP_DECODED_BYTES, ge=1,
                                        description="an .npz upload's arrays, uncompressed")
    max_image_pixels: int = Field(4096 * 4096, ge=1, description="width x height of an uploaded image")
    max_video_pixels: int = Field(DEFAULT_MAX_VIDEO_PIXELS, ge=1, description="width x height of an uploaded video")
    max_video_frames: int = Field(DEFAULT_MAX_VIDEO_FRAMES, ge=1)
    max_video_seconds: float = Field(60.0, gt=0)
    max_concurrent_decodes: int = Field(
        2, ge=1, description="decoded uploads an ingress replica holds at once (until the model answers)")
    body_timeout_s: float = Field(30.0, gt=0, description="the whole request body must arrive within this (else 408)")
    body_idle_timeout_s: float = Field(5.0, gt=0, description="the longest pause between two pieces of a request "
                                       "body (else 408): a client that stops sending is cut")
    route_concurrency: dict[str, PositiveInt] = Field(
        {"generate": 48, "reconstruct": 8},
        description="requests past their body per route and ingress replica; more are answered 503 (retry-after)")
    # Admission before work (signavatar.serving.admission): per ingress replica, answered 503 with
    # retry-after when spent; a single request over max_request_cost is a 413.
    max_inflight_bytes: int = Field(512 * 1024 * 1024, ge=1, description="request bodies an ingress replica "
                                    "receives or holds at once, by their declared size: Serve's transport from "
                                    "the proxy holds a body arriving in the replica's memory, then it spools to disk")
    max_request_cost: int = Field(16 * 1200, ge=1, description="model work of one request in frame-samples: "
                                  "num_samples x num_frames (x distinct glosses of a sentence)")
    max_queued_cost: int = Field(4 * 16 * 1200, ge=1, description="model work (frame-samples) an ingress replica "
                                 "has admitted and not yet answered")
    max_batch_size: int = Field(16, ge=1, description="requests sharing one model call")
    batch_wait_timeout_s: float = Field(0.0, ge=0, description="how long the model, idle, waits for a batch to fill "
                                        "(busy, requests queue and share the next call anyway)")
    model_in_ingress: bool = Field(
        False, description="the model runs inside the ingress replica (one deployment, no handle hop; then give the "
                           "ingress the model's resources): for one machine, where a second deployment buys nothing")


class KeypointFitConfig(Section):
    """Fitting SMPL-X rotations to Holistic keypoints (``signavatar.extraction.estimators.keypoints``).

    Loss weights are relative to the data term, whose residuals are measured in ``data_sigma``
    units; priors pull rotations (radians) toward rest, per joint group. Image x, y are the primary
    evidence; MediaPipe's depth (image z, or world z where a file has world landmarks) is weak
    evidence (``image_depth_weight``) and, with ``depth: bone_length``, only decides whether a bone
    points toward or away from the camera while its length in depth follows from the bone length
    (``signavatar.extraction.keypoint_targets``, ``landmark_depth``). ``max_lean_deg`` and
    ``max_image_error`` decide the report's ``plausible`` (quality control rejects implausible fits)."""

    iterations: int = Field(60, ge=1, description="most optimiser steps (fewer once converged)")
    tolerance: float = Field(
        0.01, ge=0, description="stop when the loss fell by less than this fraction over check_every steps; 0 = never"
    )
    check_every: int = Field(10, ge=1, description="steps between convergence checks")
    lr: float = Field(0.05, gt=0)
    warmup: int = Field(10, ge=0, description="steps of linear learning-rate warm-up")
    data_sigma: float = Field(0.01, gt=0, description="m; residual scale of the data term")
    smooth_weight: float = Field(20.0, ge=0, description="consecutive-frame rotation change")
    limit_weight: float = Field(100.0, ge=0, description="elbow / finger joint-limit hinge")
    root_prior: float = Field(0.01, ge=0)
    upright_prior: float = Field(20.0, ge=0, description="root tilt away from y-up (yaw is free)")
    torso_prior: float = Field(2.0, ge=0, description="spine, neck, collars, head")
    arm_prior: float = Field(0.01, ge=0)
    hand_prior: float = Field(0.05, ge=0)
    image_depth_weight: float = Field(0.3, ge=0, le=1, description="weight of MediaPipe's depth (image or world z)")
    depth: Literal["bone_length", "raw"] = Field(
        "bone_length", description="bone_length: depth magnitudes from bone lengths, MediaPipe z for the sign only"
    )
    proportions: Literal["rest", "sequence"] = Field(
        "sequence", description="sequence: arm and finger bone lengths measured per sequence (the fit's skeleton; "
        "signavatar.extraction.proportions); rest: the rest skeleton's")
    detect_rotation: bool = Field(True, description="find sideways / upside-down input from the body and undo it")
    min_confidence: float = Field(0.1, ge=0, le=1, description="landmarks below this count as missing")
    frame_margin: float = Field(
        0.02, ge=0, description="landmarks further outside the frame (fraction of its size) are not seen"
    )
    offscreen_weight: float = Field(0.2, ge=0, le=1, description="fit weight of landmarks outside the frame")
    max_lean_deg: float = Field(30.0, gt=0, description="a fit whose torso leans further is implausible")
    max_image_error: float = Field(0.05, gt=0, description="m; a fit with a larger image error is implausible")
    batch_frames: int = Field(8192, ge=1, description="frames per joint optimisation in fit_landmarks_batch")
    seed: int = Field(0, description="unused: the fit is deterministic (kept so existing configs load)")


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


class CorpusPart(Section):
    """One folder of a landmark corpus stored in several (``extract.input`` as a list), with the
    settings that differ for it."""

    path: str = Field(description="folder or s3:// prefix")
    group_size: int | None = Field(None, ge=1, description="split=group on mpdata: this folder's block size; "
                                                           "None = extract.group_size")


class ExtractConfig(Section):
    """Corpus -> motion dataset on Ray Data (``workflows.extract``).

    ``source=video`` (the default): a WLASL-format index (``index``) whose files are
    ``<videos>/<video_id><video_ext>``; ``video_ext = ".pose"`` reads Holistic keypoint files
    (pose-format) instead of decoding video. ``landmark_detector`` (``"module:factory"``,
    ``factory(ExtractConfig)`` returning a frames -> ``HolisticLandmarks`` callable) is what the
    ``keypoints`` backend runs on video.

    ``source=mpdata|gislr|pose`` (or ``auto``: detected from the folder): a labelled landmark corpus
    under ``input``, fitted by the keypoint fitter (``keypoints``); layouts in
    ``signavatar.extraction.corpora``. ``image_width``/``image_height``/``input_fps`` describe
    corpora that do not record them (mpdata, gislr).

    Splits: ``per_gloss`` (seeded, ``test_fraction`` of each gloss to test and ``val_fraction`` of
    it to validation), ``index`` (the index's own), ``group`` (whole groups to one side: signer /
    participant, or for mpdata blocks of ``group_size`` consecutive sequence numbers;
    ``test_groups`` / ``val_groups`` name the test and validation groups, else seeded
    ``test_fraction`` / ``val_fraction`` of them) and ``test`` (everything to test, to score a
    trained model on a new corpus). Validation is what sweeps and model selection read; the test
    part is reported once, at the end (``signavatar.evaluation``)."""

    index: str | None = Field(None, description="WLASL-format index JSON (local or s3://)")
    videos: str | None = Field(None, description="folder or s3:// prefix holding the videos")
    video_ext: str = ".mp4"
    output: str = Field("runs/extract", description="dataset dir (local or s3://)")
    min_videos_per_gloss: int = Field(20, ge=1, description="paper: 20 (subset source), 18 (full)")
    top_k_glosses: int | None = Field(None, ge=1, description="keep the K glosses with most videos")
    source: Literal["video", "mpdata", "gislr", "pose", "auto"] = Field(
        "video", description="video (index + videos) or a landmark corpus layout under `input` (auto = detect it)"
    )
    input: str | list[str | CorpusPart] | None = Field(
        None, description="landmark corpus folder or s3:// prefix (source != video); a list = one corpus stored in "
                          "several folders (same layout; clip ids must not repeat), each a path or {path, group_size}")
    labels: str | None = Field(None, description="pose: CSV path,gloss[,signer][,split]; None = gloss from the folder")
    corpus_name: str | None = Field(None, description="name in the manifest; None = last part of input / index")
    image_width: int = Field(640, ge=1, description="pixels; frame width of normalised landmarks (mpdata, gislr)")
    image_height: int = Field(480, ge=1, description="pixels; frame height of normalised landmarks (mpdata, gislr)")
    input_fps: float | None = Field(
        None, gt=0, description="frame rate of mpdata / gislr sequences; None = 15 (mpdata), 30 (gislr)"
    )
    skip_frames: int = Field(0, ge=0, description="leading frames dropped from every landmark sequence")
    max_sequence_frames: int = Field(5000, ge=1, description="longer landmark sequences are error rows (too_large)")
    max_file_bytes: int = Field(256 * 1024 * 1024, ge=1, description="larger input files are error rows (too_large)")
    keep_unqc: bool = Field(True, description="also write every fitted clip without QC to <output>/unqc")
    split: Literal["per_gloss", "index", "group", "test"] = Field(
        "per_gloss", description="seeded per gloss, the index's, whole groups, or all to test"
    )
    group_size: int | None = Field(None, ge=1, description="split=group on mpdata: consecutive sequence numbers per group")
    test_groups: list[str] | None = Field(None, description="split=group: the test groups; None = seeded test_fraction")
    val_groups: list[str] | None = Field(None, description="split=group: the validation groups; None = seeded "
                                                           "val_fraction of the groups left after test")
    test_fraction: float = Field(0.2, gt=0, lt=1)
    val_fraction: float = Field(0.0, ge=0, lt=1, description="per_gloss / group: share of clips (groups) held out for "
                                                             "validation besides test; 0 = no validation part")
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
    batch_size: int | None = Field(
        None, ge=1, description="items per actor call (one shard each); None = 4 videos or 64 landmark sequences"
    )
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

    @field_validator("test_groups", "val_groups", mode="before")
    @classmethod
    def _group_names(cls, value: Any) -> Any:
        """Group names are strings; ``test_groups=[1]`` on the command line means group ``"1"``."""
        return [str(v) for v in value] if isinstance(value, (list, tuple)) else value

    @model_validator(mode="after")
    def _disjoint_parts(self) -> ExtractConfig:
        both = sorted(set(self.test_groups or ()) & set(self.val_groups or ()))
        if both:
            raise ValueError(f"groups {both} are in both test_groups and val_groups")
        if self.test_fraction + self.val_fraction >= 1:
            raise ValueError(f"test_fraction {self.test_fraction} + val_fraction {self.val_fraction} leave nothing to train")
        return self

    @property
    def inputs(self) -> list[CorpusPart]:
        """``input`` as a list of parts (empty when unset), each with its own group size."""
        given = [] if self.input is None else [self.input] if isinstance(self.input, str) else list(self.input)
        parts = [CorpusPart(path=p) if isinstance(p, str) else p for p in given]
        return [p.model_copy(update={"group_size": p.group_size or self.group_size}) for p in parts]

    @property
    def landmark_corpus(self) -> bool:
        return self.source != "video"

    @property
    def items_per_batch(self) -> int:
        """Videos or landmark sequences per actor call (the fitter batches whole calls)."""
        return self.batch_size or (64 if self.landmark_corpus else 4)


# set per variant by the ablation run: a variant's override of these (or of a section holding them) is an error
ABLATION_RUN_KEYS = ("ablation", "run_dir", "data.dataset", "train.storage_path", "train.name", "eval.recognizer",
                     "eval.checkpoint")
# what the dataset is built from: the variants share the run's dataset (and its un-QC'd copy), so a
# variant may switch quality control off but not change these
ABLATION_DATASET_KEYS = ("data.synthetic", "extract", "qc")
VARIANT_NAME = re.compile(r"[A-Za-z0-9 _-]+")


def _overlapping(key: str, paths: Sequence[str]) -> list[str]:
    """The dotted ``paths`` that ``key`` sets, is inside of, or holds (a section override)."""
    return [p for p in paths if key == p or key.startswith(f"{p}.") or p.startswith(f"{key}.")]


class AblationConfig(Section):
    """Table II's variants (``workflows.ablation``): variant name -> ``key=value`` overrides of
    this config (the command line's syntax), applied in the order given; the table lists the
    variants in this order. A variant's directory under ``<run_dir>/ablation`` is its name with
    spaces as '-'. A variant that turns ``qc.enabled`` off (while the run has it on) is trained,
    has its recognizer trained, and is scored on the un-QC'd copy of the dataset; the others share
    the dataset and one recognizer. The run sets each variant's ``run_dir``, ``data.dataset``,
    ``train.storage_path``, ``train.name``, ``eval.recognizer`` and ``eval.checkpoint``: overrides
    may not; nor may they change what the dataset is built from (``data.synthetic``, ``extract``,
    ``qc`` but ``qc.enabled``)."""

    variants: dict[str, list[str]] = Field(
        {"full": [], "without curriculum": ["curriculum.enabled=false"],
         "without quality control": ["qc.enabled=false"]},
        description="variant name (letters, digits, spaces, '-', '_') -> key=value overrides; the paper's three")

    @staticmethod
    def variant_dir(name: str) -> str:
        """The variant's directory name under ``<run_dir>/ablation``."""
        return name.replace(" ", "-")

    @field_validator("variants")
    @classmethod
    def _valid_variants(cls, variants: dict[str, list[str]]) -> dict[str, list[str]]:
        if not variants:
            raise ValueError("at least one variant is needed")
        dirs: dict[str, str] = {}
        for name, overrides in variants.items():
            if not VARIANT_NAME.fullmatch(name):
                raise ValueError(f"variant name {name!r} may hold only letters, digits, spaces, '-' and '_'")
            other = dirs.setdefault(cls.variant_dir(name), name)
            if other != name:
                raise ValueError(f"variants {other!r} and {name!r} share the directory {cls.variant_dir(name)!r}")
            for item in overrides:  # the loader's own parser and key check (below; the default is not validated)
                try:
                    key = ".".join(parse_override(item)[0])
                    check_key(key)
                except ConfigError as exc:
                    raise ValueError(f"variant {name!r}: {exc}") from None
                touched = _overlapping(key, ABLATION_RUN_KEYS)
                if touched:
                    raise ValueError(f"variant {name!r}: {key!r} overlaps {', '.join(touched)}, which the ablation "
                                     "run sets per variant")
                shaped = _overlapping(key, ABLATION_DATASET_KEYS) if key != "qc.enabled" else []
                if shaped:
                    raise ValueError(f"variant {name!r}: {key!r} would change the dataset ({shaped[0]}), which every "
                                     "variant shares (only qc.enabled may differ); set it for the whole run")
        return variants


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
    sentence: SentenceConfig = SentenceConfig()
    ablation: AblationConfig = AblationConfig()

    @model_validator(mode="before")
    @classmethod
    def _one_frame_count(cls, data: Any) -> Any:
        """``data.num_frames`` (clips are resampled to it) is the model's sequence length: a config
        sets it once, under either key, and the other follows; both given must agree."""
        if not isinstance(data, dict):
            return data
        given = {}
        for section in ("data", "model"):
            value = data.get(section)
            if isinstance(value, dict) and "num_frames" in value:
                given[section] = value["num_frames"]
            elif isinstance(value, BaseModel) and "num_frames" in value.model_fields_set:
                given[section] = value.num_frames
        if len(given) != 1:
            return data
        (frames,) = given.values()
        missing = "model" if "data" in given else "data"
        value = data.get(missing)
        if isinstance(value, BaseModel):
            value = value.model_copy(update={"num_frames": frames})
        else:
            value = {**(value or {}), "num_frames": frames}
        return {**data, missing: value}

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


# YAML read by configs: a file larger than this, or a document whose aliases expand to more nodes
# than this (an "alias bomb": ~1 KB can expand to billions), is rejected before anything uses it.
MAX_YAML_BYTES = 1024 * 1024
MAX_YAML_NODES = 100_000


def _yaml_problem(exc: yaml.YAMLError, name: str) -> str:
    """``name:line:column: problem (context)`` on one line."""
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        context = f" ({exc.context} at line {exc.context_mark.line + 1})" if exc.context and exc.context_mark else ""
        return f"{name}:{mark.line + 1}:{mark.column + 1}: {exc.problem}{context}"
    return f"{name}: {' '.join(str(exc).split())}"


def _expanded_size(root: yaml.Node, name: str) -> int:
    """Nodes in the document once every alias is expanded (shared nodes counted per use), without
    expanding it; a node that contains itself (a recursive alias) is an error."""
    sizes: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    open_nodes: set[int] = set()
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if isinstance(node, yaml.ScalarNode):
            sizes[key] = 1
            continue
        children = [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) else node.value
        if children_done:
            open_nodes.discard(key)
            sizes[key] = 1 + sum(sizes[id(child)] for child in children)
            if sizes[key] > MAX_YAML_NODES:
                mark = node.start_mark
                raise ConfigError(f"{name}:{mark.line + 1}:{mark.column + 1}: aliases expand this document to more "
                                  f"than {MAX_YAML_NODES} nodes (an alias bomb?)")
            continue
        if key in sizes:
            continue
        if key in open_nodes:
            mark = node.start_mark
            raise ConfigError(f"{name}:{mark.line + 1}:{mark.column + 1}: recursive alias (a node contains itself)")
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in children if id(child) not in sizes)
    return sizes[id(root)]


def parse_yaml(text: str, name: str) -> Any:
    """YAML ``text`` with the safe loader; syntax errors name ``name``, the line and the column,
    and a document that expands past ``MAX_YAML_NODES`` (alias bomb) or into itself is refused
    before it is built. Every failure is a one-line ``ConfigError``."""
    loader = yaml.SafeLoader(text)
    loader.name = name  # marks in error messages name this instead of "<unicode string>"
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_size(node, name)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise ConfigError(_yaml_problem(exc, name)) from None
    except RecursionError:
        raise ConfigError(f"{name}: nested too deeply") from None
    finally:
        loader.dispose()


def read_yaml(path: str | Path) -> Any:
    """A YAML file (local or s3://) through :func:`parse_yaml`; a missing, oversized or binary file
    is a one-line ``ConfigError`` naming it."""
    try:
        data = storage.read_bytes(path)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} not found") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {path} is a directory") from None
    if len(data) > MAX_YAML_BYTES:
        raise ConfigError(f"config file {path} has {len(data)} bytes; the limit is {MAX_YAML_BYTES}")
    try:
        text = data.decode("utf-8")
        binary_at = data.find(b"\0")
    except UnicodeDecodeError as exc:
        binary_at = exc.start
    if binary_at >= 0:
        raise ConfigError(f"config file {path} is not YAML text (binary data at byte {binary_at})")
    return parse_yaml(text, str(path))


def parse_override(item: str) -> tuple[list[str], Any]:
    """``a.b.c=value`` -> (["a", "b", "c"], value parsed as YAML: numbers, bools, null, lists)."""
    if "=" not in item:
        raise ConfigError(f"override {item!r} is not of the form key=value")
    key, raw = item.split("=", 1)
    if not key.strip():
        raise ConfigError(f"override {item!r} has an empty key")
    return key.strip().split("."), parse_yaml(raw, f"override {key.strip()}") if raw.strip() else ""


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
        loaded = read_yaml(path) or {}
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


def split_factory_spec(spec: str, key: str) -> tuple[str, str]:
    """``"package.module:factory"`` (the value of config key ``key``) -> (module, attribute); a
    malformed spec is a ValueError naming ``key``."""
    module, sep, attribute = spec.partition(":")
    if not sep or not module or not attribute.isidentifier():
        raise ValueError(f"{key} {spec!r} must look like 'package.module:factory'")
    return module, attribute


def load_factory(spec: str, key: str) -> Any:
    """The attribute named by ``spec`` (see ``split_factory_spec``), its module imported now."""
    module, attribute = split_factory_spec(spec, key)
    return getattr(importlib.import_module(module), attribute)


def dump_config(config: BaseModel) -> str:
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
