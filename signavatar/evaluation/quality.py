"""Generation quality beside real signing: is a generated sign as varied as real signers, as
close to real signing as a reconstruction, and does it move like real signing of its gloss? Pure
logic (no Ray), on the protocol's draws.

Per repetition of the protocol (``protocol.draw_repetitions`` + ``protocol.score_repetition``), on
one split (``test`` in the evaluation's report, with ``val`` beside it; ``val`` in sweeps, which
never read the test part):
- overall: ``multi_ratio = Gen multimodality / Raw multimodality`` (1: as varied within a gloss as
  the real clips) and ``fid_ratio = Gen FID / Rec FID`` (1: generated clips as close to the real
  clips as reconstructions of them), from the same numbers as Table I; ``gen_dtw`` / ``rec_dtw``:
  the DTW joint error to the nearest real clip of the gloss, averaged over the parts
  (``faithfulness``);
- per gloss: multimodality within the gloss for Raw / Rec / Gen (``S_l`` pairs, as the protocol's),
  Gen and Rec FID against that gloss's real clips, Gen accuracy, Gen and Rec DTW errors;
- a temperature curve (``eval.temperature_curve``): Gen drawn at each temperature T (z ~ N(0, T^2 I))
  with FID, multimodality, its ratio and accuracy; the closeness / variety trade-off of the one
  sampling knob, measured in every evaluation.
``summarize_quality`` reports each figure as mean and CI95 over the repetitions.

``objective`` is what the generation-quality sweep minimises: ``Gen FID / fid_scale +
|1 - multi_ratio|``. ``fid_scale`` is the FID of the real train clips against the real clips of the
split (how far apart two recording blocks are), so both terms are unit-free and a model whose
samples sit as far from the split as the training block does, with real variety, scores 1.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from signavatar.config import EvalConfig
from signavatar.evaluation import faithfulness, judging, metrics
from signavatar.evaluation.protocol import (
    ClipEncodings,
    GroupOutputs,
    collect_mean_ci,
    draw_repetitions,
    encode_raw,
    score_faithfulness,
    score_repetition,
    with_posterior,
)
from signavatar.evaluation.stgcn import STGCN
from signavatar.judge.model import Judge
from signavatar.model.pipeline import SignAvatar
from signavatar.motion.clip import MotionClip
from signavatar.seeding import latent_seeds, repetition_seed

REPORT_SPLITS = ("test", "val")
"""The evaluation's quality report: its figures on test (per gloss, temperature curve), val beside."""


def objective(gen_fid: float, multi_ratio: float, fid_scale: float, judge_acc: float | None = None) -> float:
    """The composite a sweep minimises: ``gen_fid / fid_scale + |1 - multi_ratio|``, plus
    ``1 - judge_acc`` where the raw-landmark judge scored the generated clips (``judging``)."""
    return float(gen_fid / fid_scale + abs(1.0 - multi_ratio) + (0.0 if judge_acc is None else 1.0 - judge_acc))


def fid_scale(clips: ClipEncodings, split: str) -> float:
    """FID of the Raw train clips against the Raw clips of ``split`` (recognizer features)."""
    rows = clips.split_rows()
    if "train" not in rows or split not in rows:
        return math.nan
    return metrics.fid(clips.features[rows["train"]], clips.features[rows[split]])


def _part_mean(figures: Mapping[str, float], kind: str = "nearest") -> float:
    return float(np.mean([figures[f"{part}_{kind}"] for part in faithfulness.PARTS]))


def _multimodality(group: GroupOutputs, cfg: EvalConfig, seed: int, rows: np.ndarray | None = None) -> float:
    feats, labels = (group.features, group.labels) if rows is None else (group.features[rows], group.labels[rows])
    if len(labels) < 2 or np.unique(labels, return_counts=True)[1].max() < 2:
        return math.nan
    return metrics.multimodality(feats, labels, cfg.multimodality_classes, cfg.multimodality_samples, 1, seed)[0]


def _fid(group: GroupOutputs, reference: GroupOutputs, rows: np.ndarray) -> float:
    return metrics.fid(group.features[rows], reference.features[rows]) if len(rows) >= 2 else math.nan


def _ratio(a: float, b: float) -> float:
    return a / b if math.isfinite(a) and math.isfinite(b) and b > 0 else math.nan


