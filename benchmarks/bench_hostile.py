"""The demo app under cheap hostile clients (issue 32), one run, printing JSON.

The app is ``serve_configs/local.yaml``'s (one replica holding the model, the config's limits and
timeouts, no video estimator) on a local Ray with 2 CPUs; every client runs in this process on the
same machine. Each phase measures what ordinary clients see while an attack runs, beside the same
measure without it taken in the same run (``baseline``):

- ``slow_bodies``: ``--slow-clients`` connections to ``/generate`` that send their headers and one
  byte of a small JSON body, then nothing (reconnecting whenever the server closes one), while
  ``--normal-clients`` ordinary clients ask ``/generate`` for a known gloss: their p50/p99 and
  how many got a 503 (or any other non-200), and what the slow connections were answered;
- ``uploads``: ``--uploads`` concurrent uploads of ``--upload-mib`` MiB each to ``/reconstruct``
  (an ``.npz`` that is random bytes after its zip signature, so the server reads all of it and
  then refuses it): the ingress replica's resident set (``VmRSS`` sampled every 20 ms, and the
  kernel's peak ``VmHWM`` reset before the phase) above its level before, and ``/healthz``
  latency meanwhile;
- ``json_bodies``: ``--json-bodies`` concurrent ``/generate`` JSON bodies of ``--json-mib`` MiB
  (a text of that many letters), then as many JSON motion clips of the same size to
  ``/reconstruct``: ``/healthz`` p99 meanwhile, and what the bodies were answered;
- ``cost``: the issue's maximum-cost request (32 glosses, ``num_frames`` 600, 16 samples) alone,
  and a single-gloss request of 600 frames x 16 samples sent 0.2 s after ``--heavy`` such requests
  (more than the replica's queued-work budget holds): status and time to the answer;
- ``errors``: 32 clients x 20 ``/generate`` requests: errors, p50, requests/s.

    python -m benchmarks.bench_hostile [--checkpoint runs/demo/checkpoint] [--phases slow_bodies,uploads,...]

Without ``--checkpoint`` a demo-sized model is trained for 2 epochs in a temp dir (as ``bench_serve``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import select
import socket
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from benchmarks.bench_serve import train_demo_sized_checkpoint
from benchmarks.http_client import Client, json_request
from benchmarks.serve_app import deploy_local, free_port
from benchmarks.timing import summary

PHASES = ("slow_bodies", "uploads", "json_bodies", "cost", "errors")
MIB = 1024 * 1024
BOUNDARY = "signavatar-bench-boundary-7c1f0e4b"


# --- clients ------------------------------------------------------------------------------------

def stats(latencies: list[float], statuses: list[int], wall_s: float | None = None) -> dict:
    ms = np.asarray(latencies or [0.0]) * 1000
    out = {"requests": len(statuses), "status": dict(sorted(Counter(map(str, statuses)).items())),
           "p50_ms": round(float(np.percentile(ms, 50)), 1), "p99_ms": round(float(np.percentile(ms, 99)), 1),
           "max_ms": round(float(ms.max()), 1)}
    if wall_s:
        out["throughput_rps"] = round(len(statuses) / wall_s, 1)
    return out


def normal_load(port: int, glosses: list[str], clients: int, duration_s: float | None = None,
                per_client: int | None = None) -> dict:
    """``clients`` threads asking /generate for known glosses, for ``duration_s`` or ``per_client``
    requests each."""
    latencies: list[float] = []
    statuses: list[int] = []
    lock = threading.Lock()
    deadline = time.perf_counter() + (duration_s or 1e9)

    def run(k: int) -> None:
        client = Client(port)
        i = 0
        while time.perf_counter() < deadline and (per_client is None or i < per_client):
            status, _, seconds = json_request(client, "/generate", {"text": glosses[(k + i) % len(glosses)],
                                                                     "seed": i})
            with lock:
                latencies.append(seconds)
                statuses.append(status)
            i += 1
        client.close()

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(run, range(clients)))
    return stats(latencies, statuses, time.perf_counter() - start)


class Background(threading.Thread):
    """A loop run on a thread until ``stop()``."""

    def __init__(self, step: Callable[[], None]) -> None:
        super().__init__(daemon=True)
        self.step, self._halt = step, threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            self.step()

    def stop(self) -> None:
        self._halt.set()
        self.join()


class SlowBodies:
    """``n`` connections that send headers announcing ``declared`` bytes and one byte of body, then
    stall; a connection the server answers or closes is counted by status and opened again."""

    def __init__(self, port: int, n: int, declared: int = 200) -> None:
        self.port, self.n, self.declared = port, n, declared
        self.answers: Counter[str] = Counter()
        self.sockets: list[socket.socket] = []
        self.loop = Background(self._step)

    def _open(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        sock.sendall((f"POST /generate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                      f"Content-Length: {self.declared}\r\n\r\n{{").encode())
        return sock

    def _step(self) -> None:
        readable, _, _ = select.select(self.sockets, [], [], 0.1)
        for sock in readable:
            try:
                reply = sock.recv(65536)
            except OSError:
                reply = b""
            match = re.match(rb"HTTP/1\.1 (\d+)", reply)
            self.answers[match.group(1).decode() if match else "closed"] += 1
            sock.close()
            self.sockets[self.sockets.index(sock)] = self._open()

    def __enter__(self) -> SlowBodies:
        self.sockets = [self._open() for _ in range(self.n)]
        self.loop.start()
        return self

    def __exit__(self, *exc) -> None:
        self.loop.stop()
        for sock in self.sockets:
            sock.close()


class HealthProbe:
    """``GET /healthz`` every ``interval_s`` on one connection: latencies."""

    def __init__(self, port: int, interval_s: float = 0.02) -> None:
        self.client, self.interval_s = Client(port, timeout=60), interval_s
        self.latencies: list[float] = []
        self.statuses: list[int] = []
        self.loop = Background(self._step)

    def _step(self) -> None:
        status, _, seconds = self.client.request("GET", "/healthz")
        self.latencies.append(seconds)
        self.statuses.append(status)
        time.sleep(self.interval_s)

    def __enter__(self) -> HealthProbe:
        self.loop.start()
        return self

    def __exit__(self, *exc) -> None:
        self.loop.stop()
        self.client.close()

    def result(self) -> dict:
        return stats(self.latencies, self.statuses)


def rss_bytes(pid: int, field: str = "VmRSS") -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(rf"^{field}:\s+(\d+) kB", status, re.M).group(1)) * 1024


class RssSampler:
    """A process's resident set every 20 ms, and its kernel-kept peak (``VmHWM``, reset first)."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak = pid, 0
        self.loop = Background(self._step)

    def _step(self) -> None:
        self.peak = max(self.peak, rss_bytes(self.pid))
        time.sleep(0.02)

    def __enter__(self) -> RssSampler:
        Path(f"/proc/{self.pid}/clear_refs").write_text("5")
        self.before = rss_bytes(self.pid)
        self.loop.start()
        return self

    def __exit__(self, *exc) -> None:
        self.loop.stop()

    def result(self) -> dict:
        hwm = rss_bytes(self.pid, "VmHWM")
        return {"rss_before_mib": round(self.before / MIB), "rss_peak_mib": round(max(self.peak, hwm) / MIB),
                "growth_mib": round((max(self.peak, hwm) - self.before) / MIB),
                "rss_after_mib": round(rss_bytes(self.pid) / MIB)}


