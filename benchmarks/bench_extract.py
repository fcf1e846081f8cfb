"""Extraction throughput: decode + estimate frames/s through Ray Data (1 and 2 actors) against a
plain single-process loop over the same videos, and peak memory per actor as video length doubles.

Corpus: SYNTHETIC skeleton videos (H.264 mp4, ``--width`` x ``--height``) on local disk; the
estimator is the TorchScript backend running a tiny scripted stand-in regressor, so the numbers
measure decoding, cropping/resizing, the estimator call path, clip building and shard commits, not
a real model. QC is off (every video becomes a clip). All three runs do the same work per video
(``VideoExtractor`` + ``commit_batch``); a Ray run's wall time includes starting its actor pool.
``overhead_1_actor`` = Ray 1-actor wall time / plain-loop wall time (target <= 1.15), which
includes the one-time cost of starting the actor pool (see ``first_batch_s``);
``overhead_1_actor_steady`` compares throughput after each run's first finished batch, i.e. the
per-frame cost of going through Ray Data once the actors are up. ``summary`` keeps the two apart:
start-up (``ray.init``, each run's first batch) and steady state.

Memory: one fresh Ray worker process per measurement runs the extractor on a warm-up video, then
on a video of ``--frames`` and of twice as many frames; ``peak_rss_mb`` is the process's peak
resident memory (``ru_maxrss``) after each, so equal numbers mean memory does not grow with length.

    python -m benchmarks.bench_extract [--videos 32] [--frames 300] [--num-cpus 2]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import tempfile
import time

import numpy as np

from benchmarks.timing import Span, measure, summary
from signavatar.config import SignAvatarConfig, SyntheticCorpusConfig, load_config
from signavatar.data.synthetic import generate_corpus
from signavatar.extraction import output
from signavatar.extraction.corpus_index import VideoTask, build_tasks
from signavatar.extraction.pipeline import VideoExtractor, extraction_dataset
from tests.support.synthetic_video import render_skeleton_video, save_stand_in_regressor, write_video_corpus
from signavatar.motion.clip import MotionClip

log = logging.getLogger("benchmarks.bench_extract")


def _long_clip(clip: MotionClip, frames: int) -> MotionClip:
    """``clip`` played back and forth until it has ``frames`` frames."""
    cycle = np.concatenate([np.arange(clip.num_frames), np.arange(clip.num_frames - 2, 0, -1)])
    order = np.resize(cycle, frames)
    return clip.replace(
        poses=clip.poses[order],
        expression=clip.expression[order],
        trans=clip.trans[order],
        confidence=clip.confidence[order],
    )


def _config(root: str, out: str, num_actors: int, batch_size: int) -> SignAvatarConfig:
    return load_config(
        None,
        [
            f"extract.index={root}/index.json",
            f"extract.videos={root}/videos",
            f"extract.output={out}",
            f"extract.model_path={root}/regressor.pt",
            "extract.min_videos_per_gloss=1",
            "extract.frame_size=128",
            f"extract.num_actors={num_actors}",
            f"extract.batch_size={batch_size}",
            "qc.enabled=false",
        ],
    )


def _timing(name: str, frames_per_batch: list[int], batch_ends: list[float], span: Span) -> dict:
    """End-to-end and steady-state (after the first finished batch) throughput of one run; steady
    state needs three batches at least (two could finish together: a rate over no time)."""
    after_first = sum(frames_per_batch[1:])
    steady = after_first / (batch_ends[-1] - batch_ends[0]) if len(batch_ends) > 2 else float("nan")
    return {
        "run": name,
        "seconds": round(span.wall_s, 2),
        "frames_per_s": round(sum(frames_per_batch) / span.wall_s, 1),
        "first_batch_s": round(batch_ends[0], 2),
        "steady_frames_per_s": round(steady, 1),
        **span.as_dict(),
    }


def plain_loop(config: SignAvatarConfig, tasks: list[VideoTask], extractor: VideoExtractor | None = None) -> dict:
    """The same work as an actor, in this process: build the extractor (or use ``extractor``, whose
    estimator is still built on first use), extract, commit batches."""
    frames, ends = [], []
    with measure() as span:
        start = time.perf_counter()
        extractor = extractor or VideoExtractor(config)
        size = config.extract.batch_size
        for lo in range(0, len(tasks), size):
            outcomes = [extractor(task) for task in tasks[lo : lo + size]]
            assert all(o.status == "ok" for o in outcomes), [o.message for o in outcomes if o.status != "ok"]
            output.commit_batch(config.extract.output, outcomes)
            frames.append(sum(o.clip.num_frames for o in outcomes))
            ends.append(time.perf_counter() - start)
    return _timing("plain_loop", frames, ends, span)


def ray_run(config: SignAvatarConfig, tasks: list[VideoTask]) -> dict:
    """The pipeline's Ray Dataset (actor pool, commits) over the same tasks."""
    frames: dict[str, int] = {}
    ends: dict[str, float] = {}
    with measure() as span:
        start = time.perf_counter()
        for row in extraction_dataset(config, tasks).iter_rows():
            assert row["status"] == "ok", row
            frames[row["batch"]] = frames.get(row["batch"], 0) + int(row["frames"])
            ends[row["batch"]] = time.perf_counter() - start
    order = sorted(ends, key=ends.get)
    actors = config.extract.num_actors
    name = f"ray_{actors}_actor{'s' if actors > 1 else ''}"
    return _timing(name, [frames[b] for b in order], [ends[b] for b in order], span)


