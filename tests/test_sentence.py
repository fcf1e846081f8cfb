"""Signed sentences: transitions on the rotation manifold (``signavatar.motion.transitions``) and the
composer (``signavatar.model.sentence``): geometry of a transition, joins without jumps, smoothness
and intelligibility measured against real-like clips, and the CVAE path in one decoder pass."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from signavatar.body.joints import joint_index
from signavatar.body.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from signavatar.config import EvalConfig, QCConfig, SentenceConfig, SyntheticCorpusConfig
from signavatar.data.qc import run_qc
from signavatar.data.synthetic import generate_corpus
from signavatar.model.sentence import (
    SentenceGloss,
    SentenceTooLongError,
    UnknownGlossError,
    compose_sentence,
    fingerspelled,
    generate_sentences,
    sign_span,
)
from signavatar.motion.clip import MotionClip, Segment
from signavatar.motion.transitions import (
    SignPart,
    bridge,
    bridges,
    ease_weights,
    join_kinematics,
    join_signs,
    sign_clips,
    smoothness_reference,
    transition_lengths,
)

WRIST, FINGER, ELBOW = joint_index("right_wrist"), joint_index("left_index2"), joint_index("left_elbow")


def static_clip(pose: np.ndarray, frames: int = 6, trans=(0.0, 0.0, 0.0), clip_id: str = "static") -> MotionClip:
    return MotionClip(gloss="x", clip_id=clip_id, split="unsplit", fps=30.0,
                      poses=np.repeat(pose[None].astype(np.float32), frames, 0),
                      expression=np.zeros((frames, 10), np.float32), betas=np.zeros(10, np.float32),
                      trans=np.tile(np.asarray(trans, np.float32), (frames, 1)))


def pose_with(**rotations: tuple[float, float, float]) -> np.ndarray:
    pose = np.zeros((55, 3))
    for name, value in rotations.items():
        pose[joint_index(name)] = value
    return pose


def relative(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``log(R(a)^T R(b))`` per joint."""
    ra, rb = (axis_angle_to_matrix(torch.from_numpy(np.asarray(x, np.float64))) for x in (a, b))
    return matrix_to_axis_angle(ra.transpose(-1, -2) @ rb).numpy()


def test_transition_between_held_poses_is_an_eased_geodesic():
    """Both signs at rest at the join: every joint (wrist near pi, finger, elbow) moves along its
    geodesic by the quintic ease-in/ease-out. Blending axis-angle linearly does not: from just under
    pi about +x to just under pi about -x (two nearby rotations) it swings through the identity."""
    a = pose_with(right_wrist=(3.0, 0.0, 0.0), left_index2=(0.0, 0.0, 0.2), left_elbow=(0.0, 0.5, 0.0))
    b = pose_with(right_wrist=(-3.0, 0.2, 0.0), left_index2=(0.0, 0.0, 1.4), left_elbow=(0.0, 1.9, 0.3))
    frames = 9
    out = bridge(static_clip(a), static_clip(b), frames)
    assert out["poses"].shape == (frames, 55, 3) and out["trans"].shape == (frames, 3)
    delta = relative(a, b)
    t = np.arange(1, frames + 1) / (frames + 1)
    ease = ease_weights(t)[0]
    np.testing.assert_allclose(relative(np.repeat(a[None], frames, 0), out["poses"]), ease[:, None, None] * delta,
                               atol=1e-5)
    assert np.all(np.diff(ease) > 0) and ease[0] < 0.01 and ease[-1] > 0.99  # eased in and out, monotone
    lerp = (1 - ease[:, None]) * a[WRIST] + ease[:, None] * b[WRIST]
    assert np.linalg.norm(delta[WRIST]) < 0.4
    assert np.linalg.norm(relative(lerp[:, None], out["poses"][:, WRIST:WRIST + 1]), axis=-1).max() > 2.5


def test_transition_continues_a_moving_joint_at_its_velocity():
    """A joint turning steadily at the end of one sign and the start of the next: the transition
    carries the motion on at the same rate (no stop, no kink): velocity is continuous."""
    axis, step = np.array([0.0, 0.0, 1.0]), 0.05  # rad per frame
    frames, gap = 8, 7
    track = np.stack([pose_with(right_elbow=tuple(axis * step * k)) for k in range(2 * frames + gap)])
    moving = lambda lo, hi: static_clip(track[0], hi - lo).replace(poses=track[lo:hi].astype(np.float32))  # noqa: E731
    out = bridge(moving(0, frames), moving(frames + gap, 2 * frames + gap), gap)
    np.testing.assert_allclose(out["poses"], track[frames:frames + gap], atol=1e-5)



