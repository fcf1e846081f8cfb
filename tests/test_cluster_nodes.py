"""Two nodes on this machine (``ray.cluster_utils.Cluster``, 1 CPU each): extraction's actors and
training's workers spread over both, as the node ids they report show; everything on (moto) S3.

The driver runs in a child process (``tests.support.two_node_driver``): this process may already
hold its one Ray connection, to the session's ``ray_cluster``. Both scenarios share one cluster
start; each test fails with its own scenario's traceback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from signavatar.extraction import output
from signavatar.model.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def two_node_report(s3_endpoint, tmp_path_factory) -> dict:
    from signavatar.storage import filesystem

    bucket = "two-nodes"
    filesystem(f"s3://{bucket}")[0].mkdir(bucket)
    report = tmp_path_factory.mktemp("two-nodes") / "report.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    env.pop("RAY_ADDRESS", None)
    done = subprocess.run([sys.executable, "-m", "tests.support.two_node_driver", f"s3://{bucket}", str(report)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0 and report.is_file(), done.stdout[-3000:] + done.stderr[-5000:]
    data = json.loads(report.read_text())
    assert len(data["nodes"]) == 2, data["nodes"]
    return {**data, "bucket": f"s3://{bucket}"}


def scenario(report: dict, name: str) -> dict:
    result = report[name]
    assert "error" not in result, result.get("error")
    return result


def test_extraction_actors_run_on_both_nodes(two_node_report):
    result = scenario(two_node_report, "extract")
    rows = result["rows"]
    assert [r["status"] for r in rows] == ["ok"] * 4, rows
    assert {r["node_id"] for r in rows} == set(two_node_report["nodes"])
    committed = output.load_state(result["output"], remove_orphans=False).records
    assert sorted(committed) == sorted(r["clip_id"] for r in rows)


def test_training_has_one_worker_per_node_and_checkpoints_on_s3(two_node_report):
    result = scenario(two_node_report, "train")
    workers = result["workers"]
    assert sorted(w["node_id"] for w in workers) == two_node_report["nodes"]  # rank by rank: one per node
    assert all(w["torch_threads"] == 1 for w in workers)  # one CPU per worker -> one torch thread
    checkpoint = f"s3://{result['checkpoint']}"  # Ray reports the path within its S3 filesystem
    assert checkpoint.startswith(f"{two_node_report['bucket']}/ray/two-nodes/")
    state = load_checkpoint(checkpoint)
    assert state["epoch"] == 2 and [h["epoch"] for h in state["history"]] == [0, 1]
