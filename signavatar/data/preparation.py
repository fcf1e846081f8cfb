"""The embedded default dataset: synthesize the demo corpus, run quality control, write Parquet."""

from __future__ import annotations

import json
import logging

from signavatar import storage
from signavatar.config import SignAvatarConfig
from signavatar.data.qc import run_qc
from signavatar.data.synthetic import generate_corpus
from signavatar.motion import arrow_io

log = logging.getLogger(__name__)

QC_REPORT = "qc_report.json"


def build_demo_dataset(config: SignAvatarConfig, uri: str) -> dict:
    """Write the QC'd synthetic corpus to ``uri`` (reused when its manifest exists) and return the
    manifest. The QC report (per clip: frames kept/removed and why) lands beside the shards."""
    if storage.exists(storage.join(uri, arrow_io.MANIFEST)):
        log.info("reusing demo dataset at %s", uri)
        return arrow_io.read_manifest(uri)
    clips = generate_corpus(config.data.synthetic)
    results = [run_qc(clip, config.qc) for clip in clips]
    kept = [r.clip for r in results if r.clip is not None]
    reports = [r.report for r in results]
    storage.write_text(storage.join(uri, QC_REPORT), json.dumps(reports, indent=1))
    removed = sum(r["frames_in"] - r["frames_out"] for r in reports)
    log.info("demo corpus: %d clips synthesized, %d kept by QC, %d frames trimmed", len(clips), len(kept), removed)
    return arrow_io.write_dataset(
        kept, uri, synthetic=True,
        qc={"clips_in": len(clips), "clips_kept": len(kept), "frames_removed": removed, "report": QC_REPORT},
    )
