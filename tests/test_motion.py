import json

import numpy as np
import pytest
import torch

from signavatar.body.rotations import axis_angle_to_matrix
from signavatar.motion import amass, arrow_io, json_io
from signavatar.motion.clip import FEATURE_DIM, ClipValidationError, MotionClip, Segment
from tests.support.clips import random_clip

SEGMENTS = (Segment("hello", 0, 4), Segment("", 4, 6, "transition"), Segment("thank-you", 6, 10))


def sentence_clip(clip_id: str = "s0", seed: int = 0) -> MotionClip:
    """A random 10-frame clip labelled as two signs and a transition."""
    return random_clip(clip_id, frames=10, gloss="hello thank-you", seed=seed).replace(segments=SEGMENTS)


def assert_same_clip(a: MotionClip, b: MotionClip) -> None:
    assert (a.gloss, a.clip_id, a.split, a.source, a.segments) == (b.gloss, b.clip_id, b.split, b.source, b.segments)
    assert a.fps == pytest.approx(b.fps)
    for name in ("poses", "expression", "betas", "trans"):
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), atol=1e-6)
    if a.confidence is None:
        assert b.confidence is None
    else:
        np.testing.assert_allclose(a.confidence, b.confidence, atol=1e-6)


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("poses", np.zeros((5, 54, 3)), "field 'poses' has shape"),
        ("poses", np.zeros((0, 55, 3)), "T = 0"),
        ("trans", np.zeros((4, 3)), "field 'trans' has shape"),
        ("expression", np.full((12, 10), np.nan), "field 'expression' has 120 non-finite"),
        ("betas", np.array([np.inf] + [0] * 9), "field 'betas' has 1 non-finite"),
        ("split", "training", "field 'split' is 'training'"),
        ("fps", 0.0, "field 'fps'"),
    ],
)
def test_validation_names_clip_and_field(field, value, message):
    good = random_clip("clip-42", frames=12, gloss="book")
    with pytest.raises(ClipValidationError) as info:
        good.replace(**{field: value})
    assert "clip 'clip-42'" in str(info.value) and "gloss 'book'" in str(info.value)
    assert message in str(info.value)


@pytest.mark.parametrize(
    "segments,message",
    [
        ([Segment("a", 0, 4), Segment("b", 3, 8)], "entry 1 starts at frame 3, before entry 0 ends"),
        ([Segment("a", 0, 11)], r"entry 0: frames \[0, 11\) do not fit"),
        ([Segment("a", 5, 5)], r"entry 0: frames \[5, 5\)"),
        ([Segment("a", 0, 4, "pause")], "entry 0: kind is 'pause'"),
        ([{"gloss": "a", "start": 0, "end": 2, "colour": "red"}], r"entry 0: unknown key\(s\) \['colour'\]"),
        ([("a", 0.5, 2)], "entry 0: start and end must be integers"),
        ([(3, 0, 2)], "entry 0: gloss must be a string"),
        ("hello", "must be a list of segments"),
    ],
)
def test_segments_are_validated(segments, message):
    with pytest.raises(ClipValidationError, match=message) as info:
        random_clip("clip-7", frames=10, gloss="a b").replace(segments=segments)
    assert "clip 'clip-7'" in str(info.value) and "field 'segments'" in str(info.value)


def test_segments_follow_slicing_and_resampling():
    clip = sentence_clip()
    assert clip.segments == SEGMENTS
    assert clip.replace(segments=[("a", 0, 2), {"gloss": "", "start": 2, "end": 3, "kind": "transition"}]).segments == (
        Segment("a", 0, 2), Segment("", 2, 3, "transition"))
    assert clip.slice_frames(2, 8).segments == (Segment("hello", 0, 2), Segment("", 2, 4, "transition"),
                                                Segment("thank-you", 4, 6))
    assert clip.slice_frames(0, 4).segments == (Segment("hello", 0, 4),)
    assert clip.resample(20).segments == (Segment("hello", 0, 8), Segment("", 8, 12, "transition"),
                                          Segment("thank-you", 12, 20))
    assert random_clip().slice_frames(1, 3).segments is None and random_clip().resample(5).segments is None


