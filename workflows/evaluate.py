"""Evaluate a checkpoint with the paper's metrics (Acc, FID, Diversity, Multimodality for Raw /
Rec / Gen x train / test) on Ray Data; writes ``evaluation.md`` and ``evaluation.json`` to ``run_dir``.

    ray job submit --working-dir . -- python -m workflows.evaluate --config configs/demo.yaml \
        data.dataset=s3://bucket/asl3dword eval.checkpoint=s3://bucket/runs/checkpoint \
        eval.num_actors=8 eval.paper_dataset=subset

The recognizer is ``eval.recognizer`` or ``<run_dir>/recognizer.pt`` (trained on Raw train when
missing). With no ``data.dataset`` the embedded demo dataset under ``run_dir`` is used.
"""

from __future__ import annotations

import json
import sys

from signavatar.evaluation.run import evaluate
from workflows.common import init_ray, parse_args, resolve_dataset, run_main
from workflows.logs import setup_logging


def main(argv: list[str] | None = None) -> dict:
    setup_logging()
    _, config = parse_args(__doc__, argv)
    init_ray()
    summary = evaluate(config, resolve_dataset(config))
    print(summary["markdown"])
    print(json.dumps({k: v for k, v in summary.items() if k not in ("markdown", "scores")}, indent=2))
    return summary


if __name__ == "__main__":
    sys.exit(run_main(main))
