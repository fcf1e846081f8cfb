"""Ray Tune glue, Ray Train V2's pattern: each trial is a driver that runs the same
``TorchTrainer`` a training job runs (``training.ray_trainer.fit``: its workers, GPUs, DDP and
checkpoints), with a validation split, the sweep's scores and ``TuneReportCallback`` forwarding
rank 0's reports to Tune. ASHA stops weak trials early (stopping the driver stops its Train run);
``resume`` restores an interrupted experiment (``Tuner.restore``) without rerunning finished
trials, and an unfinished trial's Train run resumes from its own latest checkpoint (its run name
is the trial id).

Trial resources are the Train workers' (``resources_per_trial``); the driver only waits on its
Train run and asks for a token of memory, not a CPU, so it never holds back a worker."""

from __future__ import annotations

import logging
from typing import Any

import torch
from ray import tune
from ray.tune.integration.ray_train import TuneReportCallback
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler
from ray.tune.search.basic_variant import BasicVariantGenerator

from signavatar import storage
from signavatar.config import SignAvatarConfig
from signavatar.training import ray_trainer
from signavatar.tuning.scores import GenerationScores, QualityScores
from signavatar.tuning.spec import TuneSpec

log = logging.getLogger(__name__)

# what the trial's driver asks Tune for: Tune needs some resource per trial, and a CPU would
# keep one from the trial's own Train workers
DRIVER_RESOURCES = {"memory": 64 * 2**20}
TRAIN_RUNS = "train_runs"  # under the experiment: one Ray Train run per trial, named by the trial id


def trial_training_config(spec: TuneSpec, params: dict[str, Any], trial_id: str) -> SignAvatarConfig:
    """The trial's training config: the spec's base with the trial's values, its Train run stored
    under the experiment as ``train_runs/<trial_id>`` and its workers given ``resources_per_trial``."""
    config = spec.trial_config(params)
    resources = spec.resources_per_trial
    train = {"storage_path": storage.join(experiment_path(spec), TRAIN_RUNS), "name": trial_id}
    if "cpu" in resources:
        train["cpus_per_worker"] = resources["cpu"]
    if "gpu" in resources:
        train["use_gpu"] = resources["gpu"] > 0
        if resources["gpu"] > 0:
            train["gpus_per_worker"] = resources["gpu"]
    return config.model_copy(update={"train": config.train.model_copy(update=train)})


def trial_scores(spec: TuneSpec, dataset: str, recognizer: str | None,
                 judge: str | None = None) -> ray_trainer.EpochScores | None:
    if spec.metric in ("quality", "gen_dtw"):
        return QualityScores(dataset, recognizer, spec.quality_repeats, spec.seed, judge)
    if spec.metric in ("gen_acc", "gen_fid"):
        return GenerationScores(recognizer, spec.gen_samples_per_gloss, spec.seed)
    return None


def trainable(params: dict[str, Any], spec: TuneSpec, dataset: str, glosses: list[str],
              gloss_embeddings: torch.Tensor, recognizer: str | None = None, judge: str | None = None) -> None:
    """One trial: the trial's training job, its reports forwarded to Tune."""
    config = trial_training_config(spec, params, tune.get_context().get_trial_id())
    result = ray_trainer.fit(config, dataset, glosses, gloss_embeddings, val_fraction=spec.val_fraction,
                             val_seed=spec.seed, scores=trial_scores(spec, dataset, recognizer, judge),
                             callbacks=[TuneReportCallback()], checkpoint_score=(spec.metric, spec.mode))
    if result.error:
        raise RuntimeError(f"trial training failed: {result.error}") from result.error


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
                resume: bool = False, recognizer: str | None = None, judge: str | None = None) -> tune.Tuner:
    fn = tune.with_resources(
        tune.with_parameters(trainable, spec=spec, dataset=dataset, glosses=glosses, gloss_embeddings=gloss_embeddings,
                             recognizer=recognizer, judge=judge),
        DRIVER_RESOURCES,
    )
    filesystem, path = storage.ray_storage(spec.storage_path)
    if resume:
        full = f"{path}/{spec.name}"
        log.info("restoring experiment %s", full)
        return tune.Tuner.restore(full, trainable=fn, resume_unfinished=True, resume_errored=True,
                                  storage_filesystem=filesystem)
    epochs = spec.base().train.epochs
    if spec.scheduler.type == "asha":
        # a trial that reaches the last epoch ends by itself: stopped by Tune there, its driver would be
        # killed while its Train run shuts down, which can leave the workers' placement group held
        scheduler = ASHAScheduler(time_attr="epochs_done", max_t=epochs, grace_period=spec.scheduler.grace_period,
                                  reduction_factor=spec.scheduler.reduction_factor, stop_last_trials=False)
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
        # checkpoints are the trials' Train runs' (each keeps its best-scoring ones and its latest)
        run_config=tune.RunConfig(name=spec.name, storage_path=path, storage_filesystem=filesystem),
    )
