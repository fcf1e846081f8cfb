"""Paper metrics: closed forms, hand computations by enumeration, edge cases."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.linalg

from signavatar.evaluation.metrics import accuracy, diversity, fid, multimodality


def sample(n: int, d: int, seed: int, scale: float = 3.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(d, d)) / np.sqrt(d)
    return (rng.normal(size=(n, d)) @ mixing * scale + rng.normal(size=d)).astype(np.float32)


def fid_reference(x: np.ndarray, y: np.ndarray) -> float:
    """The textbook formula with scipy's sqrtm, for comparison."""
    x, y = x.astype(np.float64), y.astype(np.float64)
    s1, s2 = np.atleast_2d(np.cov(x, rowvar=False)), np.atleast_2d(np.cov(y, rowvar=False))
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(np.sum((x.mean(0) - y.mean(0)) ** 2) + np.trace(s1 + s2 - 2 * covmean))


# ---------------------------------------------------------------- accuracy


def test_accuracy_top1_and_topk():
    logits = np.array([[3.0, 1.0, 2.0], [0.0, 5.0, 1.0], [1.0, 2.0, 3.0], [2.0, 1.0, 0.0]])
    labels = np.array([0, 2, 1, 2])
    assert accuracy(logits, labels) == 0.25
    assert accuracy(logits, labels, k=2) == 0.75
    assert accuracy(logits, labels, k=3) == 1.0


def test_accuracy_is_argmax_ties_are_wrong_and_bad_inputs_fail():
    assert accuracy(np.zeros((2, 4)), np.array([3, 1])) == 0.0  # constant logits recognise nothing
    assert accuracy(np.zeros((2, 4)), np.array([3, 0]), k=3) == 0.0  # 3 rivals tie with the true class
    assert accuracy(np.zeros((2, 4)), np.array([3, 0]), k=4) == 1.0
    tied = np.array([[2.0, 2.0, 0.0], [1.0, 3.0, 3.0], [0.0, 5.0, 1.0]])
    assert accuracy(tied, np.array([0, 1, 1])) == pytest.approx(1 / 3)  # only the strict argmax counts
    assert accuracy(tied, np.array([0, 1, 1]), k=2) == 1.0
    with pytest.raises(ValueError, match="k must be"):
        accuracy(np.zeros((2, 4)), np.array([0, 1]), k=5)
    with pytest.raises(ValueError, match="labels must be"):
        accuracy(np.zeros((2, 4)), np.array([0, 4]))
    with pytest.raises(ValueError, match="labels have shape"):
        accuracy(np.zeros((2, 4)), np.array([0]))


# --------------------------------------------------------------------- FID


@pytest.mark.parametrize("n", [100, 600])  # singular (N < D) and full-rank covariance
def test_fid_of_identical_sets_is_zero(n):
    x = sample(n, 256, seed=n, scale=5.0)
    assert fid(x, x) == pytest.approx(0.0, abs=1e-6)
    assert fid(x, x[::-1].copy()) == pytest.approx(0.0, abs=1e-6)


def test_fid_grows_with_a_shift_by_exactly_its_squared_length():
    x = sample(300, 16, seed=1)
    direction = np.random.default_rng(2).normal(size=16)
    direction /= np.linalg.norm(direction)
    shifts = [0.0, 0.1, 0.5, 1.0, 2.0, 5.0]
    values = [fid(x + s * direction, x) for s in shifts]
    assert all(a < b for a, b in zip(values, values[1:]))
    np.testing.assert_allclose(values, np.square(shifts), rtol=1e-6, atol=1e-8)


def test_fid_is_symmetric_and_matches_scipy_reference():
    x, y = sample(400, 12, seed=3), sample(300, 12, seed=4, scale=1.5)
    assert fid(x, y) == pytest.approx(fid(y, x), rel=1e-10)
    assert fid(x, y) == pytest.approx(fid_reference(x, y), rel=1e-6)
    assert fid(x, y) > 1.0


def test_fid_singular_covariances_match_reference():
    x, y = sample(20, 64, seed=5), sample(30, 64, seed=6)
    assert fid(x, y) == pytest.approx(fid_reference(x, y), rel=1e-5)