def test_bridges_of_several_joins_are_each_join_bridged_alone():
    a = static_clip(pose_with(right_wrist=(3.0, 0.0, 0.0)), trans=(0.1, 0.0, 0.0))
    b = static_clip(pose_with(left_elbow=(0.0, 1.9, 0.3)), frames=1).replace(confidence=np.ones(1, np.float32))
    c = static_clip(pose_with(left_index2=(0.0, 0.0, 1.4))).replace(confidence=np.full(6, 0.5, np.float32))
    joins = [(a, b, 5), (b, c, 0), (b, c, 3), (c, a, 7)]
    together = bridges(joins)
    assert [piece["poses"].shape[0] for piece in together] == [5, 0, 3, 7]
    for piece, (x, y, frames) in zip(together, joins, strict=True):
        alone = bridge(x, y, frames)
        assert piece.keys() == alone.keys()
        for name in alone:
            np.testing.assert_allclose(piece[name], alone[name], atol=1e-6)
    assert "confidence" in together[2] and "confidence" not in together[0]
    assert bridges([]) == []

def test_adaptive_transition_length_follows_the_distance():
    cfg = SentenceConfig(transition_speed=1.0, min_transition_frames=3, max_transition_frames=20)
    rest = static_clip(pose_with())
    near, far = (static_clip(pose_with(right_shoulder=(0.0, 0.0, angle))) for angle in (0.3, 1.2))
    same, short, long = transition_lengths([(rest, rest), (rest, near), (rest, far)], cfg)
    assert same == 3 and 3 < short < long
    assert transition_lengths([(rest, far)], cfg.model_copy(update={"max_transition_frames": 6})) == [6]
    assert transition_lengths([], cfg) == []


def test_join_labels_frames_holds_retimes_and_keeps_the_root_in_place():
    a = static_clip(pose_with(right_elbow=(0.0, 0.4, 0.0)), frames=10, trans=(0.1, 0.0, 0.0), clip_id="a")
    b = static_clip(pose_with(right_elbow=(0.0, 1.4, 0.0)), frames=12, trans=(1.1, 0.2, -0.5), clip_id="b")
    c = static_clip(pose_with(right_elbow=(0.0, 1.4, 0.0), left_elbow=(0.0, -0.3, 0.0)), frames=5, clip_id="c")
    parts = [SignPart(a, "hello", hold_frames=3, transition_frames=5), SignPart(b, "coffee", speed=2.0,
             transition_frames=0), SignPart(c, "please")]
    out = join_signs(parts, SentenceConfig(), clip_id="s")
    assert out.segments == (Segment("hello", 0, 13), Segment("", 13, 18, "transition"), Segment("coffee", 18, 24),
                            Segment("please", 24, 29))
    assert out.gloss == "hello coffee please" and out.num_frames == 29 and out.fps == 30.0
    np.testing.assert_allclose(out.poses[10:13], np.repeat(a.poses[-1:], 3, 0))  # the hold
    # the root stays where the first sign left it: no jump, no slide
    np.testing.assert_allclose(out.trans, np.tile([0.1, 0.0, 0.0], (29, 1)), atol=1e-6)
    # defaults from the config: adaptive transitions where none is given, held frames
    adaptive = join_signs([SignPart(a, "hello"), SignPart(b, "coffee")], SentenceConfig(hold_frames=2), clip_id="t")
    kinds = [s.kind for s in adaptive.segments]
    assert kinds == ["sign", "transition", "sign"] and adaptive.segments[0].end == 12
    with pytest.raises(ValueError, match=r"sign 1 \('coffee'\): speed must be a positive number"):
        join_signs([SignPart(a, "hello"), SignPart(b, "coffee", speed=0.0)], SentenceConfig(), clip_id="u")
    with pytest.raises(ValueError, match="at least one sign"):
        join_signs([], SentenceConfig(), clip_id="v")


@pytest.fixture(scope="module")
def corpus() -> dict[str, list[MotionClip]]:
    """A small synthetic corpus after quality control, by split (real-like signs with known spans)."""
    clips = generate_corpus(SyntheticCorpusConfig(num_glosses=3, clips_per_gloss=8, seed=3))
    train = [r.clip for r in (run_qc(c, QCConfig()) for c in clips if c.split == "train") if r.accepted]
    return {"train": train, "test": [c for c in clips if c.split == "test"]}


