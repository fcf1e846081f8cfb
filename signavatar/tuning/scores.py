"""What a sweep measures besides the training losses: ``training.ray_trainer.EpochScores`` for the
generated-clip metrics (``gen_acc`` / ``gen_fid`` against the validation clips) and for the
generation-quality objective (``quality``, by ``evaluation.quality`` on the validation split).
Sweeps select on validation only: nothing here reads the test split's clips.

Each is a small picklable description (a recognizer's URI, a seed, ...) that travels to the trial's
rank-0 Train worker and is bound there to the model being trained."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from signavatar.body.body_model import resolve_rest_joints
from signavatar.evaluation import quality
from signavatar.evaluation.protocol import generation_metrics
from signavatar.evaluation.recognizer_training import load_recognizer
from signavatar.judge.training import load_judge
from signavatar.model.pipeline import SignAvatar
from signavatar.motion import arrow_io
from signavatar.training.data import FeatureSet
from signavatar.training.loop import TrainingState

Scores = Callable[[], dict[str, float]]


def _avatar(state: TrainingState, device: torch.device) -> SignAvatar:
    return SignAvatar(state.model, state.normalizer, state.glosses, state.gloss_embeddings, state.config,
                      fps=state.fps, device=device)


def _evaluated(state: TrainingState, avatar: SignAvatar, scores: Scores) -> Scores:
    """``scores`` run in eval mode with the state's current per-gloss prior, training mode restored
    afterwards."""
    def run() -> dict[str, float]:
        avatar.gloss_prior = state.gloss_prior
        state.model.eval()
        try:
            return scores()
        finally:
            state.model.train()
    return run


@dataclass(frozen=True)
class GenerationScores:
    """``gen_acc`` / ``gen_fid``: the recognizer's accuracy on, and the FID of, generated clips
    (``samples_per_gloss`` per gloss) against the validation clips, every epoch."""

    recognizer: str
    samples_per_gloss: int
    seed: int
    at_checkpoints_only: bool = False

    def bind(self, state: TrainingState, val: FeatureSet | None, device: torch.device) -> Scores:
        if val is None:
            raise ValueError("gen_acc / gen_fid need validation clips; the trial has none")
        model, classes = load_recognizer(self.recognizer, map_location=device,
                                         precision=state.config.eval.recognizer_precision)
        avatar = _avatar(state, device)
        reference_glosses = [val.glosses[i] for i in val.labels.tolist()]
        return _evaluated(state, avatar, lambda: generation_metrics(avatar, model, classes, val.features,
                                                                    reference_glosses, self.samples_per_gloss,
                                                                    seed=self.seed))


@dataclass(frozen=True)
class QualityScores:
    """``quality`` (the objective) and its parts (``evaluation.quality``, DTW joint errors
    included, and the raw-landmark judge's accuracy of Gen with a ``judge``): ``repeats``
    repetitions of the protocol's draws on the validation split of ``dataset`` (train clips give
    the FID scale; test clips are never read), at checkpoints only."""

    dataset: str
    recognizer: str
    repeats: int
    seed: int
    judge: str | None = None
    at_checkpoints_only: bool = True

    def bind(self, state: TrainingState, val: FeatureSet | None, device: torch.device) -> Scores:
        model, classes = load_recognizer(self.recognizer, map_location=device,
                                         precision=state.config.eval.recognizer_precision)
        avatar = _avatar(state, device)
        index = {g: i for i, g in enumerate(classes)}
        clips = [c for split in ("train", "val") for c in arrow_io.read_dataset(self.dataset, split=split)]
        if not any(c.split == "val" for c in clips):
            raise ValueError(f"the quality objective needs a val split; {self.dataset} has none "
                             "(import it with extract.val_groups or extract.val_fraction)")
        rest = resolve_rest_joints(state.config.body.model_path, state.config.body.gender)
        proxy = quality.QualityProxy(model, clips, index, state.config.data.num_frames, state.config.eval, rest,
                                     judge=load_judge(self.judge) if self.judge else None)

        def scores() -> dict[str, float]:
            figures = proxy(avatar, self.repeats, self.seed)
            return {"quality": figures.pop("objective"), **figures}

        return _evaluated(state, avatar, scores)
