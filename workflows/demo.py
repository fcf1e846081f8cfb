"""The whole loop on the embedded default, on a local (or the submitting) Ray cluster:

synthesize the demo corpus -> quality control -> train (Ray Train) -> evaluate (paper metrics on
Ray Data) -> generate clips for a few glosses (AMASS npz + JSON).

Everything lands under ``run_dir`` (default ``runs/demo``), with ``summary.json`` holding the paths,
the training figures and the evaluation table (``evaluation.groups.<Group>_<split>.acc`` etc.).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

from signavatar import storage
from signavatar.config import dump_config
from signavatar.evaluation.run import evaluate
from signavatar.model.pipeline import SignAvatar
from signavatar.motion.export import write_clip
from signavatar.training.run import train
from workflows.common import init_ray, parse_args, setup_logging

DEMO_CONFIG = str(Path(__file__).resolve().parents[1] / "configs" / "demo.yaml")
log = logging.getLogger("workflows.demo")


def main(argv: list[str] | None = None) -> dict:
    setup_logging()
    _, config = parse_args(__doc__, argv, default_config=DEMO_CONFIG)
    started = time.perf_counter()
    init_ray()
    storage.write_text(storage.join(config.run_dir, "config.yaml"), dump_config(config))

    training = train(config)
    evaluation = evaluate(config, training["dataset"])

    avatar = SignAvatar.from_checkpoint(training["checkpoint"])
    outputs = {}
    for gloss in training["glosses"][:3]:
        clips = avatar.generate(avatar.text_embeddings([gloss])[0], num_samples=2, seed=0, gloss=gloss)
        outputs[gloss] = [write_clip(c, storage.join(config.run_dir, "generated")) for c in clips]

    summary = {
        "run_dir": config.run_dir,
        "synthetic": config.data.dataset is None,
        "seconds": round(time.perf_counter() - started, 1),
        "training": training,
        "evaluation": {k: v for k, v in evaluation.items() if k != "markdown"},
        "generated": outputs,
    }
    storage.write_text(storage.join(config.run_dir, "summary.json"), json.dumps(summary, indent=2))
    print(f"\nSignAvatar demo ({'synthetic corpus' if summary['synthetic'] else config.data.dataset}), "
          f"{summary['seconds']} s\n")
    print(evaluation["markdown"])
    print(f"checkpoint:  {training['checkpoint']}")
    print(f"generated:   {storage.join(config.run_dir, 'generated')} ({sum(len(v) for v in outputs.values())} clips)")
    print(f"summary:     {storage.join(config.run_dir, 'summary.json')}")
    return summary


if __name__ == "__main__":
    main(sys.argv[1:])