def test_joins_stay_within_real_signing_and_a_plain_cut_does_not(corpus):
    """Every frame that composing adds (transitions and joins) moves and accelerates no more than
    99% of the frames of real (training) clips; concatenating the same spans without a
    transition jumps further than that."""
    speed_p99, accel_p99 = smoothness_reference(corpus["train"])
    by_gloss: dict[str, MotionClip] = {}
    for clip in corpus["test"]:
        by_gloss.setdefault(clip.gloss, clip)
    glosses = sorted(by_gloss) + sorted(by_gloss)[:1]  # a repeated gloss too
    clips = [by_gloss[g] for g in glosses]
    sentence = compose_sentence(glosses, clips, SentenceConfig(), QCConfig(), clip_id="s")
    assert [s.gloss for s in sentence.segments if s.kind == "sign"] == glosses
    assert [s.kind for s in sentence.segments] == ["sign", "transition"] * (len(glosses) - 1) + ["sign"]
    speeds, accelerations = join_kinematics(sentence)
    assert speeds.max() <= speed_p99 and accelerations.max() <= accel_p99, (speeds.max(), accelerations.max())
    cut = compose_sentence(glosses, clips, SentenceConfig(transition_frames=0), QCConfig(), clip_id="cut")
    assert join_kinematics(cut)[1].max() > accel_p99
    # the signs themselves are their quality-controlled spans, unchanged
    for sign, clip in zip(sign_clips(sentence), clips, strict=True):
        span, record = sign_span(clip, QCConfig())
        assert record["kept"] is not None and sign.gloss == clip.gloss
        np.testing.assert_allclose(sign.poses, span.poses)
    assert [s["kept"] for s in sentence.source["signs"]] == [sign_span(c, QCConfig())[1]["kept"] for c in clips]


def test_signs_cut_out_of_a_sentence_are_recognised_like_isolated_clips(corpus):
    """Intelligibility: a recognizer trained on the training clips reads each sign segment of a
    sentence at least as well as the isolated clips, minus a small margin."""
    from signavatar.evaluation.recognizer_training import extract_features, train_recognizer
    from signavatar.training.data import build_feature_set, clips_to_features

    frames = 32
    train = build_feature_set(corpus["train"], frames)
    cfg = EvalConfig(recognizer_epochs=25, recognizer_batch_size=8, recognizer_hidden=(16, 16, 32),
                     recognizer_feature_dim=32, recognizer_dropout=0.0)
    recognizer, _ = train_recognizer(train.features.numpy(), train.labels.numpy(), len(train.glosses), cfg)

    def accuracy(clips: list[MotionClip]) -> float:
        logits = extract_features(recognizer, clips_to_features(clips, frames))[1]
        return float(np.mean([train.glosses[k] == c.gloss for k, c in zip(logits.argmax(1), clips, strict=True)]))

    test = corpus["test"]
    order = [test[i] for i in np.random.default_rng(0).permutation(len(test))]
    sentences = [compose_sentence([c.gloss for c in group], group, SentenceConfig(), QCConfig(), clip_id=f"s{i}")
                 for i, group in enumerate(order[j:j + 3] for j in range(0, len(order), 3))]
    segments = [sign for sentence in sentences for sign in sign_clips(sentence)]
    assert len(segments) == len(test)
    isolated, in_sentences = accuracy(test), accuracy(segments)
    assert isolated >= 0.6, isolated  # the recognizer works at all
    assert in_sentences >= isolated - 0.1, (in_sentences, isolated)


# ------------------------------------------------------------------------------------------------
# the CVAE path (tiny checkpoint)


@pytest.fixture(scope="module")
def avatar(tiny_checkpoint):
    from signavatar.model.pipeline import SignAvatar

    return SignAvatar.from_checkpoint(tiny_checkpoint.checkpoint, device="cpu")


def test_every_gloss_is_generated_in_one_decoder_pass(avatar, monkeypatch):
    """Distinct glosses x samples in one decode call; a word in the sentence is that word
    generated alone with the same seed, cut to its span."""
    calls = []
    decode = avatar.model.decode
    monkeypatch.setattr(avatar.model, "decode", lambda z, *a, **k: calls.append(z.shape[0]) or decode(z, *a, **k))
    first, second = avatar.glosses[:2]
    glosses = [first, second, first]
    sentences = generate_sentences(avatar, glosses, num_samples=2, seed=4)
    assert calls == [4]  # 2 distinct glosses x 2 samples, one pass
    assert [s.clip_id for s in sentences] == [f"sentence-{'-'.join(glosses)}-s4-{j}" for j in range(2)]
    for j, sentence in enumerate(sentences):
        assert sentence.gloss == " ".join(glosses) and sentence.fps == avatar.fps
        assert [s.gloss for s in sentence.segments if s.kind == "sign"] == glosses
        assert sentence.source["seed"] == 4 and sentence.source["sample"] == j
        alone = avatar.generate(avatar.text_embeddings([second])[0], num_samples=2, seed=4, gloss=second)[j]
        span, _ = sign_span(alone, QCConfig())
        np.testing.assert_allclose(sign_clips(sentence)[1].poses, span.poses, atol=1e-6)
    a, b = sentences[0].poses, sentences[1].poses  # the samples differ (in length when QC cut them differently)
    assert a.shape != b.shape or not np.allclose(a, b)


