"""Ray clusters that tests start on a machine other Ray clusters share (``ray.cluster_utils.Cluster``,
as Ray's own tests do).

Every node listens on ports the OS picks: a fixed default such as the dashboard agent's 52365 may be
held by another Ray on the machine, and job submission then fails with "No available agent to
submit job". Every cluster keeps its session files, ``ray_current_cluster`` included, in a temp dir
of its own, so no later bare ``ray.init()`` or ``ray`` command anywhere attaches to it.

A cluster started with ``ray start`` (tests/test_cluster_quickstart.py) is stopped by its processes,
never by ``ray stop``, which stops every Ray on the machine: started in a session of its own
(``start_new_session=True``), every process of that cluster carries that session id.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# Ports the OS picks (0); RayParams' defaults would be 52365 for the agent.
DYNAMIC_PORTS = {"dashboard_agent_listen_port": 0, "metrics_export_port": 0, "runtime_env_agent_port": 0}


def node_args(num_cpus: int, object_store_mb: int = 512, **extra: Any) -> dict[str, Any]:
    """Keyword arguments for ``Cluster.add_node``: ``num_cpus`` CPUs, dynamic ports."""
    return {"num_cpus": num_cpus, "object_store_memory": object_store_mb * 2**20, **DYNAMIC_PORTS, **extra}


@contextmanager
def short_tmpdir() -> Iterator[str]:
    """A fresh directory directly under /tmp, removed afterwards: Ray's unix socket paths live below
    a cluster's temp dir and may not exceed 107 bytes (pytest's ``tmp_path`` is too deep)."""
    directory = tempfile.mkdtemp(prefix="ray-", dir="/tmp")
    try:
        yield directory
    finally:
        for _ in range(20):  # a Ray process still exiting may write one last file meanwhile
            shutil.rmtree(directory, ignore_errors=True)
            if not os.path.exists(directory):
                break
            time.sleep(0.5)


@contextmanager
def private_ray_tmpdir() -> Iterator[str]:
    """``RAY_TMPDIR`` set to a ``short_tmpdir`` while the block runs; Ray's default temp dir is
    then ``<it>/ray``."""
    old = os.environ.get("RAY_TMPDIR")
    with short_tmpdir() as directory:
        os.environ["RAY_TMPDIR"] = directory
        try:
            yield directory
        finally:
            if old is None:
                os.environ.pop("RAY_TMPDIR", None)
            else:
                os.environ["RAY_TMPDIR"] = old


@contextmanager
def local_cluster(cpus_per_node: Sequence[int], connect: bool = True, **head_args: Any) -> Iterator[Any]:
    """A cluster of ``len(cpus_per_node)`` nodes on this machine (the first is the head), with this
    process connected as its driver when ``connect``. On exit the driver disconnects and only this
    cluster's processes are stopped."""
    import ray
    from ray.cluster_utils import Cluster

    with private_ray_tmpdir() as directory:
        head = node_args(cpus_per_node[0], temp_dir=os.path.join(directory, "ray"), **head_args)
        cluster = Cluster(initialize_head=True, head_node_args=head)
        try:
            for cpus in cpus_per_node[1:]:
                cluster.add_node(**node_args(cpus))
            cluster.wait_for_nodes()
            if connect:
                ray.init(address=cluster.address, log_to_driver=False, configure_logging=False)
            yield cluster
        finally:
            ray.shutdown()  # Cluster refuses to remove the node its driver is connected to
            cluster.shutdown()


def session_processes(session_id: int) -> list[int]:
    """Live (non-zombie) processes of session ``session_id``, from ``/proc/<pid>/stat``."""
    pids = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        state, _ppid, _pgrp, session = stat.rsplit(")", 1)[1].split()[:4]
        if int(session) == session_id and state != "Z":
            pids.append(int(entry.name))
    return pids


def stop_session(session_id: int, grace_s: float = 20.0) -> None:
    """SIGTERM every process of the session, SIGKILL what is left after ``grace_s``; raises if any
    survives that."""
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 10.0)):
        for pid in session_processes(session_id):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + wait_s
        while session_processes(session_id) and time.monotonic() < deadline:
            time.sleep(0.2)
        if not session_processes(session_id):
            return
    raise RuntimeError(f"processes of session {session_id} survived SIGKILL: {session_processes(session_id)}")
