"""Serve autoscaling observed: the model deployment goes 1 -> 2 -> 1 replicas under load, no request fails.

The app is ``build_app``'s (``serve_configs/local.yaml``'s args) with the model deployment
autoscaled by ``AUTOSCALING`` (``min_replicas: 1``, ``max_replicas: 2``, short delays). Timeline:

1. deploy; the first request after deploy is the cold start;
2. ``--clients`` clients post ``/generate`` without pause until Serve's status shows 2 RUNNING model
   replicas (``time_to_scale_up_s`` from the start of the load), and ``HOLD_S`` more;
3. the load drops to one client until the deployment is back to one replica, the other gone
   (``time_to_scale_down_s`` from the drop);
4. every request of 2-3 is counted: ``failed`` must be 0 (any non-200 answer or client error).

Without ``--checkpoint`` a demo-sized model is trained for 2 epochs into a temp dir, as in
``bench_serve``. tests/test_autoscale.py runs ``observe`` on the tiny checkpoint.

    python -m benchmarks.bench_autoscale [--checkpoint runs/demo/checkpoint] [--clients 8]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
import yaml

from benchmarks.timing import measure, summary

REPO = Path(__file__).resolve().parents[1]
APP_NAME = "signavatar-autoscale"
AUTOSCALING = {"min_replicas": 1, "max_replicas": 2, "target_ongoing_requests": 2, "upscale_delay_s": 1.0,
               "downscale_delay_s": 3.0, "look_back_period_s": 2.0, "metrics_interval_s": 0.5}
HOLD_S = 3.0  # full load kept after the 2nd replica is up, so both replicas serve
POLL_S = 0.2


def autoscaling_app(serve_args: dict[str, Any], model_cpus: float = 1.0) -> Any:
    """``build_app(serve_args)`` with a model deployment under ``AUTOSCALING`` and ``model_cpus``
    CPUs per replica (not in the ingress; no video estimator: the load is ``/generate``)."""
    from signavatar.config import ServeConfig
    from signavatar.serving.app import SignAvatarIngress, SignAvatarModel

    payload = ServeConfig.model_validate({**serve_args, "video_estimator": None, "model_in_ingress": False}
                                         ).model_dump(mode="json")
    model = SignAvatarModel.options(autoscaling_config=AUTOSCALING, ray_actor_options={"num_cpus": model_cpus})
    return SignAvatarIngress.bind(model.bind(payload), None, payload)


def model_replicas(app_name: str) -> Counter[str]:
    """The model deployment's replicas by state (``RUNNING``, ``STARTING``, ``STOPPING``, ...)."""
    from ray import serve

    from signavatar.serving.app import MODEL_DEPLOYMENT

    application = serve.status().applications.get(app_name)
    deployment = application.deployments.get(MODEL_DEPLOYMENT) if application else None
    states = deployment.replica_states if deployment else {}
    return Counter({getattr(state, "value", state): count for state, count in states.items()})  # enum -> str


class Load:
    """Client threads posting ``/generate`` back to back (one keep-alive connection each) until
    ``stop``; ``set_clients`` changes how many are active. Counts answers by outcome."""

    def __init__(self, url: str, texts: list[str]) -> None:
        self.url, self.texts = url, texts
        self.outcomes: Counter[str] = Counter()
        self._active = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def set_clients(self, count: int) -> None:
        self._active = count
        while len(self._threads) < count:
            thread = threading.Thread(target=self._client, args=(len(self._threads),), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _client(self, index: int) -> None:
        session, i = requests.Session(), 0
        while not self._stop.is_set():
            if index >= self._active:
                time.sleep(POLL_S)
                continue
            try:
                body = {"text": self.texts[i % len(self.texts)], "seed": i}
                response = session.post(self.url, json=body, timeout=120)
                outcome = "ok" if response.status_code == 200 else f"http_{response.status_code}"
            except requests.RequestException as exc:
                outcome = type(exc).__name__
            with self._lock:
                self.outcomes[outcome] += 1
            i += 1

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=150)


