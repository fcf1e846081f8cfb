"""Serve overhead on CPU: ``POST /generate`` over HTTP vs calling the model in-process, one run.

The app is ``serve_configs/local.yaml``'s (one replica holding the model on one CPU: ``model_in_ingress``,
batching on), on a local Ray.
Requests cycle through the checkpoint's glosses with seed = request index (known glosses: no CLIP
forward, the cached embedding is used), JSON responses. The measurements, same request list:

- ``in_process``: ``engine.generate_jobs`` + the server's JSON encoding, sequential, 1 torch thread
  (what one model replica with ``num_cpus: 1`` does per request);
- ``healthz_sequential`` / ``healthz_concurrent``: ``GET /healthz``, one client at a time and
  ``--concurrency`` clients: the floor of any request through Serve (client, proxy,
  proxy-to-replica hop, FastAPI) with no work of ours, and the most requests/s Serve passes here;
- ``serve_sequential``: ``/generate``, one client at a time (latency overhead), with the replica's
  own account of each request (the ``server-timing`` header: receive, validate, queue, model,
  encode, total) averaged in ``layers_ms``;
- ``serve_concurrent``: ``--concurrency`` clients in parallel, bounded (throughput, batching);
  the concurrent phases also count the CPU each process spent per request (``cpu_ms_per_request``:
  proxy, replica, clients, the rest of the machine), which is where the throughput goes on 2 cores;
- ``serve_32_clients``: 32 clients x 20 requests (errors under load).

The CLIP text path (words not in the vocabulary: one text-tower forward per model batch) is
measured the same way on ``--clip-requests`` distinct unknown words (``allow_unknown``: the app's
CLIP is a ViT-B-32 with random weights, ``clip.pretrained: random``, the cost of the real weights
with no download): ``clip_in_process`` (sequential) and ``clip_serve_concurrent``.

Latency is per request (client side, keep-alive ``http.client`` connections, body not parsed);
throughput is requests / wall time of the phase. The clients run on the same machine as the
cluster. Start-up (``ray.init``, deploying the app, the first request after deploy, the first
in-process call) is reported apart from these steady phases, which follow ``WARMUP`` requests.
Without ``--checkpoint`` a demo-sized model (configs/synthetic.yaml) is trained for 2 epochs on the
synthetic corpus into a temp dir: its quality is irrelevant, its size and cost are the demo's.

    python -m benchmarks.bench_serve [--checkpoint runs/demo/checkpoint] [--requests 200] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from benchmarks.http_client import Client, json_request
from benchmarks.serve_app import APP_NAME, deploy_local, free_port, local_config
from benchmarks.timing import machine_busy_cpu_s, measure, summary
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


def process_cpu_s(pid: int) -> float:
    """CPU seconds (user + system, all threads) a process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def serve_pids() -> dict[str, int]:
    """The Serve proxy's and the ingress replica's process ids."""
    import ray._private.state as state

    from signavatar.serving.app import INGRESS_DEPLOYMENT

    pids = {}
    for actor in state.actors(actor_state_name="ALIVE").values():
        name = actor["ActorClassName"]
        if name == "ProxyActor":
            pids["proxy"] = int(actor["Pid"])
        elif name.endswith(INGRESS_DEPLOYMENT):
            pids["replica"] = int(actor["Pid"])
    return pids


def cpu_per_request(phase: Callable[[], dict], pids: dict[str, int]) -> dict:
    """``phase()``'s result plus the CPU milliseconds each process spent per request during it:
    the proxy, the replica, the clients (this process) and everything else on the machine (Ray's
    raylet and GCS, other users)."""
    before = {name: process_cpu_s(pid) for name, pid in pids.items()}
    clients, machine = process_cpu_s(os.getpid()), machine_busy_cpu_s()
    result = phase()
    spent = {name: process_cpu_s(pid) - before[name] for name, pid in pids.items()}
    spent["clients"] = process_cpu_s(os.getpid()) - clients
    spent["rest_of_machine"] = machine_busy_cpu_s() - machine - sum(spent.values())
    return {**result, "cpu_ms_per_request": {name: round(1000 * value / result["requests"], 2)
                                             for name, value in spent.items()}}


