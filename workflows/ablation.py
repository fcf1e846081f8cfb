"""Table II-style ablation: with vs without the curriculum, with vs without quality control.

    python -m workflows.ablation --config configs/demo.yaml
    ray job submit --working-dir . -- python -m workflows.ablation --config configs/demo.yaml train.num_workers=4

Each variant trains on Ray Train and is evaluated with one shared recognizer against the same
quality-controlled dataset; results land in ``<run_dir>/ablation/{ablation.md, ablation.json}``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from signavatar.evaluation.ablation import run_ablation
from workflows.common import init_ray, parse_args, run_main, setup_logging

DEMO_CONFIG = str(Path(__file__).resolve().parents[1] / "configs" / "demo.yaml")


def main(argv: list[str] | None = None) -> dict:
    setup_logging()
    _, config = parse_args(__doc__, argv, default_config=DEMO_CONFIG)
    init_ray()
    result = run_ablation(config)
    print(result["markdown"])
    return result


if __name__ == "__main__":
    sys.exit(run_main(main))
