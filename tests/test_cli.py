"""The `signavatar` command, and a workflow submitted as a Ray job to a running cluster."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from signavatar.cli import COMMANDS, main

ROOT = Path(__file__).resolve().parents[1]


def test_help_lists_every_command_and_each_resolves(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name, (module, _) in COMMANDS.items():
        assert f"  {name}" in out
        assert callable(importlib.import_module(module).main)


def test_unknown_command_is_rejected(capsys):
    assert main(["frobnicate"]) == 2
    assert "unknown command 'frobnicate'" in capsys.readouterr().err


@pytest.mark.slow
def test_train_workflow_as_ray_job(ray_cluster, tmp_path):
    """`ray job submit --working-dir . -- python -m workflows.train ...` against the test cluster."""
    from tests.support.checkpoints import TINY_OVERRIDES

    run_dir = tmp_path / "job-run"
    overrides = [o for o in TINY_OVERRIDES if not o.startswith(("train.epochs", "train.checkpoint_every"))]
    command = [
        sys.executable, "-m", "ray.scripts.scripts", "job", "submit",
        "--address", os.environ["SIGNAVATAR_TEST_DASHBOARD"], "--working-dir", str(ROOT),
        "--runtime-env-json", json.dumps({"env_vars": {"OMP_NUM_THREADS": "1"}}), "--",
        sys.executable, "-m", "workflows.train", *overrides, "train.epochs=3", "train.checkpoint_every=1",
        f"run_dir={run_dir}", f"train.storage_path={tmp_path / 'job-ray'}", "train.name=job",
    ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "succeeded" in done.stdout + done.stderr
    summary = json.loads((run_dir / "train_summary.json").read_text())
    assert summary["epochs"] == 3 and (run_dir / "checkpoint" / "checkpoint.pt").is_file()
