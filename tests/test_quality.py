"""Generation quality: the report's ratios and objective, the sampling temperature, the KL options
(free bits, annealing, mean reduction) and the preview sheet."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from signavatar.config import EvalConfig, ModelConfig
from signavatar.evaluation import faithfulness, quality
from signavatar.evaluation.protocol import ClipEncodings, GroupOutputs, score_faithfulness, score_repetition
from signavatar.model.cvae import SignAvatarCVAE, kl_divergence
from signavatar.model.pipeline import SignAvatar, inference_config
from signavatar.training.loop import annealed_kl_weight
from tests.support.avatars import avatar_around

CFG = EvalConfig(multimodality_samples=4, multimodality_classes=3, diversity_size=10)
JOINTS = len(faithfulness.PART_JOINTS)


def motion(rng: np.random.Generator, count: int, spread: float = 0.05) -> np.ndarray:
    """Joint positions ``[count, 4 frames, J, 3]`` around a fixed pose."""
    return np.ones((count, 4, JOINTS, 3)) * 0.2 + spread * rng.normal(size=(count, 4, JOINTS, 3))


def score(clips: ClipEncodings, drawn: dict, curve: dict, seed: int, split: str = "test") -> dict:
    """One repetition's quality figures of ``drawn`` on ``split``, as the evaluation computes them."""
    scores = score_repetition(clips.raw_groups(), drawn, CFG, seed=seed)
    return quality.score_quality(clips, drawn, scores, curve, CFG, seed, quality.fid_scale(clips, split), split,
                                 score_faithfulness(clips, drawn))


def encodings(rng: np.random.Generator, per_gloss: int = 6, spread: float = 1.0) -> ClipEncodings:
    """3 glosses x ``per_gloss`` clips in each of train, val and test; features: a gloss centre + noise."""
    glosses = np.repeat(["a", "b", "c"], per_gloss)
    labels = np.repeat([0, 1, 2], per_gloss)
    rows = []
    for split in ("train", "val", "test"):
        feats = np.eye(3, 8)[labels] * 10 + spread * rng.normal(size=(len(labels), 8))
        rows.append({"split": np.full(len(labels), split), "gloss": glosses, "label": labels,
                     "key": rng.integers(0, 2**31, len(labels)), "mu": np.zeros((len(labels), 4)),
                     "logvar": np.zeros((len(labels), 4)), "features": feats, "logits": np.eye(3)[labels],
                     "positions": motion(rng, len(labels))})
    return ClipEncodings.concatenate(rows)


def drawn_like(clips: ClipEncodings, rec_spread: float, gen_spread: float, rng) -> dict[str, GroupOutputs]:
    out = {}
    for split, rows in clips.split_rows().items():
        for group, spread in (("Rec", rec_spread), ("Gen", gen_spread)):
            centre = np.eye(3, 8)[clips.label[rows]] * 10
            out[f"{group}_{split}"] = GroupOutputs(centre + spread * rng.normal(size=(len(rows), 8)),
                                                   clips.logits[rows], clips.label[rows], motion(rng, len(rows)))
    return out


def test_generation_that_copies_real_clips_scores_ratio_one_and_no_fid_term():
    rng = np.random.default_rng(0)
    clips = encodings(rng)
    test = clips.split_rows()["test"]
    same = GroupOutputs(clips.features[test], clips.logits[test], clips.label[test], clips.positions[test])
    drawn = {"Rec_test": same, "Gen_test": same}
    scale = quality.fid_scale(clips, "test")
    figures = score(clips, drawn, {}, seed=3)
    overall = figures["overall"]
    assert overall["gen_dtw"] == pytest.approx(0.0, abs=1e-6)  # every generated clip is a real clip of its gloss
    # Table I's multimodality draws its own pairs per group, so the overall ratio is 1 up to that draw
    assert overall["multi_ratio"] == pytest.approx(1.0, abs=0.3) and overall["gen_fid"] == pytest.approx(0.0, abs=1e-6)
    assert overall["objective"] == pytest.approx(abs(1 - overall["multi_ratio"]), abs=1e-6)
    assert set(figures["per_gloss"]) == {"a", "b", "c"}
    for gloss in figures["per_gloss"].values():
        assert gloss["multi_ratio"] == pytest.approx(1.0) and gloss["gen_acc"] == 1.0 and gloss["clips"] == 6
        assert gloss["gen_dtw"] == pytest.approx(0.0, abs=1e-6)
    assert scale > 0 and quality.objective(2 * scale, 0.5, scale) == pytest.approx(2.5)


