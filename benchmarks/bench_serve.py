"""Serve overhead on CPU: ``POST /generate`` over HTTP vs calling the model in-process, one run.

The app is ``serve_configs/local.yaml``'s (one replica holding the model on one CPU: ``model_in_ingress``,
batching on), on a local Ray.
Requests cycle through the checkpoint's glosses with seed = request index (known glosses: no CLIP
forward, the cached embedding is used), JSON responses. Three measurements, same request list:

- ``in_process``: ``engine.generate_jobs`` + the server's JSON encoding, sequential, 1 torch thread
  (what one model replica with ``num_cpus: 1`` does per request);
- ``serve_sequential``: one HTTP client at a time (latency overhead);
- ``serve_concurrent``: ``--concurrency`` clients in parallel, bounded (throughput, batching).

The CLIP text path (words not in the vocabulary: one text-tower forward per model batch) is
measured the same way on ``--clip-requests`` distinct unknown words: ``clip_in_process``
(sequential) and ``clip_serve_concurrent``. The app gets a ViT-B-32 CLIP with random weights
(``clip.pretrained: random``): the cost of the real weights, no download.

Latency is per request (client side, keep-alive connections, body not parsed); throughput is
requests / wall time of the phase. The clients run on the same machine as the cluster. Start-up
(``ray.init``, deploying the app, the first request after deploy, the first in-process call) is
reported apart from these steady phases, which follow ``WARMUP`` requests.
Without ``--checkpoint`` a demo-sized model (configs/synthetic.yaml) is trained for 2 epochs on the
synthetic corpus into a temp dir: its quality is irrelevant, its size and cost are the demo's.

    python -m benchmarks.bench_serve [--checkpoint runs/demo/checkpoint] [--requests 200] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import requests
import torch
import yaml

from benchmarks.timing import measure, summary
from signavatar.config import ServeConfig, load_config
from signavatar.motion.payload import clips_to_json_payload
from signavatar.serving.engine import GenerationJob, generate_jobs, load_avatar

REPO = Path(__file__).resolve().parents[1]
WARMUP = 10
CLIP_ARGS = {"model_name": "ViT-B-32", "pretrained": "random"}  # 512-d, as the demo-sized checkpoint


def train_demo_sized_checkpoint(directory: str) -> str:
    from signavatar.data.synthetic import generate_corpus
    from signavatar.training.data import build_feature_set
    from signavatar.training.loop import train_plain

    config = load_config(REPO / "configs" / "synthetic.yaml", ["train.epochs=2", "train.checkpoint_every=2"])
    train = build_feature_set([c for c in generate_corpus(config.data.synthetic) if c.split == "train"],
                              config.data.num_frames)
    # Random unit embeddings stand in for CLIP's: requests only use these known glosses.
    noise = torch.randn(len(train.glosses), 512, generator=torch.Generator().manual_seed(0))
    embeddings = torch.nn.functional.normalize(noise, dim=1)
    train_plain(config, train, embeddings, checkpoint_dir=directory)
    return directory


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def summarize(latencies: list[float], wall_s: float, errors: int) -> dict:
    ms = np.asarray(latencies) * 1000
    return {"requests": len(latencies), "errors": errors, "p50_ms": round(float(np.percentile(ms, 50)), 2),
            "p99_ms": round(float(np.percentile(ms, 99)), 2), "mean_ms": round(float(ms.mean()), 2),
            "throughput_rps": round(len(latencies) / wall_s, 2), "wall_s": round(wall_s, 2)}


def run_phase(call: Callable[[int], bool], count: int, concurrency: int) -> dict:
    """``call(i)`` for i < count with at most ``concurrency`` in flight; latency per call."""

    def timed(i: int) -> tuple[float, bool]:
        start = time.perf_counter()
        ok = call(i)
        return time.perf_counter() - start, ok

    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(timed, range(count)))
    wall = time.perf_counter() - start
    return summarize([r[0] for r in results], wall, sum(not r[1] for r in results))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", help="default: train a demo-sized one in a temp dir")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--clip-requests", type=int, default=48, help="unknown-word requests per CLIP phase")
    parser.add_argument("--batch-wait-s", type=float, help="override batch_wait_timeout_s of local.yaml")
    args = parser.parse_args(argv)
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = args.checkpoint or train_demo_sized_checkpoint(os.path.join(tmp, "checkpoint"))
        local = yaml.safe_load((REPO / "serve_configs" / "local.yaml").read_text())
        serve_args = {**local["applications"][0]["args"], "checkpoint": checkpoint, "clip": CLIP_ARGS}
        if args.batch_wait_s is not None:
            serve_args["batch_wait_timeout_s"] = args.batch_wait_s
        cfg = ServeConfig.model_validate(serve_args)

        torch.set_num_threads(1)
        avatar = load_avatar(cfg)
        glosses = avatar.glosses

        def text(i: int) -> str:  # known glosses from 0, distinct unknown words (CLIP) below 0
            return glosses[i % len(glosses)] if i >= 0 else f"unknownword{-i}"

        def in_process(i: int) -> bool:
            job = GenerationJob(num_samples=1, seed=abs(i), text=text(i))
            return bool(clips_to_json_payload(generate_jobs(avatar, [job])[0], "neutral", single=False))

        with measure() as first_call:
            in_process(0)
        for i in range(1, WARMUP):
            in_process(i)
        results = {"in_process": run_phase(in_process, args.requests, 1)}
        in_process(-1)  # CLIP's first forward
        results["clip_in_process"] = run_phase(lambda i: in_process(-2 - i), args.clip_requests, 1)

        import ray
        from ray import serve

        from signavatar.serving.app import INGRESS_DEPLOYMENT, build_app

        with measure() as init_span:
            ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
        try:
            port = free_port()
            with measure() as deploy_span:
                serve.start(http_options={"host": "127.0.0.1", "port": port})
                serve.run(build_app(serve_args), name="signavatar", route_prefix="/")
            url = f"http://127.0.0.1:{port}/generate"

            sessions = threading.local()  # one keep-alive connection per client thread

            def over_http(i: int) -> bool:
                if not hasattr(sessions, "session"):
                    sessions.session = requests.Session()
                response = sessions.session.post(url, json={"text": text(i), "seed": abs(i)}, timeout=120)
                return response.status_code == 200 and response.headers["content-type"] == "application/json"

            with measure() as first_request:
                assert over_http(0), "first request after deploy failed"
            for i in range(1, WARMUP):
                over_http(i)
            assert len(requests.post(url, json={"text": glosses[0]}, timeout=120).json()["clips"]) == 1
            results["serve_sequential"] = run_phase(over_http, args.requests, 1)
            handle = serve.get_deployment_handle(INGRESS_DEPLOYMENT, app_name="signavatar")

            def batched_phase(call: Callable[[int], bool], count: int) -> dict:
                """``run_phase`` with ``--concurrency`` clients, plus the model calls it took."""
                before = handle.model_stats.remote().result()
                result = run_phase(call, count, args.concurrency)
                after = handle.model_stats.remote().result()
                batches = after["generate_batches"] - before["generate_batches"]
                served = after["generate_requests"] - before["generate_requests"]
                return {**result, "model_calls": batches, "mean_batch": round(served / batches, 2)}

            results["serve_concurrent"] = batched_phase(over_http, args.requests)
            over_http(-1)
            results["clip_serve_concurrent"] = batched_phase(lambda i: over_http(-10_000 - i), args.clip_requests)
        finally:
            serve.shutdown()
            ray.shutdown()

    base = results["in_process"]
    report = {
        "checkpoint": args.checkpoint or "demo-sized (configs/synthetic.yaml), trained 2 epochs in a temp dir",
        "concurrency": args.concurrency,
        "batch_wait_timeout_s": cfg.batch_wait_timeout_s,
        **results,
        "latency_overhead_p50": round(results["serve_sequential"]["p50_ms"] / base["p50_ms"], 2),
        "throughput_ratio_concurrent_vs_in_process": round(
            results["serve_concurrent"]["throughput_rps"] / base["throughput_rps"], 2),
        "clip_throughput_ratio_concurrent_vs_in_process": round(
            results["clip_serve_concurrent"]["throughput_rps"] / results["clip_in_process"]["throughput_rps"], 2),
    }
    report["summary"] = summary(
        startup_s={"ray_init": init_span.wall_s, "serve_deploy": deploy_span.wall_s,
                   "first_request_after_deploy": first_request.wall_s, "in_process_first_call": first_call.wall_s},
        steady={"in_process_p50_ms": base["p50_ms"], "serve_p50_ms": results["serve_sequential"]["p50_ms"],
                "latency_overhead_p50": report["latency_overhead_p50"],
                "in_process_rps": base["throughput_rps"],
                f"serve_{args.concurrency}_clients_rps": results["serve_concurrent"]["throughput_rps"],
                "throughput_ratio_concurrent_vs_in_process": report["throughput_ratio_concurrent_vs_in_process"],
                "clip_in_process_p50_ms": results["clip_in_process"]["p50_ms"],
                "clip_in_process_rps": results["clip_in_process"]["throughput_rps"],
                f"clip_serve_{args.concurrency}_clients_rps": results["clip_serve_concurrent"]["throughput_rps"],
                "clip_throughput_ratio_concurrent_vs_in_process":
                    report["clip_throughput_ratio_concurrent_vs_in_process"]},
    )
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