def multipart_upload(gloss: str, name: str, data: memoryview, content_type: str) -> tuple[Iterator[bytes], int, str]:
    """(body chunks, length, content type) of a /reconstruct form, streamed from ``data``."""
    head = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"gloss\"\r\n\r\n{gloss}\r\n"
            f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
            f"Content-Type: {content_type}\r\n\r\n").encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()

    def chunks() -> Iterator[bytes]:
        yield head
        for start in range(0, len(data), MIB):
            yield data[start:start + MIB]
        yield tail

    return chunks(), len(head) + len(data) + len(tail), f"multipart/form-data; boundary={BOUNDARY}"


def upload(port: int, gloss: str, name: str, data: memoryview, content_type: str) -> tuple[int, bytes, float]:
    body, length, mtype = multipart_upload(gloss, name, data, content_type)
    client = Client(port, timeout=300)
    try:
        return client.request("POST", "/reconstruct", body, {"content-type": mtype, "content-length": str(length)})
    finally:
        client.close()


def message(body: bytes) -> str:
    try:
        return json.loads(body)["message"][:160]
    except (ValueError, KeyError, TypeError):
        return body[:160].decode("latin-1")


# --- phases -------------------------------------------------------------------------------------

def phase_slow_bodies(port: int, glosses: list[str], args: argparse.Namespace) -> dict:
    baseline = normal_load(port, glosses, args.normal_clients, duration_s=args.duration_s / 2)
    with SlowBodies(port, args.slow_clients) as slow:
        time.sleep(1.0)  # let them take whatever they can before the ordinary clients arrive
        attacked = normal_load(port, glosses, args.normal_clients, duration_s=args.duration_s)
        answers = dict(slow.answers)
    return {"slow_clients": args.slow_clients, "normal_clients": args.normal_clients, "baseline": baseline,
            "under_attack": attacked, "slow_clients_answered": answers}


