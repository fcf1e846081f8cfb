"""Table II as published: full, without curriculum, without quality control; Raw/Rec/Gen test rows.

    python -m workflows.ablation --config configs/synthetic.yaml
    ray job submit --working-dir . -- python -m workflows.ablation --config configs/synthetic.yaml train.num_workers=4

Each variant trains on Ray Train and is scored by ``workflows.evaluate``'s protocol (mean±CI95 over
``eval.repeats``): "full" and "without curriculum" on the quality-controlled dataset with one
shared recognizer, "without quality control" on the un-QC'd copy with its own; results land in
``<run_dir>/ablation/{ablation.md, ablation.json, variants.json}``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from signavatar.evaluation.ablation import run_ablation
from workflows.common import init_ray, parse_args, run_main, setup_logging

SYNTHETIC_CONFIG = str(Path(__file__).resolve().parents[1] / "configs" / "synthetic.yaml")


def main(argv: list[str] | None = None) -> dict:
    setup_logging()
    _, config = parse_args(__doc__, argv, default_config=SYNTHETIC_CONFIG)
    init_ray()
    result = run_ablation(config)
    print(result["markdown"])
    return result


if __name__ == "__main__":
    sys.exit(run_main(main))
