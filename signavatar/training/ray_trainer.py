"""Ray Train glue: the training loop of ``training.loop`` run by ``TorchTrainer`` workers (DDP).

No math here: each worker reads the Parquet dataset (local or s3://), builds the same feature
tensors, restores from ``ray.train.get_checkpoint()`` when the run is resumed, and reports every
epoch; rank 0 attaches a checkpoint every ``train.checkpoint_every`` epochs.
"""

from __future__ import annotations

import logging
import tempfile
from typing import Any

import ray
import ray.train
import torch
from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
from ray.train.torch import TorchTrainer

from signavatar import storage
from signavatar.cluster import cluster_has_gpus
from signavatar.config import SignAvatarConfig
from signavatar.motion import arrow_io
from signavatar.model.checkpoint import load_checkpoint, save_checkpoint
from signavatar.training.data import build_feature_set
from signavatar.training.loop import (
    checkpoint_due,
    log_epoch,
    make_loader,
    new_training_state,
    restore_training_state,
    run_training,
)

log = logging.getLogger(__name__)


def train_loop_per_worker(loop_config: dict[str, Any]) -> None:
    # one "Reporting training result" INFO line per epoch is noise next to our own epoch log
    logging.getLogger("ray.train.v2._internal.execution.context").setLevel(logging.WARNING)
    config = SignAvatarConfig.model_validate(loop_config["config"])
    clips = arrow_io.read_dataset(loop_config["dataset"], split="train")
    data = build_feature_set(clips, config.data.num_frames, loop_config["glosses"])
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

    def on_epoch_end(epoch: int, metrics: dict[str, float]) -> None:
        if rank == 0:
            log_epoch(epoch, metrics, config.train.log_every)
        due = checkpoint_due(epoch, config.train)
        report = {**metrics, "workers": workers}
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
    return cluster_has_gpus(config.train.num_workers)


def run_config(config: SignAvatarConfig) -> RunConfig:
    """Storage under ``train.storage_path`` (local or s3://) with the run ``train.name``; re-running
    with the same name resumes from that run's latest checkpoint."""
    filesystem, path = storage.ray_storage(config.train.storage_path)
    return RunConfig(
        name=config.train.name,
        storage_path=path,
        storage_filesystem=filesystem,
        checkpoint_config=CheckpointConfig(num_to_keep=config.train.keep_checkpoints),
        failure_config=FailureConfig(max_failures=config.train.max_failures),
    )


def fit(config: SignAvatarConfig, dataset_uri: str, glosses: list[str], gloss_embeddings: torch.Tensor):
    """Run (or resume) a TorchTrainer; returns Ray's ``Result`` (``result.checkpoint`` is the latest)."""
    trainer = TorchTrainer(
        train_loop_per_worker,
        train_loop_config={
            "config": config.model_dump(mode="json"),
            "dataset": dataset_uri,
            "glosses": list(glosses),
            "gloss_embeddings": gloss_embeddings.detach().cpu(),
        },
        scaling_config=ScalingConfig(num_workers=config.train.num_workers, use_gpu=resolve_use_gpu(config),
                                     resources_per_worker={"CPU": config.train.cpus_per_worker}),
        run_config=run_config(config),
    )
    return trainer.fit()
