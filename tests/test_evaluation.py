"""Evaluation end to end on Ray Data with a tiny checkpoint, and its bad-input path."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from signavatar.body.skeleton import DEFAULT_REST_JOINTS
from signavatar.config import SignAvatarConfig
from signavatar.data.synthetic import generate_corpus
from signavatar.evaluation.protocol import (
    ClipEncodings,
    check_vocabulary,
    confidence_interval,
    draw_repetitions,
    encode_clips,
    score_repetition,
    summarize,
)
from signavatar.evaluation.report import TABLE_ONE_ROWS
from signavatar.evaluation.run import evaluate
from signavatar.motion import arrow_io
from signavatar.seeding import repetition_seed
from tests.support.clips import random_clip

SMALL_EVAL = {"recognizer_hidden": (8, 8, 16), "recognizer_feature_dim": 16, "recognizer_epochs": 5, "repeats": 3}


def eval_config(tiny, tmp_path, **changes) -> SignAvatarConfig:
    return tiny.config.model_copy(update={
        "run_dir": str(tmp_path / "run"),
        "eval": tiny.config.eval.model_copy(update={**SMALL_EVAL, "checkpoint": tiny.checkpoint, **changes}),
    })


def test_check_vocabulary_names_unknown_glosses():
    check_vocabulary({"a", "b"}, {"checkpoint": ["a", "b", "c"]})
    with pytest.raises(ValueError, match=r"unknown to the recognizer: \['zebra'\]"):
        check_vocabulary({"a", "zebra"}, {"checkpoint": ["a", "zebra"], "recognizer": ["a"]})


@pytest.fixture(scope="module")
def encoded(tiny_checkpoint):
    """The tiny checkpoint, a recognizer briefly trained on the corpus and the corpus encoded once."""
    from signavatar.evaluation.recognizer_training import train_recognizer
    from signavatar.model.pipeline import SignAvatar
    from signavatar.training.data import build_feature_set

    config = tiny_checkpoint.config
    avatar = SignAvatar.from_checkpoint(tiny_checkpoint.checkpoint, device="cpu")
    clips = generate_corpus(config.data.synthetic)
    data = build_feature_set(clips, config.data.num_frames, avatar.glosses)
    recognizer, _ = train_recognizer(data.features.numpy(), data.labels.numpy(), len(avatar.glosses),
                                     config.eval.model_copy(update={**SMALL_EVAL, "recognizer_batch_size": 8}))
    index = {g: i for i, g in enumerate(avatar.glosses)}
    encodings = encode_clips(avatar, recognizer, clips, index, batch_size=7, rest_joints=DEFAULT_REST_JOINTS)
    return avatar, recognizer, ClipEncodings(**encodings), clips


def draw(avatar, recognizer, clips, repetition: int, batch_size: int = 64) -> dict:
    """One repetition's drawn groups."""
    [(drawn, _)] = draw_repetitions(avatar, recognizer, clips, [repetition_seed(0, repetition)], batch_size,
                                    DEFAULT_REST_JOINTS)
    return drawn


def test_each_repetition_draws_fresh_reconstructions_and_generations(encoded):
    """ACTOR's protocol: per repetition, one Rec and one Gen clip per real clip (that clip's gloss);
    a repetition's draws depend on its seed only, not on batching."""
    avatar, recognizer, clips, corpus = encoded
    first = draw(avatar, recognizer, clips, 0)
    again = draw(avatar, recognizer, clips, 0, batch_size=5)
    second = draw(avatar, recognizer, clips, 1)
    assert set(first) == {"Rec_train", "Rec_test", "Gen_train", "Gen_test"}
    raw = clips.raw_groups()
    for name, group in first.items():
        split = name.split("_")[1]
        np.testing.assert_array_equal(group.labels, raw[f"Raw_{split}"].labels)  # same count per gloss
        batching = np.abs(group.features - again[name].features).max()
        assert batching < 1e-4  # a draw does not depend on how latents are batched
        # another repetition draws again (the tiny model's clips vary little, but they do vary)
        assert np.abs(group.features - second[name].features).max() > 10 * batching, name
        assert group.positions.shape == (len(group.labels), *clips.positions.shape[1:])
    assert len(clips.key) == len(corpus) and np.array_equal(
        np.sort(clips.split), np.sort([c.split for c in corpus]))