def test_fid_closed_form_1d():
    rng = np.random.default_rng(7)
    x = rng.normal(1.0, 2.0, size=(5000, 1))
    y = rng.normal(-0.5, 0.5, size=(4000, 1))
    # exact for the fitted Gaussians: (m1 - m2)^2 + (s1 - s2)^2
    sample_form = (x.mean() - y.mean()) ** 2 + (x.std(ddof=1) - y.std(ddof=1)) ** 2
    assert fid(x, y) == pytest.approx(sample_form, rel=1e-9)
    # and close to the population value 1.5^2 + 1.5^2
    assert fid(x, y) == pytest.approx(4.5, rel=0.05)


def test_fid_closed_form_2d_known_gaussians():
    rng = np.random.default_rng(8)
    m1, m2 = np.array([0.0, 1.0]), np.array([2.0, -1.0])
    c1 = np.array([[2.0, 0.6], [0.6, 1.0]])
    c2 = np.array([[0.5, -0.2], [-0.2, 1.5]])
    x = rng.multivariate_normal(m1, c1, size=20000)
    y = rng.multivariate_normal(m2, c2, size=20000)
    population = np.sum((m1 - m2) ** 2) + np.trace(c1 + c2 - 2 * scipy.linalg.sqrtm(c1 @ c2).real)
    assert fid(x, y) == pytest.approx(fid_reference(x, y), rel=1e-8)
    assert fid(x, y) == pytest.approx(population, rel=0.02)
    # diagonal covariances commute: sum over dims of (mean diff)^2 + (sigma1 - sigma2)^2
    x = rng.normal([0, 0], [1.0, 3.0], size=(20000, 2))
    y = rng.normal([1, 0], [2.0, 1.0], size=(20000, 2))
    assert fid(x, y) == pytest.approx(1 + 1 + 4, rel=0.03)


def test_fid_rejects_bad_inputs():
    with pytest.raises(ValueError, match="feature dims differ"):
        fid(np.zeros((4, 3)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="at least 2 rows"):
        fid(np.zeros((1, 3)), np.zeros((4, 3)))
    with pytest.raises(ValueError, match="non-finite"):
        fid(np.full((3, 2), np.nan), np.zeros((4, 2)))


# --------------------------------------------------------------- Diversity


def enumerate_subset_pairs(points: np.ndarray, size: int) -> np.ndarray:
    """Repeat values for every equally likely pair of ordered subsets (drawn without replacement)."""
    subsets = list(itertools.permutations(range(len(points)), size))
    return np.array(
        [np.linalg.norm(points[list(a)] - points[list(b)], axis=1).mean() for a in subsets for b in subsets]
    )


def test_diversity_of_identical_vectors_is_zero():
    mean, std, used = diversity(np.ones((50, 8)), s_d=200)
    assert (mean, std, used) == (0.0, 0.0, 50)


@pytest.mark.parametrize("s_d", [2, 4])
def test_diversity_matches_enumeration(s_d):
    points = np.array([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0], [3.0, 4.0]])
    exact = enumerate_subset_pairs(points, s_d)
    repeats = 4000
    mean, std, used = diversity(points, s_d=s_d, repeats=repeats, seed=0)
    assert used == s_d
    # Pairs are independent uniform draws: E = mean |p_i - p_j| over all ordered (i, j), i = j too.
    expected = np.mean([np.linalg.norm(a - b) for a in points for b in points])
    assert exact.mean() == pytest.approx(expected)
    assert mean == pytest.approx(expected, abs=4 * exact.std() / np.sqrt(repeats))
    assert std == pytest.approx(exact.std(), rel=0.05)


def test_diversity_caps_subset_size_and_is_seeded():
    x = sample(30, 5, seed=9)
    assert diversity(x, s_d=200)[2] == 30
    assert diversity(x, seed=1) == diversity(x, seed=1)
    assert diversity(x, seed=1) != diversity(x, seed=2)
    assert diversity(x, repeats=5)[0] > 0


# ----------------------------------------------------------- Multimodality


def test_multimodality_of_identical_vectors_within_classes_is_zero():
    feats = np.repeat(np.eye(3) * 10, 5, axis=0)  # 3 classes, 5 identical samples each
    labels = np.repeat([0, 1, 2], 5)
    assert multimodality(feats, labels, c=30, s_l=20) == (0.0, 0.0, 3, 5)