def test_nan_in_poses_reports_first_index():
    poses = np.zeros((6, 55, 3), np.float32)
    poses[3, 20, 1] = np.nan
    with pytest.raises(ClipValidationError, match=r"first at index \(3, 20, 1\)"):
        random_clip(frames=6).replace(poses=poses)


def test_resample_keeps_endpoints_and_duration():
    clip = random_clip(frames=17)
    out = clip.resample(60)
    assert out.num_frames == 60 and out.poses.dtype == np.float32
    assert out.fps * 60 / 60 == pytest.approx(60 / (17 / 30.0))
    ends = axis_angle_to_matrix(torch.from_numpy(out.poses[[0, -1]]))
    ref = axis_angle_to_matrix(torch.from_numpy(clip.poses[[0, -1]]))
    torch.testing.assert_close(ends, ref, atol=1e-4, rtol=0)
    assert clip.resample(17).num_frames == 17



def test_clips_from_a_feature_batch_are_the_clips_made_one_by_one():
    clips = [random_clip(frames=7, seed=seed) for seed in (1, 2, 3)]
    features = np.stack([clip.to_features() for clip in clips])
    batch = MotionClip.batch_from_features(features, glosses=["a", "b", "c"], clip_ids=["x", "y", "z"], fps=25.0,
                                           sources=[{"sample": i} for i in range(3)])
    for i, (clip, gloss, clip_id) in enumerate(zip(batch, "abc", "xyz", strict=True)):
        alone = MotionClip.from_features(features[i], gloss=gloss, clip_id=clip_id, fps=25.0, source={"sample": i})
        assert (clip.gloss, clip.clip_id, clip.fps, clip.source) == (alone.gloss, alone.clip_id, 25.0, {"sample": i})
        for name in ("poses", "expression", "betas", "trans"):
            np.testing.assert_array_equal(getattr(clip, name), getattr(alone, name))
    with pytest.raises(ValueError, match="2 glosses"):
        MotionClip.batch_from_features(features, glosses=["a", "b"], clip_ids=["x", "y", "z"], fps=25.0,
                                       sources=[{}] * 3)

def test_features_round_trip_on_upper_body_and_rest_elsewhere():
    clip = random_clip(frames=9)
    feats = clip.to_features()
    assert feats.shape == (9, FEATURE_DIM) and feats.dtype == np.float32
    back = MotionClip.from_features(feats, gloss="drink", clip_id="x", fps=30.0)
    from signavatar.body.joints import UPPER_BODY_JOINTS

    upper = list(UPPER_BODY_JOINTS)
    torch.testing.assert_close(
        axis_angle_to_matrix(torch.from_numpy(back.poses[:, upper])),
        axis_angle_to_matrix(torch.from_numpy(clip.poses[:, upper])),
        atol=1e-5,
        rtol=0,
    )
    others = [j for j in range(55) if j not in upper]
    assert np.all(back.poses[:, others] == 0)


@pytest.fixture(params=["local", "s3"])
def dataset_uri(request, tmp_path):
    if request.param == "local":
        return str(tmp_path / "ds")
    return request.getfixturevalue("s3_bucket") + "/datasets/ds"


def test_parquet_dataset_round_trip(dataset_uri):
    clips = [random_clip(f"c{i}", frames=5 + i, gloss=["a", "b"][i % 2], split=["train", "test"][i % 2], seed=i,
                         confidence=i != 3) for i in range(7)]
    clips[4] = clips[4].replace(segments=[Segment("b", 0, 3), Segment("", 3, 5, "transition"), Segment("b", 5, 9)])
    manifest = arrow_io.write_dataset(clips, dataset_uri, shard_size=3)
    assert manifest["num_clips"] == 7 and len(manifest["shards"]) == 3
    assert arrow_io.read_manifest(dataset_uri)["glosses"] == {"a": 4, "b": 3}
    back = arrow_io.read_dataset(dataset_uri)
    assert len(back) == 7
    for a, b in zip(clips, back):
        assert_same_clip(a, b)
    assert [c.clip_id for c in arrow_io.read_dataset(dataset_uri, split="test")] == ["c1", "c3", "c5"]