def test_confidence_interval_is_actors_and_shrinks_with_repetitions(encoded):
    avatar, recognizer, clips, _ = encoded
    assert confidence_interval([1.0, 3.0]) == pytest.approx(1.96 * 1.0 / np.sqrt(2))
    assert confidence_interval([2.0, 2.0, 2.0]) == 0.0
    cfg = SignAvatarConfig().eval.model_copy(update={"diversity_size": 8, "multimodality_samples": 3})
    raw = clips.raw_groups()
    reps = [score_repetition(raw, draw(avatar, recognizer, clips, r), cfg, repetition_seed(0, r)) for r in range(16)]
    few, many = summarize(reps[:4]), summarize(reps)
    # Diversity and multimodality draw random subsets in every repetition; the tiny model's Gen FID
    # moves only at the 1e-7 level between draws (checked distinct below), too little to order CIs.
    for metric in ("div", "multi"):
        assert 0 < many["Gen_train"][metric]["ci95"] < few["Gen_train"][metric]["ci95"], metric
    values = many["Gen_train"]["fid"]["values"]
    assert many["Gen_train"]["fid"]["mean"] == pytest.approx(np.mean(values)) and len(set(values)) == 16
    assert many["Raw_train"]["acc"]["ci95"] == 0.0 and many["Raw_train"]["fid"]["mean"] == pytest.approx(0, abs=1e-6)


def test_repetitions_drawn_together_give_the_figures_of_each_drawn_alone(encoded):
    """The evaluation's repetitions and temperature curves share one stream of decoder and
    recognizer passes: every figure equals that of the repetition drawn on its own."""
    avatar, recognizer, clips, _ = encoded
    cfg = SignAvatarConfig().eval.model_copy(update={"diversity_size": 8, "multimodality_samples": 3})
    seeds = [repetition_seed(0, r) for r in range(3)]
    together = draw_repetitions(avatar, recognizer, clips, seeds, 16, DEFAULT_REST_JOINTS, (1.0, 2.0), "test")
    for seed, (drawn, curve) in zip(seeds, together, strict=True):
        [(alone, alone_curve)] = draw_repetitions(avatar, recognizer, clips, [seed], 64, DEFAULT_REST_JOINTS,
                                                  (1.0, 2.0), "test")
        assert set(curve) == {1.0, 2.0}
        for name in alone:
            np.testing.assert_allclose(drawn[name].features, alone[name].features, atol=1e-5)
            np.testing.assert_allclose(drawn[name].positions, alone[name].positions, atol=1e-5)
        for t in curve:
            np.testing.assert_allclose(curve[t].features, alone_curve[t].features, atol=1e-5)
        a, b = (score_repetition(clips.raw_groups(), d, cfg, seed) for d in (drawn, alone))
        for group in a:
            for metric in ("acc", "fid", "div", "multi"):  # NaN where a group is too small alike
                assert a[group][metric] == pytest.approx(b[group][metric], rel=1e-4, abs=1e-6, nan_ok=True), group


