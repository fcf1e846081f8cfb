"""The raw-landmark judge: its space (landmarks and projected SMPL-X clips side by side), the
projection of real fits onto their own landmarks, and the recognizer's training, determinism and
checkpoints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from signavatar.body.skeleton import DEFAULT_REST_JOINTS
from signavatar.config import JudgeConfig, KeypointFitConfig, SyntheticCorpusConfig
from signavatar.data.synthetic import generate_corpus
from signavatar.extraction.corpora import mpdata_pack
from signavatar.extraction.corpora.base import Limits
from signavatar.extraction.corpora.mpdata import values_to_landmarks
from signavatar.extraction.estimators.keypoints import fit_landmarks_batch
from signavatar.extraction.landmark_store import record_from_landmarks
from signavatar.extraction.landmarks import LEFT_HAND_START, NUM_HAND, RIGHT_HAND_START
from signavatar.judge import space
from signavatar.judge.training import class_labels, load_judge, predict, save_judge, train_judge

CORPUS = Path(__file__).resolve().parents[1] / "corpora" / "asl_mpdata"
PICKED = {("a", "30"), ("can", "38"), ("coffee", "39"), ("get", "31"), ("hello", "32"), ("i", "33"), ("no", "34"),
          ("small", "35"), ("thank-you", "36"), ("water", "37")}  # fmt: skip


def _distances(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """Mean arm-point distance (shoulder widths), mean finger-landmark distance where both count
    the hand (palm lengths) and the share of frames whose hand presence agrees."""
    arms = float(np.linalg.norm((a[:, space.ARMS] - b[:, space.ARMS]).reshape(-1, 6, 2), axis=-1).mean())
    both = (a[:, space.PRESENCE] > 0) & (b[:, space.PRESENCE] > 0)
    hands = [np.linalg.norm((a[both[:, k]][:, block] - b[both[:, k]][:, block]).reshape(-1, 20, 2), axis=-1)
             for k, block in enumerate(space.HANDS)]
    return arms, float(np.concatenate([h.ravel() for h in hands]).mean()), float((a[:, space.PRESENCE] == b[:, space.PRESENCE]).mean())


@pytest.fixture(scope="module")
def real_pairs():
    """Ten real sequences (one per sign, the unseen session), fitted in one batch: (gloss, raw
    landmark features, the fit's projected features)."""
    header = mpdata_pack.read_header(str(CORPUS))
    items = []
    for index, (gloss, sequence, _) in enumerate(header["sequences"]):
        if (gloss, sequence) in PICKED:
            values = mpdata_pack.read_sequence_values(str(CORPUS), index, Limits(100, 1 << 30))
            landmarks = values_to_landmarks(values, 640, 480, 15.0, str(CORPUS))
            items.append((gloss, landmarks.select(np.arange(1, landmarks.num_frames), 15.0)))  # frame 0: before a pause
    fits = fit_landmarks_batch([lm for _, lm in items], DEFAULT_REST_JOINTS, KeypointFitConfig())
    pairs = []
    for (gloss, landmarks), (fit, _) in zip(items, fits, strict=True):
        record = record_from_landmarks(gloss, gloss, "test", landmarks, np.arange(landmarks.num_frames),
                                       (0, landmarks.num_frames), fit.errors["rotation_deg"])
        raw, raw_mask = space.landmark_features(record.points, record.weights)
        projected, projected_mask = space.clip_features(fit.poses, fit.trans, fit.skeleton)
        assert raw_mask.all() and projected_mask.all()
        pairs.append((gloss, raw, projected))
    return pairs


def test_a_fit_projects_near_its_own_landmarks_and_far_from_other_signs(real_pairs):
    """Acceptance (issue 33): a fit, projected on the skeleton it was fitted with, lands near its
    own landmarks in the judge's space. Measured on these ten real sequences: arm points within
    0.007-0.029 shoulder widths, finger landmarks within 0.036-0.22 palm lengths (0.11 on average),
    hand presence agreeing on 82-100% of the frames (MediaPipe missed a hand the fit has); the
    nearest other sign's fit lies 0.083+ shoulder widths and 0.25+ palm lengths away."""
    own = {gloss: _distances(raw, projected) for gloss, raw, projected in real_pairs}
    for gloss, (arms, hands, presence) in own.items():
        assert arms < 0.05 and hands < 0.3 and presence >= 0.75, (gloss, arms, hands, presence)
    assert np.mean([hands for _, hands, _ in own.values()]) < 0.15
    for gloss, raw, _ in real_pairs:
        mine = sum(own[gloss][:2])
        others = [sum(_distances(raw, projected)[:2]) for other, _, projected in real_pairs
                  if other != gloss and len(projected) == len(raw)]
        assert others and mine < min(others), (gloss, mine, min(others))


def _pixels(points: np.ndarray) -> np.ndarray:
    """Body-frame metres -> upright image pixels (x right, y down) of some camera."""
    return points * np.array([1.0, -1.0, -1.0]) * 412.0 + np.array([300.0, 220.0, 0.0])


def test_landmark_features_ignore_camera_distance_and_drop_missing_and_resting_hands():
    clip = generate_corpus(SyntheticCorpusConfig(num_glosses=2, clips_per_gloss=2, seed=2))[0].resample(16)
    points, weights = space.project_clip(clip.poses, clip.trans, DEFAULT_REST_JOINTS)
    features, mask = space.landmark_features(points, weights)
    assert features.shape == (16, space.FEATURE_DIM) and mask.all()
    pixels = _pixels(points * np.array([1.0, -1.0, -1.0]))  # as a camera 412 px/m away would see them
    np.testing.assert_allclose(space.landmark_features(pixels, weights)[0], features, atol=1e-4)

    weights = weights.copy()
    weights[4:9, RIGHT_HAND_START : RIGHT_HAND_START + NUM_HAND] = 0.0  # not detected for five frames
    missing, _ = space.landmark_features(points, weights)
    assert (missing[4:9, space.HANDS[1]] == 0).all() and (missing[4:9, space.PRESENCE.start + 1] == 0).all()
    others = np.r_[0:4, 9:16]  # unchanged but for the palm scale (a percentile over the frames the hand counts)
    np.testing.assert_allclose(missing[others], features[others], atol=0.005)

    # The left hand (detected) raised before the shoulder counts; hanging at rest it does not.
    def left_arm(elbow: tuple[float, float], wrist: tuple[float, float]) -> np.ndarray:
        moved, shoulder, hand = points.copy(), points[:, 11], slice(LEFT_HAND_START, LEFT_HAND_START + NUM_HAND)
        moved[:, 13] = shoulder + np.array([*elbow, 0.0])  # image convention: x right, y down, metres
        moved[:, 15] = shoulder + np.array([*wrist, 0.0])
        moved[:, hand] = moved[:, 15:16] + points[:, hand] - points[:, LEFT_HAND_START : LEFT_HAND_START + 1]
        return moved

    raised, _ = space.landmark_features(left_arm((0.1, 0.24), (0.12, -0.01)), weights)
    hanging, _ = space.landmark_features(left_arm((0.0, 0.26), (0.0, 0.51)), weights)
    assert (raised[:, space.PRESENCE.start] == 1).all() and (raised[:, space.HANDS[0]] != 0).any()
    assert (hanging[:, space.PRESENCE.start] == 0).all() and (hanging[:, space.HANDS[0]] == 0).all()

    with pytest.raises(ValueError, match=r"expected \[\.\.\., T, 75, 3\]"):
        space.landmark_features(points[:, :33], weights[:, :33])


def test_clip_features_batched_equal_one_at_a_time():
    clips = [c.resample(12) for c in generate_corpus(SyntheticCorpusConfig(num_glosses=2, clips_per_gloss=2, seed=5))][:2]
    poses = np.stack([c.poses for c in clips])
    trans = np.stack([c.trans for c in clips])
    batched, masks = space.clip_features(poses, trans, DEFAULT_REST_JOINTS)
    assert batched.shape == (2, 12, space.FEATURE_DIM) and masks.shape == (2, 12)
    for i, clip in enumerate(clips):
        np.testing.assert_allclose(batched[i], space.clip_features(clip.poses, clip.trans, DEFAULT_REST_JOINTS)[0],
                                   atol=1e-5)
    padded, padded_masks = space.stack_clips([(batched[0], masks[0]), (batched[1][:7], masks[1][:7])])
    assert padded.shape == (2, 12, space.FEATURE_DIM) and padded_masks[1].tolist() == [True] * 7 + [False] * 5


@pytest.fixture(scope="module")
def small_corpus():
    clips = generate_corpus(SyntheticCorpusConfig(num_glosses=3, clips_per_gloss=6, seed=7))
    features, masks = space.stack_clips([space.clip_features(c.poses, c.trans, DEFAULT_REST_JOINTS) for c in clips])
    return features, masks, [c.gloss for c in clips], sorted({c.gloss for c in clips})


def test_judge_trains_deterministically_and_round_trips_through_a_checkpoint(small_corpus, tmp_path):
    features, masks, glosses, classes = small_corpus
    cfg = JudgeConfig(epochs=12, hidden=32, layers=2, seed=3)
    model, history = train_judge(features, masks, glosses, classes, cfg, val=(features, masks, glosses))
    assert len(history) == 12 and history[-1]["val_acc"] == 1.0 and history[-1]["loss"] < history[0]["loss"]
    again, _ = train_judge(features, masks, glosses, classes, cfg)
    for (name, a), b in zip(model.state_dict().items(), again.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    logits = predict(model, features, masks)
    assert (logits.argmax(1) == class_labels(glosses, classes)).all()

    save_judge(model, classes, str(tmp_path / "judge.pt"))
    loaded, loaded_classes = load_judge(str(tmp_path / "judge.pt"))
    assert loaded_classes == classes and not loaded.training
    np.testing.assert_array_equal(predict(loaded, features, masks), logits)
    # Padding frames change nothing: a clip scored alone equals the clip padded in a batch.
    np.testing.assert_allclose(predict(model, features[:1, :10], masks[:1, :10]),
                               predict(model, *space.stack_clips([(features[0, :10], masks[0, :10]),
                                                                  (features[1], masks[1])]))[:1], atol=1e-5)

    torch.save({"format": "something else"}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a judge checkpoint"):
        load_judge(str(tmp_path / "other.pt"))
    with pytest.raises(ValueError, match=r"\['no-such-gloss'\] are not among the judge's classes"):
        class_labels(["no-such-gloss"], classes)