def phase_uploads(port: int, gloss: str, pid: int, args: argparse.Namespace) -> dict:
    data = memoryview(b"PK\x03\x04" + os.urandom(args.upload_mib * MIB - 4))
    with HealthProbe(port) as idle:
        time.sleep(3.0)
    with RssSampler(pid) as rss, HealthProbe(port) as health:
        start = time.perf_counter()
        with ThreadPoolExecutor(args.uploads) as pool:
            results = list(pool.map(lambda _: upload(port, gloss, "big.npz", data, "application/octet-stream"),
                                    range(args.uploads)))
        wall = time.perf_counter() - start
    return {"uploads": args.uploads, "mib_each": args.upload_mib, "wall_s": round(wall, 2),
            "answers": stats([r[2] for r in results], [r[0] for r in results]),
            "answer_example": message(results[0][1]), "replica_memory": rss.result(),
            "healthz_idle": idle.result(), "healthz_during": health.result()}


def phase_json_bodies(port: int, gloss: str, args: argparse.Namespace) -> dict:
    size = int(args.json_mib * MIB)
    text_body = json.dumps({"text": "a" * (size - 12)}).encode()
    frames = max(1, size // 4600)  # ~4.6 KB of JSON per frame of poses written with json.dumps
    rng = np.random.default_rng(0)
    clip = json.dumps({"gloss": gloss, "fps": 30.0, "poses": rng.uniform(-1, 1, (frames, 55, 3)).tolist()}).encode()
    out = {"bodies": args.json_bodies, "generate_body_mib": round(len(text_body) / MIB, 1),
           "clip_upload_mib": round(len(clip) / MIB, 1)}
    with HealthProbe(port) as idle:
        time.sleep(3.0)
    out["healthz_idle"] = idle.result()

    def send_text(_: int) -> tuple[int, bytes, float]:
        client = Client(port)
        try:
            return client.request("POST", "/generate", text_body, {"content-type": "application/json"})
        finally:
            client.close()

    clip_view = memoryview(clip)
    for name, send in (("generate_json", send_text),
                       ("clip_json", lambda _: upload(port, gloss, "clip.json", clip_view, "application/json"))):
        with HealthProbe(port) as health:
            time.sleep(0.2)
            with ThreadPoolExecutor(args.json_bodies) as pool:
                results = list(pool.map(send, range(args.json_bodies)))
            time.sleep(0.2)
        out[name] = {"answers": stats([r[2] for r in results], [r[0] for r in results]),
                     "answer_example": message(results[0][1]), "healthz_during": health.result()}
    return out


def phase_cost(port: int, glosses: list[str], args: argparse.Namespace) -> dict:
    sentence = {"glosses": [glosses[i % len(glosses)] for i in range(32)], "num_frames": 600, "num_samples": 16}
    heavy = {"text": glosses[0], "num_frames": 600, "num_samples": 16}
    client = Client(port, timeout=600)
    status, body, seconds = json_request(client, "/generate", sentence)
    out = {"max_cost_sentence": {"status": status, "seconds": round(seconds, 3), "answer": message(body)}}
    with ThreadPoolExecutor(args.heavy) as pool:
        queued = [pool.submit(json_request, Client(port, timeout=600), "/generate", {**heavy, "seed": i})
                  for i in range(args.heavy)]
        time.sleep(0.2)  # the heavy requests are admitted (queued or running; the first takes ~0.5 s)
        status, body, seconds = json_request(client, "/generate", {**heavy, "seed": 999})
        out["max_single_gloss_over_budget"] = {"queued_before": args.heavy, "status": status,
                                               "seconds": round(seconds, 3), "answer": message(body)}
        answered = [f.result() for f in queued]
    out["queued_requests"] = stats([r[2] for r in answered], [r[0] for r in answered])
    client.close()
    return out


def phase_errors(port: int, glosses: list[str]) -> dict:
    return normal_load(port, glosses, clients=32, per_client=20)


# --- the app ------------------------------------------------------------------------------------

def replica_pid(name: str) -> int:
    import ray._private.state as state

    for actor in state.actors(actor_state_name="ALIVE").values():
        if actor["ActorClassName"].endswith(name):
            return int(actor["Pid"])
    raise RuntimeError(f"no live actor named *{name}")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", help="default: train a demo-sized one in a temp dir")
    parser.add_argument("--phases", default=",".join(PHASES), help=f"comma-separated, of {','.join(PHASES)}")
    parser.add_argument("--duration-s", type=float, default=20.0, help="ordinary clients' time under slow bodies")
    parser.add_argument("--slow-clients", type=int, default=64)
    parser.add_argument("--normal-clients", type=int, default=8)
    parser.add_argument("--uploads", type=int, default=16)
    parser.add_argument("--upload-mib", type=int, default=99)
    parser.add_argument("--json-bodies", type=int, default=8)
    parser.add_argument("--json-mib", type=float, default=15.0)
    parser.add_argument("--heavy", type=int, default=9, help="maximum single-gloss requests sent at once in 'cost' "
                        "(8 x 16 samples x 600 frames fill local.yaml's max_queued_cost; the 9th finds it full)")
    args = parser.parse_args(argv)
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    unknown = sorted(set(phases) - set(PHASES))
    if unknown:
        parser.error(f"unknown phase(s) {unknown}; choose from {PHASES}")
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

    import ray
    from ray import serve

    from signavatar.serving.app import INGRESS_DEPLOYMENT

    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = args.checkpoint or train_demo_sized_checkpoint(os.path.join(tmp, "checkpoint"))
        port = free_port()
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
        results: dict = {}
        try:
            serve_args = deploy_local(port, checkpoint=checkpoint, video_estimator=None)
            glosses = json.loads(Client(port).request("GET", "/glosses")[1])["glosses"]
            normal_load(port, glosses, clients=2, per_client=10)  # warm up
            pid = replica_pid(INGRESS_DEPLOYMENT)
            for phase in phases:
                start = time.perf_counter()
                if phase == "slow_bodies":
                    results[phase] = phase_slow_bodies(port, glosses, args)
                elif phase == "uploads":
                    results[phase] = phase_uploads(port, glosses[0], pid, args)
                elif phase == "json_bodies":
                    results[phase] = phase_json_bodies(port, glosses[0], args)
                elif phase == "cost":
                    results[phase] = phase_cost(port, glosses, args)
                else:
                    results[phase] = phase_errors(port, glosses)
                results[phase]["phase_s"] = round(time.perf_counter() - start, 1)
                time.sleep(2.0)  # whatever the phase left in flight settles
        finally:
            serve.shutdown()
            ray.shutdown()

    steady = {}
    if "slow_bodies" in results:
        slow = results["slow_bodies"]
        steady |= {"normal_p99_ms_baseline": slow["baseline"]["p99_ms"],
                   "normal_p99_ms_under_slow_bodies": slow["under_attack"]["p99_ms"],
                   "normal_503_under_slow_bodies": slow["under_attack"]["status"].get("503", 0)}
    if "uploads" in results:
        steady["replica_growth_mib_under_uploads"] = results["uploads"]["replica_memory"]["growth_mib"]
        steady["healthz_p99_ms_under_uploads"] = results["uploads"]["healthz_during"]["p99_ms"]
    if "json_bodies" in results:
        steady["healthz_p99_ms_idle"] = results["json_bodies"]["healthz_idle"]["p99_ms"]
        steady["healthz_p99_ms_under_json_bodies"] = results["json_bodies"]["generate_json"]["healthz_during"]["p99_ms"]
        steady["healthz_p99_ms_under_json_clips"] = results["json_bodies"]["clip_json"]["healthz_during"]["p99_ms"]
    if "cost" in results:
        steady["max_cost_refusal_s"] = results["cost"]["max_single_gloss_over_budget"]["seconds"]
        steady["max_cost_refusal_status"] = results["cost"]["max_single_gloss_over_budget"]["status"]
    if "errors" in results:
        errors = results["errors"]
        steady["errors_32x20"] = errors["requests"] - errors["status"].get("200", 0)
        steady["p50_ms_32_clients"] = errors["p50_ms"]
        steady["rps_32_clients"] = errors["throughput_rps"]
    report = {"checkpoint": args.checkpoint or "demo-sized, trained 2 epochs in a temp dir",
              "limits": {k: serve_args.get(k) for k in sorted(serve_args) if k.startswith(("max_", "body_", "route_"))},
              **results, "summary": summary(startup_s={}, steady=steady)}
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
