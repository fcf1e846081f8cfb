"""Training throughput: the plain loop vs the same loop under Ray Train with one worker, same data,
same config, one run. Steady state = epochs after the first ``warmup``; an epoch's cost is the wall
time between consecutive epoch ends (so Ray's reporting and bookkeeping count against it).

    python -m benchmarks.bench_train [key=value ...]      # prints one JSON object
"""

from __future__ import annotations

import json
import os
import sys
import tempfile

import numpy as np
import torch

from signavatar.config import load_config
from signavatar.data.synthetic import generate_corpus
from signavatar.motion import arrow_io
from signavatar.training.checkpoint import load_checkpoint
from signavatar.training.data import build_feature_set
from signavatar.training.loop import train_plain

# one worker gets all the machine's CPUs, as the plain loop does
DEFAULTS = ["train.epochs=12", "train.checkpoint_every=1000", "train.use_gpu=false", f"train.cpus_per_worker={os.cpu_count()}"]
WARMUP = 2


def steady_epoch_seconds(finished_at: list[float]) -> float:
    return float(np.median(np.diff(finished_at[WARMUP:])))


def main(argv: list[str]) -> dict:
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    config = load_config(os.path.join(os.path.dirname(__file__), "..", "configs", "demo.yaml"), [*DEFAULTS, *argv])
    clips = generate_corpus(config.data.synthetic)
    train = build_feature_set([c for c in clips if c.split == "train"], config.data.num_frames)
    embeddings = torch.nn.functional.normalize(torch.randn(len(train.glosses), 512, generator=torch.Generator().manual_seed(0)), dim=1)

    plain = train_plain(config, train, embeddings)
    plain_s = steady_epoch_seconds([h["finished_at"] for h in plain.history])

    import ray

    from signavatar.training import ray_trainer

    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            dataset = os.path.join(tmp, "dataset")
            arrow_io.write_dataset(clips, dataset)
            ray_config = config.model_copy(update={"train": config.train.model_copy(
                update={"storage_path": os.path.join(tmp, "ray"), "num_workers": 1, "name": "bench"})})
            result = ray_trainer.fit(ray_config, dataset, train.glosses, embeddings)
            with result.checkpoint.as_directory() as directory:  # the checkpoint holds every epoch's figures
                history = load_checkpoint(directory)["history"]
            ray_s = steady_epoch_seconds([h["finished_at"] for h in history])
    finally:
        ray.shutdown()
    report = {
        "benchmark": "train_throughput",
        "clips_per_epoch": len(train),
        "epochs": config.train.epochs,
        "warmup_epochs": WARMUP,
        "plain_clips_per_s": len(train) / plain_s,
        "ray_train_1_worker_clips_per_s": len(train) / ray_s,
        "ray_overhead_ratio": ray_s / plain_s,
        "torch_threads": torch.get_num_threads(),
        "model": config.model.model_dump(),
    }
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main(sys.argv[1:])
