"""Where a request's time goes inside the replica, answered in the standard ``server-timing``
response header (``receive;dur=0.21, validate;dur=0.08, queue;dur=0.02, model;dur=1.93, ...``, in
ms): ``receive`` (the body), ``validate`` (parsing and checks), ``queue`` (waiting for the model:
its batch and worker thread), ``model`` (the model call that answered it, shared by ``batch``
requests: a count, given as its ``dur``), ``encode`` (the response body) and ``total`` (from the
handler's start). A client subtracts ``total`` from its own latency to see the proxy, the network
and itself (``benchmarks/bench_serve.py`` does)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from contextvars import ContextVar


class RequestTiming:
    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.phases: dict[str, float] = {}

    def header(self) -> str:
        phases = {**self.phases, "total": time.perf_counter() - self.start}
        return ", ".join(f"{name};dur={value if name == 'batch' else value * 1000:.3g}"
                         for name, value in phases.items())


_current: ContextVar[RequestTiming | None] = ContextVar("signavatar_server_timing", default=None)


@contextlib.contextmanager
def request() -> Iterator[RequestTiming]:
    """The timing of the request handled in the block."""
    timing = RequestTiming()
    token = _current.set(timing)
    try:
        yield timing
    finally:
        _current.reset(token)


def add(name: str, value: float) -> None:
    """``value`` more for phase ``name`` of the current request (none: nothing)."""
    timing = _current.get()
    if timing is not None:
        timing.phases[name] = timing.phases.get(name, 0.0) + value


@contextlib.contextmanager
def phase(name: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        add(name, time.perf_counter() - start)
