"""Ray Tune sweeps: quick.yaml end to end, kill + resume, and spec validation."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from signavatar.config import ConfigError
from signavatar.tuning.spec import load_spec

ROOT = Path(__file__).resolve().parents[1]
QUICK = str(ROOT / "tune_configs" / "quick.yaml")
DEMO = str(ROOT / "configs" / "synthetic.yaml")


def quick_spec_copy(tmp_path: Path, **changes) -> str:
    """quick.yaml with ``changes``, written to tmp_path (its base_config made absolute)."""
    spec = {**yaml.safe_load(Path(QUICK).read_text()), "base_config": DEMO, **changes}
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return str(path)


def test_unknown_search_key_rejected_before_any_trial(tmp_path):
    space = {**yaml.safe_load(Path(QUICK).read_text())["search_space"], "train.klweight": {"loguniform": [1e-6, 1e-2]}}
    bad = quick_spec_copy(tmp_path, search_space=space)
    with pytest.raises(ConfigError, match="train.klweight"):
        load_spec(bad)
    from workflows import tune as tune_workflow

    with pytest.raises(ConfigError, match="train.klweight"):
        tune_workflow.main(["--config", bad, f"storage_path={tmp_path}"])
    assert not (tmp_path / "quick").exists()  # nothing started


def test_bad_search_value_rejected(tmp_path):
    path = quick_spec_copy(tmp_path, search_space={"curriculum.cap": {"choice": [0.5, 2.0]}})
    with pytest.raises(ConfigError, match=r"curriculum.cap: value 2.0 is invalid"):
        load_spec(path)


def quick_args(tmp_path: Path, *extra: str) -> list[str]:
    return ["--config", QUICK, f"storage_path={tmp_path / 'tune'}", f"base.run_dir={tmp_path / 'run'}", *extra]


def test_quick_sweep_asha_and_best_config_trains(ray_cluster, tmp_path):
    from workflows import train as train_workflow
    from workflows import tune as tune_workflow

    # one trial at a time makes ASHA's decisions depend only on the (seeded) results, not on timing
    summary = tune_workflow.main(quick_args(tmp_path, "max_concurrent_trials=1"))
    trials = summary["trials"]
    assert len(trials) == 4
    assert all(t["status"] != "error" for t in trials)
    assert any(t["status"] == "stopped early" for t in trials), trials  # ASHA cut at least one
    values = [t["val_rec"] for t in trials]
    assert values == sorted(values)
    out = tmp_path / "tune" / "quick"
    assert (out / "trials.md").read_text().count("\n") == 2 + 4
    assert summary["best_checkpoint"] and summary["best"] == trials[0]
    # each trial is a Ray Train run stored under the experiment and named by its trial id
    best_checkpoint = Path(summary["best_checkpoint"])
    assert best_checkpoint.is_relative_to(out / "train_runs") and (best_checkpoint / "checkpoint.pt").is_file()
    assert sorted(p.name for p in (out / "train_runs").iterdir()) == sorted(t["trial_id"] for t in trials)

    best = yaml.safe_load((out / "best_config.yaml").read_text())
    assert best["train"]["kl_weight"] == pytest.approx(trials[0]["params"]["train.kl_weight"])
    result = train_workflow.main(["--config", str(out / "best_config.yaml"), f"run_dir={tmp_path / 'best'}",
                                  f"train.storage_path={tmp_path / 'best-ray'}", "train.epochs=2"])
    assert result["epochs"] == 2 and Path(result["checkpoint"], "checkpoint.pt").exists()


def test_a_trial_is_a_distributed_training_job(ray_cluster, tmp_path):
    """A trial runs the training job's TorchTrainer: two DDP workers of one CPU each when the base
    config asks for two, its driver holding no CPU (so both fit on the 2-CPU test cluster)."""
    from workflows import tune as tune_workflow

    summary = tune_workflow.main(quick_args(tmp_path, "num_samples=1", "scheduler.type=fifo", "base.train.epochs=2",
                                            "base.train.num_workers=2"))
    (trial,) = summary["trials"]
    assert trial["status"] == "completed" and np.isfinite(trial["val_rec"])
    (result,) = (tmp_path / "tune" / "quick").glob("*/result.json")
    reports = [json.loads(line) for line in result.read_text().splitlines()]
    assert [r["epochs_done"] for r in reports] == [1, 2]
    assert all(len(r["workers"]) == 2 for r in reports)


def test_trial_resources_are_the_train_workers(tmp_path):
    from signavatar.tuning.runner import trial_training_config

    spec = load_spec(QUICK, [f"storage_path={tmp_path}", "resources_per_trial={cpu: 2, gpu: 0.5}"])
    train = trial_training_config(spec, {"train.kl_weight": 1e-4, "train.lr": 1e-3}, "abc_00001").train
    assert (train.cpus_per_worker, train.use_gpu, train.gpus_per_worker) == (2, True, 0.5)
    assert train.kl_weight == 1e-4 and train.name == "abc_00001"
    assert train.storage_path == str(tmp_path / "quick" / "train_runs")
    with pytest.raises(ConfigError, match="only cpu and gpu"):
        load_spec(QUICK, ["resources_per_trial={cpu: 1, memory: 100}"])
    # Ray's own spelling works too, and a relative storage path is this directory's (trials run elsewhere)
    spec = load_spec(QUICK, ["resources_per_trial={CPU: 3}", "storage_path=runs/sweeps"])
    assert spec.resources_per_trial == {"cpu": 3} and spec.storage_path == str(Path.cwd() / "runs" / "sweeps")


def test_killed_sweep_resumes_without_rerunning_finished_trials(ray_cluster, tmp_path):
    env = {**os.environ, "RAY_ADDRESS": ray_cluster.get_runtime_context().gcs_address,
           "TUNE_GLOBAL_CHECKPOINT_S": "1", "PYTHONPATH": str(ROOT)}
    args = [sys.executable, "-m", "workflows.tune", *quick_args(tmp_path, "max_concurrent_trials=1",
                                                               "scheduler.type=fifo", "base.train.epochs=4")]
    experiment = tmp_path / "tune" / "quick"
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and len(finished_trials(experiment)) < 2:
            assert proc.poll() is None, "the sweep ended before it could be killed"
            time.sleep(0.5)
        time.sleep(3)  # let Tune write its experiment state after those trials
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    before = finished_trials(experiment)
    assert 2 <= len(before) < 4
    snapshot = {name: path.read_text() for name, path in before.items()}

    resumed = subprocess.run([*args, "--resume"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    after = finished_trials(experiment)
    assert len(after) == 4
    for name, text in snapshot.items():
        assert after[name].read_text() == text, f"finished trial {name} was rerun"
    summary = json.loads((experiment / "trials.json").read_text())
    assert len(summary["trials"]) == 4 and all(t["epochs"] == 4 for t in summary["trials"])


def finished_trials(experiment: Path) -> dict[str, Path]:
    """Trial dirs whose result.json reached the last epoch (4 reports)."""
    done = {}
    for result in experiment.glob("*/result.json"):
        lines = result.read_text().splitlines()
        if len(lines) >= 4:
            done[result.parent.name] = result
    return done


def test_sweep_on_generated_clip_accuracy(ray_cluster, tmp_path):
    """metric: gen_acc — a recognizer trained once on Raw train scores each trial's generated clips."""
    from workflows import tune as tune_workflow

    summary = tune_workflow.main(quick_args(
        tmp_path, "metric=gen_acc", "mode=max", "num_samples=2", "scheduler.type=fifo", "max_concurrent_trials=1",
        "gen_samples_per_gloss=3", "base.train.epochs=2", "base.eval.recognizer_epochs=2",
        "base.eval.recognizer_hidden=[8, 8, 16]", "base.eval.recognizer_feature_dim=16"))
    assert summary["metric"] == "gen_acc" and len(summary["trials"]) == 2
    values = [t["gen_acc"] for t in summary["trials"]]
    assert all(0.0 <= v <= 1.0 for v in values) and values == sorted(values, reverse=True)
    assert (tmp_path / "tune" / "quick" / "recognizer.pt").is_file()


