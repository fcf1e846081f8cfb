r"""Extract SMPL-X motion clips on Ray Data from a video corpus (index -> decode + estimate -> QC ->
Parquet) or import a labelled landmark corpus (sequences -> batched keypoint fit -> QC -> Parquet).

    ray job submit --working-dir . -- python -m workflows.extract \
        extract.index=s3://corpus/WLASL_v0.3.json extract.videos=s3://corpus/videos \
        extract.model_path=s3://models/regressor.pt extract.output=s3://corpus/asl3dword extract.num_actors=4

    # landmark corpora: extract.source=mpdata|gislr|pose (or auto), extract.input=DIR or s3:// prefix
    python -m workflows.extract extract.source=gislr extract.input=s3://corpus/asl-signs \
        extract.output=s3://corpus/islr extract.split=group extract.num_actors=8

Re-running with the same ``extract.output`` skips every video / sequence already committed there.
The output also holds every fitted clip before quality control as a dataset of its own
(``<output>/unqc``, same splits).
"""

from __future__ import annotations

import json
import logging
import sys

from signavatar.extraction.pipeline import check_inputs, run_extraction
from workflows.common import init_ray, parse_args, run_main
from workflows.logs import setup_logging

log = logging.getLogger("workflows.extract")


def main(argv: list[str] | None = None) -> dict:
    setup_logging()
    _, config = parse_args(__doc__, argv)
    check_inputs(config)  # a missing corpus is told at once, not after Ray has started
    init_ray()
    manifest = run_extraction(config)
    print(json.dumps(manifest["extraction"], indent=2))
    return manifest


if __name__ == "__main__":
    sys.exit(run_main(main))
