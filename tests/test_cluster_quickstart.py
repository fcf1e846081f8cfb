"""The README's cluster quickstart, run as written: ``ray start --head`` -> ``ray status`` -> ``ray job
submit`` of a training workflow -> outputs where the README says.

What the test changes, each replacement required to match so the README cannot drift from what is
tested: free ports instead of the defaults (GCS, dashboard, Ray Client server; the dashboard agent,
metrics, runtime-env agent and workers on ports the OS picks), the cluster's files in the test's
temp dir (its ``ray_current_cluster`` too), the outputs there, and no ``ray stop``: that stops every
Ray on the machine. The test stops only its own cluster, by its processes (one session, see
``tests.support.ray_nodes``). HOME is the temp dir too, so the generated token is the test's own.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
from pathlib import Path

import pytest
import requests

from tests.conftest import free_port
from tests.support.ray_nodes import session_processes, short_tmpdir, stop_session

ROOT = Path(__file__).resolve().parents[1]
MARKER = "<!-- quickstart -->"

pytestmark = pytest.mark.slow


def quickstart_block() -> str:
    """The bash block right after the README's quickstart marker."""
    text = (ROOT / "README.md").read_text()
    assert text.count(MARKER) == 1, f"README.md needs exactly one {MARKER}"
    match = re.match(r"\s*```bash\n(.*?)```", text.split(MARKER, 1)[1], re.S)
    assert match, f"no ```bash block right after {MARKER} in README.md"
    return match.group(1)


def localize(block: str, tmp: Path, ray_tmp: str, gcs: int, dashboard: int, client: int) -> str:
    replacements = [
        ("ray start --head --port=6379 --dashboard-port=8265",
         f"ray start --head --port={gcs} --dashboard-port={dashboard} --ray-client-server-port={client} "
         f"--dashboard-agent-listen-port=0 --min-worker-port=0 --max-worker-port=0 --temp-dir={ray_tmp}/ray"),
        ("--address=127.0.0.1:6379", f"--address=127.0.0.1:{gcs}"),
        ("--address=http://127.0.0.1:8265", f"--address=http://127.0.0.1:{dashboard}"),
        ('OUT="$PWD/runs/quickstart"', f'OUT="{tmp}/runs/quickstart"'),
    ]
    for old, new in replacements:
        assert block.count(old) == 1, f"README quickstart no longer has `{old}` exactly once"
        block = block.replace(old, new)
    lines = block.splitlines()
    stops = [line for line in lines if line.startswith("ray stop")]
    assert len(stops) == 1, "README quickstart should end with `ray stop`"
    return "\n".join(line for line in lines if line not in stops) + "\n"


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_readme_quickstart_runs_verbatim(tmp_path):
    with short_tmpdir() as ray_tmp:
        run_quickstart(tmp_path, ray_tmp)


def run_quickstart(tmp: Path, ray_tmp: str) -> None:
    (tmp / "home").mkdir()
    gcs, dashboard, client = free_port(), free_port(), free_port()
    script = localize(quickstart_block(), tmp, ray_tmp, gcs, dashboard, client)
    # A user's shell: no Ray settings inherited from this session (RAY_ADDRESS, RAY_TMPDIR of the
    # shared test cluster), nothing on PYTHONPATH, no venv active yet.
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_") and k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(HOME=str(tmp / "home"), RAY_TMPDIR=ray_tmp, RAY_USAGE_STATS_ENABLED="0")
    shell = subprocess.Popen(["bash", "-e", "-o", "pipefail", "-c", script], cwd=ROOT, env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        out, _ = shell.communicate(timeout=900)
        assert shell.returncode == 0, out[-6000:]
        assert listening(gcs) and listening(dashboard)  # the cluster outlives the script, as after `ray start`
        unauthenticated = requests.get(f"http://127.0.0.1:{dashboard}/api/jobs/", timeout=30)
        token = (tmp / "home" / ".ray" / "auth_token").read_text().strip()
        authenticated = requests.get(f"http://127.0.0.1:{dashboard}/api/jobs/", timeout=30,
                                     headers={"Authorization": f"Bearer {token}"})
    finally:
        stop_session(shell.pid)

    assert unauthenticated.status_code in (401, 403) and authenticated.status_code == 200  # token auth is on
    jobs = authenticated.json()
    assert [job["status"] for job in jobs] == ["SUCCEEDED"], jobs
    assert "Node status" in out and re.search(r"\b\d+\.\d+/\d+\.\d+ CPU\b", out), out[:6000]  # `ray status`
    assert "succeeded" in out  # `ray job submit` waited for the job
    run = tmp / "runs" / "quickstart"
    summary = json.loads((run / "train_summary.json").read_text())
    assert summary["epochs"] == 3 and (run / "checkpoint" / "checkpoint.pt").is_file() and (run / "ray").is_dir()
    assert (Path(ray_tmp) / "ray" / "ray_current_cluster").read_text().endswith(f":{gcs}")  # its own temp dir only
    shared = Path("/tmp/ray/ray_current_cluster")
    assert not shared.exists() or not shared.read_text().endswith(f":{gcs}")

    assert session_processes(shell.pid) == [] and not listening(gcs) and not listening(dashboard)