def test_evaluate_all_groups_on_ray_data(ray_cluster, tiny_checkpoint, tmp_path):
    config = eval_config(tiny_checkpoint, tmp_path, temperature_curve=(1.0, 3.0), num_actors=2)
    clips = generate_corpus(config.data.synthetic)
    dataset = str(tmp_path / "dataset")
    arrow_io.write_dataset(clips, dataset, shard_size=7)

    summary = evaluate(config, dataset)
    groups = summary["groups"]
    assert set(groups) == {f"{g}_{s}" for s in ("train", "test") for g in ("Raw", "Rec", "Gen")} <= set(TABLE_ONE_ROWS)
    assert summary["repetitions"] == 3
    for split in ("train", "test"):  # Rec and Gen: one clip per real clip of the split
        n = sum(c.split == split for c in clips)
        assert groups[f"Raw_{split}"]["sizes"]["n"] == groups[f"Rec_{split}"]["sizes"]["n"] == n
        assert groups[f"Gen_{split}"]["sizes"]["n"] == n
    for name in ("Raw_train", "Raw_test"):
        assert groups[name]["fid"] == pytest.approx(0.0, abs=1e-6)  # a group against itself
        assert groups[name]["acc_ci95"] == 0.0  # the Raw clips do not change between repetitions
    for scores in groups.values():
        assert 0.0 <= scores["acc"] <= 1.0 and np.isfinite(scores["fid"]) and scores["div"] >= 0
        assert all(scores[f"{m}_ci95"] >= 0 for m in ("acc", "fid", "div"))
        # one test clip per gloss: within-gloss variation is not measurable there (null, C = 0)
        assert (scores["multi_ci95"] is None) == (scores["sizes"]["C"] == 0)
    gen_fids = summary["scores"]["Gen_test"]["fid"]["values"]
    assert len(gen_fids) == 3 and len(set(gen_fids)) == 3  # a fresh Gen draw in every repetition
    assert groups["Gen_test"]["fid_ci95"] > 0
    assert "recognizer_training" in summary
    report = (tmp_path / "run" / "evaluation.md").read_text()
    assert "| test | Gen |" in report and "±" in report and "over 3 repetitions" in report
    saved = json.loads((tmp_path / "run" / "evaluation.json").read_text())
    assert set(saved["rows"]["Gen_test"]["fid"]) == {"mean", "ci95"} and len(saved["values"]["Gen_test"]["acc"]) == 3

    # the generation-quality report of the test split, with Gen redrawn along the temperature curve
    quality = summary["quality"]
    assert quality["split"] == "test" and quality["repetitions"] == 3
    assert quality["overall"]["fid_ratio"]["mean"] == pytest.approx(
        np.mean(np.divide(gen_fids, summary["scores"]["Rec_test"]["fid"]["values"])))
    assert set(quality["per_gloss"]) == {c.gloss for c in clips if c.split == "test"}
    assert set(quality["temperature_curve"]) == {"1", "3"}
    curve = quality["temperature_curve"]
    assert curve["1"]["fid"]["mean"] == pytest.approx(groups["Gen_test"]["fid"], rel=1e-4)  # T=1 is Gen itself
    assert curve["3"]["fid"]["mean"] != pytest.approx(curve["1"]["fid"]["mean"], rel=1e-3)
    assert "## Per gloss" in (tmp_path / "run" / "quality.md").read_text()
    assert json.loads((tmp_path / "run" / "quality.json").read_text())["fid_scale"] > 0

    # DTW joint errors beside Table I: every drawn group, each part, nearest <= mean
    faithful = summary["faithfulness"]
    assert set(faithful) == {f"{g}_{s}" for g in ("Rec", "Gen") for s in ("train", "test")}
    for figures in faithful.values():
        for part in ("body", "left_hand", "right_hand"):
            assert 0 <= figures[f"{part}_nearest"]["mean"] <= figures[f"{part}_mean"]["mean"] < 1.0  # metres
    assert "DTW joint error" in report and "| test | Gen |" in report.split("DTW joint error")[1]
    assert set(saved["faithfulness"]["Gen_test"]["per_gloss"]) == {c.gloss for c in clips if c.split == "test"}

    again = evaluate(config, dataset)  # the saved recognizer is reused, every figure is reproduced exactly
    assert "recognizer_training" not in again
    assert again["groups"] == groups and again["quality"]["overall"] == quality["overall"]


