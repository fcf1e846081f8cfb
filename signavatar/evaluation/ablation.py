"""Table II as published: the full run, the run without the curriculum (masking ratio 0 in every
epoch) and the run without quality control, each with its Raw / Rec / Gen rows of the test split.

"full" and "without curriculum" train and are scored on the quality-controlled dataset with one
shared recognizer. "without quality control" is trained, has its recognizer trained, and is scored
on the un-QC'd copy of the same corpus (the paper's Raw_test differs there too): the importer's
``<dataset>/unqc`` (``extract.keep_unqc``), or, for the synthetic corpus, the corpus built with
``qc.enabled=false``. A dataset without an un-QC'd copy has no third variant (logged)."""

from __future__ import annotations

import json
import logging

from signavatar import storage
from signavatar.config import SignAvatarConfig
from signavatar.evaluation.report import ablation_json, ablation_markdown, ablation_table
from signavatar.evaluation.run import evaluate
from signavatar.extraction.output import UNQC
from signavatar.motion import arrow_io
from signavatar.training.run import resolve_dataset, train

log = logging.getLogger(__name__)

FULL, NO_CURRICULUM, NO_QC = "full", "without curriculum", "without quality control"
# variant -> config changes; "full" is the configured run itself
VARIANTS: dict[str, dict[str, dict]] = {
    FULL: {},
    NO_CURRICULUM: {"curriculum": {"enabled": False}},
    NO_QC: {"qc": {"enabled": False}},
}


def variant_config(config: SignAvatarConfig, name: str, root: str, dataset: str | None,
                   recognizer: str) -> SignAvatarConfig:
    """``config`` with ``VARIANTS[name]`` applied, its own run directory under ``root``, trained
    and scored on ``dataset`` (None: built in its run directory) with the recognizer ``recognizer``."""
    data = config.model_dump(mode="json")
    for section, changes in VARIANTS[name].items():
        data[section].update(changes)
    slug = name.replace(" ", "-")
    data["run_dir"] = storage.join(root, slug)
    data["data"]["dataset"] = dataset
    data["train"].update(storage_path=storage.join(root, slug, "ray"), name=slug)
    data["eval"].update(recognizer=recognizer, checkpoint=None)
    return SignAvatarConfig.model_validate(data)


def run_ablation(config: SignAvatarConfig) -> dict:
    """Train and evaluate every variant under ``<run_dir>/ablation/``; returns the Table II
    markdown and per-variant summaries, and writes ``ablation.md`` / ``ablation.json`` /
    ``variants.json`` there."""
    root = storage.join(config.run_dir, "ablation")
    dataset = resolve_dataset(config.model_copy(update={"run_dir": storage.join(root, "full")}))
    plan: dict[str, tuple[str | None, str]] = {
        FULL: (dataset, storage.join(root, "recognizer.pt")),
        NO_CURRICULUM: (dataset, storage.join(root, "recognizer.pt")),
    }
    no_qc_recognizer = storage.join(root, NO_QC.replace(" ", "-"), "recognizer.pt")
    unqc = storage.join(dataset, UNQC)
    if storage.exists(storage.join(unqc, arrow_io.MANIFEST)):
        plan[NO_QC] = (unqc, no_qc_recognizer)
    elif not config.data.dataset and not config.extract.landmark_corpus:
        plan[NO_QC] = (None, no_qc_recognizer)  # the synthetic corpus, built again without QC
    else:
        log.warning("%s has no un-QC'd copy (%s; import with extract.keep_unqc=true): the %r variant is skipped",
                    dataset, unqc, NO_QC)
    results, summaries = {}, {}
    for name, (variant_dataset, recognizer) in plan.items():
        variant = variant_config(config, name, root, variant_dataset, recognizer)
        training = train(variant)
        evaluation = evaluate(variant, resolve_dataset(variant))
        results[name] = evaluation["scores"]
        summaries[name] = {"training": training, "dataset": evaluation["dataset"], "groups": evaluation["groups"]}
        log.info("ablation variant %r done", name)
    table = ablation_table(results)
    note = (f"mean±CI95 over {config.eval.repeats} repetitions; '{NO_QC}' is trained, has its recognizer "
            "trained, and is scored on the un-QC'd data.")
    markdown = ablation_markdown(table, note=note)
    storage.write_text(storage.join(root, "ablation.md"), markdown)
    storage.write_text(storage.join(root, "ablation.json"), ablation_json(table, repetitions=config.eval.repeats))
    storage.write_text(storage.join(root, "variants.json"), json.dumps(summaries, indent=2, default=str))
    return {"markdown": markdown, "variants": summaries, "dataset": dataset}
