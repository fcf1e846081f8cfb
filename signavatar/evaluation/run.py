"""Evaluation as one call: recognizer (trained on Raw train when missing) -> vocabulary check ->
clips encoded once and ``eval.repeats`` repetitions scored on Ray Data -> Table I (mean±CI95,
Markdown + JSON) in the run directory."""

from __future__ import annotations

import json
import logging
import math
import posixpath
import time

import ray

from signavatar import storage
from signavatar.cluster import cluster_has_gpus
from signavatar.config import EvalConfig, SignAvatarConfig
from signavatar.evaluation import quality
from signavatar.evaluation.distributed import encode_dataset, evaluator_pool, score_repetitions
from signavatar.evaluation.protocol import check_vocabulary, summarize
from signavatar.evaluation.recognizer_training import load_recognizer, save_recognizer, train_recognizer
from signavatar.evaluation.report import PAPER_TABLE_I, build_table, to_json, to_markdown
from signavatar.model.checkpoint import load_checkpoint
from signavatar.model.pipeline import inference_config
from signavatar.motion import arrow_io
from signavatar.training.data import build_feature_set

log = logging.getLogger(__name__)


def fit_recognizer(dataset: str, uri: str, num_frames: int, cfg: EvalConfig) -> dict:
    """Train the ST-GCN on the Raw train clips, save it to ``uri``; returns its figures (with the
    wall and CPU seconds of this process)."""
    started, cpu = time.perf_counter(), time.process_time()
    train = build_feature_set(arrow_io.read_dataset(dataset, split="train"), num_frames)
    test_clips = [c for c in arrow_io.read_dataset(dataset, split="test") if c.gloss in set(train.glosses)]
    test = build_feature_set(test_clips, num_frames, train.glosses) if test_clips else None
    model, history = train_recognizer(train.features.numpy(), train.labels.numpy(), len(train.glosses), cfg,
                                      val=(test.features.numpy(), test.labels.numpy()) if test else None)
    save_recognizer(model, train.glosses, uri)
    last = history[-1]
    return {"epochs": len(history), "train_acc": last["train_acc"], "test_acc": last.get("val_acc"),
            "seconds": round(time.perf_counter() - started, 2), "cpu_seconds": round(time.process_time() - cpu, 2)}


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None  # JSON has no NaN


def flat_scores(scores: dict) -> dict:
    """One group's scores as plain numbers for ``summary.json``: every metric's mean under its own
    name (``acc``, ``fid``, ``div``, ``multi``, ``acc_top5`` with more than 5 classes) and its 95%
    confidence interval as ``<metric>_ci95``; ``div_std`` / ``multi_std`` are the standard
    deviations over the repetitions."""
    flat: dict = {}
    for metric in ("acc", "acc_top5", "fid", "div", "multi"):
        if metric in scores:
            flat[metric] = _finite(scores[metric]["mean"])
            flat[f"{metric}_ci95"] = _finite(scores[metric]["ci95"])
    for metric in ("div", "multi"):
        flat[f"{metric}_std"] = _finite(scores[metric]["std"])
    return {**flat, "sizes": scores["sizes"]}


def repetition_values(results: dict[str, dict]) -> dict[str, dict[str, list]]:
    """Every repetition's value of every metric, ``{group: {metric: [v_1 .. v_R]}}`` (NaN as null)."""
    return {group: {m: [_finite(v) for v in s["values"]] for m, s in scores.items() if m != "sizes"}
            for group, scores in results.items()}


def resolve_recognizer(config: SignAvatarConfig, checkpoint: str) -> str:
    """``eval.recognizer``; else the recognizer of the checkpoint's run (``<run>/recognizer.pt``
    beside ``<run>/checkpoint``), so that another corpus is scored by the run's own recognizer; else
    ``<run_dir>/recognizer.pt`` (trained on Raw train when missing)."""
    if config.eval.recognizer:
        return config.eval.recognizer
    parent = posixpath.dirname(checkpoint.replace("\\", "/").rstrip("/"))  # <run> of <run>/checkpoint
    run = posixpath.dirname(parent) if checkpoint.endswith(".pt") else parent  # <run>/checkpoint/checkpoint.pt
    beside = storage.join(run, "recognizer.pt") if run else None
    return beside if beside and storage.exists(beside) else storage.join(config.run_dir, "recognizer.pt")


