"""Training throughput: the plain loop vs the same loop under Ray Train with one worker, same data,
same config, same torch thread count, one run.

Both paths run ``--threads`` torch threads (default: the worker's ``train.cpus_per_worker``, i.e.
all CPUs): the plain loop via ``torch.set_num_threads``, the Ray Train worker via
``OMP_NUM_THREADS`` in the cluster's environment (Ray keeps a value already set); each path reports
the count it actually ran with, and unequal counts stop the benchmark (the ratio would compare
thread counts, not Ray's overhead).

Steady state = epochs after the first ``warmup``; an epoch's cost is the wall time between
consecutive epoch ends (so Ray's reporting and bookkeeping count against it). Start-up = from the
call to the first epoch's end (Ray: starting the worker group, reading the dataset, building the
model), with ``ray.init`` reported on its own.

    python -m benchmarks.bench_train [--threads N] [key=value ...]      # prints one JSON object
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

import numpy as np
import torch

from benchmarks.timing import measure, summary
from signavatar.config import load_config
from workflows.common import RAY_TRAIN_CONTROLLER_POLL_S
from signavatar.data.synthetic import generate_corpus
from signavatar.motion import arrow_io
from signavatar.model.checkpoint import load_checkpoint
from signavatar.training.data import build_feature_set
from signavatar.training.loop import train_plain

# one worker gets all the machine's CPUs, as the plain loop does
DEFAULTS = ["train.epochs=12", "train.checkpoint_every=1000", "train.use_gpu=false", f"train.cpus_per_worker={os.cpu_count()}"]
WARMUP = 2


def steady_epoch_seconds(finished_at: list[float]) -> float:
    return float(np.median(np.diff(finished_at[WARMUP:])))


def compute_clips_per_s(history: list[dict]) -> float:
    """The loop's own throughput (forward/backward/step only), median after warm-up: what is left of
    an epoch's cost once reporting and bookkeeping between epochs are taken out."""
    return round(float(np.median([h["clips_per_s"] for h in history[WARMUP:]])), 2)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, help="torch threads on both paths (default: train.cpus_per_worker)")
    parser.add_argument("overrides", nargs="*", help="config overrides, e.g. train.epochs=6")
    args = parser.parse_args(argv)
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    os.environ.setdefault("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", RAY_TRAIN_CONTROLLER_POLL_S)  # as init_ray does
    demo = os.path.join(os.path.dirname(__file__), "..", "configs", "synthetic.yaml")
    config = load_config(demo, [*DEFAULTS, *args.overrides])
    threads = args.threads or max(1, int(config.train.cpus_per_worker))
    clips = generate_corpus(config.data.synthetic)
    train = build_feature_set([c for c in clips if c.split == "train"], config.data.num_frames)
    embeddings = torch.nn.functional.normalize(torch.randn(len(train.glosses), 512, generator=torch.Generator().manual_seed(0)), dim=1)

    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        started = time.time()
        with measure() as plain_span:
            plain = train_plain(config, train, embeddings)
        plain_threads = torch.get_num_threads()
    finally:
        torch.set_num_threads(previous_threads)
    plain_ends = [h["finished_at"] for h in plain.history]
    plain_s = steady_epoch_seconds(plain_ends)
    plain_startup = plain_ends[0] - started

    import ray

    from signavatar.training import ray_trainer

    previous_omp = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = str(threads)  # inherited by the cluster's workers
    with measure() as init_span:
        ray.init(address="local", num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            dataset = os.path.join(tmp, "dataset")
            arrow_io.write_dataset(clips, dataset)
            ray_config = config.model_copy(update={"train": config.train.model_copy(
                update={"storage_path": os.path.join(tmp, "ray"), "num_workers": 1, "name": "bench"})})
            started = time.time()
            with measure() as ray_span:
                result = ray_trainer.fit(ray_config, dataset, train.glosses, embeddings)
            with result.checkpoint.as_directory() as directory:  # the checkpoint holds every epoch's figures
                history = load_checkpoint(directory)["history"]
            ray_threads = [w["torch_threads"] for w in result.metrics["workers"]]
    finally:
        ray.shutdown()
        if previous_omp is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = previous_omp
    ray_ends = [h["finished_at"] for h in history]
    ray_s = steady_epoch_seconds(ray_ends)
    ray_startup = ray_ends[0] - started
    if ray_threads != [plain_threads]:
        raise SystemExit(f"torch threads differ: plain loop {plain_threads}, Ray Train worker {ray_threads}; "
                         "the ratio would compare thread counts")

    n = len(train)
    report = {
        "benchmark": "train_throughput",
        "clips_per_epoch": n,
        "epochs": config.train.epochs,
        "warmup_epochs": WARMUP,
        "torch_threads": {"plain": plain_threads, "ray_train": ray_threads[0]},
        "plain": {"startup_s": round(plain_startup, 3), "steady_clips_per_s": round(n / plain_s, 2),
                  "compute_clips_per_s": compute_clips_per_s(plain.history), **plain_span.as_dict()},
        "ray_train_1_worker": {"ray_init_s": round(init_span.wall_s, 3), "startup_s": round(ray_startup, 3),
                               "steady_clips_per_s": round(n / ray_s, 2),
                               "compute_clips_per_s": compute_clips_per_s(history), **ray_span.as_dict()},
        "ray_overhead_ratio": round(ray_s / plain_s, 3),
        "model": config.model.model_dump(),
    }
    report["summary"] = summary(
        startup_s={"ray_init": init_span.wall_s, "plain_first_epoch": plain_startup,
                   "ray_train_first_epoch": ray_startup},
        steady={"plain_clips_per_s": round(n / plain_s, 2), "ray_train_clips_per_s": round(n / ray_s, 2),
                "ray_vs_plain_epoch_time": report["ray_overhead_ratio"],
                "compute_clips_per_s": {"plain": report["plain"]["compute_clips_per_s"],
                                        "ray_train": report["ray_train_1_worker"]["compute_clips_per_s"]}},
        overall={"ray_vs_plain_wall": round(ray_span.wall_s / plain_span.wall_s, 3)},
        torch_threads=report["torch_threads"],
    )
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