def test_actor_results_come_back_in_the_order_of_their_items(ray_cluster):
    """Encoded shards are concatenated in shard order whichever actor finishes first (two demo runs
    drew Diversity's pairs from differently ordered rows before)."""
    import ray
    from ray.util import ActorPool

    from signavatar.evaluation.distributed import _each

    @ray.remote(num_cpus=0)
    class Slow:
        def run(self, seconds: float) -> float:
            time.sleep(seconds)
            return seconds

    items = [0.6, 0.0, 0.3, 0.0, 0.1]
    pool = ActorPool([Slow.remote(), Slow.remote()])
    assert list(_each(pool, lambda actor, s: actor.run.remote(s), items, "item")) == items


def test_recognizer_is_trained_once_per_dataset_and_settings(ray_cluster, tiny_checkpoint, tmp_path):
    """Another run on the same dataset reuses the recognizer kept beside it (same weights, no
    training); a changed train clip or a changed recognizer setting trains a new one."""
    import torch

    from signavatar.evaluation.recognizer_cache import ensure_recognizer

    config = eval_config(tiny_checkpoint, tmp_path)
    clips = generate_corpus(config.data.synthetic)
    dataset = str(tmp_path / "dataset")
    arrow_io.write_dataset(clips, dataset, shard_size=7)
    frames, cfg = config.data.num_frames, config.eval
    first = ensure_recognizer(dataset, str(tmp_path / "a.pt"), frames, cfg)
    reused = ensure_recognizer(dataset, str(tmp_path / "b.pt"), frames, cfg)
    assert not first["cached"] and reused["cached"] and reused["fingerprint"] == first["fingerprint"]
    assert reused["train_acc"] == first["train_acc"]
    weights = [torch.load(tmp_path / f"{n}.pt", weights_only=True)["state_dict"] for n in ("a", "b")]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])

    other = str(tmp_path / "changed")
    moved = clips[0].replace(poses=clips[0].poses + 0.01)  # one train clip changed
    assert clips[0].split == "train"
    arrow_io.write_dataset([moved, *clips[1:]], other, shard_size=7)
    changed = ensure_recognizer(other, str(tmp_path / "c.pt"), frames, cfg)
    assert not changed["cached"] and changed["fingerprint"] != first["fingerprint"]
    longer = ensure_recognizer(dataset, str(tmp_path / "d.pt"), frames,
                               cfg.model_copy(update={"recognizer_epochs": cfg.recognizer_epochs + 1}))
    assert not longer["cached"] and longer["fingerprint"] != first["fingerprint"]
    # evaluations find it too: a second run directory on the same dataset trains nothing
    summary = evaluate(config.model_copy(update={"run_dir": str(tmp_path / "run2")}), dataset)
    assert summary["recognizer_training"]["cached"] is True


def test_dataset_with_unknown_gloss_stops_naming_it(ray_cluster, tiny_checkpoint, tmp_path):
    config = eval_config(tiny_checkpoint, tmp_path)
    clips = generate_corpus(config.data.synthetic) + [random_clip("odd-1", gloss="zebra", split="test")]
    dataset = str(tmp_path / "dataset")
    arrow_io.write_dataset(clips, dataset)
    with pytest.raises(ValueError, match=r"unknown to the checkpoint: \['zebra'\]"):
        evaluate(config, dataset)
    assert not (tmp_path / "run" / "recognizer.pt").exists()  # stopped before any work


