"""Serve autoscaling observed on the tiny checkpoint: the model deployment (min 1, max 2 replicas,
short delays) scales to 2 under 8 clients and back to 1 under one, and no request fails through
either transition (``benchmarks.bench_autoscale.observe``)."""

from __future__ import annotations

import pytest
import yaml

from benchmarks.bench_autoscale import REPO, autoscaling_app, observe
from tests.conftest import free_port

pytestmark = pytest.mark.slow


@pytest.fixture
def serve_url(ray_cluster):
    from ray import serve

    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    yield f"http://127.0.0.1:{port}"
    serve.shutdown()


def test_model_deployment_scales_up_and_down_without_failed_requests(serve_url, tiny_checkpoint):
    args = yaml.safe_load((REPO / "serve_configs" / "local.yaml").read_text())["applications"][0]["args"]
    args = {**args, "checkpoint": tiny_checkpoint.checkpoint, "clip": tiny_checkpoint.clip.model_dump()}
    # Half a CPU per model replica: both fit on the session cluster's 2 CPUs next to anything else.
    report = observe(autoscaling_app(args, model_cpus=0.5), serve_url, tiny_checkpoint.glosses, clients=8)

    states = [step["replicas"] for step in report["timeline"]]
    assert any(s.get("RUNNING") == 2 for s in states), states
    assert states[-1] == {"RUNNING": 1}, states
    assert report["failed"] == 0, report["outcomes"]
    assert report["requests"] > 0
