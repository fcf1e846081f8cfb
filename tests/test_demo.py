"""`make demo` end to end (the embedded default, as shipped), checked through its summary.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from signavatar.evaluation.report import TABLE_ONE_ROWS


@pytest.mark.slow
def test_demo_end_to_end(ray_cluster, tmp_path):
    from workflows import demo

    run_dir = tmp_path / "demo"
    demo.main([f"run_dir={run_dir}", f"train.storage_path={run_dir / 'ray'}"])
    summary = json.loads((run_dir / "summary.json").read_text())

    training = summary["training"]
    assert training["epochs"] == 150 and Path(training["checkpoint"], "checkpoint.pt").is_file()
    assert training["final"]["mask_ratio"] == pytest.approx(0.6)  # the stretched curriculum reached its cap

    evaluation = summary["evaluation"]
    groups = evaluation["groups"]
    assert set(groups) == set(TABLE_ONE_ROWS)
    assert evaluation["recognizer_training"]["test_acc"] >= 0.95  # easy data; lower means a bug
    assert groups["Rec_test"]["acc"] >= groups["Raw_test"]["acc"] - 0.05
    assert groups["Gen_test"]["acc"] >= 0.8 and groups["Gen_test"]["fid"] is not None
    assert summary["generated_nearest_gloss_acc"] >= 0.8
    assert (run_dir / "evaluation.md").read_text().count("|") > 40

    for files in summary["generated"].values():
        for paths in files:
            assert Path(paths["npz"]).is_file() and Path(paths["json"]).is_file()
    for preview in summary["previews"].values():
        assert Path(preview).stat().st_size > 1000 and Path(preview).with_suffix(".gif").is_file()
    qc = json.loads((run_dir / "dataset" / "manifest.json").read_text())["qc"]
    assert qc["frames_removed"] > 0  # quality control had real work on the synthetic corpus
