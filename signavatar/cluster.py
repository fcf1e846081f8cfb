"""Ray glue for placement decisions: what the connected cluster offers."""

from __future__ import annotations

import ray


def cluster_has_gpus(count: float = 1) -> bool:
    """Whether the connected Ray cluster has at least ``count`` GPUs in total (so every one of
    ``count`` one-GPU workers or actors can be placed)."""
    return ray.cluster_resources().get("GPU", 0) >= count


def spare_cpus(reserved: float) -> float:
    """CPUs of the connected Ray cluster left once ``reserved`` of them are taken (e.g. by a
    training run's workers): what a task started beside that run can have without delaying it."""
    return ray.cluster_resources().get("CPU", 0) - reserved
