"""Train the SignAvatar CVAE on Ray Train.

    ray job submit --working-dir . -- python -m workflows.train --config configs/demo.yaml train.num_workers=4

With no ``data.dataset`` the embedded synthetic demo corpus is generated (and QC'd) first.
Re-running with the same ``train.name`` and ``train.storage_path`` resumes from the latest checkpoint.
"""

from __future__ import annotations

import json
import logging
import sys

from signavatar import storage
from signavatar.config import dump_config
from signavatar.training.run import train
from workflows.common import init_ray, parse_args, resolve_dataset, run_main
from workflows.logs import setup_logging

log = logging.getLogger("workflows.train")


def main(argv: list[str] | None = None) -> dict:
    setup_logging()
    _, config = parse_args(__doc__, argv)
    init_ray()
    storage.write_text(storage.join(config.run_dir, "config.yaml"), dump_config(config))
    summary = train(config, resolve_dataset(config))
    storage.write_text(storage.join(config.run_dir, "train_summary.json"), json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    sys.exit(run_main(main))
