"""Generation quality beside real signing: is a generated sign as varied as real signers, and as
close to real signing as a reconstruction? Pure logic (no Ray), on the protocol's draws.

Per repetition of the protocol (``protocol.draw_repetition`` + ``protocol.score_repetition``), on
one split (``test``: on the real corpus, the unseen recording session):
- overall: ``multi_ratio = Gen multimodality / Raw multimodality`` (1: as varied within a gloss as
  the real clips) and ``fid_ratio = Gen FID / Rec FID`` (1: generated clips as close to the real
  clips as reconstructions of them), from the same numbers as Table I;
- per gloss: multimodality within the gloss for Raw / Rec / Gen (``S_l`` pairs, as the protocol's),
  Gen and Rec FID against that gloss's real clips, Gen accuracy;
- a temperature curve (``eval.temperature_curve``): Gen drawn at each temperature T (z ~ N(0, T^2 I))
  with FID, multimodality, its ratio and accuracy; the closeness / variety trade-off of the one
  sampling knob, measured in every evaluation.
``summarize_quality`` reports each figure as mean and CI95 over the repetitions.

``objective`` is what the generation-quality sweep minimises: ``Gen FID / fid_scale +
|1 - multi_ratio|``. ``fid_scale`` is the FID of the real train clips against the real clips of the
split (how far apart two real sessions are), so both terms are unit-free and a model whose samples
sit as far from the test session as the training session does, with real variety, scores 1.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import torch

from signavatar.config import EvalConfig
from signavatar.evaluation import metrics
from signavatar.evaluation.protocol import (
    ClipEncodings,
    GroupOutputs,
    confidence_interval,
    decode_and_recognize,
    draw_repetition,
    encode_clips,
    score_repetition,
)
from signavatar.evaluation.stgcn import STGCN
from signavatar.model.pipeline import SignAvatar
from signavatar.motion.clip import MotionClip
from signavatar.seeding import latent_seeds, repetition_seed

SPLIT = "test"


def objective(gen_fid: float, multi_ratio: float, fid_scale: float) -> float:
    """The composite a sweep minimises: ``gen_fid / fid_scale + |1 - multi_ratio|``."""
    return float(gen_fid / fid_scale + abs(1.0 - multi_ratio))


def fid_scale(clips: ClipEncodings, split: str = SPLIT) -> float:
    """FID of the Raw train clips against the Raw clips of ``split`` (recognizer features)."""
    rows = clips.split_rows()
    if "train" not in rows or split not in rows:
        return math.nan
    return metrics.fid(clips.features[rows["train"]], clips.features[rows[split]])


def draw_curve(avatar: SignAvatar, recognizer: STGCN, clips: ClipEncodings, seed: int,
               temperatures: Sequence[float], batch_size: int, split: str = SPLIT) -> dict[float, GroupOutputs]:
    """Gen groups of ``split`` at each temperature: the repetition's own prior draws (stream 1 of
    ``seeding.latent_seeds``) scaled by T, so the curve differs from Gen only in T."""
    rows = clips.split_rows().get(split)
    if rows is None or not temperatures:
        return {}
    eps = avatar.latents(latent_seeds(clips.key[rows], seed, 1))
    glosses = [str(g) for g in clips.gloss[rows]]
    z = torch.cat([eps * float(t) for t in temperatures])
    features, logits = decode_and_recognize(avatar, recognizer, z, glosses * len(temperatures), batch_size)
    n = len(rows)
    return {float(t): GroupOutputs(features[i * n:(i + 1) * n], logits[i * n:(i + 1) * n], clips.label[rows])
            for i, t in enumerate(temperatures)}


def _multimodality(group: GroupOutputs, cfg: EvalConfig, seed: int, rows: np.ndarray | None = None) -> float:
    feats, labels = (group.features, group.labels) if rows is None else (group.features[rows], group.labels[rows])
    if len(labels) < 2 or np.unique(labels, return_counts=True)[1].max() < 2:
        return math.nan
    return metrics.multimodality(feats, labels, cfg.multimodality_classes, cfg.multimodality_samples, 1, seed)[0]


def _fid(group: GroupOutputs, reference: GroupOutputs, rows: np.ndarray) -> float:
    return metrics.fid(group.features[rows], reference.features[rows]) if len(rows) >= 2 else math.nan


def _ratio(a: float, b: float) -> float:
    return a / b if math.isfinite(a) and math.isfinite(b) and b > 0 else math.nan


def overall_figures(scores: Mapping[str, Mapping], scale: float, split: str = SPLIT) -> dict[str, float]:
    """The overall figures and ``objective`` of one repetition from its ``protocol.score_repetition``
    result (the numbers of Table I) and the ``fid_scale``."""
    raw_scores, rec_scores, gen_scores = (scores[f"{g}_{split}"] for g in ("Raw", "Rec", "Gen"))
    multi_ratio = _ratio(gen_scores["multi"], raw_scores["multi"])
    return {
        "multi_ratio": multi_ratio,
        "fid_ratio": _ratio(gen_scores["fid"], rec_scores["fid"]),
        "gen_fid": gen_scores["fid"], "rec_fid": rec_scores["fid"],
        "gen_multi": gen_scores["multi"], "rec_multi": rec_scores["multi"], "raw_multi": raw_scores["multi"],
        "gen_acc": gen_scores["acc"], "rec_acc": rec_scores["acc"], "raw_acc": raw_scores["acc"],
        "objective": objective(gen_scores["fid"], multi_ratio, scale),
    }


def score_quality(clips: ClipEncodings, drawn: Mapping[str, GroupOutputs], scores: Mapping[str, Mapping],
                  curve: Mapping[float, GroupOutputs], cfg: EvalConfig, seed: int, scale: float,
                  split: str = SPLIT) -> dict:
    """One repetition's quality figures (see the module docstring). ``scores`` is the repetition's
    ``protocol.score_repetition`` result, ``drawn`` its ``draw_repetition`` groups, ``curve`` its
    ``draw_curve`` groups, ``scale`` the ``fid_scale``."""
    overall = overall_figures(scores, scale, split)
    raw_multi_all, rec_fid_all = overall["raw_multi"], overall["rec_fid"]
    rows = clips.split_rows()[split]
    raw = GroupOutputs(clips.features[rows], clips.logits[rows], clips.label[rows])
    rec, gen = drawn[f"Rec_{split}"], drawn[f"Gen_{split}"]
    glosses = clips.gloss[rows]
    per_gloss = {}
    for i, gloss in enumerate(sorted(set(glosses.tolist()))):
        members = np.flatnonzero(glosses == gloss)
        raw_multi = _multimodality(raw, cfg, seed + i, members)
        gen_multi = _multimodality(gen, cfg, seed + i, members)
        gen_fid, rec_fid = _fid(gen, raw, members), _fid(rec, raw, members)
        per_gloss[str(gloss)] = {
            "clips": float(len(members)),
            "raw_multi": raw_multi, "rec_multi": _multimodality(rec, cfg, seed + i, members), "gen_multi": gen_multi,
            "multi_ratio": _ratio(gen_multi, raw_multi),
            "gen_fid": gen_fid, "rec_fid": rec_fid, "fid_ratio": _ratio(gen_fid, rec_fid),
            "gen_acc": metrics.accuracy(gen.logits[members], gen.labels[members]),
        }
    temperatures = {}
    for t, group in curve.items():
        fid = metrics.fid(group.features, raw.features) if len(group.labels) >= 2 else math.nan
        multi = _multimodality(group, cfg, seed)
        ratio = _ratio(multi, raw_multi_all)
        temperatures[f"{t:g}"] = {"fid": fid, "fid_ratio": _ratio(fid, rec_fid_all), "multi": multi,
                                  "multi_ratio": ratio, "acc": metrics.accuracy(group.logits, group.labels),
                                  "objective": objective(fid, ratio, scale)}
    return {"split": split, "fid_scale": scale, "overall": overall, "per_gloss": per_gloss,
            "temperature_curve": temperatures}


def measure(avatar: SignAvatar, recognizer: STGCN, clips: Sequence[MotionClip], class_index: Mapping[str, int],
            cfg: EvalConfig, repeats: int = 1, seed: int = 0) -> dict[str, float]:
    """The overall figures and ``objective`` of a model, averaged over ``repeats`` repetitions of
    the protocol on the test split (train clips only give ``fid_scale``): a sweep's cheap proxy of
    a full evaluation's quality report."""
    encoded = ClipEncodings(**encode_clips(avatar, recognizer, clips, class_index, cfg.feature_batch_size))
    scale = fid_scale(encoded)
    rows = encoded.split_rows()
    if SPLIT not in rows:
        raise ValueError(f"the quality figures need clips of the {SPLIT} split")
    test = encoded.select(rows[SPLIT])
    figures = []
    for repetition in range(repeats):
        rep_seed = repetition_seed(seed, repetition)
        drawn = draw_repetition(avatar, recognizer, test, rep_seed, cfg.feature_batch_size)
        scores = score_repetition(test.raw_groups(), drawn, cfg, rep_seed)
        figures.append(overall_figures(scores, scale))
    return {key: float(np.mean([f[key] for f in figures])) for key in figures[0]}