def test_metric_mode_mismatch_rejected(tmp_path):
    with pytest.raises(ConfigError, match="gen_acc is optimised with mode 'max'"):
        load_spec(QUICK, ["metric=gen_acc"])


def test_sweep_on_the_generation_quality_objective(ray_cluster, tmp_path):
    """metric: quality — the protocol's draws on the validation split at every checkpoint, the
    composite objective reported with its parts; ASHA compares trials at equal epochs (``epochs_done``)."""
    from workflows import tune as tune_workflow

    summary = tune_workflow.main(quick_args(
        tmp_path, "metric=quality", "mode=min", "num_samples=3", "max_concurrent_trials=1",
        "base.data.synthetic.val_fraction=0.2",
        "scheduler.grace_period=1", "base.train.epochs=4", "base.eval.recognizer_epochs=2",
        "base.eval.recognizer_hidden=[8, 8, 16]", "base.eval.recognizer_feature_dim=16",
        "base.eval.multimodality_samples=3"))
    trials = summary["trials"]
    assert summary["metric"] == "quality" and len(trials) == 3
    values = [t["quality"] for t in trials]
    assert all(np.isfinite(values)) and values == sorted(values)
    for trial in trials:
        figures = trial["figures"]
        assert figures["gen_fid"] >= 0 and figures["multi_ratio"] > 0 and 0 <= figures["gen_acc"] <= 1
        assert 0 < figures["gen_dtw"] < 1  # metres
        assert trial["epochs"] in (2, 4)  # reports at checkpoints only (every 2 epochs in quick.yaml)
    assert any(t["status"] == "stopped early" for t in trials), trials  # ASHA cut at least one at epoch 2
    best = yaml.safe_load((tmp_path / "tune" / "quick" / "best_config.yaml").read_text())
    assert best["train"]["kl_weight"] == pytest.approx(trials[0]["params"]["train.kl_weight"])