def evaluate(config: SignAvatarConfig, dataset: str) -> dict:
    cfg = config.eval
    checkpoint = cfg.checkpoint or storage.join(config.run_dir, "checkpoint")
    recognizer = resolve_recognizer(config, checkpoint)
    summary: dict = {"checkpoint": checkpoint, "recognizer": recognizer, "dataset": dataset, "repetitions": cfg.repeats}
    index = arrow_io.read_index(dataset)
    dataset_glosses = {row["gloss"] for row in index}
    saved = load_checkpoint(checkpoint)
    check_vocabulary(dataset_glosses, {"checkpoint": saved["glosses"]})
    seconds: dict[str, float] = {}
    if not storage.exists(recognizer):
        if not any(row["split"] == "train" for row in index):
            raise ValueError(f"no recognizer at {recognizer} and {dataset} has no train clips to train one on "
                             "(all test, e.g. extract.split=test): give eval.recognizer or the run's eval.checkpoint")
        started = time.perf_counter()
        gpus = 1 if cluster_has_gpus() else 0
        task = ray.remote(fit_recognizer).options(num_gpus=gpus, num_cpus=cfg.recognizer_cpus)
        summary["recognizer_training"] = ray.get(task.remote(dataset, recognizer, config.data.num_frames, cfg))
        seconds["recognizer_training"] = time.perf_counter() - started
        log.info("recognizer trained: %s", summary["recognizer_training"])
    _, classes = load_recognizer(recognizer)
    check_vocabulary(dataset_glosses, {"recognizer": classes})

    started = time.perf_counter()
    pool = evaluator_pool(checkpoint, recognizer, cfg)
    clips = encode_dataset(pool, dataset)
    seconds["encode_clips"] = time.perf_counter() - started  # with the actors' start
    started = time.perf_counter()
    repetitions, quality_figures, seconds["repetitions_cpu"] = score_repetitions(pool, clips, cfg.repeats)
    seconds["repetitions"] = time.perf_counter() - started
    del pool  # the actors end with their last handle
    results = summarize(repetitions)
    log.info("evaluation: %d clips encoded in %.1f s, %d repetitions in %.1f s (%.1f CPU s in the actors)",
             len(clips.key), seconds["encode_clips"], cfg.repeats, seconds["repetitions"], seconds["repetitions_cpu"])

    table = build_table(results)
    paper = PAPER_TABLE_I.get(cfg.paper_dataset) if cfg.paper_dataset else None
    note = f"mean±CI95 over {cfg.repeats} repetitions (fresh Rec/Gen draws and metric subsets in each)."
    markdown = to_markdown(table, paper=paper, note=note)
    storage.write_text(storage.join(config.run_dir, "evaluation.md"), markdown)
    storage.write_text(storage.join(config.run_dir, "evaluation.json"),
                       to_json(table, repetitions=cfg.repeats, values=repetition_values(results)))
    if quality_figures:  # the generation-quality report of the test split
        summary["quality"] = quality.summarize_quality(quality_figures)
        temperature = inference_config(saved["config"]).model.sampling_temperature
        storage.write_text(storage.join(config.run_dir, "quality.md"),
                           quality.to_markdown(summary["quality"], temperature))
        storage.write_text(storage.join(config.run_dir, "quality.json"), json.dumps(summary["quality"], indent=2))
    summary["groups"] = {name: flat_scores(scores) for name, scores in results.items()}
    summary["scores"] = results  # as report.build_table takes them (Table II rows are built from these)
    summary["markdown"] = markdown
    summary["sizes"] = {name: scores["sizes"]["n"] for name, scores in results.items()}
    summary["num_classes"] = len(classes)
    summary["chance_acc"] = float(1 / len(classes))
    summary["seconds"] = {k: round(v, 2) for k, v in seconds.items()}
    return summary