def _mean_ci(values: Sequence[float]) -> dict[str, float | None]:
    values = [float(v) for v in values]
    if not values or not all(math.isfinite(v) for v in values):
        return {"mean": None, "ci95": None}
    return {"mean": float(np.mean(values)), "ci95": confidence_interval(values)}


def _collect(records: Sequence[Mapping]) -> dict:
    """Nested ``{name: number}`` records (one per repetition) -> ``{name: {"mean", "ci95"}}``."""
    out: dict = {}
    for key, first in records[0].items():
        if isinstance(first, Mapping):
            out[key] = _collect([r[key] for r in records])
        else:
            out[key] = _mean_ci([r[key] for r in records])
    return out


def summarize_quality(records: Sequence[Mapping]) -> dict:
    """``score_quality`` results of the repetitions -> every figure as mean and CI95."""
    if not records:
        raise ValueError("no repetition to summarize")
    return {"split": records[0]["split"], "repetitions": len(records), "fid_scale": records[0]["fid_scale"],
            **{part: _collect([r[part] for r in records])
               for part in ("overall", "per_gloss", "temperature_curve") if records[0][part]}}


def _cell(entry: Mapping[str, float | None], digits: int = 2) -> str:
    if entry["mean"] is None:
        return "-"
    return f"{entry['mean']:.{digits}f}±{entry['ci95']:.{digits}f}"


