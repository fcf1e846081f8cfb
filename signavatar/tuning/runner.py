"""Ray Tune glue: each trial is the training loop as a function trainable that reports every epoch
(``ray.tune.report``) with checkpoints; ASHA stops weak trials early; ``resume`` restores an
interrupted experiment (``Tuner.restore``) without rerunning finished trials."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from typing import Any

import torch
from ray import tune
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler
from ray.tune.search.basic_variant import BasicVariantGenerator

from signavatar import storage
from signavatar.devices import torch_device
from signavatar.evaluation import quality
from signavatar.evaluation.protocol import SPLITS, generation_metrics
from signavatar.evaluation.recognizer_training import load_recognizer
from signavatar.model.pipeline import SignAvatar
from signavatar.motion import arrow_io
from signavatar.model.checkpoint import load_checkpoint, save_checkpoint
from signavatar.training.data import build_feature_set, hold_out
from signavatar.training.loop import (
    checkpoint_due,
    make_loader,
    new_training_state,
    restore_training_state,
    run_training,
    validation_loss,
)
from signavatar.tuning.spec import TuneSpec

log = logging.getLogger(__name__)


def trial_datasets(spec: TuneSpec, dataset: str, glosses: list[str], num_frames: int):
    clips = arrow_io.read_dataset(dataset)
    val = [c for c in clips if c.split == "val"]
    train = [c for c in clips if c.split == "train"]
    if not val:
        train, val = hold_out(train, spec.val_fraction, seed=spec.seed)
    return build_feature_set(train, num_frames, glosses), build_feature_set(val, num_frames, glosses)


def trainable(params: dict[str, Any], spec: TuneSpec, dataset: str, glosses: list[str],
              gloss_embeddings: torch.Tensor, recognizer: str | None = None) -> None:
    config = spec.trial_config(params)
    train, val = trial_datasets(spec, dataset, glosses, config.data.num_frames)
    device = torch_device()
    checkpoint = tune.get_checkpoint()
    if checkpoint:
        with checkpoint.as_directory() as directory:
            state = restore_training_state(load_checkpoint(directory), config, device)
    else:
        state = new_training_state(config, train, gloss_embeddings, device)
    loader = make_loader(state, train)
    val_loader = make_loader(state, val, shuffle=False)
    extra_scores = None
    if spec.metric == "quality":
        extra_scores = _quality_scores(state, dataset, recognizer, spec, device)
    elif recognizer:
        extra_scores = _generation_scores(state, val, recognizer, spec, device)

    def on_epoch_end(epoch: int, metrics: dict[str, float]) -> None:
        due = checkpoint_due(epoch, config.train)
        if spec.metric == "quality" and not due:
            return  # the protocol's draws are measured (and reported) at checkpoints only
        metrics = {**metrics, "epochs_done": epoch + 1,
                   "val_rec": validation_loss(state.model, state, val_loader, device)}
        if extra_scores:
            metrics.update(extra_scores())
        if not due:
            tune.report(metrics)
            return
        with tempfile.TemporaryDirectory() as directory:
            save_checkpoint(state.checkpoint_state(), directory)
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(directory))

    run_training(state.model, state, loader, device, on_epoch_end)


def _avatar(state, device: torch.device) -> SignAvatar:
    return SignAvatar(state.model, state.normalizer, state.glosses, state.gloss_embeddings, state.config,
                      fps=state.fps, device=device)


def _evaluated(state, scores: Callable[[], dict[str, float]]) -> Callable[[], dict[str, float]]:
    """``scores`` run in eval mode, training mode restored afterwards."""
    def run() -> dict[str, float]:
        state.model.eval()
        try:
            return scores()
        finally:
            state.model.train()
    return run


def _generation_scores(state, val, recognizer_uri: str, spec: TuneSpec, device: torch.device):
    """A callable giving ``gen_acc`` / ``gen_fid`` of the model as it is now."""
    model, classes = load_recognizer(recognizer_uri, map_location=device)
    avatar = _avatar(state, device)
    reference_glosses = [val.glosses[i] for i in val.labels.tolist()]
    return _evaluated(state, lambda: generation_metrics(avatar, model, classes, val.features, reference_glosses,
                                                        spec.gen_samples_per_gloss, seed=spec.seed))


def _quality_scores(state, dataset: str, recognizer_uri: str, spec: TuneSpec, device: torch.device):
    """A callable giving ``quality`` (the objective) and its parts (``evaluation.quality``) of the
    model as it is now: ``spec.quality_repeats`` repetitions of the protocol on the test split."""
    model, classes = load_recognizer(recognizer_uri, map_location=device)
    avatar = _avatar(state, device)
    cfg = state.config.eval
    index = {g: i for i, g in enumerate(classes)}
    clips = [c for c in arrow_io.read_dataset(dataset) if c.split in SPLITS]

    def scores() -> dict[str, float]:
        figures = quality.measure(avatar, model, clips, index, cfg, spec.quality_repeats, spec.seed)
        return {"quality": figures.pop("objective"), **figures}

    return _evaluated(state, scores)


def param_space(spec: TuneSpec) -> dict[str, Any]:
    samplers = {
        "loguniform": lambda v: tune.loguniform(*v),
        "uniform": lambda v: tune.uniform(*v),
        "randint": lambda v: tune.randint(*v),
        "choice": tune.choice,
        "grid": tune.grid_search,
    }
    return {key: samplers[kind](values) for key, dist in spec.search_space.items() for kind, values in dist.items()}


def experiment_path(spec: TuneSpec) -> str:
    return storage.join(spec.storage_path, spec.name)


def build_tuner(spec: TuneSpec, dataset: str, glosses: list[str], gloss_embeddings: torch.Tensor,
                resume: bool = False, recognizer: str | None = None) -> tune.Tuner:
    resources = {k.upper() if k in ("cpu", "gpu") else k: v for k, v in spec.resources_per_trial.items()}
    fn = tune.with_resources(
        tune.with_parameters(trainable, spec=spec, dataset=dataset, glosses=glosses, gloss_embeddings=gloss_embeddings,
                             recognizer=recognizer),
        resources,
    )
    filesystem, path = storage.ray_storage(spec.storage_path)
    if resume:
        full = f"{path}/{spec.name}"
        log.info("restoring experiment %s", full)
        return tune.Tuner.restore(full, trainable=fn, resume_unfinished=True, resume_errored=True,
                                  storage_filesystem=filesystem)
    epochs = spec.base().train.epochs
    if spec.scheduler.type == "asha":
        scheduler = ASHAScheduler(time_attr="epochs_done", max_t=epochs, grace_period=spec.scheduler.grace_period,
                                  reduction_factor=spec.scheduler.reduction_factor)
    else:
        scheduler = FIFOScheduler()
    return tune.Tuner(
        fn,
        param_space=param_space(spec),
        # a seeded search (the same trials for the same spec); it also enforces the concurrency cap
        tune_config=tune.TuneConfig(metric=spec.metric, mode=spec.mode, scheduler=scheduler,
                                    search_alg=BasicVariantGenerator(random_state=spec.seed,
                                                                     points_to_evaluate=spec.points_to_evaluate or None,
                                                                     max_concurrent=spec.max_concurrent_trials or 0),
                                    num_samples=spec.num_samples),
        run_config=tune.RunConfig(name=spec.name, storage_path=path, storage_filesystem=filesystem,
                                  # the best reports' checkpoints are kept (and, for resuming, the latest)
                                  checkpoint_config=tune.CheckpointConfig(num_to_keep=2,
                                                                          checkpoint_score_attribute=spec.metric,
                                                                          checkpoint_score_order=spec.mode)),
    )