def overall_figures(scores: Mapping[str, Mapping], scale: float, split: str, dtw: Mapping[str, Mapping] | None = None,
                    judge_acc: float | None = None) -> dict[str, float]:
    """The overall figures and ``objective`` of one repetition from its ``protocol.score_repetition``
    result (the numbers of Table I), the ``fid_scale`` and, when given, the split's Rec and Gen
    DTW errors (``{"Rec": .., "Gen": ..}``) and the judge's accuracy of Gen."""
    raw_scores, rec_scores, gen_scores = (scores[f"{g}_{split}"] for g in ("Raw", "Rec", "Gen"))
    multi_ratio = _ratio(gen_scores["multi"], raw_scores["multi"])
    figures = {
        "multi_ratio": multi_ratio,
        "fid_ratio": _ratio(gen_scores["fid"], rec_scores["fid"]),
        "gen_fid": gen_scores["fid"], "rec_fid": rec_scores["fid"],
        "gen_multi": gen_scores["multi"], "rec_multi": rec_scores["multi"], "raw_multi": raw_scores["multi"],
        "gen_acc": gen_scores["acc"], "rec_acc": rec_scores["acc"], "raw_acc": raw_scores["acc"],
        "objective": objective(gen_scores["fid"], multi_ratio, scale, judge_acc),
    }
    if dtw is not None:
        figures.update(gen_dtw=_part_mean(dtw["Gen"]["overall"]), rec_dtw=_part_mean(dtw["Rec"]["overall"]))
    if judge_acc is not None:
        figures["gen_judge_acc"] = judge_acc
    return figures


def score_quality(clips: ClipEncodings, drawn: Mapping[str, GroupOutputs], scores: Mapping[str, Mapping],
                  curve: Mapping[float, GroupOutputs], cfg: EvalConfig, seed: int, scale: float, split: str,
                  faithful: Mapping[str, Mapping], judged: Mapping[str, Mapping] | None = None) -> dict:
    """One repetition's quality figures on ``split`` (see the module docstring). ``scores`` is the
    repetition's ``protocol.score_repetition`` result, ``drawn`` its groups, ``curve`` its
    temperature curve (``protocol.draw_repetitions``; empty: no curve), ``faithful`` its
    ``protocol.score_faithfulness`` result, ``judged`` its ``judging.score_judge`` result (None:
    no judge) and ``scale`` the ``fid_scale``."""
    rows = clips.split_rows()[split]
    raw = GroupOutputs(clips.features[rows], clips.logits[rows], clips.label[rows], clips.positions[rows])
    rec, gen = drawn[f"Rec_{split}"], drawn[f"Gen_{split}"]
    glosses = clips.gloss[rows]
    dtw = {"Rec": faithful[f"Rec_{split}"], "Gen": faithful[f"Gen_{split}"]}
    judge = judged.get(f"Gen_{split}") if judged else None
    overall = overall_figures(scores, scale, split, dtw, None if judge is None else judge["acc"])
    raw_multi_all, rec_fid_all = overall["raw_multi"], overall["rec_fid"]
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
            "gen_dtw": _part_mean(dtw["Gen"]["per_gloss"][str(gloss)]),
            "rec_dtw": _part_mean(dtw["Rec"]["per_gloss"][str(gloss)]),
            **({"gen_judge_acc": judge["per_gloss"].get(str(gloss), math.nan)} if judge else {}),
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
            "temperature_curve": temperatures, "dtw": {g: d["overall"] for g, d in dtw.items()}}


class QualityProxy:
    """A sweep's cheap proxy of a full evaluation's quality report: the overall figures and
    ``objective`` of a model, averaged over ``repeats`` repetitions of the protocol on ``split``
    (train clips only give ``fid_scale``). Built once per trial: what does not depend on the model
    (the recognizer's outputs and the joint positions of the Raw clips, ``fid_scale``) is computed
    here, so each checkpoint pays only the posterior of the split's clips and the draws. Only
    ``clips`` are read: a sweep passes train and val."""

    def __init__(self, recognizer: STGCN, clips: Sequence[MotionClip], class_index: Mapping[str, int],
                 num_frames: int, cfg: EvalConfig, rest_joints: np.ndarray, split: str = "val",
                 judge: tuple[Judge, Sequence[str]] | None = None):
        raw = encode_raw(recognizer, clips, class_index, num_frames, cfg.feature_batch_size, rest_joints)
        rows = np.flatnonzero(raw["split"] == split)
        if not len(rows):
            raise ValueError(f"the quality figures need clips of the {split} split")
        train = np.flatnonzero(raw["split"] == "train")
        self.scale = metrics.fid(raw["features"][train], raw["features"][rows]) if len(train) else math.nan
        self.raw = {k: v[rows] for k, v in raw.items()}
        self.recognizer, self.cfg, self.rest_joints, self.split = recognizer, cfg, rest_joints, split
        self.judge = judge

    def __call__(self, avatar: SignAvatar, repeats: int = 1, seed: int = 0) -> dict[str, float]:
        part = with_posterior(avatar, self.raw, self.cfg.feature_batch_size)
        seeds = [repetition_seed(seed, r) for r in range(repeats)]
        draws = draw_repetitions(avatar, self.recognizer, part, seeds, self.cfg.feature_batch_size, self.rest_joints,
                                 judge=self.judge[0] if self.judge else None)
        figures = []
        for rep_seed, (drawn, _) in zip(seeds, draws, strict=True):
            scores = score_repetition(part.raw_groups(), drawn, self.cfg, rep_seed)
            faithful = score_faithfulness(part, drawn)
            gen = drawn[f"Gen_{self.split}"]
            judge_acc = (judging.accuracy(gen.judge_logits, part.gloss, self.judge[1])["acc"]
                         if self.judge else None)
            figures.append(overall_figures(scores, self.scale, self.split,
                                           {g: faithful[f"{g}_{self.split}"] for g in ("Rec", "Gen")}, judge_acc))
        return {key: float(np.mean([f[key] for f in figures])) for key in figures[0]}