def extraction_summary(ray_init_s: float, plain: dict, one: dict, two: dict) -> dict:
    """Start-up (``ray.init``, each run's first batch, which includes starting its actor pool) apart
    from steady state (frames/s after the first batch), each Ray run against the plain loop."""
    return summary(
        startup_s={"ray_init": ray_init_s, "plain_first_batch": plain["first_batch_s"],
                   "ray_1_actor_first_batch": one["first_batch_s"], "ray_2_actors_first_batch": two["first_batch_s"]},
        steady={"plain_frames_per_s": plain["steady_frames_per_s"],
                "ray_1_actor_frames_per_s": one["steady_frames_per_s"],
                "ray_2_actors_frames_per_s": two["steady_frames_per_s"],
                "ray_1_actor_vs_plain": round(one["steady_frames_per_s"] / plain["steady_frames_per_s"], 3),
                "ray_2_actors_vs_plain": round(two["steady_frames_per_s"] / plain["steady_frames_per_s"], 3)},
        overall={"ray_1_actor_vs_plain": round(one["frames_per_s"] / plain["frames_per_s"], 3),
                 "ray_2_actors_vs_plain": round(two["frames_per_s"] / plain["frames_per_s"], 3)},
    )


def _peak_memory(config_json: dict, warmup: str, video: str) -> float:
    """Peak RSS (MiB) of a fresh worker process after extracting a short warm-up video, then ``video``."""
    extractor = VideoExtractor(SignAvatarConfig.model_validate(config_json))
    for uri in (warmup, video):
        outcome = extractor(VideoTask(clip_id=os.path.basename(uri), gloss="bench", split="train", uri=uri))
        assert outcome.status == "ok", outcome.message
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=32)
    parser.add_argument("--frames", type=int, default=300, help="frames per video (memory test: this and twice)")
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--num-cpus", type=int, default=2)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    import ray

    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    corpus = generate_corpus(SyntheticCorpusConfig(num_glosses=4, clips_per_gloss=max(2, -(-args.videos // 4)), seed=0))
    clips = [_long_clip(c, args.frames) for c in corpus[: args.videos]]
    with tempfile.TemporaryDirectory(prefix="bench_extract_") as root:
        write_video_corpus(clips, f"{root}/videos", f"{root}/index.json", args.width, args.height)
        save_stand_in_regressor(f"{root}/regressor.pt")
        tasks = build_tasks(_config(root, f"{root}/plain", 1, args.batch_size).extract)

        with measure() as init_span:
            ray.init(address="local", num_cpus=args.num_cpus, include_dashboard=False, log_to_driver=False,
                     configure_logging=False)
        try:
            plain = plain_loop(_config(root, f"{root}/plain", 1, args.batch_size), tasks)
            one = ray_run(_config(root, f"{root}/ray1", 1, args.batch_size), tasks)
            two = ray_run(_config(root, f"{root}/ray2", 2, args.batch_size), tasks)

            warm, short, long = (f"{root}/memory_{n}.mp4" for n in ("warmup", "short", "long"))
            render_skeleton_video(_long_clip(clips[0], 30), warm, args.width, args.height)
            render_skeleton_video(_long_clip(clips[0], args.frames), short, args.width, args.height)
            render_skeleton_video(_long_clip(clips[0], 2 * args.frames), long, args.width, args.height)
            peak_memory = ray.remote(num_cpus=1, max_calls=1)(_peak_memory)
            config_json = _config(root, f"{root}/memory", 1, 1).model_dump(mode="json")
            peaks = [ray.get(peak_memory.remote(config_json, warm, video)) for video in (short, long)]
        finally:
            ray.shutdown()

    report = {
        "synthetic": True,
        "videos": len(clips),
        "frames": sum(c.num_frames for c in clips),
        "source_size": [args.width, args.height],
        "frame_size": 128,
        "num_cpus": args.num_cpus,
        "plain_loop": plain,
        "ray_1_actor": one,
        "ray_2_actors": two,
        "overhead_1_actor": round(one["seconds"] / plain["seconds"], 3),
        "overhead_1_actor_steady": round(plain["steady_frames_per_s"] / one["steady_frames_per_s"], 3),
        "speedup_2_vs_1_actors": round(one["seconds"] / two["seconds"], 3),
        "speedup_2_vs_1_actors_steady": round(two["steady_frames_per_s"] / one["steady_frames_per_s"], 3),
        "peak_rss_mb": {f"{args.frames}_frames": round(peaks[0], 1), f"{2 * args.frames}_frames": round(peaks[1], 1)},
        "summary": extraction_summary(init_span.wall_s, plain, one, two),
    }
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
