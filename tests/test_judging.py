"""The raw-landmark judge in the evaluation protocol (``signavatar.evaluation.judging``): its
accuracies along the chain from known logits, and its report."""

from __future__ import annotations

import numpy as np
import pytest

from signavatar.evaluation.judging import JudgeReference, score_judge
from signavatar.evaluation.protocol import collect_mean_ci
from signavatar.evaluation.report import judge_markdown

CLASSES = ["a", "b"]


def one_hot(labels: list[int]) -> np.ndarray:
    return np.eye(len(CLASSES), dtype=np.float32)[labels] * 5


def test_accuracies_of_every_group_per_split_and_gloss_and_unknown_glosses_skipped():
    keys = np.array([11, 12, 13, 14, 15])
    glosses = np.array(["a", "b", "a", "b", "zebra"])  # the judge never learned 'zebra'
    splits = {"train": np.array([0, 1]), "test": np.array([2, 3, 4])}
    # the reference lists the clips in another order: rows are matched by key
    order = [4, 3, 2, 1, 0]
    truth = [0, 1, 0, 1, 0]
    reference = JudgeReference(key=keys[order], raw=one_hot([truth[i] for i in order]),
                               fit=one_hot([truth[i] for i in order][:3] + [1, 1]),  # train 'a' (key 11) taken for 'b'
                               fit_std=one_hot([1 - truth[i] for i in order]))  # everything swapped
    drawn = {"Gen_test": one_hot([0, 0, 1])}  # test rows 2 (a: right), 3 (b: wrong), 4 (zebra: not scored)
    scores = score_judge(reference, CLASSES, keys, glosses, splits, drawn)
    assert scores["Raw_train"]["acc"] == scores["Raw_test"]["acc"] == 1.0
    assert scores["Fit_train"]["acc"] == 0.5 and scores["Fit_train"]["per_gloss"] == {"a": 0.0, "b": 1.0}
    assert scores["Fit_std_test"]["acc"] == 0.0
    assert scores["Gen_test"]["acc"] == 0.5 and scores["Gen_test"]["per_gloss"] == {"a": 1.0, "b": 0.0}
    assert "zebra" not in scores["Raw_test"]["per_gloss"]
    with pytest.raises(ValueError, match="no raw landmarks"):
        score_judge(reference, CLASSES, np.array([99]), np.array(["a"]), {"test": np.array([0])}, {})


def test_the_report_lays_out_the_chain_per_split_and_per_gloss():
    reps = [{"Raw_test": {"acc": 1.0, "per_gloss": {"a": 1.0}}, "Gen_test": {"acc": a, "per_gloss": {"a": a}}}
            for a in (0.5, 0.7)]
    summary = {name: collect_mean_ci([r[name] for r in reps]) for name in reps[0]}
    text = judge_markdown(summary)
    assert "| test | 1.000±0.000 | – | – | – | 0.600±0.139 |" in text
    assert "| a | 1.000±0.000 | – | – | – | 0.600±0.139 |" in text
