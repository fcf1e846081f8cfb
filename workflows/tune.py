"""Run a Ray Tune sweep over the training config.

    ray job submit --working-dir . -- python -m workflows.tune --config tune_configs/kl_sweep.yaml num_samples=16
    python -m workflows.tune --config tune_configs/quick.yaml --resume     # continue an interrupted sweep

Overrides address the sweep (``num_samples=8``) or, prefixed with ``base.``, the training config
(``base.train.epochs=20``). Results: ``<storage_path>/<name>/{trials.md,trials.json,best_config.yaml}``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from signavatar import storage
from signavatar.evaluation import judging
from signavatar.evaluation.recognizer_cache import ensure_recognizer
from signavatar.model.clip_encoder import ClipConditioner
from signavatar.training.run import train_glosses
from signavatar.tuning.results import to_markdown, write_results
from signavatar.tuning.runner import build_tuner, experiment_path
from signavatar.tuning.spec import load_spec
from workflows.common import init_ray, resolve_dataset, run_main
from workflows.logs import setup_logging

log = logging.getLogger("workflows.tune")


def main(argv: list[str] | None = None) -> dict:
    setup_logging()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="sweep YAML (tune_configs/*.yaml)")
    parser.add_argument("--resume", action="store_true", help="restore the interrupted experiment of this name")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args(argv)
    spec = load_spec(args.config, args.overrides)  # rejects unknown keys before anything starts
    base = spec.base()
    init_ray()
    dataset = resolve_dataset(base)
    glosses = train_glosses(dataset)
    embeddings = ClipConditioner(base.clip).encode_text(glosses)
    recognizer = judge = None
    if spec.needs_recognizer:  # one recognizer, trained on Raw train (or reused from the dataset), shared by all trials
        recognizer = storage.absolute(storage.join(experiment_path(spec), "recognizer.pt"))
        if not storage.exists(recognizer):
            ensure_recognizer(dataset, recognizer, base.data.num_frames, base.eval)
    if spec.metric in ("quality", "gen_dtw") and judging.has_landmarks(dataset):  # and the raw-landmark judge
        judge = storage.absolute(storage.join(experiment_path(spec), "judge.pt"))
        if not storage.exists(judge):
            judging.ensure_judge(dataset, judge, base.eval.judge)
    tuner = build_tuner(spec, dataset, glosses, embeddings, resume=args.resume, recognizer=recognizer, judge=judge)
    results = tuner.fit()
    summary = write_results(results, spec, dataset, experiment_path(spec))
    print(to_markdown(summary["trials"], spec))
    print(json.dumps({k: summary[k] for k in ("metric", "best_config", "best_checkpoint")}, indent=2))
    log.info("results in %s", experiment_path(spec))
    return summary


if __name__ == "__main__":
    sys.exit(run_main(main))
