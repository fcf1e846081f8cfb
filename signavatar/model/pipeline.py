"""A trained SignAvatar ready for inference: CVAE + normalisation + cached gloss embeddings, with
CLIP loaded only when a word outside the vocabulary (or an image) needs encoding."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

import torch

from signavatar.config import ClipEncoderConfig, DataConfig, SignAvatarConfig
from signavatar.devices import torch_device
from signavatar.model.clip_encoder import RANDOM, ClipConditioner
from signavatar.model.cvae import SignAvatarCVAE, saved_model_config
from signavatar.motion.clip import MotionClip
from signavatar.seeding import sample_seed
from signavatar.model.checkpoint import load_checkpoint
from signavatar.model.normalizer import FeatureNormalizer

log = logging.getLogger(__name__)


def inference_config(saved: dict[str, Any]) -> SignAvatarConfig:
    """The parts of a checkpoint's saved config that inference needs (model, CLIP, frame count), so
    a checkpoint stays loadable when unrelated config sections change. Checkpoints saved before
    ``model.token_source`` and an explicit ``clip.pretrained: random`` existed keep their meaning:
    learned tokens, and (an unset ``pretrained``) the seeded random CLIP they were trained with."""
    clip = dict(saved["clip"])
    if clip.get("pretrained") is None:
        clip["pretrained"] = RANDOM
    return SignAvatarConfig(model=saved_model_config(saved["model"]),
                            clip=ClipEncoderConfig.model_validate(clip),
                            data=DataConfig(num_frames=saved["model"]["num_frames"]))


class SignAvatar:
    def __init__(self, model: SignAvatarCVAE, normalizer: FeatureNormalizer, glosses: Sequence[str],
                 gloss_embeddings: torch.Tensor, config: SignAvatarConfig, fps: float = 30.0,
                 conditioner: ClipConditioner | None = None, device: str | torch.device = "cpu",
                 gloss_prior: dict[str, torch.Tensor] | None = None):
        self.device = torch.device(device)
        self.gloss_prior = gloss_prior  # model.prior == "gloss": model.prior.fit_gloss_prior
        self.model = model.to(self.device).eval()
        self.normalizer = normalizer
        self.glosses = list(glosses)
        self.gloss_embeddings = gloss_embeddings.to(self.device)
        self._gloss_index = {g: i for i, g in enumerate(self.glosses)}
        self.config = config
        self.fps = fps
        self._conditioner = conditioner
        self._conditioner_lock = threading.Lock()

    @classmethod
    def from_checkpoint(cls, uri: str, device: str | torch.device | None = None,
                        conditioner: ClipConditioner | None = None, config: SignAvatarConfig | None = None) -> SignAvatar:
        device = torch_device(device)
        state = load_checkpoint(uri)
        config = config or inference_config(state["config"])
        embeddings = state["gloss_embeddings"]
        model = SignAvatarCVAE(config.model, feature_dim=state["feature_dim"], cond_dim=embeddings.shape[1])
        model.load_state_dict(state["model"])
        return cls(model, FeatureNormalizer.from_state_dict(state["normalizer"]), state["glosses"], embeddings,
                   config, fps=float(state["fps"]), conditioner=conditioner,
                   device=device, gloss_prior=state.get("gloss_prior"))

    @property
    def conditioner(self) -> ClipConditioner:
        with self._conditioner_lock:
            if self._conditioner is None:
                self._conditioner = ClipConditioner(self.config.clip, device=self.device)
            return self._conditioner

    @property
    def text_encoder_trained(self) -> bool:
        """Whether words outside the vocabulary (and images) meet a CLIP with pretrained weights;
        a random one (``clip.pretrained: random``) maps them to arbitrary points, so what the
        model generates for them means nothing."""
        cfg = self._conditioner.cfg if self._conditioner is not None else self.config.clip
        return cfg.pretrained != RANDOM

    def untrained_conditioning(self, text: str | None) -> bool:
        """Whether a clip for ``text`` (None: an image) is conditioned by an untrained encoder."""
        return not self.text_encoder_trained and (text is None or text not in self._gloss_index)

    def text_embeddings(self, texts: Sequence[str]) -> torch.Tensor:
        """[N, C]: known glosses from the checkpoint's cache (no CLIP forward), others through CLIP."""
        out = torch.empty(len(texts), self.gloss_embeddings.shape[1], device=self.device)
        unknown = [i for i, t in enumerate(texts) if t not in self._gloss_index]
        for i, text in enumerate(texts):
            if text in self._gloss_index:
                out[i] = self.gloss_embeddings[self._gloss_index[text]]
        if unknown:
            out[unknown] = self._check_dim(self.conditioner.encode_text([texts[i] for i in unknown]))
        return out

    def image_embeddings(self, images: Sequence[Any]) -> torch.Tensor:
        return self._check_dim(self.conditioner.encode_images(list(images)))

    def _check_dim(self, embeddings: torch.Tensor) -> torch.Tensor:
        if embeddings.shape[1] != self.gloss_embeddings.shape[1]:
            raise ValueError(f"CLIP model {self.config.clip.model_name!r} gives {embeddings.shape[1]}-d embeddings; "
                             f"this checkpoint was trained on {self.gloss_embeddings.shape[1]}-d")
        return embeddings.to(self.device)

    def features_to_clips(self, features: Sequence[torch.Tensor], glosses: Sequence[str], prefixes: Sequence[str],
                          sources: Sequence[dict[str, Any]]) -> list[list[MotionClip]]:
        """Raw 6D features ``[n_k, T_k, F]`` of request ``k`` -> its ``n_k`` full-body clips named
        ``<prefix>-<i>``; requests of one length share one rotation conversion."""
        out: list[list[MotionClip]] = [[] for _ in features]
        for length in dict.fromkeys(f.shape[1] for f in features):
            requests = [k for k, f in enumerate(features) if f.shape[1] == length]
            rows = [(k, i) for k in requests for i in range(features[k].shape[0])]
            clips = MotionClip.batch_from_features(
                torch.cat([features[k] for k in requests]).cpu().numpy(), fps=self.fps,
                glosses=[glosses[k] for k, _ in rows], clip_ids=[f"{prefixes[k]}-{i}" for k, i in rows],
                sources=[{**sources[k], "sample": i} for k, i in rows])
            for (k, _), clip in zip(rows, clips, strict=True):
                out[k].append(clip)
        return out

    def generate_batch(self, embeddings: torch.Tensor, num_samples: Sequence[int], seeds: Sequence[int],
                       num_frames: Sequence[int | None] | None = None,
                       temperatures: Sequence[float | None] | None = None) -> list[torch.Tensor]:
        """Raw 6D features [n_i, T_i, F] for several requests in one decoder pass per distinct length.
        Sample j of a request draws z from ``sample_seed(seed, j)`` at the request's temperature
        (None: the checkpoint's), so batching requests together never changes a result."""
        lengths = list(num_frames) if num_frames is not None else [None] * len(num_samples)
        out: list[torch.Tensor | None] = [None] * len(num_samples)
        for length in dict.fromkeys(lengths):
            requests = [i for i, n in enumerate(lengths) if n == length]
            cond = torch.cat([embeddings[i].expand(num_samples[i], -1) for i in requests])
            row_seeds = [sample_seed(seeds[i], j) for i in requests for j in range(num_samples[i])]
            row_temperatures = (None if temperatures is None
                                else [temperatures[i] for i in requests for _ in range(num_samples[i])])
            features = self.generate_features(cond, row_seeds, length, row_temperatures)
            for i, chunk in zip(requests, features.split([num_samples[i] for i in requests])):
                out[i] = chunk
        return out

    def generate_many(self, embeddings: torch.Tensor, num_samples: Sequence[int], seeds: Sequence[int],
                      num_frames: Sequence[int | None] | None = None, glosses: Sequence[str] | None = None,
                      temperatures: Sequence[float | None] | None = None) -> list[list[MotionClip]]:
        """Clips for several requests (see ``generate_batch``); ``glosses`` label them, their source
        records the seed and the temperature drawn at."""
        glosses = list(glosses) if glosses is not None else [""] * len(num_samples)
        temperatures = list(temperatures) if temperatures is not None else [None] * len(num_samples)
        features = self.generate_batch(embeddings, num_samples, seeds, num_frames, temperatures)
        return self.features_to_clips(features, glosses, [f"gen-{gloss or 'embedding'}-s{seed}" for gloss, seed
                                                          in zip(glosses, seeds, strict=True)],
                                      [{"generator": "signavatar", "seed": seed, "temperature": self.temperature(t),
                                        "estimator": None} for seed, t in zip(seeds, temperatures, strict=True)])

    def generate(self, embedding: torch.Tensor, num_samples: int = 1, seed: int = 0, num_frames: int | None = None,
                 gloss: str = "", temperature: float | None = None) -> list[MotionClip]:
        """``num_samples`` clips for one embedding [C], deterministic for ``seed`` (and ``temperature``)."""
        return self.generate_many(embedding[None], [num_samples], [seed], [num_frames], [gloss], [temperature])[0]

    def temperature(self, requested: float | None = None) -> float:
        """The temperature T of generation's draws z ~ N(0, T^2 I): ``requested``, else the checkpoint's
        ``model.sampling_temperature``."""
        return self.config.model.sampling_temperature if requested is None else float(requested)

    def latents(self, seeds: Sequence[int]) -> torch.Tensor:
        """Standard-normal draws [B, L], row i from its own ``seeds[i]`` (on the CPU, so a seed gives
        the same motion on any device and regardless of how rows are batched)."""
        dim = self.config.model.latent_dim
        return torch.stack([torch.randn(dim, generator=torch.Generator().manual_seed(int(s))) for s in seeds])

    def prior_z(self, eps: torch.Tensor, cond: torch.Tensor,
                temperatures: Sequence[float | None] | float | None = None) -> torch.Tensor:
        """Generation's latents [B, L] from standard-normal noise ``eps`` [B, L] for conditions
        ``cond`` [B, C] (``model.prior``): ``T_i * eps_i`` under the standard prior; under the
        per-gloss prior ``mean_g + T_i * std_g * eps_i`` for a row whose condition is gloss ``g``'s
        cached embedding, the standard draw for any other (an unseen word, an image). ``T_i``:
        ``temperature(temperatures[i])``, or one temperature for all rows."""
        if temperatures is None or isinstance(temperatures, (int, float)):
            scale = torch.full((len(eps), 1), self.temperature(temperatures), dtype=eps.dtype)
        else:
            scale = torch.tensor([self.temperature(t) for t in temperatures], dtype=eps.dtype)[:, None]
        if self.config.model.prior == "standard":
            return eps * scale
        if self.gloss_prior is None:
            raise ValueError("model.prior is 'gloss' but this model has no per-gloss prior (a checkpoint saved by a "
                             "training run with that setting holds one)")
        same = (cond.to(self.device)[:, None, :] == self.gloss_embeddings[None]).all(-1).cpu()  # [B, V]
        known, index = same.any(1)[:, None], same.float().argmax(1)
        mean = torch.where(known, self.gloss_prior["mean"][index], 0.0)
        std = torch.where(known, self.gloss_prior["std"][index], 1.0)
        return mean + scale * std * eps

    def prior_latents(self, seeds: Sequence[int], cond: torch.Tensor,
                      temperatures: Sequence[float | None] | None = None) -> torch.Tensor:
        """Generation's draws [B, L]: ``prior_z`` of ``latents(seeds)`` for conditions ``cond``."""
        return self.prior_z(self.latents(seeds), cond, temperatures)

    @torch.no_grad()
    def posterior(self, features: torch.Tensor, cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mu, logvar)`` [B, L] (on the CPU) of raw 6D features [B, T, F] with conditions [B, C]."""
        mu, logvar = self.model.encode(self.normalizer.normalize(features.to(self.device)), cond.to(self.device))
        return mu.cpu(), logvar.cpu()

    @torch.no_grad()
    def decode_features(self, z: torch.Tensor, cond: torch.Tensor, num_frames: int | None = None) -> torch.Tensor:
        """Raw 6D features [B, T, F] (on the CPU) decoded from latents [B, L] with conditions [B, C]."""
        cond = cond.to(self.device)
        return self.normalizer.denormalize(self.model.decode(z.to(cond), cond, num_frames)).cpu()

    def reconstruct_features(self, features: torch.Tensor, cond: torch.Tensor, seeds: Sequence[int]) -> torch.Tensor:
        """Raw 6D features [B, T, F] -> reconstructions, z = mu + sigma * eps with eps from ``seeds``."""
        mu, logvar = self.posterior(features, cond)
        z = mu + self.latents(seeds) * (0.5 * logvar).exp()
        return self.decode_features(z, cond, features.shape[1])

    def generate_features(self, cond: torch.Tensor, seeds: Sequence[int], num_frames: int | None = None,
                          temperatures: Sequence[float | None] | None = None) -> torch.Tensor:
        """One generated clip per row of ``cond`` [B, C], z from the prior with the noise of
        ``seeds[i]`` at temperature T_i (``prior_z``): raw 6D [B, T, F]."""
        return self.decode_features(self.prior_latents(seeds, cond, temperatures), cond, num_frames)

    def reconstruct(self, clip: MotionClip, word: str, seed: int = 0) -> MotionClip:
        """Encode the clip (resampled to the model's length) with its word, sample z from the posterior,
        decode. The result keeps the input's duration (fps adjusted) and split."""
        frames = self.config.model.num_frames
        features = torch.from_numpy(clip.resample(frames).to_features())[None]
        out = self.reconstruct_features(features, self.text_embeddings([word]), [seed])
        rec = self.features_to_clips([out], [word], [f"rec-{clip.clip_id}"],
                                     [{"reconstructed_from": clip.clip_id, "seed": seed}])[0][0]
        duration = clip.num_frames / clip.fps
        return rec.replace(clip_id=f"rec-{clip.clip_id}", fps=frames / duration, split=clip.split)
