"""The demo end to end, checked through its summary.json: on the synthetic corpus
(configs/synthetic.yaml) and, as shipped (`make demo`), on the embedded real ASL corpus."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from signavatar.evaluation.report import TABLE_ONE_ROWS

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.timeout(1200)  # the whole demo: 200-400 s on a 2-core box, more when it is busy
def test_demo_end_to_end(ray_cluster, tmp_path):
    from workflows import demo

    run_dir = tmp_path / "demo"
    # half the config's epochs and 3 protocol repetitions instead of 20 keep the suite's time down; the
    # curriculum still reaches its cap (it is stretched over the run) and the figures checked are means
    demo.main(["--config", str(ROOT / "configs" / "synthetic.yaml"), f"run_dir={run_dir}",
               f"train.storage_path={run_dir / 'ray'}", "train.epochs=75", "eval.repeats=3"])
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["synthetic"] is True and summary["corpus"]["name"] == "synthetic"
    assert summary["corpus"]["split"]["rule"] == "per_gloss" and len(summary["corpus"]["glosses"]) == 6
    assert set(summary["stage_seconds"]) == {"dataset", "train", "evaluate", "generate", "render"}

    training = summary["training"]
    assert training["epochs"] == 75 and Path(training["checkpoint"], "checkpoint.pt").is_file()
    assert training["final"]["mask_ratio"] == pytest.approx(0.6)  # the stretched curriculum reached its cap

    evaluation = summary["evaluation"]
    assert evaluation["repetitions"] == 3
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


@pytest.mark.slow
def test_demo_on_the_real_corpus(ray_cluster, tmp_path):
    """The shipped demo.yaml (shortened training and protocol): the real corpus imported with the
    unseen recording session as test, scored far above chance (1/15)."""
    from workflows import demo

    run_dir = tmp_path / "demo"
    demo.main([f"run_dir={run_dir}", f"train.storage_path={run_dir / 'ray'}", "train.epochs=10", "eval.repeats=2",
               f"extract.input={ROOT / 'corpora' / 'asl_mpdata'}"])
    summary = json.loads((run_dir / "summary.json").read_text())

    corpus = summary["corpus"]
    assert summary["synthetic"] is False and corpus["name"] == "asl_mpdata" and len(corpus["glosses"]) == 15
    assert corpus["split"]["rule"] == "group" and corpus["split"]["test_groups"] == ["1"]
    assert sum(corpus["clips_per_split"].values()) >= 850  # QC keeps nearly every real sequence
    assert abs(corpus["clips_per_split"]["train"] - corpus["clips_per_split"]["test"]) <= 20
    assert summary["training"]["epochs"] == 10
    groups = summary["evaluation"]["groups"]
    assert set(groups) == set(TABLE_ONE_ROWS)
    assert groups["Raw_test"]["acc"] >= 0.5  # chance is 1/15; the recognizer meets an unseen session
    quality = summary["evaluation"]["quality"]  # generation quality on the unseen session, per gloss too
    assert quality["overall"]["multi_ratio"]["mean"] > 0 and len(quality["per_gloss"]) == 15
    assert set(quality["temperature_curve"]) == {"1", "1.5", "2", "3"}
    sheet = Image.open(summary["quality_sheet"]["still"])
    assert sheet.size == (6 * demo.SHEET_PANEL[0], 15 * demo.SHEET_PANEL[1])  # per gloss: two real sessions + four samples
    assert Path(summary["quality_sheet"]["animation"]).stat().st_size > 10_000
    for preview in summary["previews"].values():
        assert Path(preview).stat().st_size > 1000
    clips = json.loads((run_dir / "dataset" / "manifest.json").read_text())
    assert clips["extraction"]["source"] == "mpdata" and clips["extraction"]["error"] == 0
