"""Evaluation as one call: recognizer and raw-landmark judge (each trained on Raw train when
missing, once per dataset and settings: ``recognizer_cache``, ``judging``) -> vocabulary check ->
clips encoded once and ``eval.repeats`` repetitions scored on Ray -> Table I with the DTW joint
errors and the judge's accuracies beside it, and the quality report of the test split with
validation beside it (mean±CI95, Markdown + JSON) in the run directory."""

from __future__ import annotations

import json
import logging
import math
import posixpath
import time

import ray

from signavatar import storage
from signavatar.body.body_model import resolve_rest_joints
from signavatar.cluster import cluster_has_gpus
from signavatar.config import SignAvatarConfig
from signavatar.evaluation import judging, quality
from signavatar.evaluation.distributed import encode_dataset, evaluator_pool, judge_reference, score_repetitions
from signavatar.evaluation.protocol import check_vocabulary, collect_mean_ci, summarize
from signavatar.evaluation.recognizer_cache import ensure_recognizer
from signavatar.evaluation.recognizer_training import load_recognizer
from signavatar.evaluation.report import (
    PAPER_TABLE_I,
    build_table,
    faithfulness_markdown,
    judge_markdown,
    to_json,
    to_markdown,
)
from signavatar.model.checkpoint import load_checkpoint
from signavatar.model.pipeline import inference_config
from signavatar.motion import arrow_io

log = logging.getLogger(__name__)


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


def _beside_checkpoint(config: SignAvatarConfig, checkpoint: str, name: str) -> str:
    """``<run>/<name>`` beside the checkpoint's run (``<run>/checkpoint``) when it is there, so that
    another corpus is scored by the run's own models; else ``<run_dir>/<name>`` (trained on Raw train
    when missing)."""
    parent = posixpath.dirname(checkpoint.replace("\\", "/").rstrip("/"))  # <run> of <run>/checkpoint
    run = posixpath.dirname(parent) if checkpoint.endswith(".pt") else parent  # <run>/checkpoint/checkpoint.pt
    beside = storage.join(run, name) if run else None
    return beside if beside and storage.exists(beside) else storage.join(config.run_dir, name)


def resolve_recognizer(config: SignAvatarConfig, checkpoint: str) -> str:
    """``eval.recognizer``; else ``recognizer.pt`` beside the checkpoint's run or in ``run_dir``."""
    return config.eval.recognizer or _beside_checkpoint(config, checkpoint, "recognizer.pt")


def resolve_judge(config: SignAvatarConfig, checkpoint: str) -> str:
    """``judge.pt`` (the raw-landmark judge) beside the checkpoint's run or in ``run_dir``."""
    return _beside_checkpoint(config, checkpoint, "judge.pt")


def _has_train_clips(dataset: str) -> bool:
    """From the manifest's clip counts per split (no shard is read)."""
    return arrow_io.read_manifest(dataset).get("splits", {}).get("train", 0) > 0


def start_recognizer(config: SignAvatarConfig, dataset: str, target: str) -> ray.ObjectRef:
    """A Ray task making sure the recognizer of ``dataset`` is at ``target`` (``ensure_recognizer``:
    reused from the dataset's cache or trained, on a GPU when the cluster has one); its result is the
    training figures. The demo starts it beside the CVAE's training, which leaves a CPU free."""
    if not _has_train_clips(dataset):
        raise ValueError(f"no recognizer at {target} and {dataset} has no train clips to train one on "
                         "(all test, e.g. extract.split=test): give eval.recognizer or the run's eval.checkpoint")
    task = ray.remote(ensure_recognizer).options(num_gpus=1 if cluster_has_gpus() else 0,
                                                 num_cpus=config.eval.recognizer_cpus)
    return task.remote(dataset, target, config.data.num_frames, config.eval)


def start_judge(config: SignAvatarConfig, dataset: str, target: str) -> ray.ObjectRef | None:
    """A Ray task making sure the raw-landmark judge of ``dataset`` is at ``target``
    (``judging.ensure_judge``), or None where the dataset keeps no landmarks of a train split."""
    if not judging.has_landmarks(dataset) or not _has_train_clips(dataset):
        return None
    task = ray.remote(judging.ensure_judge).options(num_cpus=config.eval.recognizer_cpus)
    return task.remote(dataset, target, config.eval.judge)


