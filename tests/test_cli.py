"""The `signavatar` command (every failure one line naming the problem, a non-zero exit, `--out`
checked first, tracebacks only with `--debug`), `python -m workflows.*` likewise, YAML config
errors naming file and line, and a workflow submitted as a Ray job to a running cluster."""

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
    logs = done.stdout + done.stderr
    assert "succeeded" in logs
    # the workers' epoch log reaches the job's log, Ray Train's per-report INFO line does not
    assert "epoch 0 loss" in logs and "Reporting training result" not in logs
    summary = json.loads((run_dir / "train_summary.json").read_text())
    assert summary["epochs"] == 3 and (run_dir / "checkpoint" / "checkpoint.pt").is_file()


# --- one-line errors ------------------------------------------------------------------------------

def one_line_error(capsys, argv: list[str], code: int, *named: str) -> str:
    """Run ``signavatar argv``: exit ``code``, stderr one line naming ``named``, no traceback."""
    assert main(argv) == code
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"signavatar {argv[0]}: "), err
    assert "Traceback" not in err
    for word in named:
        assert word in err, (word, err)
    return err


@pytest.fixture
def files(tmp_path):
    """Bad inputs of every kind, and a regular file to put a bad --out under."""
    (tmp_path / "dir.pose").mkdir()
    (tmp_path / "dir.npz").mkdir()
    (tmp_path / "empty.pose").write_bytes(b"")
    (tmp_path / "empty.npz").write_bytes(b"")
    (tmp_path / "dir.mp4").mkdir()
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "video.pose").write_bytes(b"\0\0\0\x18ftypmp42" + bytes(200))  # an mp4 named .pose
    (tmp_path / "file.txt").write_text("a file, not a folder")
    return tmp_path


@pytest.mark.parametrize("name, kind", [("missing.pose", "not found"), ("dir.pose", "Is a directory"),
                                        ("video.pose", "not a readable .pose file"), ("empty.pose", "empty file")])
def test_fit_bad_input_is_one_line(capsys, files, name, kind):
    one_line_error(capsys, ["fit", str(files / name), "--out", str(files / "out.npz")], 1, name, kind)


@pytest.mark.parametrize("name, kind", [("missing.mp4", "no such file"), ("dir.mp4", "Is a directory"),
                                        ("empty.mp4", "zero-length file")])
def test_landmarks_bad_input_is_one_line(capsys, files, name, kind):
    one_line_error(capsys, ["landmarks", str(files / name), "--out", str(files / "out.pose")], 1, name, kind)


