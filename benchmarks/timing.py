"""What every benchmark measures and reports the same way.

``measure()`` times a block in wall seconds beside CPU seconds: this process's (children it waited
for included) and the whole machine's (``/proc/stat``: Ray's worker processes count there, and so
does anything else running, so a machine figure well above the work's own says the run was noisy).

``summary()`` is the one line every report carries (``run_all`` prints it): one-time start-up
(Ray, a Ray Data actor pool, a Ray Train worker group, a Serve deployment, a first batch) kept apart
from steady state, each path against the baseline measured in the same run.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any


def process_cpu_s() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def machine_busy_cpu_s() -> float:
    """CPU seconds every core of the machine has spent busy since boot (user, nice, system, irq,
    softirq, steal)."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:9]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values) - idle) / os.sysconf("SC_CLK_TCK")


@dataclass
class Span:
    """A measured block; filled in when the block ends."""

    wall_s: float = 0.0
    cpu_s: float = 0.0
    machine_cpu_s: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return {"wall_s": round(self.wall_s, 3), "cpu_s": round(self.cpu_s, 3),
                "machine_cpu_s": round(self.machine_cpu_s, 3)}


@contextmanager
def measure() -> Iterator[Span]:
    span = Span()
    wall, cpu, machine = time.perf_counter(), process_cpu_s(), machine_busy_cpu_s()
    try:
        yield span
    finally:
        span.wall_s = time.perf_counter() - wall
        span.cpu_s = process_cpu_s() - cpu
        span.machine_cpu_s = machine_busy_cpu_s() - machine


def summary(startup_s: dict[str, float], steady: dict[str, Any], overall: dict[str, Any] | None = None,
            **extra: Any) -> dict[str, Any]:
    """The summary line: ``startup_s`` (one-time costs per path, seconds), ``steady`` (throughput or
    latency once running, and its ratio to the baseline), ``overall`` (the same end to end, start-up
    included), plus anything a reader needs to trust the ratios (e.g. thread counts per path)."""
    rounded = {k: round(v, 3) if isinstance(v, float) else v for k, v in startup_s.items()}
    return {"startup_s": rounded, "steady": steady, **({"overall": overall} if overall else {}), **extra,
            "cpu_count": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2)}