def test_a_sentence_draws_its_glosses_at_the_requested_temperature(avatar):
    """``temperature`` reaches every gloss's draw: at 0 each is its mean motion, so the samples of a
    sentence are one motion; the source records the temperature (the checkpoint's when not given)."""
    glosses = avatar.glosses[:2]
    default = generate_sentences(avatar, glosses, num_samples=2, seed=4)
    assert default[0].source["temperature"] == avatar.config.model.sampling_temperature
    mean = generate_sentences(avatar, glosses, num_samples=2, seed=4, temperature=0.0)
    assert mean[0].source["temperature"] == 0.0
    np.testing.assert_allclose(mean[0].poses, mean[1].poses, atol=1e-6)


def test_sentence_errors_name_what_failed(avatar, corpus):
    known = avatar.glosses[0]
    with pytest.raises(UnknownGlossError, match=r"unknown gloss\(es\) \['coffee', 'muffin'\]") as info:
        generate_sentences(avatar, [known, "coffee", "muffin", "coffee"])
    assert info.value.glosses == ["coffee", "muffin"]
    through_clip = generate_sentences(avatar, [known, "coffee"], allow_unknown=True)[0]  # CLIP encodes it
    assert [s.gloss for s in through_clip.segments if s.kind == "sign"] == [known, "coffee"]
    with pytest.raises(SentenceTooLongError, match="more than the limit of 10"):
        generate_sentences(avatar, [known, known], max_frames=10)
    with pytest.raises(ValueError, match="at least one gloss"):
        generate_sentences(avatar, [])
    with pytest.raises(ValueError, match="gloss 1 of the sentence is empty"):
        generate_sentences(avatar, [known, " "])
    # a given clip stands in for its gloss (no vocabulary needed), retimed to the model's rate
    given = corpus["test"][0]
    mixed = generate_sentences(avatar, [known, SentenceGloss("mine", speed=1.5, clip=given)])[0]
    mine = [s for s in mixed.segments if s.gloss == "mine"][0]
    expected = round(sign_span(given, QCConfig())[0].num_frames * avatar.fps / (given.fps * 1.5))
    assert mine.end - mine.start == expected and mine.end == mixed.num_frames


def test_a_fingerspelled_word_is_a_sentence_of_its_letters_with_short_transitions(avatar):
    """``fingerspelled``: one letter gloss per letter, case folded, joined by the short letter
    transition; a letter outside the vocabulary is named; only a-z are letters."""
    from signavatar.model.sentence import FINGERSPELL_TRANSITION_FRAMES

    items = fingerspelled("Bz")
    assert [i.gloss for i in items] == ["b", "z"]
    assert {i.transition_frames for i in items} == {FINGERSPELL_TRANSITION_FRAMES}
    from signavatar.model.pipeline import SignAvatar

    letters = [chr(ord("b") + i) for i in range(len(avatar.glosses))]  # the tiny model's glosses as letters
    speller = SignAvatar(avatar.model, avatar.normalizer, letters, avatar.gloss_embeddings, avatar.config,
                         fps=avatar.fps)
    word = letters[1] + letters[0] + letters[1]
    spelled = generate_sentences(speller, fingerspelled(word.upper()))[0]
    transitions = [s for s in spelled.segments if s.kind == "transition"]
    assert [s.gloss for s in spelled.segments if s.kind == "sign"] == list(word)
    assert len(transitions) == 2 and all(t.end - t.start == FINGERSPELL_TRANSITION_FRAMES for t in transitions)
    with pytest.raises(UnknownGlossError, match=r"\['q'\]"):
        generate_sentences(speller, fingerspelled(letters[0] + "q"))
    for bad, needle in (("a1", "'1'"), ("jo se", "' '"), ("", "empty"), ("é", "'é'"), ("a" * 33, "at most 32")):
        with pytest.raises(ValueError, match=needle):
            fingerspelled(bad)
