"""Table II-style ablation: the same run with and without the curriculum, and with and without
quality control, each trained on Ray Train and scored with one shared recognizer against the same
(quality-controlled) evaluation dataset, so only the ablated ingredient differs."""

from __future__ import annotations

import json
import logging

from signavatar import storage
from signavatar.config import SignAvatarConfig
from signavatar.evaluation.report import ablation_rows, to_json, to_markdown
from signavatar.evaluation.run import evaluate
from signavatar.training.run import resolve_dataset, train

log = logging.getLogger(__name__)

# variant -> config changes; "full" is the configured run itself
VARIANTS: dict[str, dict[str, dict]] = {
    "full": {},
    "without curriculum": {"curriculum": {"enabled": False}},
    "without quality control": {"qc": {"enabled": False}},
}


def variant_config(config: SignAvatarConfig, name: str, root: str, recognizer: str) -> SignAvatarConfig:
    data = config.model_dump(mode="json")
    for section, changes in VARIANTS[name].items():
        data[section].update(changes)
    slug = name.replace(" ", "-")
    data["run_dir"] = storage.join(root, slug)
    data["train"].update(storage_path=storage.join(root, slug, "ray"), name=slug)
    data["eval"].update(recognizer=recognizer, checkpoint=None)
    return SignAvatarConfig.model_validate(data)


def run_ablation(config: SignAvatarConfig) -> dict:
    """Train and evaluate every variant under ``<run_dir>/ablation/``; returns the Table II rows
    (Markdown + per-variant summaries) and writes ``ablation.md`` / ``ablation.json`` there."""
    if config.data.dataset and "without quality control" in VARIANTS:
        log.warning("data.dataset is given: its clips are already quality-controlled, so the "
                    "'without quality control' variant needs the corpus re-extracted with qc.enabled=false; skipped")
    root = storage.join(config.run_dir, "ablation")
    recognizer = storage.join(root, "recognizer.pt")
    evaluation_dataset = resolve_dataset(config.model_copy(update={"run_dir": storage.join(root, "full")}))
    results, summaries = {}, {}
    for name in VARIANTS:
        if name == "without quality control" and config.data.dataset:
            continue
        variant = variant_config(config, name, root, recognizer)
        training = train(variant)
        evaluation = evaluate(variant, evaluation_dataset)
        results[name] = evaluation["scores"]
        summaries[name] = {"training": training, "groups": evaluation["groups"]}
        log.info("ablation variant %r done", name)
    table = ablation_rows(results)
    markdown = to_markdown(table)
    storage.write_text(storage.join(root, "ablation.md"), markdown)
    storage.write_text(storage.join(root, "ablation.json"), to_json(table))
    storage.write_text(storage.join(root, "variants.json"), json.dumps(summaries, indent=2, default=str))
    return {"markdown": markdown, "variants": summaries, "dataset": evaluation_dataset}