def test_multimodality_matches_enumeration():
    # class 0: two points 2 apart; class 1: two points 6 apart; class 2: one sample (not eligible)
    feats = np.array([[0.0, 0.0], [2.0, 0.0], [10.0, 0.0], [10.0, 6.0], [50.0, 50.0]])
    labels = np.array([0, 0, 1, 1, 2])
    repeats = 4000
    mean, std, c_used, s_used = multimodality(feats, labels, c=30, s_l=20, repeats=repeats, seed=0)
    assert (c_used, s_used) == (2, 2)
    # Per class the two subsets are permutations of its 2 samples: equal (distance 0) or swapped
    # (distance d for both pairs), each with probability 1/2. The repeat value averages 4 pairs.
    per_class = {0: enumerate_subset_pairs(feats[:2], 2), 1: enumerate_subset_pairs(feats[2:4], 2)}
    exact = np.array([(a + b) / 2 for a in per_class[0] for b in per_class[1]])
    assert exact.mean() == pytest.approx((2 + 6) / 4)
    assert mean == pytest.approx(exact.mean(), abs=4 * exact.std() / np.sqrt(repeats))
    assert std == pytest.approx(exact.std(), rel=0.05)
    # one class per repeat: same expectation, larger spread
    mean1, std1, c1, _ = multimodality(feats, labels, c=1, s_l=20, repeats=repeats, seed=0)
    exact1 = np.concatenate([per_class[0], per_class[1]])
    assert c1 == 1
    assert mean1 == pytest.approx(exact1.mean(), abs=4 * exact1.std() / np.sqrt(repeats))
    assert std1 == pytest.approx(exact1.std(), rel=0.05)


def test_multimodality_subset_size_is_the_smallest_eligible_class():
    labels = np.array([0] * 3 + [1] * 5 + [2])
    feats = sample(len(labels), 4, seed=10)
    _, _, c_used, s_used = multimodality(feats, labels, c=30, s_l=4)
    assert (c_used, s_used) == (2, 3)
    assert multimodality(feats, labels, s_l=2)[3] == 2
    assert multimodality(feats, labels.astype(str), s_l=2) == multimodality(feats, labels, s_l=2)


def test_multimodality_rejects_groups_without_variation():
    with pytest.raises(ValueError, match="2 or more samples"):
        multimodality(np.zeros((3, 2)), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="labels have shape"):
        multimodality(np.zeros((3, 2)), np.array([0, 1]))


# ------------------------------------------------------------------ report


def test_build_table_orders_rows_and_normalises_values():
    from signavatar.evaluation.report import Stat, build_table

    table = build_table(
        {
            "Gen_test": {"acc": 0.9, "fid": 40.0, "div": (10.0, 0.2), "multi": {"mean": 3.0, "ci95": 0.1}},
            "Raw_train": {"acc": 0.99, "sizes": {"n": 96}},
            "Rec_test": {"acc": (0.95, 0.01)},
        }
    )
    assert list(table) == ["Raw_train", "Rec_test", "Gen_test"]
    assert table["Gen_test"].div == Stat(10.0, 0.2) and table["Gen_test"].multi == Stat(3.0, 0.1)
    assert table["Gen_test"].acc == Stat(0.9) and table["Gen_test"].acc_top5 is None
    assert table["Raw_train"].sizes == {"n": 96}
    assert list(build_table({"Gen_test": {"acc": 1.0}, "Raw_val": {"acc": 1.0}})) == ["Raw_val", "Gen_test"]
    with pytest.raises(ValueError, match="unknown rows"):
        build_table({"Raw_dev": {"acc": 1.0}})
    with pytest.raises(ValueError, match="unknown metrics"):
        build_table({"Raw_test": {"accuracy": 1.0}})
    with pytest.raises(ValueError, match="mean, ci95"):
        build_table({"Raw_test": {"div": (1.0, 2.0, 3.0)}})


