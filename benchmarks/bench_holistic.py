"""MediaPipe Holistic backend throughput: video -> landmarks -> SMPL-X, frames/s.

Corpus: ``--videos`` copies of the real sign video in the shared data (43 frames, 512x512, 30
fps; ``SIGNAVATAR_SHARED_DATA``, default ``../shared/data``), under a WLASL index. Every run does
the same work per video with the default extraction settings (frames cropped/resized to
``extract.frame_size``, Holistic in its worker process, the keypoint fit, QC off) and commits
shards: a plain loop (one process, torch on one thread like a one-CPU actor), then Ray Data with 1
and with 2 actors (``benchmarks.bench_extract``'s runs: wall time including the actor pool's start,
which also starts each actor's MediaPipe worker; steady state after the first finished video).
``summary`` keeps start-up (``ray.init``, first video) apart from steady state. ``stages`` splits
one video's cost in the plain loop into landmarks (decode + Holistic) and fitting.

    python -m benchmarks.bench_holistic [--videos 6] [--num-cpus 2] [key=value ...]   # prints one JSON object
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.bench_extract import extraction_summary, plain_loop, ray_run
from benchmarks.timing import measure
from signavatar.config import SignAvatarConfig, load_config
from signavatar.extraction.corpus_index import build_tasks
from signavatar.extraction.estimators.holistic import HolisticEstimator
from signavatar.extraction.estimators.holistic_worker import resolve_python
from signavatar.extraction.estimators.keypoints import fit_landmarks
from signavatar.extraction.pipeline import VideoExtractor
from signavatar.extraction.video import open_video

SHARED_DATA = Path(os.environ.get("SIGNAVATAR_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
VIDEO = SHARED_DATA / "real_video" / "autsl_signer0_sample1000.mp4"


def _config(root: str, out: str, num_actors: int, overrides: list[str]) -> SignAvatarConfig:
    return load_config(
        None,
        [
            f"extract.index={root}/index.json",
            f"extract.videos={root}/videos",
            f"extract.output={out}",
            "extract.min_videos_per_gloss=1",
            f"extract.num_actors={num_actors}",
            "extract.batch_size=1",
            "qc.enabled=false",
            *overrides,
        ],
    )


def plain_loop_and_stages(config: SignAvatarConfig) -> tuple[dict, dict]:
    """All videos in this process; then one video's stage split (landmarks vs fit)."""
    tasks = build_tasks(config.extract)
    extractor = VideoExtractor(config)
    plain = plain_loop(config, tasks, extractor)

    estimator = extractor.estimator
    assert isinstance(estimator, HolisticEstimator)
    stream = open_video(tasks[0].uri, config.extract.frame_size)
    t0 = time.perf_counter()
    video = estimator.worker.process_video(stream.chunks(np.arange(stream.num_frames), config.extract.chunk_frames), stream.fps)
    t1 = time.perf_counter()
    fit_landmarks(video.to_landmarks(), extractor.rest_joints, config.extract.keypoints)
    t2 = time.perf_counter()
    estimator.close()
    stages = {
        "frames": video.num_frames,
        "landmarks_s": round(t1 - t0, 3),
        "landmarks_frames_per_s": round(video.num_frames / (t1 - t0), 1),
        "fit_s": round(t2 - t1, 3),
        "fit_frames_per_s": round(video.num_frames / (t2 - t1), 1),
        "detected": video.detected(),
    }
    return plain, stages


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=6)
    parser.add_argument("--num-cpus", type=int, default=2)
    parser.add_argument("overrides", nargs="*", help="config overrides, e.g. extract.frame_size=512")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    python = resolve_python(load_config(None, args.overrides).extract.holistic.python)
    if not python.exists() or not VIDEO.exists():
        raise SystemExit(f"bench_holistic needs {python} (make mediapipe-env) and {VIDEO} (SIGNAVATAR_SHARED_DATA)")
    import ray

    with tempfile.TemporaryDirectory(prefix="bench_holistic_") as root:
        os.makedirs(f"{root}/videos")
        ids = [f"sign{i:03d}" for i in range(args.videos)]
        for video_id in ids:
            shutil.copyfile(VIDEO, f"{root}/videos/{video_id}.mp4")
        index = [{"gloss": "bench", "instances": [{"video_id": i, "split": "train"} for i in ids]}]
        Path(f"{root}/index.json").write_text(json.dumps(index))

        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            plain, stages = plain_loop_and_stages(_config(root, f"{root}/plain", 1, args.overrides))
        finally:
            torch.set_num_threads(threads)
        frames = stages["frames"] * args.videos
        tasks = build_tasks(_config(root, "", 1, args.overrides).extract)
        with measure() as init_span:
            ray.init(address="local", num_cpus=args.num_cpus, include_dashboard=False, log_to_driver=False,
                     configure_logging=False)
        try:
            one = ray_run(_config(root, f"{root}/ray1", 1, args.overrides), tasks)
            two = ray_run(_config(root, f"{root}/ray2", 2, args.overrides), tasks)
        finally:
            ray.shutdown()

    config = _config(root, "", 1, args.overrides).extract
    report = {
        "benchmark": "holistic_video_to_smplx",
        "videos": args.videos,
        "frames": frames,
        "source": "real_video/autsl_signer0_sample1000.mp4 (512x512, 30 fps)",
        "frame_size": config.frame_size,
        "fit_iterations": config.keypoints.iterations,
        "num_cpus": args.num_cpus,
        "cpu_count": os.cpu_count(),
        "plain_loop": plain,
        "ray_1_actor": one,
        "ray_2_actors": two,
        "speedup_2_vs_1_actors": round(one["seconds"] / two["seconds"], 3),
        "stages": stages,
        "summary": extraction_summary(init_span.wall_s, plain, one, two),
    }
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
