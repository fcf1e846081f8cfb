"""Shared fixtures: one local S3 endpoint (moto server) and one Ray cluster per test session."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
import warnings
from pathlib import Path

import pytest

from workflows.common import RAY_TRAIN_CONTROLLER_POLL_S

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", RAY_TRAIN_CONTROLLER_POLL_S)  # as workflows.common.init_ray

SHARED_DATA = Path(os.environ.get("SIGNAVATAR_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def pytest_collection_modifyitems(config, items):
    """``@pytest.mark.gpu`` tests run where torch sees a CUDA device and are skipped, saying so, elsewhere."""
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU: torch.cuda.is_available() is False on this machine")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


@pytest.fixture(scope="session")
def s3_endpoint():
    """A real S3 endpoint: ``python -m moto.server`` on 127.0.0.1, reached through s3fs.

    The standard AWS variables are set for the whole session so every process (Ray workers
    included, since the Ray fixture starts after this one) finds it."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        endpoint = f"http://127.0.0.1:{port}"
        env = {
            "AWS_ENDPOINT_URL_S3": endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        old = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        yield endpoint
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def s3_bucket(s3_endpoint) -> str:
    """A fresh bucket per test; returns ``s3://<bucket>``."""
    from signavatar.storage import filesystem

    name = f"test-{uuid.uuid4().hex[:12]}"
    fs, _ = filesystem(f"s3://{name}")
    fs.mkdir(name)
    return f"s3://{name}"


@pytest.fixture(autouse=True)
def _no_placement_group_outlives_its_test(request):
    """After a test on the shared cluster, remove the placement groups it left reserved (a finished
    Ray Train run's controller was seen holding its group's CPU minutes later, and the next test
    asking for both CPUs then waited for workers until its timeout). Warns naming the test."""
    yield
    if "ray_cluster" not in request.fixturenames:
        return
    import ray
    from ray._raylet import PlacementGroupID
    from ray.util.placement_group import PlacementGroup, remove_placement_group

    if not ray.is_initialized():
        return
    left = [pg_id for pg_id, info in ray.util.placement_group_table().items() if info["state"] == "CREATED"]
    for pg_id in left:
        remove_placement_group(PlacementGroup(PlacementGroupID.from_hex(pg_id)))
    if left:
        warnings.warn(f"{request.node.nodeid} left {len(left)} placement group(s) reserved; removed", stacklevel=1)


@pytest.fixture(scope="session")
def ray_cluster(s3_endpoint):
    """One local Ray cluster (2 CPUs) shared by every test that needs Ray; its own ports and temp dir
    (``tests.support.ray_nodes``), so it neither collides with nor advertises itself to another Ray.

    A process holds one Ray connection: tests on a cluster of their own (tests/test_cluster_*.py)
    run their driver in a child process."""
    import ray

    from tests.support.ray_nodes import local_cluster

    # The dashboard carries the job-submission API (`ray job submit` in tests/test_cli.py).
    with local_cluster([2], include_dashboard=True, dashboard_host="127.0.0.1", dashboard_port=free_port()) as cluster:
        os.environ["SIGNAVATAR_TEST_DASHBOARD"] = f"http://{cluster.webui_url}"
        yield ray


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared test data not found at {SHARED_DATA} (set SIGNAVATAR_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """A tiny trained checkpoint + tiny CLIP (``tests.support.checkpoints``), built once per session."""
    from tests.support.checkpoints import build_tiny_checkpoint

    return build_tiny_checkpoint(tmp_path_factory.getbasetemp() / "tiny-signavatar")