def test_best_config_stops_at_the_best_epoch_with_the_same_masking_schedule():
    from signavatar.config import SignAvatarConfig
    from signavatar.model.curriculum import mask_ratio
    from signavatar.tuning.results import stopped_at

    data = SignAvatarConfig().model_dump(mode="json")
    data["train"]["epochs"] = 100
    stopped_at(data, 25)
    short = SignAvatarConfig.model_validate(data)
    full = SignAvatarConfig().curriculum
    assert short.train.epochs == 25 and short.curriculum.total_epochs == 1250
    assert [mask_ratio(e, short.curriculum, 25) for e in range(25)] == [mask_ratio(e, full, 100) for e in range(25)]
    data["train"]["epochs"], data["curriculum"]["total_epochs"] = 90, 5000
    stopped_at(data, 25)  # 5000 * 25 / 90 is no whole number: the stretched step is spelled out
    spelled = SignAvatarConfig.model_validate(data).curriculum
    assert spelled.scale_to_run is False and spelled.step == round(500 * 90 / 5000)
    assert [mask_ratio(e, spelled, 25) for e in range(25)] == [mask_ratio(e, full, 90) for e in range(25)]


def test_sweep_scores_never_read_the_test_split(tiny_checkpoint, tmp_path):
    """A trial's quality figures (and the recognizer a sweep trains) come from train and val only:
    on a copy of the dataset whose test clips are replaced by other motion, they are identical."""
    import torch

    from signavatar.data.synthetic import generate_corpus
    from signavatar.evaluation.recognizer_cache import ensure_recognizer
    from signavatar.model.checkpoint import load_checkpoint
    from signavatar.motion import arrow_io
    from signavatar.training.loop import restore_training_state
    from signavatar.tuning.scores import QualityScores

    tiny = tiny_checkpoint.config
    small = tiny.eval.model_copy(update={"recognizer_hidden": (8, 8, 16), "recognizer_feature_dim": 16,
                                         "recognizer_epochs": 2, "multimodality_samples": 2, "diversity_size": 4})
    clips = generate_corpus(tiny.data.synthetic.model_copy(update={"val_fraction": 0.25, "clips_per_gloss": 12}))
    assert {c.split for c in clips} == {"train", "val", "test"}
    rng = np.random.default_rng(0)
    other = [c.replace(poses=rng.normal(0, 0.5, c.poses.shape).astype(np.float32)) if c.split == "test" else c
             for c in clips]
    figures = []
    for name, dataset_clips in (("real", clips), ("replaced", other)):
        dataset = str(tmp_path / name)
        arrow_io.write_dataset(dataset_clips, dataset, shard_size=5)  # shards mix the splits
        recognizer = str(tmp_path / f"{name}.pt")
        ensure_recognizer(dataset, recognizer, tiny.data.num_frames, small)
        state = restore_training_state(load_checkpoint(tiny_checkpoint.checkpoint))
        state = type(state)(**{**state.__dict__, "config": tiny.model_copy(update={"eval": small})})
        scores = QualityScores(dataset, recognizer, repeats=2, seed=0).bind(state, None, torch.device("cpu"))
        figures.append(scores())
    assert figures[0] == figures[1] and np.isfinite(figures[0]["quality"]) and figures[0]["gen_dtw"] > 0
