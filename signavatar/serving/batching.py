"""Batching without waiting: requests that arrive while the model is busy are answered together by
its next call, and a request that finds the model idle starts at once.

On a CPU replica the model is the bottleneck and a call costs about the same for one request as
for a few, so this batches as much as a busy model can use and adds no latency to a lone request
(a fixed batch window, as ``@serve.batch`` waits for, costs every lone request that window).
``wait_s`` > 0 restores a window for models where filling a batch pays more than the wait (a GPU
under steady load): an idle model then waits up to that long for a batch to fill.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

Job = TypeVar("Job")
Result = TypeVar("Result")


@dataclass
class Timing:
    """Where one request's time went in the batcher, seconds: ``queue`` from its arrival to the
    start of the model call that answered it, ``model`` that call; ``batch`` requests shared it."""

    queue: float = 0.0
    model: float = 0.0
    batch: int = 0


@dataclass
class _Pending(Generic[Job]):
    job: Job
    future: asyncio.Future
    arrived: float = field(default_factory=time.perf_counter)


class Batcher(Generic[Job, Result]):
    """``await submit(job)`` -> ``(result, Timing)``; ``run(jobs)`` answers a batch in order."""

    def __init__(self, run: Callable[[list[Job]], Awaitable[list[Result]]], max_batch_size: int,
                 wait_s: float = 0.0) -> None:
        self.run, self.max_batch_size, self.wait_s = run, max_batch_size, wait_s
        self._queue: list[_Pending[Job]] = []
        self._drainer: asyncio.Task | None = None
        self.stats = {"batches": 0, "requests": 0, "max_batch": 0}

    async def submit(self, job: Job) -> tuple[Result, Timing]:
        pending = _Pending(job, asyncio.get_running_loop().create_future())
        self._queue.append(pending)
        if self._drainer is None:
            self._drainer = asyncio.create_task(self._drain())
        return await pending.future

    async def _drain(self) -> None:
        try:
            while self._queue:
                if self.wait_s and len(self._queue) < self.max_batch_size:
                    await asyncio.sleep(self.wait_s)
                batch = [p for p in self._queue[: self.max_batch_size] if not p.future.done()]  # done: cancelled
                del self._queue[: self.max_batch_size]
                if batch:
                    await self._answer(batch)
        finally:
            self._drainer = None

    async def _answer(self, batch: list[_Pending[Job]]) -> None:
        self.stats["batches"] += 1
        self.stats["requests"] += len(batch)
        self.stats["max_batch"] = max(self.stats["max_batch"], len(batch))
        start = time.perf_counter()
        try:
            results: list[Any] = await self.run([p.job for p in batch])
        except BaseException as exc:  # the batch failed as one: each of its requests gets the error
            for pending in batch:
                if not pending.future.done():
                    pending.future.set_exception(exc if isinstance(exc, Exception)
                                                 else RuntimeError("the model call was cancelled"))
            if not isinstance(exc, Exception):
                raise
            return
        model = time.perf_counter() - start
        for pending, result in zip(batch, results, strict=True):
            if not pending.future.done():
                pending.future.set_result((result, Timing(start - pending.arrived, model, len(batch))))
