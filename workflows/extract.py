r"""Extract SMPL-X motion clips from a video corpus on Ray Data (index -> decode + estimate -> QC -> Parquet).

    ray job submit --working-dir . -- python -m workflows.extract \
        extract.index=s3://corpus/WLASL_v0.3.json extract.videos=s3://corpus/videos \
        extract.model_path=s3://models/regressor.pt extract.output=s3://corpus/asl3dword extract.num_actors=4

Re-running with the same ``extract.output`` skips every video already committed there.
"""

from __future__ import annotations

import json
import logging
import sys

from signavatar.extraction.pipeline import run_extraction
from workflows.common import init_ray, parse_args, setup_logging

log = logging.getLogger("workflows.extract")


def main(argv: list[str] | None = None) -> dict:
    setup_logging()
    _, config = parse_args(__doc__, argv)
    init_ray()
    manifest = run_extraction(config)
    print(json.dumps(manifest["extraction"], indent=2))
    return manifest


if __name__ == "__main__":
    main(sys.argv[1:])