def to_markdown(summary: Mapping, temperature: float = 1.0) -> str:
    """The quality report: overall, per gloss, temperature curve (mean±CI95)."""
    o = summary["overall"]
    lines = [f"# Generation quality on the {summary['split']} split ({summary['repetitions']} repetitions, "
             f"sampling temperature {temperature:g})", "",
             "| Gen/Raw multimodality | Gen/Rec FID | Gen FID | Rec FID | Gen multi | Rec multi | Raw multi | "
             "Acc Raw | Acc Rec | Acc Gen | objective |",
             "|---|---|---|---|---|---|---|---|---|---|---|",
             "| " + " | ".join(_cell(o[k], 3 if "ratio" in k or "acc" in k or k == "objective" else 2) for k in (
                 "multi_ratio", "fid_ratio", "gen_fid", "rec_fid", "gen_multi", "rec_multi", "raw_multi",
                 "raw_acc", "rec_acc", "gen_acc", "objective")) + " |", "",
             f"objective = Gen FID / {summary['fid_scale']:.2f} (FID of the real train clips against the real "
             f"{summary['split']} clips) + |1 - Gen/Raw multimodality|; lower is better.", ""]
    if "per_gloss" in summary:
        lines += ["## Per gloss", "",
                  "| gloss | clips | Raw multi | Rec multi | Gen multi | Gen/Raw multi | Rec FID | Gen FID | Gen/Rec FID "
                  "| Acc Gen |", "|---|---|---|---|---|---|---|---|---|---|"]
        for gloss, g in summary["per_gloss"].items():
            lines.append(f"| {gloss} | {g['clips']['mean']:.0f} | " + " | ".join(
                _cell(g[k], 3 if "ratio" in k or "acc" in k else 2) for k in (
                    "raw_multi", "rec_multi", "gen_multi", "multi_ratio", "rec_fid", "gen_fid", "fid_ratio",
                    "gen_acc")) + " |")
        lines.append("")
    if "temperature_curve" in summary:
        lines += ["## Sampling temperature (Gen drawn from N(0, T^2 I))", "",
                  "| T | Gen FID | Gen/Rec FID | Gen multi | Gen/Raw multi | Acc Gen | objective |",
                  "|---|---|---|---|---|---|---|"]
        for t, c in summary["temperature_curve"].items():
            lines.append(f"| {t} | " + " | ".join(_cell(c[k], 3 if k != "fid" and k != "multi" else 2) for k in (
                "fid", "fid_ratio", "multi", "multi_ratio", "acc", "objective")) + " |")
        lines.append("")
    return "\n".join(lines)
