"""Sweep results: a table of trials sorted by their best reported metric, the best config as a
ready-to-use training YAML (stopping at the epoch the best value came at), and the checkpoint of
that report when one was taken there (the trial's Train run keeps its best-scoring checkpoints)."""

from __future__ import annotations

import json
import math
from typing import Any

from ray.tune.integration.ray_train import CHECKPOINT_PATH_KEY

from signavatar import storage
from signavatar.config import dump_config, set_path
from signavatar.tuning.spec import TuneSpec

QUALITY_FIGURES = ("objective", "multi_ratio", "fid_ratio", "gen_fid", "rec_fid", "gen_multi", "raw_multi", "gen_acc",
                   "rec_acc", "raw_acc", "gen_dtw", "rec_dtw", "gen_judge_acc")


def _best_report(result, spec: TuneSpec) -> dict[str, Any]:
    """The trial's report with the best ``spec.metric`` over all its reports (a trial can be best
    before its last epoch: on the real corpus, quality on the unseen session peaks early)."""
    frame = result.metrics_dataframe
    if frame is None or spec.metric not in frame or frame[spec.metric].isna().all():
        return result.metrics or {}
    column = frame[spec.metric]
    return frame.loc[column.idxmin() if spec.mode == "min" else column.idxmax()].to_dict()


def _epochs(metrics: dict[str, Any]) -> int:
    return int(metrics.get("epochs_done", metrics.get("training_iteration", 0)))


def trial_rows(result_grid, spec: TuneSpec) -> list[dict[str, Any]]:
    """One row per trial: its best reported value of ``spec.metric`` and the epoch it came at
    (``best_epoch``), the epochs it ran, its status, and the kept checkpoint of that epoch if any."""
    max_epochs = spec.base().train.epochs
    rows = []
    for result in result_grid:
        metrics = result.metrics or {}
        epochs = _epochs(metrics)
        if result.error:
            status = "error"
        elif epochs >= max_epochs:
            status = "completed"
        else:
            status = "stopped early"
        best = _best_report(result, spec)
        value = best.get(spec.metric)
        best_epoch = _epochs(best)
        # the Train run's checkpoint of that report, if it took one (its run keeps the best-scoring ones)
        checkpoint = best.get(CHECKPOINT_PATH_KEY)
        rows.append({
            "trial_id": metrics.get("trial_id", ""),
            "params": {key: result.config.get(key) for key in spec.search_space},
            spec.metric: None if value is None or math.isnan(value) else float(value),
            **({"figures": {k: best.get("quality" if k == "objective" else k) for k in QUALITY_FIGURES}}
               if spec.metric in ("quality", "gen_dtw") else {}),
            "best_epoch": best_epoch,
            "epochs": epochs,
            "status": status,
            "checkpoint": checkpoint if isinstance(checkpoint, str) else None,
        })
    worst = math.inf if spec.mode == "min" else -math.inf
    sign = 1 if spec.mode == "min" else -1
    rows.sort(key=lambda r: sign * (r[spec.metric] if r[spec.metric] is not None else sign * worst))
    return rows


def stopped_at(data: dict[str, Any], epochs: int) -> None:
    """Make a training config (a ``model_dump``) stop after ``epochs`` with the masking schedule it
    had up to there: a schedule stretched over the run (``curriculum.scale_to_run``) is stretched
    over a proportionally shorter paper schedule, so epoch ``e`` keeps its ratio."""
    run = data["train"]["epochs"]
    if epochs >= run:
        return
    curriculum = data["curriculum"]
    if curriculum["scale_to_run"]:
        total = curriculum["total_epochs"] * epochs / run
        if total == int(total):
            curriculum["total_epochs"] = int(total)
        else:  # the same stages, spelled out
            curriculum.update(scale_to_run=False, step=max(1, round(curriculum["step"] * run / curriculum["total_epochs"])))
    data["train"]["epochs"] = epochs


def to_markdown(rows: list[dict[str, Any]], spec: TuneSpec) -> str:
    keys = list(spec.search_space)
    figures = ({"quality": ["multi_ratio", "fid_ratio", "gen_fid", "rec_fid", "gen_acc", "gen_judge_acc", "gen_dtw"],
                "gen_dtw": ["objective", "multi_ratio", "fid_ratio", "gen_acc"]}.get(spec.metric, []))
    header = ["trial", *keys, spec.metric, *figures, "best epoch", "epochs", "status"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        value = row[spec.metric]
        shown = [row["figures"].get(k) for k in figures]
        cells = [row["trial_id"], *(f"{row['params'][k]:.4g}" if isinstance(row["params"][k], float) else
                                    str(row["params"][k]) for k in keys),
                 "-" if value is None else f"{value:.5f}", *("-" if v is None else f"{v:.3f}" for v in shown),
                 str(row["best_epoch"]), str(row["epochs"]), row["status"]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_results(result_grid, spec: TuneSpec, dataset: str, out_dir: str) -> dict[str, Any]:
    """Write ``trials.md``, ``trials.json`` and ``best_config.yaml`` under ``out_dir``."""
    rows = trial_rows(result_grid, spec)
    best = next((r for r in rows if r[spec.metric] is not None and r["status"] != "error"), None)
    if best is None:
        raise RuntimeError(f"no trial of sweep {spec.name!r} reported {spec.metric!r}")
    config = spec.trial_config(best["params"])
    data = config.model_dump(mode="json")
    stopped_at(data, best["best_epoch"])
    set_path(data, ["data", "dataset"], dataset)
    set_path(data, ["train", "name"], f"{spec.name}-best")
    best_config = storage.join(out_dir, "best_config.yaml")
    storage.write_text(best_config, dump_config(type(config).model_validate(data)))
    storage.write_text(storage.join(out_dir, "trials.md"), to_markdown(rows, spec))
    summary = {"metric": spec.metric, "mode": spec.mode, "best": best, "best_config": best_config,
               "best_checkpoint": best["checkpoint"], "trials": rows}
    storage.write_text(storage.join(out_dir, "trials.json"), json.dumps(summary, indent=2))
    return summary
