import json

import numpy as np
import pytest
import torch

from signavatar.body.rotations import axis_angle_to_matrix
from signavatar.motion import amass, arrow_io, json_io
from signavatar.motion.clip import FEATURE_DIM, ClipValidationError, MotionClip
from tests.support.clips import random_clip


def assert_same_clip(a: MotionClip, b: MotionClip) -> None:
    assert (a.gloss, a.clip_id, a.split, a.source) == (b.gloss, b.clip_id, b.split, b.source)
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
    manifest = arrow_io.write_dataset(clips, dataset_uri, shard_size=3)
    assert manifest["num_clips"] == 7 and len(manifest["shards"]) == 3
    assert arrow_io.read_manifest(dataset_uri)["glosses"] == {"a": 4, "b": 3}
    back = arrow_io.read_dataset(dataset_uri)
    assert len(back) == 7
    for a, b in zip(clips, back):
        assert_same_clip(a, b)
    assert [c.clip_id for c in arrow_io.read_dataset(dataset_uri, split="test")] == ["c1", "c3", "c5"]


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
    with pytest.raises(ClipValidationError, match="non-finite"):
        data = json_io.clip_to_dict(clip)
        data["poses"][0][0][0] = float("nan")
        json_io.clip_from_dict(data)
