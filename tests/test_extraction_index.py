import json
from collections import Counter

import pytest

from signavatar.config import ExtractConfig
from signavatar.extraction.corpus_index import (
    CorpusIndexError,
    VideoTask,
    build_tasks,
    filter_glosses,
    parse_index,
    split_per_gloss,
)


def wlasl_index(counts: dict[str, int]) -> list[dict]:
    entries = []
    for gloss, n in counts.items():
        instances = [
            {
                "video_id": f"{gloss}{i:03d}",
                "frame_start": 1 + i,
                "frame_end": -1 if i % 2 else 40 + i,
                "fps": 25,
                "bbox": [10, 20, 110, 220],
                "signer_id": i % 3,
                "split": "train" if i % 5 else "test",
                "url": f"https://example.invalid/{gloss}{i}",
                "instance_id": i,
            }
            for i in range(n)
        ]
        entries.append({"gloss": gloss, "instances": instances})
    return entries


def test_parse_index_converts_wlasl_frame_ranges_and_keeps_extra_fields():
    tasks = parse_index(wlasl_index({"book": 3}), "s3://bucket/videos", ".mp4")
    first, second = tasks[0], tasks[1]
    assert first.uri == "s3://bucket/videos/book000.mp4"
    assert (first.frame_start, first.frame_end) == (0, 40)  # 1-based inclusive -> 0-based exclusive
    assert (second.frame_start, second.frame_end) == (1, None)  # -1 = to the end
    assert first.bbox == [10.0, 20.0, 110.0, 220.0] and first.fps == 25.0
    assert first.extra == {"url": "https://example.invalid/book0", "instance_id": 0}
    assert VideoTask.from_json(first.to_json()) == first


@pytest.mark.parametrize(
    "entries,message",
    [
        ({"gloss": "x"}, "top level must be a list"),
        ([{"gloss": "a", "instances": [{"frame_start": 1}]}], "no 'video_id'"),
        ([{"gloss": "a", "instances": [{"video_id": "1", "bbox": [5, 5, 1, 9]}]}], "bbox"),
        ([{"gloss": "a", "instances": [{"video_id": "1", "frame_start": 9, "frame_end": 3}]}], "frame range"),
        ([{"gloss": "a", "instances": [{"video_id": "1"}]}, {"gloss": "b", "instances": [{"video_id": "1"}]}], "twice"),
    ],
)
def test_parse_index_rejects_malformed_entries(entries, message):
    with pytest.raises(CorpusIndexError, match=message):
        parse_index(entries, "videos", ".mp4", where="index.json")


def test_filter_by_minimum_videos_then_top_k():
    tasks = parse_index(wlasl_index({"a": 25, "b": 19, "c": 30, "d": 20, "e": 21}), "v", ".mp4")
    kept = Counter(t.gloss for t in filter_glosses(tasks, min_videos=20, top_k=None))
    assert kept == {"c": 30, "a": 25, "e": 21, "d": 20}
    top = Counter(t.gloss for t in filter_glosses(tasks, min_videos=18, top_k=2))
    assert set(top) == {"c", "a"}


def test_split_per_gloss_is_eight_to_two_and_seeded():
    tasks = parse_index(wlasl_index({"a": 20, "b": 11, "c": 2}), "v", ".mp4")
    split = split_per_gloss(tasks, test_fraction=0.2, seed=7)
    counts = Counter((t.gloss, t.split) for t in split)
    assert counts[("a", "test")] == 4 and counts[("a", "train")] == 16
    assert counts[("b", "test")] == 2 and counts[("c", "test")] == 1 and counts[("c", "train")] == 1
    # Deterministic, independent of order and of other glosses; a different seed changes it.
    again = split_per_gloss(list(reversed([t for t in tasks if t.gloss == "a"])), 0.2, seed=7)
    assert {t.clip_id for t in again if t.split == "test"} == {
        t.clip_id for t in split if t.gloss == "a" and t.split == "test"
    }
    other = split_per_gloss(tasks, 0.2, seed=8)
    assert {t.clip_id for t in other if t.split == "test"} != {t.clip_id for t in split if t.split == "test"}


def test_split_per_gloss_with_a_validation_part():
    """val_fraction takes clips of each gloss to val, never from test, and leaves the test draw as it was."""
    tasks = parse_index(wlasl_index({"a": 20, "b": 11, "c": 2}), "v", ".mp4")
    two_way = split_per_gloss(tasks, 0.2, seed=7)
    three_way = split_per_gloss(tasks, 0.2, seed=7, val_fraction=0.1)
    counts = Counter((t.gloss, t.split) for t in three_way)
    assert (counts[("a", "train")], counts[("a", "val")], counts[("a", "test")]) == (14, 2, 4)
    assert counts[("b", "val")] == 1 and counts[("c", "val")] == 0 and counts[("c", "train")] == 1
    assert {t.clip_id for t in three_way if t.split == "test"} == {t.clip_id for t in two_way if t.split == "test"}


def test_build_tasks_from_config(tmp_path):
    (tmp_path / "index.json").write_text(json.dumps(wlasl_index({"a": 5, "b": 3})))
    cfg = ExtractConfig(
        index=str(tmp_path / "index.json"), videos=str(tmp_path / "v"), min_videos_per_gloss=4, split="index"
    )
    tasks = build_tasks(cfg)
    assert {t.gloss for t in tasks} == {"a"}
    assert [t.split for t in tasks] == ["test", "train", "train", "train", "train"]
    with pytest.raises(ValueError, match="extract.index and extract.videos"):
        build_tasks(ExtractConfig())
