"""Landmark corpus import throughput: read + batched SMPL-X fit + commit, sequences/s and frames/s,
through Ray Data (1 and 2 actors) against the same importer in a plain loop, in one run.

Corpus: REAL signing, ``--sequences`` sequences spread evenly over the 900 of the embedded corpus
(``corpora/asl_mpdata``, read from its pack; 19 frames each after ``extract.skip_frames=1``).
Every run does the same work per batch of ``--batch-size`` sequences: ``LandmarkImporter`` (read,
one ``fit_landmarks_batch`` call, clip building) and ``commit_batch`` (shards + commit); quality
control is off so every sequence becomes a clip. The plain loop runs in this process with torch on
one thread, like a one-CPU actor. Ray runs include starting their actor pool (``first_batch_s``);
``steady`` compares throughput after each run's first finished batch. Wall seconds sit beside CPU
seconds (this process, and the whole machine: Ray's workers count there, and so does anything
else running, so a machine figure well above the work's own says the run was noisy).

    python -m benchmarks.bench_import [--sequences 64] [--batch-size 16] [--num-cpus 2] [key=value ...]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.timing import Span, measure, summary
from signavatar.config import SignAvatarConfig, load_config
from signavatar.extraction import corpora, output
from signavatar.extraction.corpus_index import VideoTask
from signavatar.extraction.importer import LandmarkImporter
from signavatar.extraction.pipeline import extraction_dataset

CORPUS = Path(__file__).resolve().parents[1] / "corpora" / "asl_mpdata"


def _config(out: str, num_actors: int, batch_size: int, overrides: list[str]) -> SignAvatarConfig:
    return load_config(None, [
        "extract.source=mpdata", f"extract.input={CORPUS}", f"extract.output={out}", "extract.skip_frames=1",
        "extract.split=index", f"extract.num_actors={num_actors}", f"extract.batch_size={batch_size}",
        "qc.enabled=false", *overrides,
    ])


def _timing(name: str, batches: list[tuple[float, int, int]], span: Span) -> dict:
    """``batches``: (seconds since start when it finished, sequences, frames), in finishing order."""
    sequences, frames = sum(b[1] for b in batches), sum(b[2] for b in batches)
    later = batches[1:]
    window = batches[-1][0] - batches[0][0] if later else float("nan")
    return {
        "run": name,
        "seconds": round(span.wall_s, 2),
        "sequences": sequences,
        "frames": frames,
        "sequences_per_s": round(sequences / span.wall_s, 2),
        "frames_per_s": round(frames / span.wall_s, 1),
        "first_batch_s": round(batches[0][0], 2),
        "steady_sequences_per_s": round(sum(b[1] for b in later) / window, 2) if later else None,
        "steady_frames_per_s": round(sum(b[2] for b in later) / window, 1) if later else None,
        **span.as_dict(),
    }


def plain_loop(config: SignAvatarConfig, tasks: list[VideoTask]) -> dict:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    batches = []
    try:
        with measure() as span:
            start = time.perf_counter()
            importer = LandmarkImporter(config)
            size = config.extract.items_per_batch
            for lo in range(0, len(tasks), size):
                outcomes = importer(tasks[lo : lo + size])
                assert all(o.status == "ok" for o in outcomes), [o.message for o in outcomes if o.status != "ok"]
                output.commit_batch(config.extract.output, outcomes)
                batches.append((time.perf_counter() - start, len(outcomes), sum(o.clip.num_frames for o in outcomes)))
    finally:
        torch.set_num_threads(threads)
    return _timing("plain_loop", batches, span)


def ray_run(config: SignAvatarConfig, tasks: list[VideoTask]) -> dict:
    ends: dict[str, float] = {}
    counts: dict[str, list[int]] = {}
    with measure() as span:
        start = time.perf_counter()
        for row in extraction_dataset(config, tasks).iter_rows():
            assert row["status"] == "ok", row
            counts.setdefault(row["batch"], [0, 0])
            counts[row["batch"]][0] += 1
            counts[row["batch"]][1] += int(row["frames"])
            ends[row["batch"]] = time.perf_counter() - start
    order = sorted(ends, key=ends.get)
    actors = config.extract.num_actors
    return _timing(f"ray_{actors}_actor{'s' if actors > 1 else ''}", [(ends[b], *counts[b]) for b in order], span)


def _per_s(run: dict, key: str) -> float:
    return run[key] if run[key] is not None else float("nan")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sequences", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16, help="sequences per actor call (one batched fit)")
    parser.add_argument("--num-cpus", type=int, default=2)
    parser.add_argument("overrides", nargs="*", help="config overrides, e.g. extract.keypoints.iterations=100")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    import ray

    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    with tempfile.TemporaryDirectory(prefix="bench_import_") as root:
        configs = {name: _config(f"{root}/{name}", actors, args.batch_size, args.overrides)
                   for name, actors in (("plain", 1), ("ray1", 1), ("ray2", 2))}
        _, every = corpora.build_tasks(configs["plain"].extract)
        step = max(1, len(every) // args.sequences)
        tasks = every[::step][: args.sequences]
        with measure() as started:
            ray.init(address="local", num_cpus=args.num_cpus, include_dashboard=False, log_to_driver=False,
                     configure_logging=False)
        try:
            plain = plain_loop(configs["plain"], tasks)
            one = ray_run(configs["ray1"], tasks)
            two = ray_run(configs["ray2"], tasks)
        finally:
            ray.shutdown()

    fit = configs["plain"].extract.keypoints
    report = {
        "corpus": "asl_mpdata (real, packed)",
        "sequences": len(tasks),
        "frames": plain["frames"],
        "batch_size": args.batch_size,
        "fit": {"iterations": fit.iterations, "tolerance": fit.tolerance},
        "num_cpus": args.num_cpus,
        "plain_loop": plain,
        "ray_1_actor": one,
        "ray_2_actors": two,
        "summary": summary(
            startup_s={"ray_init": started.wall_s, "plain_first_batch": plain["first_batch_s"],
                       "ray_1_actor_first_batch": one["first_batch_s"], "ray_2_actors_first_batch": two["first_batch_s"]},
            steady={
                "plain_sequences_per_s": plain["steady_sequences_per_s"],
                "ray_1_actor_sequences_per_s": one["steady_sequences_per_s"],
                "ray_2_actors_sequences_per_s": two["steady_sequences_per_s"],
                "ray_1_actor_vs_plain": round(_per_s(one, "steady_sequences_per_s") / _per_s(plain, "steady_sequences_per_s"), 3),
                "ray_2_actors_vs_plain": round(_per_s(two, "steady_sequences_per_s") / _per_s(plain, "steady_sequences_per_s"), 3),
            },
            overall={
                "ray_1_actor_vs_plain": round(one["sequences_per_s"] / plain["sequences_per_s"], 3),
                "ray_2_actors_vs_plain": round(two["sequences_per_s"] / plain["sequences_per_s"], 3),
                "ray_2_vs_1_actors": round(two["sequences_per_s"] / one["sequences_per_s"], 3),
            },
        ),
    }
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