def test_shards_written_before_segments_existed_still_load(tmp_path):
    """A shard without the ``segments`` column (the format before sentences) reads as clips without segments."""
    import pyarrow.parquet as pq

    clips = [random_clip("old", frames=4), random_clip("older", frames=3, seed=1)]
    table = arrow_io.clips_to_table(clips)
    pq.write_table(table.drop(["segments"]), tmp_path / "old.parquet")
    back = arrow_io.read_shard(str(tmp_path / "old.parquet"))
    assert [c.segments for c in back] == [None, None]
    for a, b in zip(clips, back):
        assert_same_clip(a, b)


def test_duplicate_clip_ids_rejected(tmp_path):
    with pytest.raises(ValueError, match="duplicate clip_id 'same'"):
        arrow_io.write_dataset([random_clip("same"), random_clip("same", seed=1)], str(tmp_path / "d"))


def test_missing_dataset_is_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="no motion dataset"):
        arrow_io.read_manifest(str(tmp_path / "absent"))


def test_amass_npz_round_trip_and_layout(tmp_path):
    clip = random_clip(frames=8)
    path = str(tmp_path / "clip.npz")
    amass.save_npz(clip, path, gender="female")
    raw = np.load(path, allow_pickle=False)
    assert raw["poses"].shape == (8, 165) and raw["trans"].shape == (8, 3) and raw["betas"].shape == (10,)
    assert str(raw["gender"]) == "female" and float(raw["mocap_framerate"]) == 30.0
    assert_same_clip(clip, amass.load_npz(path))


def test_amass_npz_keeps_segments_as_a_structured_array(tmp_path):
    """The extra ``segments`` array loads without pickle; the add-on's keys are as before."""
    clip = sentence_clip()
    path = str(tmp_path / "sentence.npz")
    amass.save_npz(clip, path)
    raw = np.load(path, allow_pickle=False)
    assert raw["poses"].shape == (10, 165) and float(raw["mocap_framerate"]) == 30.0 and str(raw["gender"]) == "neutral"
    segments = raw["segments"]
    assert segments.dtype.names == ("gloss", "start", "end", "kind")
    assert segments["gloss"].tolist() == ["hello", "", "thank-you"] and segments["end"].tolist() == [4, 6, 10]
    assert_same_clip(clip, amass.load_npz(path))
    np.savez(path, poses=raw["poses"], segments=np.array([1, 2]))
    with pytest.raises(ValueError, match="'segments' must be a 1-d structured array"):
        amass.load_npz(path)


def test_plain_amass_file_loads(tmp_path):
    path = tmp_path / "plain.npz"
    np.savez(path, poses=np.zeros((4, 165)), trans=np.zeros((4, 3)), betas=np.zeros(16), gender="neutral",
             mocap_frame_rate=60.0)
    clip = amass.load_npz(str(path))
    assert clip.num_frames == 4 and clip.fps == 60.0 and clip.betas.shape == (10,)


def test_bad_npz_is_clear():
    with pytest.raises(ValueError, match="not a readable .npz"):
        amass.clip_from_npz_bytes(b"garbage", name="upload.npz")


def test_json_round_trip():
    clip = random_clip(frames=6)
    text = json.dumps(json_io.clip_to_dict(clip))
    assert_same_clip(clip, json_io.clip_from_dict(json.loads(text)))
    sentence = json_io.clip_to_dict(sentence_clip())
    assert sentence["segments"][1] == {"gloss": "", "start": 4, "end": 6, "kind": "transition"}
    assert_same_clip(sentence_clip(), json_io.clip_from_dict(json.loads(json.dumps(sentence))))
    del sentence["segments"]  # JSON written before segments existed
    assert json_io.clip_from_dict(sentence).segments is None
    for original in (clip, sentence_clip()):  # the server's encoding (orjson from the arrays): the same values
        fast = json.loads(json_io.dumps(json_io.clip_to_dict(original, numpy=True)))
        assert_same_clip(original, json_io.clip_from_dict(fast))
        plain = json.loads(json.dumps(json_io.clip_to_dict(original)))
        for name in ("poses", "expression", "betas", "trans"):
            np.testing.assert_array_equal(np.float32(fast[name]), np.float32(plain[name]))
    with pytest.raises(ClipValidationError, match="non-finite"):
        data = json_io.clip_to_dict(clip)
        data["poses"][0][0][0] = float("nan")
        json_io.clip_from_dict(data)
