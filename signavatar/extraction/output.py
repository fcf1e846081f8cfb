"""The on-disk layout of an extraction run, and its commit protocol (local or ``s3://`` alike).

::

    <output>/part-<digest>.parquet     motion clips (``arrow_io`` schema), one shard per batch
    <output>/errors/part-<digest>.parquet  failed videos: clip_id, gloss, uri, reason, message
    <output>/commits/part-<digest>.json    the batch's commit: every video's status and QC report
    <output>/manifest.json                 ``arrow_io`` manifest (committed shards only)
    <output>/qc_report.json                QC report of every committed video
    <output>/unqc/part-<digest>.parquet    every fitted clip before quality control (``keep_unqc``)
    <output>/unqc/manifest.json            ... as a dataset of its own (same splits), for the
                                           paper's "without quality control" variant (Table II)
    <output>/landmarks/part-<digest>.parquet  landmark imports: each clip's raw landmarks, cut as
                                           quality control cut the clip (``landmark_store``)

A batch is named by a digest of its clip ids, so the same batch always gets the same name. Its
clip shard, landmark shard and error shard are written first, each atomically; the commit file is written last
and is what makes the batch count. A job killed in between leaves shards without a commit:
``load_state`` deletes those orphans before a resumed run redoes their videos, so nothing is lost
and nothing is duplicated. (One run per output at a time.)
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import posixpath
from collections import Counter
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from signavatar import storage
from signavatar.extraction.corpus_index import VideoTask
from signavatar.extraction.landmark_store import LANDMARKS, LandmarkRecord, write_landmarks
from signavatar.motion import arrow_io
from signavatar.motion.clip import MotionClip

log = logging.getLogger(__name__)

ERRORS = "errors"
COMMITS = "commits"
UNQC = "unqc"
QC_REPORT = "qc_report.json"
STATUSES = ("ok", "rejected", "error")
ERROR_SCHEMA = pa.schema(
    [
        ("clip_id", pa.string()),
        ("gloss", pa.string()),
        ("uri", pa.string()),
        ("reason", pa.string()),
        ("message", pa.string()),
    ]
)


@dataclass
class Outcome:
    """What became of one video: ``ok`` (a clip), ``rejected`` by QC, or ``error`` (``reason`` is
    the category: missing, empty, undecodable, frame_range, estimator_error, ...). ``raw`` is the
    clip as fitted, before QC (kept in ``<output>/unqc``); ``landmarks`` the accepted clip's raw
    landmarks (landmark imports; kept in ``<output>/landmarks``)."""

    task: VideoTask
    status: str
    clip: MotionClip | None = None
    reason: str | None = None
    message: str | None = None
    qc: dict[str, Any] | None = None
    raw: MotionClip | None = None
    landmarks: LandmarkRecord | None = None

    def record(self) -> dict[str, Any]:
        return {
            "clip_id": self.task.clip_id,
            "gloss": self.task.gloss,
            "split": self.task.split,
            "status": self.status,
            "reason": self.reason,
            "frames": None if self.clip is None else self.clip.num_frames,
            "qc": self.qc,
            "unqc": self.raw is not None,
        }


def batch_name(clip_ids: list[str]) -> str:
    digest = hashlib.sha1("\n".join(sorted(clip_ids)).encode("utf-8")).hexdigest()[:16]
    return f"part-{digest}"


def _errors_table(outcomes: list[Outcome]) -> pa.Table:
    rows = [o for o in outcomes if o.status == "error"]
    return pa.table(
        {
            "clip_id": [o.task.clip_id for o in rows],
            "gloss": [o.task.gloss for o in rows],
            "uri": [o.task.uri for o in rows],
            "reason": [o.reason for o in rows],
            "message": [o.message for o in rows],
        },
        schema=ERROR_SCHEMA,
    )


def commit_batch(output: str, outcomes: list[Outcome]) -> str:
    """Write one batch (clip shard, un-QC'd shard, landmark shard, error shard, then the commit)
    and return its name."""
    name = batch_name([o.task.clip_id for o in outcomes])
    clips = [o.clip for o in outcomes if o.clip is not None]
    if clips:
        arrow_io.write_shard(clips, storage.join(output, f"{name}.parquet"))
    raw = [o.raw for o in outcomes if o.raw is not None]
    if raw:
        arrow_io.write_shard(raw, storage.join(output, UNQC, f"{name}.parquet"))
    landmarks = [o.landmarks for o in outcomes if o.clip is not None and o.landmarks is not None]
    if landmarks:
        write_landmarks(landmarks, storage.join(output, LANDMARKS, f"{name}.parquet"))
    errors = _errors_table(outcomes)
    if errors.num_rows:
        buffer = io.BytesIO()
        pq.write_table(errors, buffer)
        storage.write_bytes(storage.join(output, ERRORS, f"{name}.parquet"), buffer.getvalue())
    commit = {"name": name, "clips": len(clips), "unqc_clips": len(raw), "errors": errors.num_rows,
              "videos": [o.record() for o in outcomes]}
    storage.write_text(storage.join(output, COMMITS, f"{name}.json"), json.dumps(commit))
    return name


@dataclass
class RunState:
    """The committed batches of an output. ``status`` resolves a video seen in several batches
    (a retried error) to its best outcome: ok > rejected > error."""

    commits: list[dict] = field(default_factory=list)

    @property
    def records(self) -> dict[str, dict]:
        best: dict[str, dict] = {}
        for commit in self.commits:
            for record in commit["videos"]:
                old = best.get(record["clip_id"])
                if old is None or STATUSES.index(record["status"]) < STATUSES.index(old["status"]):
                    best[record["clip_id"]] = record
        return best

    def done(self, retry_errors: bool) -> set[str]:
        return {cid for cid, r in self.records.items() if not (retry_errors and r["status"] == "error")}


def _name(uri: str) -> str:
    return posixpath.basename(uri.replace("\\", "/")).removesuffix(".parquet").removesuffix(".json")


def load_state(output: str, remove_orphans: bool = True) -> RunState:
    """Committed batches under ``output``; shards of uncommitted batches are deleted (they belong
    to a killed run and their videos will be redone)."""
    commits = [json.loads(storage.read_text(uri)) for uri in storage.listdir(storage.join(output, COMMITS), ".json")]
    committed = {c["name"] for c in commits}
    if remove_orphans:
        folders = ((), (ERRORS,), (UNQC,), (LANDMARKS,))
        shards = [u for sub in folders for u in storage.listdir(storage.join(output, *sub), ".parquet")]
        for uri in shards:
            if _name(uri) not in committed:
                log.warning("removing %s: written by a run that stopped before committing the batch", uri)
                storage.remove(uri)
    return RunState(sorted(commits, key=lambda c: c["name"]))


def read_errors(output: str) -> pa.Table:
    """The errors table (one row per video that failed and never succeeded later)."""
    records = load_state(output, remove_orphans=False).records  # (refreshes the listings)
    tables = [
        pq.read_table(io.BytesIO(storage.read_bytes(uri)))
        for uri in storage.listdir(storage.join(output, ERRORS), ".parquet")
    ]
    if not tables:
        return ERROR_SCHEMA.empty_table()
    table = pa.concat_tables(tables)
    keep = [records.get(cid, {}).get("status") == "error" for cid in table.column("clip_id").to_pylist()]
    return table.filter(pa.array(keep, pa.bool_()))


def finalize(output: str, state: RunState, corpus: dict[str, Any] | None = None, **extra: Any) -> dict:
    """Write ``manifest.json`` (committed clip shards), ``qc_report.json`` and, when the batches
    kept their clips before QC, ``unqc/manifest.json``; return the manifest.

    ``corpus`` (name, source, split rule, ...) is recorded in both manifests with the glosses and
    clips per split of that dataset; ``extra`` goes into the ``extraction`` entry."""
    records = state.records
    reports = [r["qc"] for _, r in sorted(records.items()) if r["qc"] is not None]
    storage.write_text(storage.join(output, QC_REPORT), json.dumps(reports, indent=1))
    statuses = Counter(r["status"] for r in records.values())
    reasons = Counter(r["reason"] for r in records.values() if r["status"] == "error")
    unqc = [c for c in state.commits if c.get("unqc_clips")]
    extraction = {
        "videos": len(records),
        **{status: statuses.get(status, 0) for status in STATUSES},
        "error_reasons": dict(sorted(reasons.items())),
        "errors_table": ERRORS,
        "qc_report": QC_REPORT,
        **({"unqc": UNQC} if unqc else {}),
        **extra,
    }
    kept = [r for r in records.values() if r["status"] == "ok"]
    manifest = _write_manifest(output, kept, [c for c in state.commits if c["clips"]], corpus, extraction=extraction)
    if unqc:
        fitted = [r for r in records.values() if r.get("unqc")]
        _write_manifest(storage.join(output, UNQC), fitted, unqc, corpus, quality_control=False, extraction=extraction)
    log.info("extraction output %s: %d clips in %d shards, %s", output, len(kept), len(manifest["shards"]),
             dict(statuses))
    return manifest


def _write_manifest(uri: str, records: list[dict], commits: list[dict], corpus: dict[str, Any] | None,
                    **extra: Any) -> dict:
    clips = [SimpleNamespace(gloss=r["gloss"], split=r["split"]) for r in records]
    shards = [f"{c['name']}.parquet" for c in commits]
    manifest = arrow_io.build_manifest(clips, shards, **extra)
    if corpus is not None:
        manifest["corpus"] = {**corpus, "glosses": sorted(manifest["glosses"]), "clips_per_split": manifest["splits"]}
    storage.write_text(storage.join(uri, arrow_io.MANIFEST), json.dumps(manifest, indent=2))
    return manifest
