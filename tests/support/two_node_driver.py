"""The driver of tests/test_cluster_nodes.py: run in a process of its own (a process holds one Ray
connection, and the test session's is the shared ``ray_cluster``), it starts a two-node cluster on
this machine (``ray.cluster_utils.Cluster``, 1 CPU per node, so two one-CPU workers must land on
different nodes), runs extraction and training on it with every input and output on S3 (the nodes
share nothing else on a real cluster), and writes what the workers reported as JSON.

    python -m tests.support.two_node_driver s3://BUCKET REPORT.json     # AWS_* variables set
"""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from signavatar.config import SyntheticCorpusConfig, load_config
from signavatar.data.synthetic import generate_corpus
from signavatar.extraction.corpus_index import build_tasks
from signavatar.extraction.pipeline import extraction_dataset
from tests.support.synthetic_video import save_stand_in_regressor, write_video_corpus
from signavatar.motion import arrow_io
from signavatar.training import ray_trainer
from tests.support.checkpoints import TINY_OVERRIDES
from tests.support.ray_nodes import local_cluster

VIDEOS = 4


def extract_on_two_nodes(bucket: str) -> dict[str, Any]:
    """Ray Data extraction with a pool of two one-CPU actors; its rows say where each video ran."""
    import ray

    corpus = generate_corpus(SyntheticCorpusConfig(num_glosses=2, clips_per_gloss=VIDEOS // 2, seed=3))
    write_video_corpus([c.slice_frames(0, 12) for c in corpus], f"{bucket}/videos", f"{bucket}/index.json")
    save_stand_in_regressor(f"{bucket}/regressor.pt")
    config = load_config(None, [
        f"extract.index={bucket}/index.json", f"extract.videos={bucket}/videos", f"extract.output={bucket}/extracted",
        f"extract.model_path={bucket}/regressor.pt", "extract.min_videos_per_gloss=1", "extract.frame_size=32",
        "extract.batch_size=1", "extract.num_actors=2", "qc.enabled=false",
    ])
    # Work starts once the whole pool is up: batches then alternate between the two idle actors
    # instead of all going to whichever actor happened to start first.
    ray.data.DataContext.get_current().wait_for_min_actors_s = 300
    rows = list(extraction_dataset(config, build_tasks(config.extract)).iter_rows())
    return {"output": config.extract.output,
            "rows": [{k: str(row[k]) for k in ("clip_id", "status", "reason", "node_id")} for row in rows]}


def train_on_two_nodes(bucket: str) -> dict[str, Any]:
    """Ray Train, one one-CPU worker per node (DDP over gloo), dataset and checkpoints on S3."""
    config = load_config(None, [*TINY_OVERRIDES, "train.epochs=2", "train.checkpoint_every=1", "train.num_workers=2",
                                "train.cpus_per_worker=1", "train.use_gpu=false", f"train.storage_path={bucket}/ray",
                                "train.name=two-nodes"])
    clips = generate_corpus(config.data.synthetic)
    dataset = f"{bucket}/dataset"
    arrow_io.write_dataset(clips, dataset)
    glosses = sorted({c.gloss for c in clips})
    noise = torch.randn(len(glosses), 16, generator=torch.Generator().manual_seed(0))
    result = ray_trainer.fit(config, dataset, glosses, torch.nn.functional.normalize(noise, dim=1))
    if result.error:
        raise result.error
    return {"workers": result.metrics["workers"], "checkpoint": result.checkpoint.path}


def attempt(scenario: Callable[[str], dict[str, Any]], bucket: str) -> dict[str, Any]:
    """One scenario's report, or its traceback: each test then fails with its own cause."""
    try:
        return scenario(bucket)
    except Exception:
        return {"error": traceback.format_exc()}


def main(bucket: str, report_path: str) -> None:
    import ray

    with local_cluster([1, 1]):
        report = {
            "nodes": sorted(node["NodeID"] for node in ray.nodes() if node["Alive"]),
            "extract": attempt(extract_on_two_nodes, bucket),
            "train": attempt(train_on_two_nodes, bucket),
        }
    Path(report_path).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main(*sys.argv[1:])
