"""Admission before work: what a request will cost, known from the request itself, checked against
the ingress replica's budgets before its body is read, its upload decoded or model work queued.

- A request's **model work** is counted in frame-samples: ``num_samples x num_frames``, times the
  distinct glosses of a sentence (each is generated at ``num_frames``; joining them costs about as
  much again per frame). One request over ``max_request_cost`` is a 413 at once, whatever the load.
- **Budgets** per ingress replica, each answered 503 with ``retry-after`` when spent: the bodies
  being received or held (``max_inflight_bytes``, by their declared size, so a request is refused
  before its first byte is read) and the model work admitted and not yet answered
  (``max_queued_cost``). A budget holding nothing admits any one request, so a request within the
  per-request limits can always run on an idle replica.
- **Route gates** (``route_concurrency``) cap the requests of one route that are past their body
  (decoding, queued for or in the model), so one route's many or slow clients cannot take every
  slot of the replica; a body still arriving holds no slot (a slow client holds only its socket,
  its bytes reservation and, for at most ``body_idle_timeout_s`` per pause, its ongoing request).

Everything here runs on the replica's event loop (one thread): plain counters, no locks.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator, Mapping

from signavatar.config import ServeConfig
from signavatar.serving.errors import Overloaded, PayloadTooLarge


class Budget:
    """``capacity`` units (``unit``) shared by the requests in flight; ``setting`` names it."""

    def __init__(self, capacity: int, setting: str, unit: str) -> None:
        self.capacity, self.setting, self.unit = capacity, setting, unit
        self.used = 0

    def check(self, amount: int, what: str) -> None:
        """``Overloaded`` when ``amount`` units are not free now."""
        if self.used and self.used + amount > self.capacity:
            raise Overloaded(f"{what} needs {amount} {self.unit}; this replica holds {self.used} of its "
                             f"{self.capacity} ({self.setting}); retry in a moment")

    @contextlib.contextmanager
    def hold(self, amount: int, what: str) -> Iterator[None]:
        """``amount`` units for the block, or ``Overloaded`` at once when they are not free."""
        self.check(amount, what)
        self.used += amount
        try:
            yield
        finally:
            self.used -= amount


class RouteGates:
    """Per-route caps on requests past their body in one ingress replica (``route_concurrency``):
    over its route's cap a request is answered 503 at once. Routes without a cap are not counted."""

    def __init__(self, caps: Mapping[str, int]) -> None:
        self.caps = dict(caps)
        self.active: Counter[str] = Counter()

    def check(self, route: str) -> None:
        """``Overloaded`` when ``route`` is at its cap now (before a body is read for nothing)."""
        cap = self.caps.get(route)
        if cap is not None and self.active[route] >= cap:
            raise Overloaded(f"/{route} is serving its limit of {cap} concurrent requests "
                             f"(route_concurrency.{route}); retry in a moment")

    @contextlib.contextmanager
    def enter(self, route: str) -> Iterator[None]:
        self.check(route)
        self.active[route] += 1
        try:
            yield
        finally:
            self.active[route] -= 1


def generation_cost(num_samples: int, num_frames: int, glosses: int = 1) -> tuple[int, str]:
    """(frame-samples, how they were counted) of generating ``glosses`` clips per sample."""
    cost = num_samples * num_frames * glosses
    per_gloss = f" x {glosses} distinct glosses" if glosses > 1 else ""
    return cost, f"{num_samples} samples x {num_frames} frames{per_gloss} = {cost} frame-samples"


def check_cost(cost: tuple[int, str], cfg: ServeConfig) -> int:
    """The cost, or a 413 when one request alone asks for more than ``max_request_cost``."""
    if cost[0] > cfg.max_request_cost:
        raise PayloadTooLarge(f"this request asks for {cost[1]} of model work; the limit is {cfg.max_request_cost} "
                              "(max_request_cost): ask for fewer samples, frames or glosses")
    return cost[0]
