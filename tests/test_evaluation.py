"""Evaluation end to end on Ray Data with a tiny checkpoint, and its bad-input path."""

from __future__ import annotations

import json

import numpy as np
import pytest

from signavatar.config import SignAvatarConfig
from signavatar.data.synthetic import generate_corpus
from signavatar.evaluation.protocol import check_vocabulary
from signavatar.evaluation.report import TABLE_ONE_ROWS
from signavatar.evaluation.run import evaluate
from signavatar.motion import arrow_io
from tests.support.clips import random_clip

SMALL_EVAL = {"recognizer_hidden": (8, 8, 16), "recognizer_feature_dim": 16, "recognizer_epochs": 5,
              "gen_samples_per_class": 4, "repeats": 3}


def eval_config(tiny, tmp_path) -> SignAvatarConfig:
    return tiny.config.model_copy(update={
        "run_dir": str(tmp_path / "run"),
        "eval": tiny.config.eval.model_copy(update={**SMALL_EVAL, "checkpoint": tiny.checkpoint}),
    })


def test_check_vocabulary_names_unknown_glosses():
    check_vocabulary({"a", "b"}, {"checkpoint": ["a", "b", "c"]})
    with pytest.raises(ValueError, match=r"unknown to the recognizer: \['zebra'\]"):
        check_vocabulary({"a", "zebra"}, {"checkpoint": ["a", "zebra"], "recognizer": ["a"]})


def test_evaluate_all_groups_on_ray_data(ray_cluster, tiny_checkpoint, tmp_path):
    config = eval_config(tiny_checkpoint, tmp_path)
    clips = generate_corpus(config.data.synthetic)
    dataset = str(tmp_path / "dataset")
    arrow_io.write_dataset(clips, dataset, shard_size=7)

    summary = evaluate(config, dataset)
    groups = summary["groups"]
    assert set(groups) == set(TABLE_ONE_ROWS)
    n_train = sum(c.split == "train" for c in clips)
    assert groups["Raw_train"]["sizes"]["n"] == groups["Rec_train"]["sizes"]["n"] == n_train
    assert groups["Gen_test"]["sizes"]["n"] == 4 * len(tiny_checkpoint.glosses)
    for name in ("Raw_train", "Raw_test"):
        assert groups[name]["fid"] == pytest.approx(0.0, abs=1e-6)  # a group against itself
    for scores in groups.values():
        assert 0.0 <= scores["acc"] <= 1.0 and np.isfinite(scores["fid"]) and scores["div"] >= 0
    assert "recognizer_training" in summary
    assert "| test | Gen |" in (tmp_path / "run" / "evaluation.md").read_text()

    again = evaluate(config, dataset)  # the saved recognizer is reused, results are reproducible
    assert "recognizer_training" not in again
    assert again["groups"]["Gen_test"]["acc"] == groups["Gen_test"]["acc"]
    assert again["groups"]["Rec_test"]["fid"] == pytest.approx(groups["Rec_test"]["fid"], rel=1e-5)


def test_dataset_with_unknown_gloss_stops_naming_it(ray_cluster, tiny_checkpoint, tmp_path):
    config = eval_config(tiny_checkpoint, tmp_path)
    clips = generate_corpus(config.data.synthetic) + [random_clip("odd-1", gloss="zebra", split="test")]
    dataset = str(tmp_path / "dataset")
    arrow_io.write_dataset(clips, dataset)
    with pytest.raises(ValueError, match=r"unknown to the checkpoint: \['zebra'\]"):
        evaluate(config, dataset)
    assert not (tmp_path / "run" / "recognizer.pt").exists()  # stopped before any work


@pytest.mark.slow
def test_ablation_table(ray_cluster, tiny_checkpoint, tmp_path):
    """Table II rows: the full run, without curriculum and without QC, one shared recognizer."""
    from workflows import ablation

    tiny = tiny_checkpoint.config
    overrides = [f"run_dir={tmp_path}", "train.epochs=3", "train.checkpoint_every=3", f"clip.pretrained={tiny.clip.pretrained}",
                 "model.latent_dim=32", "model.num_layers=2", "model.num_heads=2", "model.ff_size=64",
                 "model.num_frames=16", "data.num_frames=16", "data.synthetic.num_glosses=3",
                 "data.synthetic.clips_per_gloss=5", "train.cpus_per_worker=1", "eval.recognizer_cpus=1",
                 "eval.recognizer_epochs=2", "eval.recognizer_hidden=[8, 8, 16]", "eval.recognizer_feature_dim=16",
                 "eval.gen_samples_per_class=3", "eval.repeats=2"]
    result = ablation.main(overrides)
    assert set(result["variants"]) == {"full", "without curriculum", "without quality control"}
    lines = (tmp_path / "ablation" / "ablation.md").read_text().splitlines()
    assert [line.split("|")[1].strip() for line in lines[2:]] == ["full", "without curriculum", "without quality control"]
    for variant in result["variants"].values():
        assert 0.0 <= variant["groups"]["Gen_test"]["acc"] <= 1.0
    no_qc = json.loads((tmp_path / "ablation" / "without-quality-control" / "dataset" / "manifest.json").read_text())
    assert no_qc["qc"]["frames_removed"] == 0  # trained on untrimmed clips
    assert len(list((tmp_path / "ablation").glob("*/checkpoint/checkpoint.pt"))) == 3
