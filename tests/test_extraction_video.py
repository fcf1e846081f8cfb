import numpy as np
import pytest
import torch

from signavatar.config import SyntheticCorpusConfig
from signavatar.data.synthetic import generate_corpus
from signavatar.extraction.estimators.torchscript import TorchScriptEstimator
from tests.support.synthetic_video import encode_mp4, render_skeleton_video, save_stand_in_regressor
from signavatar.extraction.video import VideoError, open_video, select_frames, square_box


def square_video(frames: int = 20, width: int = 96, height: int = 64) -> np.ndarray:
    """Black frames with a white 16 x 16 square at x 60..76, y 20..36 and a frame counter in the
    red channel of the top-left corner."""
    video = np.zeros((frames, height, width, 3), np.uint8)
    video[:, 20:36, 60:76] = 255
    video[:, :8, :8, 0] = (np.arange(frames) * 12)[:, None, None]
    return video


@pytest.fixture(scope="module")
def clip():
    return generate_corpus(SyntheticCorpusConfig(num_glosses=2, clips_per_gloss=2, seed=1))[0]


def test_select_frames_range_and_rate():
    indices, fps = select_frames(100, 30.0, start=10, end=40, target_fps=15.0)
    assert fps == 15.0 and indices[0] == 10 and indices[-1] < 40
    np.testing.assert_array_equal(np.diff(indices), 2)
    same, fps = select_frames(50, 25.0, start=0, end=None, target_fps=30.0)  # never upsampled
    assert fps == 25.0 and len(same) == 50
    with pytest.raises(VideoError) as info:
        select_frames(20, 30.0, start=25)
    assert info.value.reason == "frame_range"


def test_square_box_grows_and_centres_the_person_box():
    x0, y0, side = square_box(640, 480, [100, 50, 200, 250], margin=0.1)
    assert side == pytest.approx(240.0) and (x0 + side / 2, y0 + side / 2) == (150.0, 150.0)
    assert square_box(640, 480, None, margin=0.5) == (0.0, -80.0, 640.0)


def test_decode_in_bounded_chunks_with_rate_and_range(tmp_path, clip):
    path = str(tmp_path / "clip.mp4")
    render_skeleton_video(clip, path)
    stream = open_video(path, frame_size=48)
    assert (stream.num_frames, stream.fps, stream.width, stream.height) == (clip.num_frames, 30.0, 160, 120)
    indices, fps = select_frames(stream.num_frames, stream.fps, 5, 45, 15.0)
    chunks = list(stream.chunks(indices, chunk_frames=7))
    assert [len(c) for c in chunks] == [7, 7, 6]
    assert all(c.shape[1:] == (48, 48, 3) and c.dtype == np.uint8 for c in chunks)
    assert any(c.max() > 100 for c in chunks)  # the skeleton is drawn


def test_crop_to_person_box_and_decode_time_downscale(tmp_path):
    path = str(tmp_path / "square.mp4")
    (tmp_path / "square.mp4").write_bytes(encode_mp4(square_video(), fps=10))
    stream = open_video(path, frame_size=16, bbox=[60, 20, 76, 36], margin=0.0)
    frame = next(stream.chunks(np.arange(3), chunk_frames=3))
    assert frame.shape == (3, 16, 16, 3)
    assert frame[:, 3:13, 3:13].mean() > 200  # the crop is the white square
    whole = open_video(path, frame_size=32)  # no box: the full frame, letterboxed
    assert whole._scale < 1.0  # decord downscaled while decoding
    frames = next(whole.chunks(np.array([0, 10, 19]), chunk_frames=3))
    assert frames.shape == (3, 32, 32, 3)
    assert frames[:, :4].max() < 30 and frames[:, -4:].max() < 30  # black letterbox bands
    # Frames come back in the order asked (frame counter in the red channel, top-left corner).
    counter = open_video(path, frame_size=96).chunks(np.array([2, 5, 9]), chunk_frames=2)
    reds = [int(f[20:24, 2:4, 0].mean()) for chunk in counter for f in chunk]
    assert reds == sorted(reds) and abs(reds[1] - 60) < 15


