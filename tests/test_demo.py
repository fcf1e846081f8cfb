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
    assert evaluation["recognizer_training"]["val_acc"] >= 0.95  # easy data; lower means a bug
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
    """The shipped demo.yaml (shortened training and protocol): the real corpus (15 words, 17
    letters) imported with whole recording blocks as train / val / test, scored far above chance."""
    from workflows import demo

    run_dir = tmp_path / "demo"
    corpora = json.dumps([str(ROOT / "corpora" / "asl_mpdata"),
                          {"path": str(ROOT / "corpora" / "asl_mpdata_letters"), "group_size": 10}])
    demo.main([f"run_dir={run_dir}", f"train.storage_path={run_dir / 'ray'}", "train.epochs=10", "eval.repeats=2",
               f"extract.input={corpora}"])
    summary = json.loads((run_dir / "summary.json").read_text())

    corpus = summary["corpus"]
    assert summary["synthetic"] is False and corpus["name"] == "asl_mpdata" and len(corpus["glosses"]) == 32
    split = corpus["split"]
    assert split["rule"] == "group" and (split["train_groups"], split["val_groups"], split["test_groups"]) == (
        ["0"], ["1"], ["2"])  # whole recording blocks: train, validation, test
    per_split = corpus["clips_per_split"]
    assert sum(per_split.values()) >= 1750  # QC keeps nearly every real sequence (of 1350 words + 510 letters)
    assert max(per_split.values()) - min(per_split.values()) <= 25
    assert summary["training"]["epochs"] == 10
    groups = summary["evaluation"]["groups"]
    assert set(groups) == set(TABLE_ONE_ROWS)
    assert groups["Raw_test"]["acc"] >= 0.5  # chance is 1/32; the recognizer meets an unseen block
    quality = summary["evaluation"]["quality"]  # generation quality on the untouched test block, per gloss too
    assert quality["split"] == "test" and set(quality["beside"]) == {"val"}
    assert quality["overall"]["multi_ratio"]["mean"] > 0 and len(quality["per_gloss"]) == 32
    assert 0 < quality["overall"]["gen_dtw"]["mean"] < 0.5  # metres
    assert set(quality["temperature_curve"]) == {"1", "1.5", "2", "3"}
    sheet = Image.open(summary["quality_sheet"]["still"])
    assert sheet.size == (5 * demo.SHEET_PANEL[0], 32 * demo.SHEET_PANEL[1])  # per gloss: train, test, 3 samples
    assert Path(summary["quality_sheet"]["animation"]).stat().st_size > 10_000
    for preview in summary["previews"].values():
        assert Path(preview).stat().st_size > 1000
    clips = json.loads((run_dir / "dataset" / "manifest.json").read_text())
    assert clips["extraction"]["source"] == "mpdata" and clips["extraction"]["error"] == 0