def test_markdown_layout_with_and_without_paper_values():
    from signavatar.evaluation.report import PAPER_TABLE_I, build_table, to_markdown

    table = build_table(
        {
            "Raw_test": {"acc": 0.98, "fid": 0.0, "div": (12.345, 0.1), "multi": (4.0, 0.2)},
            "Gen_test": {"acc": 0.93, "fid": 50.0, "div": (11.0, 0.3), "multi": (3.5, 0.1), "sizes": {"S_d": 200}},
        }
    )
    lines = to_markdown(table).splitlines()
    assert lines[0] == "| Split | Group | Acc ↑ | FID ↓ | Div → | Multi → | Samples |"
    assert lines[2] == "| test | Raw | 0.980 | 0.00 | 12.35±0.10 | 4.00±0.20 |  |"
    assert lines[3] == "| test | Gen | 0.930 | 50.00 | 11.00±0.30 | 3.50±0.10 | S_d=200 |"
    with_paper = to_markdown(table, paper=PAPER_TABLE_I["subset"]).splitlines()
    assert with_paper[3].startswith("| test | Gen | 0.930 (paper 0.941) | 50.00 (paper 46.40) | 11.00±0.30 (paper –)")
    assert "(paper –)" in with_paper[2] and "paper" not in "".join(lines)


def test_paper_reference_holds_only_the_documented_values():
    from signavatar.evaluation.report import METRICS, PAPER_TABLE_I, Stat

    assert list(PAPER_TABLE_I["subset"]) == ["Gen_test"] and PAPER_TABLE_I["full"] == {}
    row = PAPER_TABLE_I["subset"]["Gen_test"]
    assert row.acc == Stat(0.941) and row.fid == Stat(46.4)
    assert [m for m in METRICS if getattr(row, m) is not None] == ["acc", "fid"]


def test_ablation_table_has_raw_rec_gen_test_rows_per_variant_and_json():
    import json

    from signavatar.evaluation.report import ablation_json, ablation_markdown, ablation_table

    rows = {"Raw_test": {"acc": (0.98, 0.0)}, "Rec_test": {"acc": 0.95}, "Gen_train": {"acc": 0.5}}
    table = ablation_table(
        {
            "full": {**rows, "Gen_test": {"acc": 0.94, "acc_top5": 0.99, "fid": float("nan")}},
            "without curriculum": {**rows, "Gen_test": {"acc": (0.90, 0.01)}},
        }
    )
    assert list(table) == ["full", "without curriculum"]
    assert [list(v) for v in table.values()] == [["Raw_test", "Rec_test", "Gen_test"]] * 2  # test rows only
    lines = ablation_markdown(table, note="± CI95").splitlines()
    assert lines[0] == "| Variant | Split | Group | Acc ↑ | Acc top-5 ↑ | FID ↓ | Div → | Multi → | Samples |"
    assert lines[2] == "| full | test | Raw | 0.980±0.000 | – | – | – | – |  |"
    assert lines[7] == "| without curriculum | test | Gen | 0.900±0.010 | – | – | – | – |  |"
    assert lines[-1] == "± CI95" and len(lines) == 2 + 6 + 2
    data = json.loads(ablation_json(table, recognizers={"full": "r.pt"}))
    assert data["variants"]["full"]["Gen_test"]["acc_top5"] == {"mean": 0.99, "ci95": None}
    assert data["variants"]["full"]["Gen_test"]["fid"] == {"mean": None, "ci95": None}  # NaN -> null
    assert data["variants"]["without curriculum"]["Raw_test"]["div"] is None and data["recognizers"]
    with pytest.raises(ValueError, match=r"no \['Rec_test', 'Gen_test'\] rows"):
        ablation_table({"without QC": {"Raw_test": {"acc": 1.0}}})


def test_nearest_centroid_accuracy_hand_case():
    from signavatar.evaluation.metrics import nearest_centroid_accuracy

    ref = np.array([[0.0, 0.0], [0.0, 2.0], [10.0, 0.0], [10.0, 2.0]])
    ref_labels = np.array([0, 0, 1, 1])  # centroids (0, 1) and (10, 1)
    feats = np.array([[1.0, 1.0], [9.0, 1.0], [6.0, 1.0]])
    assert nearest_centroid_accuracy(feats, np.array([0, 1, 0]), ref, ref_labels) == pytest.approx(2 / 3)