def test_ablation_variants_differ_only_in_the_ablated_ingredient(tmp_path):
    """Table II variants: no curriculum = masking ratio 0 in every epoch; no QC = QC off, its own
    dataset (None: rebuilt without QC) and recognizer; everything else is the configured run."""
    from signavatar.evaluation.ablation import disables_qc, variant_config
    from signavatar.model.curriculum import mask_ratio

    config = SignAvatarConfig.model_validate({"train": {"epochs": 40}, "run_dir": str(tmp_path)})
    assert list(config.ablation.variants) == ["full", "without curriculum", "without quality control"]
    assert [disables_qc(config, name) for name in config.ablation.variants] == [False, False, True]
    full = variant_config(config, "full", str(tmp_path), "data/qc", "r.pt")
    plain = variant_config(config, "without curriculum", str(tmp_path), "data/qc", "r.pt")
    no_qc = variant_config(config, "without quality control", str(tmp_path), None, "noqc/r.pt")

    def ratios(cfg: SignAvatarConfig) -> list[float]:
        return [mask_ratio(e, cfg.curriculum, run_epochs=cfg.train.epochs) for e in range(cfg.train.epochs)]

    assert max(ratios(full)) == pytest.approx(0.6) and ratios(full)[0] == 0.0
    assert set(ratios(plain)) == {0.0} and set(ratios(no_qc)) == set(ratios(full))
    assert full.qc.enabled and plain.qc.enabled and not no_qc.qc.enabled
    assert (full.data.dataset, plain.data.dataset, no_qc.data.dataset) == ("data/qc", "data/qc", None)
    assert no_qc.eval.recognizer == "noqc/r.pt" and full.eval.recognizer == plain.eval.recognizer == "r.pt"
    assert len({full.run_dir, plain.run_dir, no_qc.run_dir}) == 3
    for variant in (plain, no_qc):  # nothing else changes
        for section in ("model", "train", "eval", "clip"):
            a, b = getattr(full, section).model_dump(), getattr(variant, section).model_dump()
            for key in ("storage_path", "name", "recognizer"):
                a.pop(key, None), b.pop(key, None)
            assert a == b, section


def test_ablation_variants_come_from_the_config(tmp_path):
    """``ablation.variants``: another variant is its overrides applied to the configured run and
    nothing else; its directory is its name with spaces as '-'."""
    from signavatar.config import load_config
    from signavatar.evaluation.ablation import disables_qc, variant_config

    variants = {"full": [], "kl high": ["train.kl_weight=0.001"]}
    config = SignAvatarConfig.model_validate({"train": {"epochs": 40}, "ablation": {"variants": variants}})
    assert list(config.ablation.variants) == ["full", "kl high"] and not disables_qc(config, "kl high")
    full = variant_config(config, "full", str(tmp_path), "data/qc", "r.pt")
    high = variant_config(config, "kl high", str(tmp_path), "data/qc", "r.pt")
    assert high.run_dir == str(tmp_path / "kl-high") and high.train.name == "kl-high"
    assert (full.train.kl_weight, high.train.kl_weight) == (1e-5, 0.001)
    a, b = full.model_dump(), high.model_dump()
    for data in (a, b):
        data.pop("run_dir"), data["train"].pop("storage_path"), data["train"].pop("name")
    a["train"].pop("kl_weight"), b["train"].pop("kl_weight")
    assert a == b
    # on the command line too (the same override syntax, one level deeper)
    loaded = load_config(None, ['ablation.variants={full: [], "kl high": [train.kl_weight=0.001]}'])
    assert loaded.ablation.variants == variants


@pytest.mark.parametrize("variants, needle", [
    ({}, "at least one variant"),
    ({"full": [], "no/qc": ["qc.enabled=false"]}, r"variant name 'no/qc' may hold only"),
    ({"kl high": [], "kl-high": []}, r"variants 'kl high' and 'kl-high' share the directory 'kl-high'"),
    ({"full": [], "fast": ["train.speed=2"]}, r"variant 'fast': unknown config key 'train.speed'"),
    ({"fast": ["train.epochs"]}, r"variant 'fast': override 'train.epochs' is not of the form key=value"),
    ({"elsewhere": ["data.dataset=x"]}, r"variant 'elsewhere': 'data.dataset' overlaps data.dataset, which"),
    ({"nested": ["ablation.variants={}"]}, r"variant 'nested': 'ablation.variants' overlaps ablation,"),
    ({"whole": ["train={epochs: 3}"]}, r"variant 'whole': 'train' overlaps train.storage_path, train.name,"),
    ({"own": ["eval.checkpoint=c.pt"]}, r"variant 'own': 'eval.checkpoint' overlaps eval.checkpoint,"),
    ({"more": ["data.synthetic.clips_per_gloss=90"]}, r"variant 'more': 'data.synthetic.clips_per_gloss' would "
                                                        r"change the dataset \(data.synthetic\)"),
    ({"strict": ["qc.enabled=true", "qc.idle_energy_threshold=0.5"]},
     r"'qc.idle_energy_threshold' would change the dataset \(qc\)"),
    ({"other": ["extract={}"]}, r"'extract' would change the dataset \(extract\)"),
])
def test_ablation_variants_are_checked(variants, needle):
    """Bad variant names, unknown keys and keys the run sets per variant are config errors naming
    the variant and the key."""
    from signavatar.config import ConfigError, load_config

    with pytest.raises(ConfigError, match=rf"ablation\.variants: .*{needle}"):
        load_config(None, [f"ablation.variants={json.dumps(variants)}"])


