"""The Ray Data extraction pipeline on a generated corpus of real mp4 files in a (moto) S3 endpoint."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from signavatar import storage
from signavatar.config import SyntheticCorpusConfig, load_config
from signavatar.data.synthetic import generate_corpus
from signavatar.extraction import output
from signavatar.extraction.pipeline import ExtractionError, run_extraction
from tests.support.synthetic_video import (
    encode_mp4,
    save_stand_in_regressor,
    skeleton_frames,
    write_video_corpus,
)
from signavatar.motion import arrow_io

ROOT = Path(__file__).resolve().parents[1]
ANNOTATED = (2, 26)  # kept frames of every video, in source-video frames
BAD = {"corrupt": "undecodable", "zero": "empty", "absent": "missing"}


@pytest.fixture(scope="module")
def good_clips():
    corpus = generate_corpus(SyntheticCorpusConfig(num_glosses=3, clips_per_gloss=3, seed=5))
    return [clip.slice_frames(0, 30) for clip in corpus]


def make_corpus(bucket: str, clips) -> list[str]:
    """Good videos, a corrupt (truncated) one, a zero-length one and one missing from the bucket,
    with a WLASL index, kept-frame annotations and a stand-in TorchScript regressor."""
    index = write_video_corpus(clips, f"{bucket}/videos", f"{bucket}/index.json")
    valid = encode_mp4(skeleton_frames(clips[0]), 30.0)
    storage.write_bytes(f"{bucket}/videos/corrupt.mp4", valid[: len(valid) // 3])
    storage.write_bytes(f"{bucket}/videos/zero.mp4", b"")
    index[0]["instances"] += [{"video_id": name, "fps": 30, "split": "train"} for name in BAD]
    storage.write_text(f"{bucket}/index.json", json.dumps(index))
    ids = [c.clip_id for c in clips] + list(BAD)
    storage.write_text(f"{bucket}/annotations.json", json.dumps({i: list(ANNOTATED) for i in ids}))
    save_stand_in_regressor(f"{bucket}/models/regressor.pt")
    return ids


def overrides(bucket: str, out: str, cache: Path, **extra) -> list[str]:
    settings = {
        "extract.index": f"{bucket}/index.json",
        "extract.videos": f"{bucket}/videos",
        "extract.output": out,
        "extract.model_path": f"{bucket}/models/regressor.pt",
        "extract.annotations": f"{bucket}/annotations.json",
        "extract.min_videos_per_gloss": 1,
        "extract.frame_size": 32,
        "extract.chunk_frames": 8,
        "extract.batch_size": 2,
        "extract.max_error_fraction": 0.5,
        "extract.cache_dir": str(cache),
        **extra,
    }
    return [f"{k}={v}" for k, v in settings.items()]


def clips_by_id(out: str) -> dict:
    clips = arrow_io.read_dataset(out)
    ids = [c.clip_id for c in clips]
    assert len(ids) == len(set(ids)), f"duplicate clips in {out}: {ids}"
    return {c.clip_id: c for c in clips}


def wait_for_idle_cluster(ray, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while ray.available_resources().get("CPU", 0) < ray.cluster_resources()["CPU"]:
        assert time.monotonic() < deadline, "Ray did not release the killed job's actor"
        time.sleep(0.2)


def listing(uri: str) -> dict[str, bytes]:
    fs, path = storage.filesystem(uri)
    return {p: fs.cat_file(p) for p in sorted(fs.find(path))}


def test_extract_from_s3_errors_rerun_and_resume_after_kill(ray_cluster, s3_bucket, good_clips, tmp_path):
    ids = make_corpus(s3_bucket, good_clips)
    out = f"{s3_bucket}/dataset"
    config = load_config(None, overrides(s3_bucket, out, tmp_path))
    manifest = run_extraction(config)

    # One clip per good video, QC'd to the annotated frames; the split is seeded per gloss.
    clips = clips_by_id(out)
    assert set(clips) == {c.clip_id for c in good_clips}
    for clip in clips.values():
        assert clip.num_frames == ANNOTATED[1] - ANNOTATED[0] and clip.fps == 30.0
        assert clip.source["estimator"] == "torchscript" and clip.source["video"].startswith(s3_bucket)
        assert clip.split in ("train", "test") and np.isfinite(clip.poses).all()
    assert manifest["num_clips"] == len(good_clips) and sum(manifest["splits"].values()) == len(good_clips)
    assert manifest["extraction"]["error"] == 3 and manifest["extraction"]["ok"] == len(good_clips)

    # Each bad video is an error row with its reason.
    errors = output.read_errors(out).to_pylist()
    assert {e["clip_id"]: e["reason"] for e in errors} == BAD
    assert all(e["message"] and e["uri"].endswith(f"{e['clip_id']}.mp4") for e in errors)
    reports = json.loads(storage.read_text(f"{out}/{output.QC_REPORT}"))
    assert {r["clip_id"] for r in reports} == set(clips)
    assert all(r["kept_range"] == list(ANNOTATED) and r["trailing_method"] == "annotation" for r in reports)

    # A rerun writes nothing new.
    before = listing(out)
    run_extraction(config)
    assert listing(out) == before

    # A run killed mid-way and resumed ends with exactly the same clips. The killed run is a real
    # driver process on the same Ray cluster; a shard left without its commit plays the write that
    # the kill interrupted.
    resumed = f"{s3_bucket}/resumed"
    env = {**os.environ, "RAY_ADDRESS": ray_cluster.get_runtime_context().gcs_address, "PYTHONPATH": str(ROOT)}
    driver = subprocess.Popen(
        [sys.executable, "-m", "workflows.extract", *overrides(s3_bucket, resumed, tmp_path, **{"extract.batch_size": 1})],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    commits = f"{resumed}/{output.COMMITS}"
    try:
        deadline = time.monotonic() + 120
        while not storage.listdir(commits, ".json") and driver.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait()
    committed = len(storage.listdir(commits, ".json"))
    assert 0 < committed < len(ids), f"the driver was not killed mid-way ({committed} of {len(ids)} committed)"
    orphan_id = next(i for i in clips if i not in output.load_state(resumed, remove_orphans=False).records)
    arrow_io.write_shard([clips[orphan_id]], f"{resumed}/part-0rphan000000000.parquet")
    wait_for_idle_cluster(ray_cluster)  # the killed job's actor must be gone before resuming
    run_extraction(load_config(None, overrides(s3_bucket, resumed, tmp_path)))
    assert not storage.exists(f"{resumed}/part-0rphan000000000.parquet")
    again = clips_by_id(resumed)
    assert set(again) == set(clips)
    for clip_id, clip in clips.items():
        np.testing.assert_allclose(again[clip_id].poses, clip.poses, atol=1e-5)
    assert {e["clip_id"] for e in output.read_errors(resumed).to_pylist()} == set(BAD)


def test_too_many_failed_videos_stop_the_job(ray_cluster, s3_bucket, good_clips, tmp_path):
    make_corpus(s3_bucket, good_clips[:2])
    out = f"{s3_bucket}/dataset"
    with pytest.raises(ExtractionError, match="max_error_fraction"):
        run_extraction(load_config(None, overrides(s3_bucket, out, tmp_path, **{"extract.max_error_fraction": 0.2})))
    # What was committed before the stop stays, and is skipped by the next run.
    assert output.load_state(out).records


def test_pose_file_corpus_through_the_cli(ray_cluster, shared_data, tmp_path):
    """A corpus of .pose files (no video decoding) fitted by the keypoints backend in the actors,
    started through ``signavatar extract``. The 5-frame file is rejected by QC (min_frames)."""
    from signavatar.cli import main as cli

    names = {
        "hand_estimation_6fb01565da31c5500d1ef2cd2906b06b": 5,
        "hand_estimation_7731febd6afbbe90f806a4434c282016": 18,
        "hand_estimation_84322c38ff23406f222641da30d0a49b": 47,
    }
    poses = tmp_path / "poses"
    poses.mkdir()
    for name in names:
        (poses / f"{name}.pose").write_bytes((shared_data / "real_poses" / f"{name}.pose").read_bytes())
    index = [{"gloss": "sign", "instances": [{"video_id": n, "split": "train"} for n in names]}]
    (tmp_path / "index.json").write_text(json.dumps(index))
    (tmp_path / "annotations.json").write_text(json.dumps({n: [0, t] for n, t in names.items()}))
    out = tmp_path / "dataset"
    args = [
        f"extract.index={tmp_path / 'index.json'}",
        f"extract.videos={poses}",
        f"extract.output={out}",
        f"extract.annotations={tmp_path / 'annotations.json'}",
        "extract.video_ext=.pose",
        "extract.estimator=keypoints",
        "extract.min_videos_per_gloss=1",
        "extract.split=index",
        "extract.keypoints.iterations=60",
    ]
    assert cli(["extract", *args]) == 0
    clips = clips_by_id(str(out))
    assert {cid: c.num_frames for cid, c in clips.items()} == {n: t for n, t in names.items() if t >= 15}
    assert all(c.source["estimator"] == "keypoints" and np.isfinite(c.poses).all() for c in clips.values())
    manifest = arrow_io.read_manifest(str(out))
    assert manifest["extraction"]["rejected"] == 1 and manifest["extraction"]["error"] == 0
    report = {r["clip_id"]: r for r in json.loads((out / output.QC_REPORT).read_text())}
    assert "min_frames" in report["hand_estimation_6fb01565da31c5500d1ef2cd2906b06b"]["reason"]
