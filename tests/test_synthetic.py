"""The embedded synthetic corpus: determinism, validity, labelling, split, plausibility, distinctness."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from signavatar.body.joints import joint_index
from signavatar.body.skeleton import DEFAULT_REST_JOINTS, forward_kinematics_axis_angle
from signavatar.config import SyntheticCorpusConfig
from signavatar.data.synthetic import GENERATOR, GLOSSES, SIGNS, generate_corpus, truth_annotations
from signavatar.motion.clip import MotionClip

R_WRIST, L_WRIST, SPINE3 = (joint_index(n) for n in ("right_wrist", "left_wrist", "spine3"))
R_ELBOW, L_ELBOW = joint_index("right_elbow"), joint_index("left_elbow")


@pytest.fixture(scope="module")
def corpus() -> list[MotionClip]:
    return generate_corpus(SyntheticCorpusConfig())


@pytest.fixture(scope="module")
def every_gloss() -> list[MotionClip]:
    return generate_corpus(SyntheticCorpusConfig(num_glosses=len(SIGNS), clips_per_gloss=10))


def _arrays(clip: MotionClip) -> list[np.ndarray]:
    return [clip.poses, clip.expression, clip.betas, clip.trans, clip.confidence]


def _joints(clip: MotionClip) -> np.ndarray:
    return forward_kinematics_axis_angle(torch.from_numpy(clip.poses), DEFAULT_REST_JOINTS).numpy()


def test_same_seed_same_corpus_other_seed_differs(corpus):
    again = generate_corpus(SyntheticCorpusConfig())
    assert [c.clip_id for c in again] == [c.clip_id for c in corpus]
    for a, b in zip(corpus, again, strict=True):
        assert a.split == b.split and a.source == b.source
        for x, y in zip(_arrays(a), _arrays(b), strict=True):
            np.testing.assert_array_equal(x, y)
    other = generate_corpus(SyntheticCorpusConfig(seed=1))
    assert [c.clip_id for c in other] == [c.clip_id for c in corpus]
    differs = [a.poses.shape != b.poses.shape or not np.array_equal(a.poses, b.poses) for a, b in zip(corpus, other)]
    assert all(differs)


def test_a_clip_does_not_depend_on_corpus_size(corpus):
    small = generate_corpus(SyntheticCorpusConfig(num_glosses=2, clips_per_gloss=3))
    by_id = {c.clip_id: c for c in corpus}
    for clip in small:
        np.testing.assert_array_equal(clip.poses, by_id[clip.clip_id].poses)


def test_every_clip_is_valid_and_labelled_synthetic(corpus):
    cfg = SyntheticCorpusConfig()
    assert len(corpus) == cfg.num_glosses * cfg.clips_per_gloss
    assert {c.gloss for c in corpus} == set(GLOSSES[: cfg.num_glosses])
    assert len({c.clip_id for c in corpus}) == len(corpus)
    for clip in corpus:
        clip.validate()
        frames = clip.num_frames
        assert clip.poses.shape == (frames, 55, 3) and clip.poses.dtype == np.float32
        assert clip.expression.shape == (frames, 10) and clip.trans.shape == (frames, 3)
        assert clip.betas.shape == (10,) and clip.confidence.shape == (frames,)
        assert clip.fps == cfg.fps and clip.split in ("train", "test")
        assert re.fullmatch(rf"synthetic-{clip.gloss}-\d{{3}}", clip.clip_id)
        src = clip.source
        assert src["synthetic"] is True and src["generator"] == GENERATOR
        assert src["video"] is None and src["estimator"] == "synthetic"
        assert src["signer_id"].startswith("synthetic-signer-")
        start, stop = src["sign_range"]
        lead = (45, 90) if src["leading"] == "long_hold" else (5, 20)
        assert src["leading"] in ("idle", "long_hold") and lead[0] <= start <= lead[1], "idle leading frames"
        assert 30 <= stop - start <= 60, "sign duration"
        trail = (18, 42) if src["trailing"] == "next_sign" else (5, 20)
        assert trail[0] <= frames - stop <= trail[1], "off-sign trailing frames"
        if src["trailing"] == "next_sign":
            assert src["next_gloss"] in GLOSSES and src["next_gloss"] != clip.gloss
    kinds = [(c.source["leading"], c.source["trailing"]) for c in corpus]
    for kind in ("idle", "long_hold", "drop_to_rest", "partial_drop_fidget", "next_sign"):
        assert sum(kind in k for k in kinds) >= 10, kind


def test_split_is_8_to_2_per_gloss(corpus):
    for gloss in GLOSSES[:6]:
        splits = [c.split for c in corpus if c.gloss == gloss]
        assert splits.count("test") == 4 and splits.count("train") == 16
    small = generate_corpus(SyntheticCorpusConfig(num_glosses=2, clips_per_gloss=10, test_fraction=0.3))
    for gloss in GLOSSES[:2]:
        assert [c.split for c in small if c.gloss == gloss].count("test") == 3


def test_timing_scales_with_fps():
    fast = generate_corpus(SyntheticCorpusConfig(num_glosses=2, clips_per_gloss=8, fps=60.0))
    seconds = [(c.source["sign_range"][1] - c.source["sign_range"][0]) / c.fps for c in fast]
    assert all(c.fps == 60.0 for c in fast)
    assert min(seconds) >= 1.0 and max(seconds) <= 2.0


def test_gloss_inventory_and_limit():
    assert len(GLOSSES) >= 12 and len(set(GLOSSES)) == len(GLOSSES)
    assert GLOSSES[:6] == ("hello", "drink", "book", "thanks", "mother", "house")
    with pytest.raises(ValueError, match="only"):
        generate_corpus(SyntheticCorpusConfig(num_glosses=len(GLOSSES) + 1))
    with pytest.raises(ValueError, match="seed"):
        generate_corpus(SyntheticCorpusConfig(seed=-1))


def test_variation_signers_speed_amplitude(corpus):
    hello = [c for c in corpus if c.gloss == "hello"]
    assert len({c.source["signer_id"] for c in hello}) == 4
    assert len({tuple(c.betas) for c in hello}) == 4  # betas are drawn per signer
    durations = [c.source["sign_range"][1] - c.source["sign_range"][0] for c in hello]
    assert max(durations) - min(durations) >= 10
    # same gloss, same signer: still different performances
    same_signer = [c for c in hello if c.source["signer_id"] == hello[0].source["signer_id"]]
    a, b = (c.slice_frames(*c.source["sign_range"]).resample(40).poses for c in same_signer[:2])
    assert np.abs(a - b).max() > np.deg2rad(2)
    assert any(c.source["trailing"] == "drop_to_rest" for c in corpus)
    assert any(c.source["trailing"] == "partial_drop_fidget" for c in corpus)


def test_wrists_move_in_front_of_the_torso(every_gloss):
    rest_height = DEFAULT_REST_JOINTS[joint_index("right_shoulder"), 1] - 0.51
    for clip in every_gloss:
        joints = _joints(clip)
        start, stop = clip.source["sign_range"]
        middle = np.arange(start + int(0.35 * (stop - start)), stop)
        middle = middle[clip.confidence[middle] > 0.5]  # skip the simulated estimator glitches
        forward = joints[middle, R_WRIST, 2] - joints[middle, SPINE3, 2]
        assert forward.min() > 0.05 and forward.mean() > 0.1, clip.clip_id
        assert joints[middle, R_WRIST, 1].min() > rest_height + 0.25, f"{clip.clip_id}: dominant hand not raised"
        # idle leading frames: both hands down at the sides
        idle = joints[: start - 1]
        assert np.all(idle[:, [R_WRIST, L_WRIST], 1] < rest_height + 0.1), clip.clip_id
        # each hand stays on its own side of the body (hands may meet at the midline, not cross;
        # on the way into another gloss's sign they may brush past it)
        ok = clip.confidence > 0.5
        if clip.source["trailing"] == "next_sign":
            ok[stop:] = False
        assert joints[ok, R_WRIST, 0].max() < 0.02 and joints[ok, L_WRIST, 0].min() > -0.02, clip.clip_id


def test_one_handed_signs_keep_the_left_hand_down(every_gloss):
    one_handed = {s.gloss for s in SIGNS if s.non_dominant == "rest"}
    two_handed = {s.gloss for s in SIGNS if s.non_dominant != "rest"}
    assert one_handed and two_handed
    rest_height = DEFAULT_REST_JOINTS[joint_index("left_shoulder"), 1] - 0.51
    for clip in every_gloss:
        joints = _joints(clip)
        start, stop = clip.source["sign_range"]
        sign = np.arange(start, stop)
        left_top = joints[sign[clip.confidence[sign] > 0.5], L_WRIST, 1].max()
        if clip.gloss in one_handed:
            assert left_top < rest_height + 0.1, clip.clip_id
        else:
            assert left_top > rest_height + 0.25, clip.clip_id


def test_elbows_bend_one_way(every_gloss):
    noise = np.deg2rad(3.0)
    for clip in every_gloss:
        ok = clip.confidence > 0.5
        right, left = clip.poses[ok, R_ELBOW], clip.poses[ok, L_ELBOW]
        # flexion is about +y (right) / -y (left), i.e. mirrored, never hyperextended
        assert right[:, 1].min() > -noise and left[:, 1].max() < noise, clip.clip_id
        assert np.abs(right[:, [0, 2]]).max() < noise and np.abs(left[:, [0, 2]]).max() < noise
        assert np.linalg.norm(right, axis=-1).max() < np.deg2rad(150) + noise


def test_glosses_are_distinct(every_gloss):
    """Mean pairwise feature distance between glosses >> within a gloss, and a nearest-centroid
    classifier fitted on train clips labels every test clip."""
    feats = np.stack(
        [c.slice_frames(*c.source["sign_range"]).resample(60).to_features().ravel() for c in every_gloss]
    )
    glosses = np.array([c.gloss for c in every_gloss])
    sq = (feats**2).sum(axis=1)
    dist = np.sqrt(np.maximum(sq[:, None] + sq[None] - 2.0 * feats @ feats.T, 0.0))
    same = (glosses[:, None] == glosses[None]) & ~np.eye(len(glosses), dtype=bool)
    within, between = dist[same].mean(), dist[glosses[:, None] != glosses[None]].mean()
    assert between > 3.0 * within, (within, between)
    train = np.array([c.split == "train" for c in every_gloss])
    names = sorted(set(glosses))
    centroids = np.stack([feats[train & (glosses == g)].mean(axis=0) for g in names])
    pred = np.array(names)[np.linalg.norm(feats[~train, None] - centroids[None], axis=-1).argmin(axis=1)]
    assert (pred == glosses[~train]).mean() == 1.0


def test_truth_annotations(corpus):
    annotations = truth_annotations(corpus)
    assert set(annotations) == {c.clip_id for c in corpus}
    for clip in corpus:
        assert annotations[clip.clip_id] == clip.source["sign_range"]
    stripped = corpus[0].replace(source={})
    with pytest.raises(ValueError, match=corpus[0].clip_id):
        truth_annotations([stripped])