def test_fit_truncated_pose_file_is_one_line(capsys, files, shared_data):
    pose = (shared_data / "real_poses" / "example.pose").read_bytes()
    (files / "cut.pose").write_bytes(pose[: len(pose) // 2])
    one_line_error(capsys, ["fit", str(files / "cut.pose"), "--out", str(files / "out.npz")], 1,
                   "cut.pose", "not a readable .pose file")


@pytest.mark.parametrize("command", [
    ["fit", "missing.pose"], ["landmarks", "missing.mp4"], ["render", "missing.npz"],
    ["export", "missing.npz", "--format", "glb"],
    ["generate", "drink", "--url", "http://127.0.0.1:9"], ["reconstruct", "missing.npz", "--gloss", "drink",
                                                           "--url", "http://127.0.0.1:9"]])
def test_out_is_checked_before_any_work(capsys, files, command):
    """An --out under a regular file: named at once, before the input is read, a worker started
    or a server asked (none of which exists here)."""
    suffix = {"fit": ".npz", "landmarks": ".pose", "render": ".mp4", "export": ".glb"}.get(command[0], ".npz")
    out = str(files / "file.txt" / f"out{suffix}")
    one_line_error(capsys, [*command, "--out", out], 2, "--out", "file.txt is not a directory")
    one_line_error(capsys, [*command, "--out", str(files / "out.txt")], 2, "--out", "use a file name ending in")


def test_render_bad_inputs_and_sizes_are_one_line(capsys, files):
    from signavatar.motion.amass import save_npz
    from signavatar.rendering.command import MAX_FRAME_PIXELS, MAX_GIF_PIXELS, MAX_PANEL_SIDE
    from tests.support.clips import random_clip

    out = str(files / "out.mp4")
    one_line_error(capsys, ["render", str(files / "dir.npz"), "--out", out], 2, "dir.npz", "Is a directory")
    one_line_error(capsys, ["render", str(files / "empty.npz"), "--out", out], 2, "empty.npz", "not a readable .npz")
    with pytest.raises(SystemExit) as exit_:  # argparse: usage line and the error naming the limit
        main(["render", str(files / "empty.npz"), "--out", out, "--size", "100000x100000"])
    assert exit_.value.code == 2 and f"each side must be 1..{MAX_PANEL_SIDE}" in capsys.readouterr().err
    clip = str(files / "clip.npz")
    save_npz(random_clip(frames=90), clip)
    one_line_error(capsys, ["render", clip, clip, "--out", out, "--size", "4096x4096"], 2,
                   "33554432 pixels", str(MAX_FRAME_PIXELS))
    one_line_error(capsys, ["render", clip, "--out", str(files / "out.gif"), "--size", "4000x4000"], 2,
                   "90 frames", str(MAX_GIF_PIXELS))
    assert not any(files.glob("out.*"))


def npz_claiming(shape: tuple[int, ...], data_bytes: int) -> bytes:
    """An npz whose ``poses.npy`` header claims ``shape`` (float32) over ``data_bytes`` of data."""
    import io
    import zipfile

    import numpy as np

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive, archive.open("poses.npy", "w") as member:
        np.lib.format.write_array_header_1_0(member, {"descr": "<f4", "fortran_order": False, "shape": shape})
        member.write(bytes(data_bytes))
    return buffer.getvalue()


def test_render_bounds_its_clips_like_the_server_before_decoding(capsys, files):
    """The server's limits on an uploaded clip hold for ``signavatar render`` too, through the one npz
    loader: decoded size from the zip directory, frames and sizes from each array header, all
    before anything is decompressed or allocated."""
    from signavatar.config import DEFAULT_MAX_CLIP_DECODED_BYTES, DEFAULT_MAX_CLIP_FRAMES
    from tests.test_hardening import npz_bomb

    out = str(files / "out.mp4")
    (files / "bomb.npz").write_bytes(npz_bomb(400_000))  # 262 KB, 264 MB decoded: it ran to 4.9 GB
    one_line_error(capsys, ["render", str(files / "bomb.npz"), "--out", out], 2, "bomb.npz", "264000128 bytes",
                   str(DEFAULT_MAX_CLIP_DECODED_BYTES))
    frames = DEFAULT_MAX_CLIP_FRAMES + 1
    (files / "long.npz").write_bytes(npz_claiming((frames, 165), frames * 165 * 4))
    one_line_error(capsys, ["render", str(files / "long.npz"), "--out", out], 2, "long.npz", f"{frames} frames",
                   str(DEFAULT_MAX_CLIP_FRAMES))
    (files / "claim.npz").write_bytes(npz_claiming((10**8, 165), 1000))  # 61.5 GiB claimed, 1000 bytes held
    one_line_error(capsys, ["render", str(files / "claim.npz"), "--out", out], 2, "claim.npz",
                   "declares shape [100000000, 165]", "holds 1000 bytes")
    assert not any(files.glob("out.*"))


def test_client_cannot_reach_the_server_is_one_line(capsys, files):
    one_line_error(capsys, ["generate", "drink", "--out", str(files / "d.npz"), "--url", "http://127.0.0.1:9"], 1,
                   "http://127.0.0.1:9/generate", "no SignAvatar endpoint reachable", "Connection refused")


def test_generate_names_a_bad_temperature(capsys, files):
    with pytest.raises(SystemExit) as exit_:
        main(["generate", "coffee", "--out", str(files / "c.npz"), "--temperature", "nan"])
    assert exit_.value.code == 2 and "argument --temperature: must be a number from 0 to 5, got 'nan'" in \
        capsys.readouterr().err


def test_extract_checks_its_input_before_starting_ray(capsys, tmp_path, monkeypatch):
    """A missing corpus (a folder of a list too) is named at once; the check comes before
    ``init_ray`` (17 s)."""
    from workflows import extract
    from workflows.common import run_main

    started = []
    monkeypatch.setattr(extract, "init_ray", lambda: started.append(True))
    missing = tmp_path / "no-such-corpus"
    assert run_main(extract.main, ["extract.source=mpdata", f"extract.input={missing}",
                                   f"extract.output={tmp_path / 'out'}"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"extract.input={missing} does not exist" in err, err
    (tmp_path / "present").mkdir()
    assert run_main(extract.main, ["extract.source=mpdata", f"extract.input=[{tmp_path / 'present'},{missing}]",
                                   f"extract.output={tmp_path / 'out'}"]) == 1
    assert f"extract.input={missing} does not exist" in capsys.readouterr().err
    assert not started


def test_debug_shows_the_traceback(files):
    argv = ["fit", str(files / "missing.pose"), "--out", str(files / "out.npz")]
    with pytest.raises(FileNotFoundError, match="missing.pose"):
        main(["--debug", *argv])
    with pytest.raises(FileNotFoundError, match="missing.pose"):
        main([*argv, "--debug"])


# --- workflows and config files -----------------------------------------------------------------

ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(8))


@pytest.mark.parametrize("content, named", [
    ("train:\n  epochs: [1\n", ["bad.yaml:3:1", "expected ',' or ']'"]),
    ("train: {epochs: 3}\n  lr: 1\n", ["bad.yaml:2:3", "expected <block end>"]),
    (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", ["bad.yaml", "not YAML text (binary data at byte 0)"]),
    (ALIAS_BOMB, ["bad.yaml:6:4", "more than 100000 nodes", "alias bomb"]),
    ("a: &a [*a]\n", ["bad.yaml:1:4", "recursive alias"]),
    ("- just\n- a list\n", ["bad.yaml", "top level must be a mapping"]),
])
def test_bad_config_files_are_one_line_naming_file_and_line(capsys, tmp_path, content, named):
    from workflows import train
    from workflows.common import run_main

    path = tmp_path / "bad.yaml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    assert run_main(train.main, ["--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("python -m workflows.train: "), err
    for word in named:
        assert word in err, (word, err)


def test_sweep_configs_use_the_same_checked_loader(capsys, tmp_path):
    from workflows import tune
    from workflows.common import run_main

    (tmp_path / "bomb.yaml").write_text(ALIAS_BOMB)
    assert run_main(tune.main, ["--config", str(tmp_path / "bomb.yaml")]) == 2
    assert "alias bomb" in capsys.readouterr().err


def test_workflow_entry_point_prints_one_line_and_debug_the_traceback():
    """`python -m workflows.train train.epochs=-1` as a user runs it: one line naming the key,
    exit 2; with --debug the traceback."""
    command = [sys.executable, "-m", "workflows.train", "train.epochs=-1"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    assert done.stderr == ("python -m workflows.train: invalid config: train.epochs: "
                           "Input should be greater than or equal to 1\n")
    debug = subprocess.run([*command, "--debug"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert debug.returncode == 1 and "Traceback" in debug.stderr and "ConfigError" in debug.stderr