@pytest.mark.parametrize(
    "content,reason",
    [(None, "missing"), (b"", "empty"), (b"\x00not a video" * 200, "undecodable")],
)
def test_bad_files_raise_video_errors_with_reason(tmp_path, content, reason):
    path = tmp_path / "bad.mp4"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(VideoError) as info:
        stream = open_video(str(path), frame_size=32)
        list(stream.chunks(np.arange(stream.num_frames), 8))
    assert info.value.reason == reason and "bad.mp4" in str(info.value)


def test_decode_from_s3(s3_bucket, clip):
    uri = f"{s3_bucket}/videos/clip.mp4"
    render_skeleton_video(clip, uri)
    stream = open_video(uri, frame_size=32)
    assert stream.num_frames == clip.num_frames
    assert sum(len(c) for c in stream.chunks(np.arange(stream.num_frames), 16)) == clip.num_frames


def test_torchscript_estimator_contract(tmp_path):
    path = str(tmp_path / "regressor.pt")
    save_stand_in_regressor(path, seed=3)
    estimator = TorchScriptEstimator(path, batch_size=4)
    frames = np.random.default_rng(0).integers(0, 255, (10, 32, 32, 3), dtype=np.uint8)
    out = estimator.estimate(frames)
    assert out.poses.shape == (10, 55, 3) and out.betas.shape == (10, 10) and out.trans.shape == (10, 3)
    np.testing.assert_allclose(out.confidence, 0.9)
    chunked = estimator.estimate_video([frames[:3], frames[3:]], fps=30.0)
    np.testing.assert_allclose(chunked.poses, out.poses, atol=1e-5)
    assert np.abs(out.poses[1:] - out.poses[:-1]).max() > 1e-3  # depends on the image

    class Broken(torch.nn.Module):
        def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
            return {"poses": torch.zeros(images.shape[0], 54, 3)}

    torch.jit.save(torch.jit.script(Broken()), str(tmp_path / "broken.pt"))
    with pytest.raises(ValueError, match="'poses' has shape"):
        TorchScriptEstimator(str(tmp_path / "broken.pt")).estimate(frames)


def encode_with_display_rotation(frames: np.ndarray, path, rotation: int) -> None:
    """H.264 MP4 of ``frames`` with a display matrix asking players to turn them ``rotation``
    degrees counter-clockwise (what a phone writes for a recording held sideways)."""
    import av

    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuv444p"
        stream.options = {"crf": "0"}
        stream.set_display_rotation(rotation)
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())


@pytest.mark.parametrize("rotation", [90, 270])
def test_rotation_metadata_is_honoured_frames_come_out_upright(tmp_path, rotation):
    """A portrait recording (64 wide, 96 high) stored sideways with rotation metadata: the decoded
    frames are the upright ones, for the pipeline's decoder (full size and scaled while decoding)
    and the landmarks command's alike."""
    import av
    import decord

    from signavatar.extraction.landmarks_cli import _chunks

    portrait = np.ascontiguousarray(square_video(frames=6, width=96, height=64).transpose(0, 2, 1, 3))
    stored = np.ascontiguousarray(np.rot90(portrait, k=-rotation // 90, axes=(1, 2)))  # as the sensor saw it
    path = tmp_path / f"phone_{rotation}.mp4"
    encode_with_display_rotation(stored, path, rotation)
    with av.open(str(path)) as container:  # the file carries the rotation as metadata, not in its pixels
        frame = next(container.decode(video=0))
        assert frame.rotation % 360 == rotation and (frame.height, frame.width) == stored.shape[1:3]

    for size in (96, 48):  # at full size, and scaled while decoding
        stream = open_video(str(path), frame_size=size)  # no box: the square around the whole upright frame
        assert (stream.width, stream.height) == (64, 96) and (stream._scale < 1.0) == (size < 96)
        frames = np.concatenate(list(stream.chunks(np.arange(6), 4)))
        assert frames.shape == (6, size, size, 3)
        margin = size // 6  # the 64-wide upright frame is centred in the 96-high square
        upright = frames[:, :, margin : size - margin].mean(-1) > 128
        expected = portrait[:, :: 96 // size, :: 96 // size].mean(-1) > 128
        assert (upright == expected).mean() > 0.97, size

    # The landmarks command (MediaPipe's frames) decodes at full size with decord.
    decoded = np.concatenate(list(_chunks(decord.VideoReader(str(path)), str(path), 4)))
    assert decoded.shape == portrait.shape and np.abs(decoded.astype(int) - portrait).mean() < 3.0
