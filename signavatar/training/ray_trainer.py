"""Ray Train glue: the training loop of ``training.loop`` run by ``TorchTrainer`` workers (DDP).

No math here: each worker reads the Parquet dataset (local or s3://), builds the same feature
tensors, restores from ``ray.train.get_checkpoint()`` when the run is resumed, and reports every
epoch; rank 0 attaches a checkpoint every ``train.checkpoint_every`` epochs.

This is the one training path: ``training.run`` calls ``fit`` for a training job, and every Ray
Tune trial (``tuning.runner``) calls the same ``fit`` with a validation split, the sweep's scores
(``EpochScores``) and Tune's ``TuneReportCallback``, so a trial is exactly a training job.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import ray
import ray.train
import torch
from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
from ray.train.torch import TorchTrainer
from ray.train.v2._internal.execution import context as train_context

from signavatar import storage
from signavatar.cluster import cluster_has_gpus
from signavatar.config import SignAvatarConfig
from signavatar.motion import arrow_io
from signavatar.model.checkpoint import load_checkpoint, save_checkpoint
from signavatar.training.data import FeatureSet, build_feature_set, train_val_split
from signavatar.training.loop import (
    TrainingState,
    checkpoint_due,
    log_epoch,
    make_loader,
    new_training_state,
    restore_training_state,
    run_training,
    validation_loss,
)

log = logging.getLogger(__name__)


class EpochScores(Protocol):
    """Figures rank 0 adds to a run's reports, e.g. a sweep's objective (``tuning.scores``).
    Picklable: it travels to the workers in the loop config and is bound there."""

    at_checkpoints_only: bool  # report only at checkpoints (the figures are costly to measure)

    def bind(self, state: TrainingState, val: FeatureSet | None,
             device: torch.device) -> Callable[[], dict[str, float]]:
        """A callable measuring the figures of ``state.model`` as it is when called."""
        ...


def worker_data(loop_config: dict[str, Any], num_frames: int) -> tuple[FeatureSet, FeatureSet | None]:
    """(train, validation) feature sets: the dataset's train split, or, with ``val_fraction`` set,
    train and validation as ``training.data.train_val_split`` divides them."""
    glosses = loop_config["glosses"]
    if loop_config.get("val_fraction") is None:
        return build_feature_set(arrow_io.read_dataset(loop_config["dataset"], split="train"), num_frames, glosses), None
    train, val = train_val_split(arrow_io.read_dataset(loop_config["dataset"]), loop_config["val_fraction"],
                                 seed=loop_config["val_seed"])
    return build_feature_set(train, num_frames, glosses), build_feature_set(val, num_frames, glosses) if val else None


def train_loop_per_worker(loop_config: dict[str, Any]) -> None:
    # one "Reporting training result" INFO line per epoch is noise next to our own epoch log (Ray
    # names that module's logger by its file path, not its module name)
    logging.getLogger(train_context.__file__).setLevel(logging.WARNING)
    config = SignAvatarConfig.model_validate(loop_config["config"])
    data, val = worker_data(loop_config, config.data.num_frames)
    device = ray.train.torch.get_device()
    checkpoint = ray.train.get_checkpoint()
    if checkpoint:
        with checkpoint.as_directory() as directory:
            state = restore_training_state(load_checkpoint(directory), config, device)
        log.info("resuming from epoch %d", state.epoch)
    else:
        state = new_training_state(config, data, loop_config["gloss_embeddings"], device)
    model = ray.train.torch.prepare_model(state.model)
    loader = ray.train.torch.prepare_data_loader(make_loader(state, data))
    rank = ray.train.get_context().get_world_rank()
    workers = gather_worker_info()
    if rank == 0:
        nodes = {w["node_id"] for w in workers}
        log.info("%d worker(s) on %d node(s), torch threads by rank %s", len(workers), len(nodes),
                 [w["torch_threads"] for w in workers])

    # validation and scores are rank 0's: only its report reaches Ray (the others' are the same run)
    val_loader = make_loader(state, val, shuffle=False) if val is not None and rank == 0 else None
    scores: EpochScores | None = loop_config.get("scores")
    measure = scores.bind(state, val, device) if scores is not None and rank == 0 else None
    sparse = scores is not None and scores.at_checkpoints_only

    def on_epoch_end(epoch: int, metrics: dict[str, float]) -> None:
        if rank == 0:
            log_epoch(epoch, metrics, config.train.log_every)
        due = checkpoint_due(epoch, config.train)
        if sparse and not due:
            return  # every rank skips alike: Ray Train pairs the workers' reports in order
        if rank == 0 and (due or measure is not None):
            state.refresh_gloss_prior(data)  # what the checkpoint and the scores generate with
        report = {**metrics, "epochs_done": epoch + 1, "workers": workers}
        if val_loader is not None:
            report["val_rec"] = validation_loss(state.model, state, val_loader, device)
        if measure is not None:
            report.update(measure())
        if due and rank == 0:
            with tempfile.TemporaryDirectory() as directory:
                save_checkpoint(state.checkpoint_state(), directory)
                ray.train.report(report, checkpoint=ray.train.Checkpoint.from_directory(directory))
        else:
            ray.train.report(report)

    run_training(model, state, loader, device, on_epoch_end)


def gather_worker_info() -> list[dict[str, Any]]:
    """Where each worker runs, by world rank: Ray node id and torch thread count (reported with every
    epoch's metrics as ``workers``, so a run shows how it was spread and threaded)."""
    own = {"node_id": ray.get_runtime_context().get_node_id(), "torch_threads": torch.get_num_threads()}
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return [own]
    gathered: list[dict[str, Any] | None] = [None] * torch.distributed.get_world_size()
    torch.distributed.all_gather_object(gathered, own)
    return [info for info in gathered if info is not None]


def resolve_use_gpu(config: SignAvatarConfig) -> bool:
    if config.train.use_gpu is not None:
        return config.train.use_gpu
    return cluster_has_gpus(config.train.num_workers * config.train.gpus_per_worker)


def run_config(config: SignAvatarConfig, callbacks: Sequence[Any] = (),
               checkpoint_score: tuple[str, str] | None = None) -> RunConfig:
    """Storage under ``train.storage_path`` (local or s3://) with the run ``train.name``; re-running
    with the same name resumes from that run's latest checkpoint. ``checkpoint_score``
    (metric, "min" | "max") keeps the best-scoring checkpoints (and always the latest) instead of
    the latest ones."""
    metric, order = checkpoint_score or (None, "max")
    filesystem, path = storage.ray_storage(config.train.storage_path)
    return RunConfig(
        name=config.train.name,
        storage_path=path,
        storage_filesystem=filesystem,
        checkpoint_config=CheckpointConfig(num_to_keep=config.train.keep_checkpoints,
                                           checkpoint_score_attribute=metric, checkpoint_score_order=order),
        failure_config=FailureConfig(max_failures=config.train.max_failures),
        callbacks=list(callbacks),
    )


def scaling_config(config: SignAvatarConfig) -> ScalingConfig:
    use_gpu = resolve_use_gpu(config)
    resources = {"CPU": config.train.cpus_per_worker}
    if use_gpu:
        resources["GPU"] = config.train.gpus_per_worker
    return ScalingConfig(num_workers=config.train.num_workers, use_gpu=use_gpu, resources_per_worker=resources)


def fit(config: SignAvatarConfig, dataset_uri: str, glosses: list[str], gloss_embeddings: torch.Tensor, *,
        val_fraction: float | None = None, val_seed: int = 0, scores: EpochScores | None = None,
        callbacks: Sequence[Any] = (), checkpoint_score: tuple[str, str] | None = None):
    """Run (or resume) a TorchTrainer; returns Ray's ``Result`` (``result.checkpoint`` is the latest).

    ``val_fraction``: train on the train split less a validation set (``train_val_split``, seeded by
    ``val_seed``) and report its reconstruction error as ``val_rec``; ``scores``: more figures in
    rank 0's reports; ``callbacks``: Ray Train callbacks (a Tune trial passes ``TuneReportCallback``);
    ``checkpoint_score``: see ``run_config``."""
    trainer = TorchTrainer(
        train_loop_per_worker,
        train_loop_config={
            "config": config.model_dump(mode="json"),
            "dataset": dataset_uri,
            "glosses": list(glosses),
            "gloss_embeddings": gloss_embeddings.detach().cpu(),
            "val_fraction": val_fraction,
            "val_seed": val_seed,
            "scores": scores,
        },
        scaling_config=scaling_config(config),
        run_config=run_config(config, callbacks, checkpoint_score),
    )
    return trainer.fit()