def test_generation_less_varied_than_real_signing_shows_in_the_ratios():
    rng = np.random.default_rng(1)
    clips = encodings(rng, per_gloss=12)
    drawn = drawn_like(clips, rec_spread=0.8, gen_spread=0.2, rng=rng)  # the class mean, nearly every time
    figures = score(clips, drawn, {}, seed=0)
    assert figures["overall"]["gen_dtw"] > 0.01  # joint positions drawn apart from the real ones
    assert figures["overall"]["multi_ratio"] < 0.4 and figures["overall"]["fid_ratio"] > 1.0
    for gloss in figures["per_gloss"].values():
        assert gloss["multi_ratio"] < 0.5 and gloss["gen_multi"] < min(gloss["rec_multi"], gloss["raw_multi"])


def test_summary_gives_mean_and_ci95_of_every_figure_and_the_report_names_each_gloss():
    rng = np.random.default_rng(2)
    clips = encodings(rng, per_gloss=10)
    records = []
    for r in range(4):
        drawn = drawn_like(clips, rec_spread=0.8, gen_spread=0.3 + 0.1 * r, rng=rng)
        curve = {1.0: drawn["Gen_test"], 2.0: drawn["Rec_test"]}
        records.append(score(clips, drawn, curve, seed=r))
    summary = quality.summarize_quality(records)
    beside = quality.summarize_quality([score(clips, drawn_like(clips, 0.8, 0.3, rng), {}, seed=r, split="val")
                                        for r in range(4)])
    ratios = [r["overall"]["multi_ratio"] for r in records]
    assert summary["overall"]["multi_ratio"]["mean"] == pytest.approx(np.mean(ratios))
    assert summary["overall"]["multi_ratio"]["ci95"] == pytest.approx(1.96 * np.std(ratios) / 2)
    assert set(summary["temperature_curve"]) == {"1", "2"}
    assert summary["temperature_curve"]["2"]["multi"]["mean"] > summary["temperature_curve"]["1"]["multi"]["mean"]
    assert set(summary["dtw"]) == {"Rec", "Gen"} and summary["dtw"]["Gen"]["left_hand_nearest"]["ci95"] >= 0
    markdown = quality.to_markdown(summary, temperature=1.5, beside=[beside])
    assert "sampling temperature 1.5" in markdown and "## Per gloss" in markdown and "## DTW joint error" in markdown
    assert "| test |" in markdown and "| val |" in markdown
    assert all(f"| {g} | 10 |" in markdown for g in "abc") and "| 2 |" in markdown


def tiny_avatar(temperature: float = 1.0) -> SignAvatar:
    cfg = ModelConfig(latent_dim=16, num_layers=1, ff_size=32, num_frames=5, sampling_temperature=temperature)
    torch.manual_seed(0)
    return avatar_around(SignAvatarCVAE(cfg, feature_dim=12, cond_dim=8), torch.randn(1, 8))


def test_sampling_temperature_scales_generation_draws_only():
    cold, hot = tiny_avatar(1.0), tiny_avatar(2.5)
    hot.model.load_state_dict(cold.model.state_dict())
    seeds = [3, 4]
    cond = cold.gloss_embeddings.expand(2, -1)
    torch.testing.assert_close(hot.prior_latents(seeds, cond), 2.5 * cold.prior_latents(seeds, cond))
    torch.testing.assert_close(hot.generate_features(cond, seeds), cold.decode_features(2.5 * cold.latents(seeds), cond))
    features = torch.randn(2, 5, 12)
    torch.testing.assert_close(hot.reconstruct_features(features, cond, seeds),
                               cold.reconstruct_features(features, cond, seeds))  # reconstruction is unaffected
    saved = {"model": ModelConfig(num_frames=5).model_dump(mode="json"), "clip": {"pretrained": "random"}}
    del saved["model"]["sampling_temperature"]  # a checkpoint from before the option
    assert inference_config(saved).model.sampling_temperature == 1.0


