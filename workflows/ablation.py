"""Table II: the variants of ``ablation.variants`` in the config (the paper's: full, without
curriculum, without quality control); Raw/Rec/Gen test rows.

    python -m workflows.ablation --config configs/synthetic.yaml
    ray job submit --working-dir . -- python -m workflows.ablation --config configs/synthetic.yaml train.num_workers=4

Each variant trains on Ray Train and is scored by ``workflows.evaluate``'s protocol (mean±CI95 over
``eval.repeats``): variants that keep quality control ("full", "without curriculum") on the
quality-controlled dataset with one shared recognizer, a variant that turns it off ("without quality
control") on the un-QC'd copy with its own; results land in
``<run_dir>/ablation/{ablation.md, ablation.json, variants.json}``.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

from signavatar import storage
from signavatar.config import AblationConfig, SignAvatarConfig
from signavatar.evaluation.ablation import disables_qc, variant_config
from signavatar.evaluation.report import ablation_json, ablation_markdown, ablation_table
from signavatar.evaluation.run import evaluate
from signavatar.extraction.output import UNQC
from signavatar.motion import arrow_io
from signavatar.training.run import train
from workflows.common import init_ray, parse_args, resolve_dataset, run_main
from workflows.logs import setup_logging

log = logging.getLogger("workflows.ablation")

SYNTHETIC_CONFIG = str(Path(__file__).resolve().parents[1] / "configs" / "synthetic.yaml")


def run_ablation(config: SignAvatarConfig) -> dict:
    """Train and evaluate every variant under ``<run_dir>/ablation/``; returns the Table II
    markdown and per-variant summaries, and writes ``ablation.md`` / ``ablation.json`` /
    ``variants.json`` there."""
    root = storage.join(config.run_dir, "ablation")
    dataset = resolve_dataset(config.model_copy(update={"run_dir": storage.join(root, "full")}))
    no_qc = [name for name in config.ablation.variants if disables_qc(config, name)]
    unqc, skipped = storage.join(dataset, UNQC), []
    if storage.exists(storage.join(unqc, arrow_io.MANIFEST)):
        no_qc_dataset: str | None = unqc
    elif not config.data.dataset and not config.extract.landmark_corpus:
        no_qc_dataset = None  # the synthetic corpus, built again without QC
    else:
        no_qc_dataset, skipped = None, no_qc
        for name in skipped:
            log.warning("%s has no un-QC'd copy (%s; import with extract.keep_unqc=true): the %r variant is skipped",
                        dataset, unqc, name)
    plan: dict[str, tuple[str | None, str]] = {
        name: (no_qc_dataset, storage.join(root, AblationConfig.variant_dir(name), "recognizer.pt")) if name in no_qc
        else (dataset, storage.join(root, "recognizer.pt"))
        for name in config.ablation.variants if name not in skipped
    }
    results, summaries = {}, {}
    for name, (variant_dataset, recognizer) in plan.items():
        variant = variant_config(config, name, root, variant_dataset, recognizer)
        variant_data = resolve_dataset(variant)
        training = train(variant, variant_data)
        evaluation = evaluate(variant, variant_data)
        results[name] = evaluation["scores"]
        summaries[name] = {"training": training, "dataset": evaluation["dataset"], "groups": evaluation["groups"]}
        log.info("ablation variant %r done", name)
    table = ablation_table(results)
    note = f"mean±CI95 over {config.eval.repeats} repetitions"
    if len(no_qc) == 1:
        note += f"; '{no_qc[0]}' is trained, has its recognizer trained, and is scored on the un-QC'd data"
    elif no_qc:
        names = ", ".join(f"'{name}'" for name in no_qc)
        note += f"; {names} are each trained, have their own recognizer trained, and are scored on the un-QC'd data"
    note += "."
    markdown = ablation_markdown(table, note=note)
    storage.write_text(storage.join(root, "ablation.md"), markdown)
    storage.write_text(storage.join(root, "ablation.json"), ablation_json(table, repetitions=config.eval.repeats))
    storage.write_text(storage.join(root, "variants.json"), json.dumps(summaries, indent=2, default=str))
    return {"markdown": markdown, "variants": summaries, "dataset": dataset}


def main(argv: list[str] | None = None) -> dict:
    setup_logging()
    _, config = parse_args(__doc__, argv, default_config=SYNTHETIC_CONFIG)
    init_ray()
    result = run_ablation(config)
    print(result["markdown"])
    return result


if __name__ == "__main__":
    sys.exit(run_main(main))