def evaluate(config: SignAvatarConfig, dataset: str, recognizer_job: ray.ObjectRef | None = None,
             judge_job: ray.ObjectRef | None = None) -> dict:
    """The evaluation of ``config``'s checkpoint on ``dataset`` (module docstring); ``recognizer_job``
    / ``judge_job``: ``start_recognizer`` / ``start_judge`` tasks already running for this run."""
    cfg = config.eval
    checkpoint = cfg.checkpoint or storage.join(config.run_dir, "checkpoint")
    recognizer = resolve_recognizer(config, checkpoint)
    summary: dict = {"checkpoint": checkpoint, "recognizer": recognizer, "dataset": dataset, "repetitions": cfg.repeats}
    dataset_glosses = {row["gloss"] for row in arrow_io.read_index(dataset)}
    saved = load_checkpoint(checkpoint)
    check_vocabulary(dataset_glosses, {"checkpoint": saved["glosses"]})
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    judge = resolve_judge(config, checkpoint)
    if recognizer_job is None and not storage.exists(recognizer):
        recognizer_job = start_recognizer(config, dataset, recognizer)
    if judge_job is None and not storage.exists(judge):  # trains beside the recognizer where a CPU is free
        judge_job = start_judge(config, dataset, judge)
    if recognizer_job is not None:
        summary["recognizer_training"] = ray.get(recognizer_job)
        seconds["recognizer"] = time.perf_counter() - started
        log.info("recognizer: %s", summary["recognizer_training"])
    _, classes = load_recognizer(recognizer)
    check_vocabulary(dataset_glosses, {"recognizer": classes})
    if judge_job is not None:
        summary["judge_training"] = ray.get(judge_job)
    judge_used = judge if storage.exists(judge) and judging.has_landmarks(dataset) else None

    started = time.perf_counter()
    pool = evaluator_pool(checkpoint, recognizer, cfg, resolve_rest_joints(config.body.model_path, config.body.gender),
                          judge_used)
    clips = encode_dataset(pool, dataset)
    reference = judge_reference(pool, dataset) if judge_used else None
    seconds["encode_clips"] = time.perf_counter() - started  # with the actors' start
    started = time.perf_counter()
    repetitions = score_repetitions(pool, clips, cfg.repeats, reference)
    seconds["repetitions"] = time.perf_counter() - started
    seconds["repetitions_cpu"] = sum(r["cpu_seconds"] for r in repetitions)
    del pool  # the actors end with their last handle
    results = summarize([r["scores"] for r in repetitions])
    faithful = {group: collect_mean_ci([r["faithfulness"][group] for r in repetitions])
                for group in repetitions[0]["faithfulness"]}
    log.info("evaluation: %d clips encoded in %.1f s, %d repetitions in %.1f s (%.1f CPU s in the actors)",
             len(clips.key), seconds["encode_clips"], cfg.repeats, seconds["repetitions"], seconds["repetitions_cpu"])

    table = build_table(results)
    paper = PAPER_TABLE_I.get(cfg.paper_dataset) if cfg.paper_dataset else None
    note = f"mean±CI95 over {cfg.repeats} repetitions (fresh Rec/Gen draws and metric subsets in each)."
    judged = ({name: collect_mean_ci([r["judge"][name] for r in repetitions]) for name in repetitions[0]["judge"]}
              if judge_used else {})
    markdown = to_markdown(table, paper=paper, note=note) + "\n" + faithfulness_markdown(faithful)
    if judged:
        markdown += "\n" + judge_markdown(judged)
    storage.write_text(storage.join(config.run_dir, "evaluation.md"), markdown)
    storage.write_text(storage.join(config.run_dir, "evaluation.json"),
                       to_json(table, repetitions=cfg.repeats, values=repetition_values(results), faithfulness=faithful,
                               judge=judged))
    by_split = {split: quality.summarize_quality([r["quality"][split] for r in repetitions])
                for split in repetitions[0]["quality"]}
    if by_split:  # the quality report: the first of quality.REPORT_SPLITS present, the others beside it
        main, *others = by_split
        summary["quality"] = {**by_split[main], "beside": {split: by_split[split] for split in others}}
        temperature = inference_config(saved["config"]).model.sampling_temperature
        storage.write_text(storage.join(config.run_dir, "quality.md"),
                           quality.to_markdown(by_split[main], temperature, [by_split[s] for s in others]))
        storage.write_text(storage.join(config.run_dir, "quality.json"), json.dumps(summary["quality"], indent=2))
    summary["groups"] = {name: flat_scores(scores) for name, scores in results.items()}
    summary["faithfulness"] = {group: figures["overall"] for group, figures in faithful.items()}
    summary["judge"] = judged  # raw-landmark judge accuracy of Raw / Fit / Fit_std / Rec / Gen, overall and per gloss
    summary["scores"] = results  # as report.build_table takes them (Table II rows are built from these)
    summary["markdown"] = markdown
    summary["sizes"] = {name: scores["sizes"]["n"] for name, scores in results.items()}
    summary["num_classes"] = len(classes)
    summary["chance_acc"] = float(1 / len(classes))
    summary["seconds"] = {k: round(v, 2) for k, v in seconds.items()}
    return summary
