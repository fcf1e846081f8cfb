"""Evaluation as one call: recognizer (trained on Raw train when missing) -> vocabulary check ->
Raw/Rec/Gen groups scored on Ray Data -> Table I (Markdown + JSON) in the run directory."""

from __future__ import annotations

import logging
import math

import ray

from signavatar import storage
from signavatar.config import EvalConfig, SignAvatarConfig
from signavatar.evaluation.distributed import score_all_groups
from signavatar.evaluation.protocol import check_vocabulary, score_groups
from signavatar.evaluation.recognizer_training import load_recognizer, save_recognizer, train_recognizer
from signavatar.evaluation.report import PAPER_TABLE_I, build_table, to_json, to_markdown
from signavatar.motion import arrow_io
from signavatar.training.checkpoint import load_checkpoint
from signavatar.training.data import build_feature_set

log = logging.getLogger(__name__)


def fit_recognizer(dataset: str, uri: str, num_frames: int, cfg: EvalConfig) -> dict:
    """Train the ST-GCN on the Raw train clips, save it to ``uri``; returns its figures."""
    train = build_feature_set(arrow_io.read_dataset(dataset, split="train"), num_frames)
    test_clips = [c for c in arrow_io.read_dataset(dataset, split="test") if c.gloss in set(train.glosses)]
    test = build_feature_set(test_clips, num_frames, train.glosses) if test_clips else None
    model, history = train_recognizer(train.features.numpy(), train.labels.numpy(), len(train.glosses), cfg,
                                      val=(test.features.numpy(), test.labels.numpy()) if test else None)
    save_recognizer(model, train.glosses, uri)
    last = history[-1]
    return {"epochs": len(history), "train_acc": last["train_acc"], "test_acc": last.get("val_acc")}


def flat_scores(scores: dict) -> dict:
    """One group's scores as plain numbers (``acc``, ``fid``, ``div``, ``multi`` are means; the std
    of the sampled metrics sits beside them) for ``summary.json``."""
    flat = {"acc": scores["acc"], "fid": scores["fid"], "div": scores["div"][0], "div_std": scores["div"][1],
            "multi": scores["multi"][0], "multi_std": scores["multi"][1]}
    if "acc_top5" in scores:
        flat["acc_top5"] = scores["acc_top5"]
    flat = {k: float(v) if math.isfinite(v) else None for k, v in flat.items()}  # JSON has no NaN
    return {**flat, "sizes": scores["sizes"]}


def evaluate(config: SignAvatarConfig, dataset: str) -> dict:
    cfg = config.eval
    checkpoint = cfg.checkpoint or storage.join(config.run_dir, "checkpoint")
    recognizer = cfg.recognizer or storage.join(config.run_dir, "recognizer.pt")
    summary: dict = {"checkpoint": checkpoint, "recognizer": recognizer, "dataset": dataset}
    index = arrow_io.read_index(dataset)
    dataset_glosses = {row["gloss"] for row in index}
    check_vocabulary(dataset_glosses, {"checkpoint": load_checkpoint(checkpoint)["glosses"]})
    if not storage.exists(recognizer):
        gpus = 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0
        task = ray.remote(fit_recognizer).options(num_gpus=gpus, num_cpus=cfg.recognizer_cpus)
        summary["recognizer_training"] = ray.get(task.remote(dataset, recognizer, config.data.num_frames, cfg))
        log.info("recognizer trained: %s", summary["recognizer_training"])
    _, classes = load_recognizer(recognizer)
    check_vocabulary(dataset_glosses, {"recognizer": classes})
    groups = score_all_groups(checkpoint, recognizer, dataset, index, cfg)
    results = score_groups(groups, cfg)
    table = build_table(results)
    paper = PAPER_TABLE_I.get(cfg.paper_dataset) if cfg.paper_dataset else None
    markdown = to_markdown(table, paper=paper)
    storage.write_text(storage.join(config.run_dir, "evaluation.md"), markdown)
    storage.write_text(storage.join(config.run_dir, "evaluation.json"), to_json(table))
    summary["groups"] = {name: flat_scores(scores) for name, scores in results.items()}
    summary["scores"] = results  # as report.build_table takes them (Table II rows are built from these)
    summary["markdown"] = markdown
    summary["sizes"] = {name: int(len(g.labels)) for name, g in groups.items()}
    summary["num_classes"] = len(classes)
    summary["chance_acc"] = float(1 / len(classes))
    return summary