def test_the_per_gloss_prior_draws_around_each_glosss_training_posteriors():
    """model.prior=gloss: the fitted Gaussian of a gloss's training posteriors (mean of the means;
    their variance plus the mean posterior variance); a known gloss draws mean + T * std * eps, any
    other condition (an unseen word, an image) the standard N(0, T^2 I)."""
    from signavatar.model.prior import fit_gloss_prior

    avatar = tiny_avatar(1.0)
    embeddings = torch.nn.functional.normalize(torch.randn(3, 8, generator=torch.Generator().manual_seed(1)), dim=1)
    features, labels = torch.randn(12, 5, 12), torch.tensor([0] * 6 + [1] * 6)  # gloss 2 has no clip
    prior = fit_gloss_prior(avatar.model, features, labels, embeddings, batch_size=5)
    mu, logvar = avatar.model.encode(features[:6], embeddings[[0] * 6])
    torch.testing.assert_close(prior["mean"][0], mu.mean(0))
    torch.testing.assert_close(prior["std"][0], (mu.var(0, unbiased=False) + logvar.exp().mean(0)).sqrt())
    assert torch.equal(prior["mean"][2], torch.zeros(16)) and torch.equal(prior["std"][2], torch.ones(16))

    gloss = SignAvatar(avatar.model, avatar.normalizer, ["a", "b", "c"], embeddings,
                       avatar.config.model_copy(update={"model": avatar.config.model.model_copy(update={"prior": "gloss"})}),
                       gloss_prior=prior)
    eps = torch.randn(3, 16, generator=torch.Generator().manual_seed(2))
    unseen = torch.randn(1, 8)
    z = gloss.prior_z(eps, torch.cat([embeddings[:2], unseen]), [1.5, 1.5, 1.5])
    torch.testing.assert_close(z[:2], prior["mean"][:2] + 1.5 * prior["std"][:2] * eps[:2])
    torch.testing.assert_close(z[2], 1.5 * eps[2])
    torch.testing.assert_close(gloss.prior_z(eps[:1], embeddings[:1], 0.0), prior["mean"][:1])  # T = 0: the mean
    with pytest.raises(ValueError, match="no per-gloss prior"):
        SignAvatar(gloss.model, gloss.normalizer, gloss.glosses, embeddings, gloss.config).prior_z(eps, embeddings)


def test_free_bits_leave_dims_below_the_floor_unpenalised_and_kl_is_reported_unclamped():
    model_out = {"recon": torch.zeros(4, 3, 2), "mu": torch.zeros(4, 6, requires_grad=True),
                 "logvar": torch.zeros(4, 6, requires_grad=True)}
    with torch.no_grad():
        model_out["mu"][:, 0] = 3.0  # dim 0: KL 4.5 nats per sample, above a floor of 1; the rest 0
    x = torch.zeros(4, 3, 2)
    terms = SignAvatarCVAE.loss_terms(model_out, x, kl_weight=1.0, free_bits=1.0)
    assert terms["kl"].item() == pytest.approx(4 * 4.5)  # unclamped, summed as ACTOR
    assert terms["total"].item() == pytest.approx(4 * (4.5 + 5 * 1.0))  # 5 dims at the floor
    terms["total"].backward()
    assert model_out["mu"].grad[:, 1:].abs().max() == 0 and model_out["mu"].grad[:, 0].abs().min() > 0
    mean = SignAvatarCVAE.loss_terms(model_out, x, kl_weight=1.0, reduction="mean")
    assert mean["kl"].item() == pytest.approx(4.5) == kl_divergence(model_out["mu"], model_out["logvar"], "mean").item()


@pytest.mark.parametrize(("epoch", "expected"), [(0, 0.25), (1, 0.5), (3, 1.0), (10, 1.0)])
def test_kl_annealing_rises_linearly_to_the_weight(epoch, expected):
    assert annealed_kl_weight(epoch, 2.0, warmup_epochs=4) == pytest.approx(2.0 * expected)
    assert annealed_kl_weight(epoch, 2.0, warmup_epochs=0) == 2.0


def test_preview_sheet_stacks_one_row_per_gloss(tmp_path):
    from PIL import Image

    from signavatar.rendering.sheet import render_sheet
    from tests.support.clips import random_clip

    rows = [[random_clip(f"c{s}", frames=n, seed=s) for s in range(3)] for n in (6, 9)]
    labels = [[f"g{r}-{i}" for i in range(3)] for r in range(2)]
    width, height = render_sheet(rows, labels, str(tmp_path / "sheet.gif"), still_path=str(tmp_path / "sheet.png"),
                                 size=(64, 80))
    assert (width, height) == (3 * 64, 2 * 80)
    with Image.open(tmp_path / "sheet.gif") as gif:
        assert gif.size == (width, height) and gif.n_frames == 9  # the longer row; the shorter one holds
    still = np.asarray(Image.open(tmp_path / "sheet.png"))
    assert still.shape == (height, width, 3) and still.std() > 0
    with pytest.raises(ValueError, match="equal length"):
        render_sheet([rows[0], rows[1][:2]], labels, str(tmp_path / "bad.gif"))
    assert math.isfinite(float(still.mean()))
    render_sheet(rows, labels, str(tmp_path / "every_other.gif"), size=(64, 80), frame_step=2)
    with Image.open(tmp_path / "every_other.gif") as gif:  # frames 0, 2, .. 8 at half the rate: the same speed
        assert gif.n_frames == 5 and gif.info["duration"] == pytest.approx(2 * 1000 / rows[0][0].fps, abs=10)
