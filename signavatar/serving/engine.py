"""What a model replica does, with no Ray in it (the Serve deployment and the in-process
benchmark baseline both call these).

A batch of generation jobs shares its conditioning step: one ``text_embeddings`` call for all
texts (known glosses come from the checkpoint's cache, the rest go through CLIP in one forward)
and one CLIP image forward for all images; then one CVAE decoder pass per distinct clip length.
Each sample's z comes from its own request's seed, so a result never depends on which other
requests shared its batch. A sentence is one job of its own (``generate_sentence``): all its
glosses share one decoder pass already, and its errors stay its own.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch

from signavatar.config import ServeConfig
from signavatar.devices import torch_device
from signavatar.model.clip_encoder import ClipConditioner
from signavatar.model.pipeline import SignAvatar
from signavatar.model.sentence import SentenceGloss, generate_sentences
from signavatar.motion.clip import MotionClip

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GenerationJob:
    """One request: exactly one of ``text`` / ``image`` (uint8 RGB [H, W, 3])."""

    num_samples: int
    seed: int
    num_frames: int | None = None
    temperature: float | None = None  # None: the checkpoint's
    text: str | None = None
    image: np.ndarray | None = None

    def __post_init__(self) -> None:
        if (self.text is None) == (self.image is None):
            raise ValueError("a generation job needs exactly one of text / image")


@dataclass(frozen=True)
class SentenceJob:
    """One sentence request; longer than ``max_frames`` raises ``SentenceTooLongError``."""

    glosses: tuple[SentenceGloss, ...]
    num_samples: int
    seed: int
    max_frames: int
    num_frames: int | None = None
    allow_unknown: bool = False
    temperature: float | None = None  # None: the checkpoint's


def load_avatar(cfg: ServeConfig) -> SignAvatar:
    """The checkpoint on ``cfg.device``; with ``cfg.clip`` set, that CLIP is loaded now and must
    produce embeddings of the checkpoint's dimension (checked here, not on the first request)."""
    device = torch_device(cfg.device)
    conditioner = ClipConditioner(cfg.clip, device=device) if cfg.clip else None
    avatar = SignAvatar.from_checkpoint(cfg.checkpoint, device=device, conditioner=conditioner)
    if conditioner is not None and conditioner.embed_dim != avatar.gloss_embeddings.shape[1]:
        raise ValueError(f"serve clip {cfg.clip.model_name!r} ({cfg.clip.pretrained}) gives {conditioner.embed_dim}-d "
                         f"embeddings; checkpoint {cfg.checkpoint} was trained on {avatar.gloss_embeddings.shape[1]}-d")
    log.info("loaded %s on %s: %d glosses", cfg.checkpoint, device, len(avatar.glosses))
    return avatar


def _marked(avatar: SignAvatar, clips: list[MotionClip], untrained: bool) -> list[MotionClip]:
    """``clips`` with ``source["untrained_encoder"]``: whether their conditioning came from an
    untrained (random) CLIP, which makes them meaningless (``SignAvatar.untrained_conditioning``)."""
    return [clip.replace(source={**clip.source, "untrained_encoder": untrained}) for clip in clips]


def generate_jobs(avatar: SignAvatar, jobs: list[GenerationJob]) -> list[list[MotionClip]]:
    """Clips for each job, in order."""
    embeddings: list[torch.Tensor | None] = [None] * len(jobs)
    texts = [i for i, job in enumerate(jobs) if job.text is not None]
    images = [i for i, job in enumerate(jobs) if job.image is not None]
    if texts:
        for i, embedding in zip(texts, avatar.text_embeddings([jobs[i].text for i in texts])):
            embeddings[i] = embedding
    if images:
        for i, embedding in zip(images, avatar.image_embeddings([jobs[i].image for i in images])):
            embeddings[i] = embedding
    results = avatar.generate_many(torch.stack(embeddings), [job.num_samples for job in jobs],
                                   [job.seed for job in jobs], [job.num_frames for job in jobs],
                                   [job.text or "" for job in jobs], [job.temperature for job in jobs])
    return [_marked(avatar, clips, avatar.untrained_conditioning(job.text)) for job, clips in zip(jobs, results)]


def generate_sentence(avatar: SignAvatar, job: SentenceJob) -> list[MotionClip]:
    """The job's sentences, composed with the checkpoint's ``sentence`` and ``qc`` settings."""
    clips = generate_sentences(avatar, job.glosses, num_samples=job.num_samples, seed=job.seed,
                               num_frames=job.num_frames, cfg=avatar.config.sentence, qc=avatar.config.qc,
                               allow_unknown=job.allow_unknown, max_frames=job.max_frames,
                               temperature=job.temperature)
    return _marked(avatar, clips, any(avatar.untrained_conditioning(g.gloss) for g in job.glosses))