def _wait_for(condition: Callable[[Counter[str]], bool], timeout_s: float, what: str, timeline: list[dict]) -> float:
    """Poll ``condition(replica states)``; the seconds it took. Every change of the replica states
    goes to ``timeline`` (``t_s`` from the start of this wait)."""
    start, last = time.perf_counter(), None
    while True:
        states = model_replicas(APP_NAME)
        if states != last:
            timeline.append({"t_s": round(time.perf_counter() - start, 2), "waiting_for": what,
                             "replicas": dict(states)})
            last = states
        if condition(states):
            return round(time.perf_counter() - start, 2)
        if time.perf_counter() - start > timeout_s:
            raise TimeoutError(f"{what}: not seen within {timeout_s:.0f} s; replica states {dict(states)}")
        time.sleep(POLL_S)


def observe(app: Any, url: str, texts: list[str], clients: int = 8, timeout_s: float = 180.0) -> dict[str, Any]:
    """Deploy ``app`` as ``APP_NAME`` on the running Serve and walk the timeline of the module doc;
    Serve must already listen at ``url``'s port. The app is deleted at the end."""
    from ray import serve

    with measure() as deploy_span:
        serve.run(app, name=APP_NAME, route_prefix="/")
    try:
        with measure() as cold_start:
            first = requests.post(f"{url}/generate", json={"text": texts[0]}, timeout=120)
        if first.status_code != 200:
            raise RuntimeError(f"first request after deploy: HTTP {first.status_code}: {first.text[:200]}")
        timeline: list[dict] = []
        load = Load(f"{url}/generate", texts)
        try:
            load.set_clients(clients)
            up = _wait_for(lambda s: s["RUNNING"] >= 2, timeout_s, "2 running", timeline)
            time.sleep(HOLD_S)
            load.set_clients(1)
            down = _wait_for(lambda s: s["RUNNING"] == 1 and sum(s.values()) == 1, timeout_s, "back to 1",
                             timeline)
        finally:
            load.stop()
    finally:
        serve.delete(APP_NAME)
    return {"autoscaling_config": AUTOSCALING, "clients": clients, "deploy_s": deploy_span.wall_s,
            "cold_start_first_request_s": cold_start.wall_s, "time_to_scale_up_s": up,
            "time_to_scale_down_s": down, "requests": sum(load.outcomes.values()),
            "failed": sum(n for k, n in load.outcomes.items() if k != "ok"), "outcomes": dict(load.outcomes),
            "timeline": timeline}


def main(argv: list[str] | None = None) -> dict:
    from benchmarks.bench_serve import train_demo_sized_checkpoint
    from benchmarks.serve_app import free_port

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", help="default: train a demo-sized one in a temp dir")
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args(argv)
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

    import ray
    from ray import serve
    from signavatar.model.pipeline import SignAvatar

    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = args.checkpoint or train_demo_sized_checkpoint(os.path.join(tmp, "checkpoint"))
        local = yaml.safe_load((REPO / "serve_configs" / "local.yaml").read_text())
        serve_args = {**local["applications"][0]["args"], "checkpoint": checkpoint}
        texts = list(SignAvatar.from_checkpoint(checkpoint, device="cpu").glosses)
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
        try:
            port = free_port()
            serve.start(http_options={"host": "127.0.0.1", "port": port})
            report = observe(autoscaling_app(serve_args), f"http://127.0.0.1:{port}", texts, args.clients)
        finally:
            serve.shutdown()
            ray.shutdown()
    report["checkpoint"] = args.checkpoint or "demo-sized (configs/demo.yaml), trained 2 epochs in a temp dir"
    report["summary"] = summary(
        startup_s={"serve_deploy": report["deploy_s"],
                   "cold_start_first_request": report["cold_start_first_request_s"]},
        steady={k: report[k] for k in ("time_to_scale_up_s", "time_to_scale_down_s", "requests", "failed")})
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