def server_timing(header: str | None) -> dict[str, float]:
    """``{"receive": 0.21, ...}`` (ms) from a ``server-timing`` header; {} without one."""
    phases = {}
    for item in (header or "").split(","):
        name, _, duration = item.strip().partition(";dur=")
        if duration:
            phases[name] = float(duration)
    return phases


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
        overrides = {"checkpoint": checkpoint, "clip": CLIP_ARGS, "video_estimator": None}
        if args.batch_wait_s is not None:
            overrides["batch_wait_timeout_s"] = args.batch_wait_s
        port = free_port()
        cfg = ServeConfig.model_validate(local_config(port, **overrides)["applications"][0]["args"])

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

        from signavatar.serving.app import INGRESS_DEPLOYMENT

        with measure() as init_span:
            ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
        try:
            with measure() as deploy_span:
                deploy_local(port, **overrides)

            clients = threading.local()  # one keep-alive connection per client thread
            layers: list[dict[str, float]] = []
            # unknown words: asked for explicitly where the server refuses them from an untrained CLIP
            probe = json_request(Client(port), "/generate", {"text": text(-1)})
            unknown = {"allow_unknown": True} if probe[0] == 422 else {}

            def client() -> Client:
                if not hasattr(clients, "client"):
                    clients.client = Client(port)
                return clients.client

            def over_http(i: int, record: bool = False) -> bool:
                body = {"text": text(i), "seed": abs(i), **(unknown if i < 0 else {})}
                status, _, seconds = json_request(client(), "/generate", body)
                if record:
                    layers.append({**server_timing(client().headers.get("server-timing")),
                                   "client_total": seconds * 1000})
                return status == 200 and client().headers["content-type"] == "application/json"

            def healthz(_: int) -> bool:
                return client().request("GET", "/healthz")[0] == 200

            with measure() as first_request:
                assert over_http(0), "first request after deploy failed"
            for i in range(1, WARMUP):
                over_http(i)
                healthz(i)
            pids = serve_pids()
            results["healthz_sequential"] = run_phase(healthz, args.requests, 1)
            results["healthz_concurrent"] = cpu_per_request(
                lambda: run_phase(healthz, args.requests, args.concurrency), pids)
            results["serve_sequential"] = run_phase(lambda i: over_http(i, record=True), args.requests, 1)
            handle = serve.get_deployment_handle(INGRESS_DEPLOYMENT, app_name=APP_NAME)

            def batched_phase(call: Callable[[int], bool], count: int, concurrency: int) -> dict:
                """``run_phase`` with ``concurrency`` clients, plus the model calls it took."""
                before = handle.model_stats.remote().result()
                result = run_phase(call, count, concurrency)
                after = handle.model_stats.remote().result()
                batches = after["generate_batches"] - before["generate_batches"]
                served = after["generate_requests"] - before["generate_requests"]
                return {**result, "model_calls": batches, "mean_batch": round(served / max(batches, 1), 2)}

            results["serve_concurrent"] = cpu_per_request(
                lambda: batched_phase(over_http, args.requests, args.concurrency), pids)
            results["serve_32_clients"] = batched_phase(over_http, 32 * 20, 32)
            over_http(-1)
            results["clip_serve_concurrent"] = batched_phase(lambda i: over_http(-10_000 - i), args.clip_requests,
                                                             args.concurrency)
        finally:
            serve.shutdown()
            ray.shutdown()

    base = results["in_process"]
    layers_ms = ({name: round(float(np.mean([row.get(name, 0.0) for row in layers])), 3) for name in layers[0]}
                 if layers and len(layers[0]) > 1 else {})
    if layers_ms:  # what the replica did not see: the client, the proxy and the hop to the replica
        layers_ms["outside_replica"] = round(layers_ms["client_total"] - layers_ms["total"], 3)
    added_p50 = round(results["serve_sequential"]["p50_ms"] - base["p50_ms"], 2)
    report = {
        "checkpoint": args.checkpoint or "demo-sized (configs/synthetic.yaml), trained 2 epochs in a temp dir",
        "concurrency": args.concurrency,
        "batch_wait_timeout_s": cfg.batch_wait_timeout_s,
        **results,
        "layers_ms": layers_ms,
        "latency_added_p50_ms": added_p50,
        "latency_overhead_p50": round(results["serve_sequential"]["p50_ms"] / base["p50_ms"], 2),
        "throughput_ratio_concurrent_vs_in_process": round(
            results["serve_concurrent"]["throughput_rps"] / base["throughput_rps"], 2),
        "clip_throughput_ratio_concurrent_vs_in_process": round(
            results["clip_serve_concurrent"]["throughput_rps"] / results["clip_in_process"]["throughput_rps"], 2),
    }
    report["summary"] = summary(
        startup_s={"ray_init": init_span.wall_s, "serve_deploy": deploy_span.wall_s,
                   "first_request_after_deploy": first_request.wall_s, "in_process_first_call": first_call.wall_s},
        steady={"in_process_p50_ms": base["p50_ms"], "healthz_p50_ms": results["healthz_sequential"]["p50_ms"],
                "serve_p50_ms": results["serve_sequential"]["p50_ms"], "latency_added_p50_ms": added_p50,
                f"healthz_{args.concurrency}_clients_rps": results["healthz_concurrent"]["throughput_rps"],
                "in_process_rps": base["throughput_rps"],
                f"serve_{args.concurrency}_clients_rps": results["serve_concurrent"]["throughput_rps"],
                "throughput_ratio_concurrent_vs_in_process": report["throughput_ratio_concurrent_vs_in_process"],
                "serve_32_clients_rps": results["serve_32_clients"]["throughput_rps"],
                "errors_32_clients": results["serve_32_clients"]["errors"],
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
