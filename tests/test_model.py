"""SignAvatarCVAE, its KL term and the masking curriculum (small models: latent 32, 2 layers)."""

from __future__ import annotations

import pytest
import torch

from signavatar.config import CurriculumConfig, ModelConfig
from signavatar.model import SignAvatarCVAE, kl_divergence, mask_ratio, sample_visible_mask
from signavatar.seeding import sample_seed
from tests.support.avatars import avatar_around

FEATURES, COND, FRAMES = 10, 16, 12


def small_model(seed: int = 0, **overrides) -> SignAvatarCVAE:
    torch.manual_seed(seed)
    sizes = {"latent_dim": 32, "num_layers": 2, "num_heads": 4, "ff_size": 64, "num_frames": FRAMES}
    cfg = ModelConfig(**{**sizes, **overrides})
    return SignAvatarCVAE(cfg, feature_dim=FEATURES, cond_dim=COND)


def batch(size: int = 4, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(size, FRAMES, FEATURES, generator=g)
    cond = torch.nn.functional.normalize(torch.randn(size, COND, generator=g), dim=-1)
    return x, cond


def test_shapes_and_default_size():
    model = small_model()
    x, cond = batch()
    out = model(x, cond)
    assert out["recon"].shape == x.shape
    assert out["mu"].shape == out["logvar"].shape == out["z"].shape == (4, 32)
    assert model.decode(out["z"], cond, num_frames=7).shape == (4, 7, FEATURES)
    avatar = avatar_around(model)
    assert avatar.generate_batch(cond[:1], [3], [0])[0].shape == (3, FRAMES, FEATURES)
    assert avatar.generate_features(cond, [0, 1, 2, 3], num_frames=5).shape == (4, 5, FEATURES)
    assert avatar.reconstruct_features(x, cond, [0, 1, 2, 3]).shape == x.shape

    default = SignAvatarCVAE(ModelConfig(num_layers=1))
    assert default.decode(torch.zeros(1, default.cfg.latent_dim), torch.zeros(1, 512)).shape == (1, 60, 264)


def test_token_source_word_derives_mu_sigma_tokens_from_the_word():
    """The paper's encoder (default): mu/sigma tokens are a 3-layer MLP of the word embedding, so
    two words query the sequence with different tokens; ``learned`` keeps ACTOR's two global ones."""
    assert ModelConfig().token_source == "word"
    word, learned = small_model(), small_model(token_source="learned")
    _, cond = batch()
    tokens = word._distribution_tokens(cond, 4)
    assert tokens.shape == (4, 2, 32) and not torch.allclose(tokens[0], tokens[1])
    assert not hasattr(word, "mu_token") and sum(isinstance(m, torch.nn.Linear) for m in word.token_mlp) == 3
    shared = learned._distribution_tokens(cond, 4)
    assert torch.equal(shared[0], shared[1]) and not hasattr(learned, "token_mlp")
    assert {"mu_token", "sigma_token"} <= set(learned.state_dict())
    x, _ = batch()
    for model in (word.eval(), learned.eval()):  # both read mu / logvar at the token positions
        mu, logvar = model.encode(x, cond)
        assert mu.shape == logvar.shape == (4, 32) and torch.isfinite(mu).all()


def test_checkpoint_saved_before_token_source_still_loads(tmp_path):
    """A checkpoint in the format saved before the option (learned tokens, no ``token_source`` key,
    ``clip.pretrained: null``) loads as what it is and gives the same output as its weights."""
    from signavatar.model.cvae import saved_model_config
    from signavatar.model.pipeline import SignAvatar
    from signavatar.model.checkpoint import load_checkpoint
    from tests.support.checkpoints import write_legacy_checkpoint

    embeddings = torch.nn.functional.normalize(torch.randn(2, COND, generator=torch.Generator().manual_seed(0)), dim=1)
    directory = write_legacy_checkpoint(tmp_path / "old", embeddings, ["drink", "hello"])
    saved = load_checkpoint(directory)
    assert "token_source" not in saved["config"]["model"] and saved["config"]["clip"]["pretrained"] is None
    avatar = SignAvatar.from_checkpoint(directory, device="cpu")
    assert avatar.config.model.token_source == "learned" and avatar.config.clip.pretrained == "random"
    reference = SignAvatarCVAE(saved_model_config(saved["config"]["model"]), cond_dim=COND)
    reference.load_state_dict(saved["model"])
    out = avatar.generate_features(embeddings, [3, 4])
    expected = reference.eval().decode(avatar.latents([3, 4]), embeddings)
    torch.testing.assert_close(out, expected)
    assert saved_model_config({**saved["config"]["model"], "token_source": "word"}).token_source == "word"


def test_hidden_frames_cannot_influence_the_posterior():
    model = small_model().eval()
    x, cond = batch()
    visible = sample_visible_mask(4, FRAMES, 0.5, torch.Generator().manual_seed(1))
    mu, logvar = model.encode(x, cond, visible)

    perturbed = x.clone()
    perturbed[~visible] = torch.randn_like(perturbed[~visible]) * 100
    perturbed[0, (~visible[0]).nonzero()[0]] = float("nan")
    mu2, logvar2 = model.encode(perturbed, cond, visible)
    assert torch.equal(mu, mu2) and torch.equal(logvar, logvar2)

    seen = x.clone()
    frame = visible[2].nonzero()[0]
    seen[2, frame] += 1.0
    mu3, logvar3 = model.encode(seen, cond, visible)
    assert not torch.allclose(mu3[2], mu[2]) and not torch.allclose(logvar3[2], logvar[2])
    torch.testing.assert_close(mu3[[0, 1, 3]], mu[[0, 1, 3]])  # samples do not mix
    # with every frame visible, the perturbed values do matter
    assert not torch.allclose(model.encode(perturbed.nan_to_num(), cond)[0], model.encode(x, cond)[0])


def test_hidden_frames_are_as_if_absent():
    """Hiding the last k frames gives the posterior of the clip cut before them: hidden frames are
    not even attended to as placeholders."""
    model = small_model().eval()
    x, cond = batch()
    visible = torch.ones(4, FRAMES, dtype=torch.bool)
    visible[:, -4:] = False
    mu, logvar = model.encode(x, cond, visible)
    mu_cut, logvar_cut = model.encode(x[:, :-4], cond)
    torch.testing.assert_close(mu, mu_cut, rtol=0, atol=1e-5)
    torch.testing.assert_close(logvar, logvar_cut, rtol=0, atol=1e-5)


def test_logvar_is_clamped():
    model = small_model(logvar_clamp=0.5).eval()
    x, cond = batch(16)
    _, logvar = model.encode(x * 50, cond)
    assert logvar.abs().max().item() == pytest.approx(0.5)
    _, unclamped = small_model(logvar_clamp=100.0).eval().encode(x * 50, cond)
    assert unclamped.abs().max() > 0.5  # the clamp above was active, not vacuous


def test_kl_matches_closed_form_and_is_summed_like_actor():
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(5, 8, generator=g), torch.randn(5, 8, generator=g)
    posterior = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    prior = torch.distributions.Normal(torch.zeros(5, 8), torch.ones(5, 8))
    per_sample = torch.distributions.kl_divergence(posterior, prior).sum(-1)
    torch.testing.assert_close(kl_divergence(mu, logvar), per_sample.sum())
    torch.testing.assert_close(kl_divergence(mu, logvar, reduction="mean"), per_sample.mean())
    torch.testing.assert_close(kl_divergence(mu, logvar, reduction="none"), per_sample)
    assert kl_divergence(torch.zeros(3, 4), torch.zeros(3, 4)).item() == 0.0
    with pytest.raises(ValueError):
        kl_divergence(mu, logvar, reduction="max")

    x = torch.randn(5, 3, 2, generator=g)
    out = {"recon": torch.randn(5, 3, 2, generator=g), "mu": mu, "logvar": logvar}
    terms = SignAvatarCVAE.loss_terms(out, x, kl_weight=1e-2)
    torch.testing.assert_close(terms["rec"], ((out["recon"] - x) ** 2).mean())
    torch.testing.assert_close(terms["total"], terms["rec"] + 1e-2 * per_sample.sum())


def test_hand_loss_weight_scales_the_finger_features_in_the_reconstruction_loss():
    """train.hand_loss_weight: the finger joints' 6D features weigh w against the body's 1, the
    weights normalised to mean 1 (an error spread evenly over every feature costs the same)."""
    from signavatar.body.joints import LEFT_HAND, UPPER_BODY_JOINTS
    from signavatar.model.cvae import feature_weights
    from signavatar.motion.clip import FEATURE_DIM

    assert feature_weights(1.0) is None
    weights = feature_weights(3.0)
    first_hand = UPPER_BODY_JOINTS.index(LEFT_HAND.start) * 6
    assert weights.shape == (FEATURE_DIM,) and weights.mean().item() == pytest.approx(1.0)
    assert weights[first_hand].item() == pytest.approx(3 * weights[0].item())
    x = torch.zeros(2, 3, FEATURE_DIM)
    out = {"recon": torch.zeros(2, 3, FEATURE_DIM), "mu": torch.zeros(2, 4), "logvar": torch.zeros(2, 4)}
    out["recon"][..., first_hand] = 1.0  # one finger feature wrong
    body = {**out, "recon": torch.zeros(2, 3, FEATURE_DIM)}
    body["recon"][..., 0] = 1.0  # one body feature wrong
    hand_rec = SignAvatarCVAE.loss_terms(out, x, 0.0, feature_weights=weights)["rec"]
    body_rec = SignAvatarCVAE.loss_terms(body, x, 0.0, feature_weights=weights)["rec"]
    assert hand_rec.item() == pytest.approx(3 * body_rec.item())
    even = {**out, "recon": torch.ones(2, 3, FEATURE_DIM)}
    assert SignAvatarCVAE.loss_terms(even, x, 0.0, feature_weights=weights)["rec"].item() == pytest.approx(1.0)


def test_one_batch_overfits():
    model = small_model(dropout=0.0)
    x, cond = batch(8)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    losses = []
    for _ in range(300):
        terms = model.loss_terms(model(x, cond), x, kl_weight=1e-5)
        optimizer.zero_grad()
        terms["total"].backward()
        optimizer.step()
        losses.append(terms["total"].item())
        if losses[0] / losses[-1] >= 10:
            break
    assert losses[0] / min(losses) >= 10, f"loss {losses[0]:.3f} -> {min(losses):.3f} in {len(losses)} steps"


def test_sampling_is_deterministic_per_seed_in_eval_mode():
    """Sampling goes through ``SignAvatar``, which puts the model in eval mode (no dropout) and
    draws z from per-seed generators, leaving the global RNG alone."""
    model = small_model().train()
    avatar = avatar_around(model)
    assert avatar.model is model and not model.training
    _, cond = batch()
    rng_before = torch.get_rng_state()

    def generate(seed: int) -> torch.Tensor:
        return avatar.generate_batch(cond[:1], [2], [seed])[0]

    a, b, c = generate(7), generate(7), generate(8)
    assert torch.equal(a, b) and not torch.allclose(a, c)
    assert not torch.allclose(a[0], a[1])  # n samples are n different draws
    assert not a.requires_grad
    assert torch.equal(torch.get_rng_state(), rng_before)

    x, _ = batch()
    r1, r2 = (avatar.reconstruct_features(x, cond, [3, 4, 5, 6]) for _ in range(2))
    assert torch.equal(r1, r2) and not r1.requires_grad and not model.training


def test_temperature_per_request_scales_its_draws_only():
    """A request's temperature T draws z ~ N(0, T^2 I); None is the checkpoint's (bit-identical to
    not asking), and requests batched together keep their own temperatures."""
    avatar = avatar_around(small_model())
    _, cond = batch()
    saved_t = avatar.config.model.sampling_temperature
    default = avatar.generate_batch(cond[:2], [2, 2], [7, 8])
    assert all(torch.equal(a, b) for a, b in zip(default, avatar.generate_batch(cond[:2], [2, 2], [7, 8],
                                                                                 temperatures=[None, saved_t])))
    mixed = avatar.generate_batch(cond[:2], [2, 2], [7, 8], temperatures=[None, 3.0])
    assert torch.equal(mixed[0], default[0]) and not torch.allclose(mixed[1], default[1])
    alone = avatar.generate_batch(cond[1:2], [2], [8], temperatures=[3.0])[0]
    torch.testing.assert_close(mixed[1], alone)
    z = avatar.latents([sample_seed(8, j) for j in range(2)]) * 3.0
    torch.testing.assert_close(alone, avatar.decode_features(z, cond[1:2].expand(2, -1)))


@pytest.mark.parametrize(
    ("epoch", "expected"), [(0, 0.0), (499, 0.0), (500, 0.1), (999, 0.1), (2500, 0.5), (3000, 0.6), (5000, 0.6)]
)
def test_paper_schedule(epoch, expected):
    assert mask_ratio(epoch, CurriculumConfig(), run_epochs=5000) == pytest.approx(expected)
    assert mask_ratio(epoch, CurriculumConfig(scale_to_run=False)) == pytest.approx(expected)


def test_schedule_scales_to_a_shorter_run_and_can_be_disabled():
    cfg = CurriculumConfig()
    ratios = [mask_ratio(ep, cfg, run_epochs=50) for ep in range(50)]
    assert ratios[4] == 0.0 and ratios[5] == pytest.approx(0.1) and ratios[25] == pytest.approx(0.5)
    assert ratios[30] == ratios[49] == pytest.approx(0.6)
    # a run length that does not divide the schedule: exact integer stage boundaries, monotone
    odd = [mask_ratio(ep, cfg, run_epochs=7) for ep in range(7)]
    assert odd == pytest.approx([0.0, 0.1, 0.2, 0.4, 0.5, 0.6, 0.6])
    assert mask_ratio(5, CurriculumConfig(scale_to_run=False), run_epochs=50) == 0.0
    assert mask_ratio(600, CurriculumConfig(step=100, increment=0.05, cap=0.2)) == pytest.approx(0.2)
    assert mask_ratio(4999, CurriculumConfig(enabled=False), run_epochs=5000) == 0.0


@pytest.mark.parametrize("ratio", [0.0, 0.1, 0.35, 0.6, 1.0])
def test_visible_mask_hides_exactly_round_ratio_frames(ratio):
    visible = sample_visible_mask(64, 60, ratio, torch.Generator().manual_seed(0))
    assert visible.dtype == torch.bool and visible.shape == (64, 60)
    hidden = (~visible).sum(dim=1)
    assert torch.all(hidden == min(round(ratio * 60), 59))
    assert torch.all(visible.any(dim=1))


def test_visible_mask_is_random_per_sample_and_reproducible():
    visible = sample_visible_mask(2000, 10, 0.3, torch.Generator().manual_seed(0))
    assert torch.equal(visible, sample_visible_mask(2000, 10, 0.3, torch.Generator().manual_seed(0)))
    assert len({tuple(row.tolist()) for row in visible}) > 50
    hidden_rate = (~visible).float().mean(dim=0)  # every frame is equally likely to be hidden
    assert torch.all((hidden_rate - 0.3).abs() < 0.05)
    with pytest.raises(ValueError):
        sample_visible_mask(1, 10, 1.5)