@pytest.mark.slow
def test_ablation_table(ray_cluster, tiny_checkpoint, tmp_path):
    """Table II as published: three variants x Raw/Rec/Gen test rows; without QC it is trained,
    recognizer-trained and scored on the un-QC'd corpus."""
    from workflows import ablation

    tiny = tiny_checkpoint.config
    overrides = [f"run_dir={tmp_path}", "train.epochs=3", "train.checkpoint_every=3", f"clip.pretrained={tiny.clip.pretrained}",
                 "model.latent_dim=32", "model.num_layers=2", "model.num_heads=2", "model.ff_size=64",
                 "model.num_frames=16", "data.num_frames=16", "data.synthetic.num_glosses=3",
                 "data.synthetic.clips_per_gloss=5", "train.cpus_per_worker=1", "eval.recognizer_cpus=1",
                 "eval.recognizer_epochs=2", "eval.recognizer_hidden=[8, 8, 16]", "eval.recognizer_feature_dim=16",
                 "eval.repeats=2"]
    result = ablation.main(overrides)
    variants = ["full", "without curriculum", "without quality control"]
    assert list(result["variants"]) == variants
    lines = [line for line in (tmp_path / "ablation" / "ablation.md").read_text().splitlines()[2:] if line.startswith("|")]
    cells = [[c.strip() for c in line.split("|")[1:4]] for line in lines]
    assert cells == [[v, "test", g] for v in variants for g in ("Raw", "Rec", "Gen")]
    saved = json.loads((tmp_path / "ablation" / "ablation.json").read_text())
    for name, variant in result["variants"].items():
        for group in ("Raw_test", "Rec_test", "Gen_test"):
            assert 0.0 <= variant["groups"][group]["acc"] <= 1.0
            assert set(saved["variants"][name][group]["fid"]) == {"mean", "ci95"}
    assert result["variants"]["without curriculum"]["training"]["final"]["mask_ratio"] == 0.0
    no_qc_dir = tmp_path / "ablation" / "without-quality-control"
    no_qc = json.loads((no_qc_dir / "dataset" / "manifest.json").read_text())
    assert no_qc["qc"]["frames_removed"] == 0  # trained and scored on untrimmed clips
    assert result["variants"]["without quality control"]["dataset"].endswith("without-quality-control/dataset")
    assert (no_qc_dir / "recognizer.pt").exists() and (tmp_path / "ablation" / "recognizer.pt").exists()
    assert len(list((tmp_path / "ablation").glob("*/checkpoint/checkpoint.pt"))) == 3


def test_spare_cpus_decide_whether_the_recognizer_trains_beside_the_cvae(ray_cluster):
    """The demo starts the recognizer and the judge beside training only on CPUs its workers leave
    free (beside two workers on two CPUs, the workers would wait for them)."""
    from signavatar.cluster import spare_cpus

    assert spare_cpus(1) == 1  # the demo's one training worker on the test cluster's 2 CPUs: one to spare
    assert spare_cpus(2 * 1.0) == 0  # asl_mpdata_full.yaml's two DDP workers: none
