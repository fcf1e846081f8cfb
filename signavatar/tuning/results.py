"""Sweep results: a table of trials sorted by the metric, the best config as a ready-to-use training
YAML, and the best checkpoint's path."""

from __future__ import annotations

import json
import math
from typing import Any

from signavatar import storage
from signavatar.config import dump_config, set_path
from signavatar.tuning.spec import TuneSpec


def trial_rows(result_grid, spec: TuneSpec) -> list[dict[str, Any]]:
    max_epochs = spec.base().train.epochs
    rows = []
    for result in result_grid:
        metrics = result.metrics or {}
        epochs = int(metrics.get("training_iteration", 0))
        if result.error:
            status = "error"
        elif epochs >= max_epochs:
            status = "completed"
        else:
            status = "stopped early"
        value = metrics.get(spec.metric)
        rows.append({
            "trial_id": metrics.get("trial_id", ""),
            "params": {key: result.config.get(key) for key in spec.search_space},
            spec.metric: None if value is None else float(value),
            "epochs": epochs,
            "status": status,
            "checkpoint": result.checkpoint.path if result.checkpoint else None,
        })
    worst = math.inf if spec.mode == "min" else -math.inf
    sign = 1 if spec.mode == "min" else -1
    rows.sort(key=lambda r: sign * (r[spec.metric] if r[spec.metric] is not None else sign * worst))
    return rows


def to_markdown(rows: list[dict[str, Any]], spec: TuneSpec) -> str:
    keys = list(spec.search_space)
    header = ["trial", *keys, spec.metric, "epochs", "status"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        value = row[spec.metric]
        cells = [row["trial_id"], *(f"{row['params'][k]:.4g}" if isinstance(row["params"][k], float) else
                                    str(row["params"][k]) for k in keys),
                 "-" if value is None else f"{value:.5f}", str(row["epochs"]), row["status"]]
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
    set_path(data, ["data", "dataset"], dataset)
    set_path(data, ["train", "name"], f"{spec.name}-best")
    best_config = storage.join(out_dir, "best_config.yaml")
    storage.write_text(best_config, dump_config(type(config).model_validate(data)))
    storage.write_text(storage.join(out_dir, "trials.md"), to_markdown(rows, spec))
    summary = {"metric": spec.metric, "mode": spec.mode, "best": best, "best_config": best_config,
               "best_checkpoint": best["checkpoint"], "trials": rows}
    storage.write_text(storage.join(out_dir, "trials.json"), json.dumps(summary, indent=2))
    return summary