def summarize_quality(records: Sequence[Mapping]) -> dict:
    """``score_quality`` results of the repetitions (one split) -> every figure as mean and CI95."""
    if not records:
        raise ValueError("no repetition to summarize")
    return {"split": records[0]["split"], "repetitions": len(records), "fid_scale": records[0]["fid_scale"],
            **{part: collect_mean_ci([r[part] for r in records])
               for part in ("overall", "per_gloss", "temperature_curve", "dtw") if records[0][part]}}


def _cell(entry: Mapping[str, float | None], digits: int = 2) -> str:
    if entry["mean"] is None:
        return "-"
    return f"{entry['mean']:.{digits}f}±{entry['ci95']:.{digits}f}"


_OVERALL = ("multi_ratio", "fid_ratio", "gen_fid", "rec_fid", "gen_multi", "rec_multi", "raw_multi", "raw_acc",
            "rec_acc", "gen_acc", "gen_judge_acc", "gen_dtw", "rec_dtw", "objective")


def _digits(key: str) -> int:
    return 4 if "dtw" in key else 3 if "ratio" in key or "acc" in key or key == "objective" else 2


def _overall_row(summary: Mapping) -> str:
    o = summary["overall"]
    return f"| {summary['split']} | " + " | ".join(_cell(o[k], _digits(k)) if k in o else "-" for k in _OVERALL) + " |"


def to_markdown(summary: Mapping, temperature: float = 1.0, beside: Sequence[Mapping] = ()) -> str:
    """The quality report of ``summary``'s split: overall (with the ``beside`` splits' overall
    figures as more rows), DTW joint errors per part, per gloss, temperature curve (mean±CI95)."""
    lines = [f"# Generation quality on the {summary['split']} split ({summary['repetitions']} repetitions, "
             f"sampling temperature {temperature:g})", "",
             "| split | Gen/Raw multimodality | Gen/Rec FID | Gen FID | Rec FID | Gen multi | Rec multi | Raw multi | "
             "Acc Raw | Acc Rec | Acc Gen | Judge Gen | Gen DTW (m) | Rec DTW (m) | objective |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
             _overall_row(summary), *(_overall_row(other) for other in beside), "",
             f"objective = Gen FID / {summary['fid_scale']:.2f} (FID of the real train clips against the real "
             f"{summary['split']} clips) + |1 - Gen/Raw multimodality| (+ 1 - Judge Gen where the raw-landmark judge "
             "scores: `signavatar.evaluation.judging`); lower is better. DTW: the joint error to the nearest real clip "
             "of the gloss after dynamic time warping, mean of body, left hand, right hand (metres; "
             "`signavatar.evaluation.faithfulness`).", ""]
    if "dtw" in summary:
        columns = [f"{part}_{kind}" for part in faithfulness.PARTS for kind in ("nearest", "mean")]
        lines += ["## DTW joint error per part (metres, root aligned; to the real clips of the same gloss)", "",
                  "| group | " + " | ".join(c.replace("_", " ") for c in columns) + " |",
                  "|---|" + "---|" * len(columns)]
        lines += [f"| {group} | " + " | ".join(_cell(figures[c], 4) for c in columns) + " |"
                  for group, figures in summary["dtw"].items()]
        lines.append("")
    if "per_gloss" in summary:
        keys = ("raw_multi", "rec_multi", "gen_multi", "multi_ratio", "rec_fid", "gen_fid", "fid_ratio", "gen_acc",
                "gen_judge_acc", "rec_dtw", "gen_dtw")
        lines += ["## Per gloss", "",
                  "| gloss | clips | Raw multi | Rec multi | Gen multi | Gen/Raw multi | Rec FID | Gen FID | Gen/Rec FID "
                  "| Acc Gen | Judge Gen | Rec DTW (m) | Gen DTW (m) |", "|---|" + "---|" * (len(keys) + 1)]
        for gloss, g in summary["per_gloss"].items():
            lines.append(f"| {gloss} | {g['clips']['mean']:.0f} | " + " | ".join(
                _cell(g[k], _digits(k)) if k in g else "-" for k in keys) + " |")
        lines.append("")
    if "temperature_curve" in summary:
        lines += ["## Sampling temperature (Gen redrawn at temperature T: the prior's spread scaled by T)", "",
                  "| T | Gen FID | Gen/Rec FID | Gen multi | Gen/Raw multi | Acc Gen | objective |",
                  "|---|---|---|---|---|---|---|"]
        for t, c in summary["temperature_curve"].items():
            lines.append(f"| {t} | " + " | ".join(_cell(c[k], 3 if k != "fid" and k != "multi" else 2) for k in (
                "fid", "fid_ratio", "multi", "multi_ratio", "acc", "objective")) + " |")
        lines.append("")
    return "\n".join(lines)
