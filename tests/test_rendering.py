"""Preview rendering: cameras, skeleton, avatar and SMPL-X mesh views, the hands close-up, the
rasteriser and its shading, mp4/gif files, the CLI."""

from __future__ import annotations

import io

import av
import decord
import numpy as np
import pytest
from PIL import Image

from signavatar.body.joints import LEFT_HAND, RIGHT_HAND, joint_index
from signavatar.body.skeleton import DEFAULT_REST_JOINTS
from signavatar.cli import main as signavatar_main
from signavatar.motion.amass import save_npz
from signavatar.motion.clip import MotionClip
from signavatar.rendering import Preview, rasterize, render_preview
from signavatar.rendering.camera import fit_cameras
from signavatar.rendering.preview import BACKGROUND
from signavatar.rendering.skeleton_view import FINGER_COLORS
from tests.support.smplx_files import write_synthetic_smplx

PANEL = (96, 72)


def signing_clip(frames: int = 12, fps: float = 30.0, clip_id: str = "wave", moving: bool = True) -> MotionClip:
    """Right arm lowered from the T-pose and swung forward, elbow bending; left arm hanging;
    fingers of both hands curling over time (rotations about z curl the right fingers palm-ward,
    the left ones with the opposite sign)."""
    u = np.linspace(0.0, 1.0, frames) if moving else np.zeros(frames)
    poses = np.zeros((frames, 55, 3), np.float32)
    poses[:, joint_index("right_shoulder")] = np.stack([np.zeros(frames), 0.4 + 0.6 * u, 0.9 - 0.3 * u], 1)
    poses[:, joint_index("right_elbow")] = np.stack([np.zeros(frames), 0.6 + 0.8 * u, np.zeros(frames)], 1)
    poses[:, joint_index("left_shoulder")] = (0.0, 0.0, -1.2)
    poses[:, RIGHT_HAND, 2] = (0.2 + 1.0 * u)[:, None]
    poses[:, LEFT_HAND, 2] = -(0.2 + 1.0 * u)[:, None]
    return MotionClip(
        gloss="wave",
        clip_id=clip_id,
        split="test",
        fps=fps,
        poses=poses,
        expression=np.zeros((frames, 10), np.float32),
        betas=np.zeros(10, np.float32),
        trans=np.zeros((frames, 3), np.float32),
    )


def decode_with_av(path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


# ---------------------------------------------------------------------------------------- cameras


def test_front_view_faces_the_signer_and_side_view_shows_the_profile():
    joints = np.concatenate([DEFAULT_REST_JOINTS, [[0.0, 0.6, 0.2]]])  # last: a point in front of the face
    front, side = (cams[0] for cams in fit_cameras([joints], ("front", "side"), 200, 200))
    xy, depth = front.project(joints)
    left, right = joint_index("left_wrist"), joint_index("right_wrist")
    head, pelvis = joint_index("head"), joint_index("pelvis")
    assert xy[left, 0] > xy[right, 0]  # facing the signer: their left hand on the image's right
    assert xy[head, 1] < xy[pelvis, 1]  # upright: head above pelvis (pixel y grows down)
    assert depth[-1] > depth[pelvis]  # the face side is toward the camera
    xy, depth = side.project(joints)
    assert xy[-1, 0] > xy[head, 0]  # the signer faces the image's right
    assert depth[right] > depth[left]  # the camera stands at the signer's right
    assert np.all((xy >= 0) & (xy <= 200))


def test_cameras_share_one_scale_and_centre_each_point_set():
    a = DEFAULT_REST_JOINTS
    b = DEFAULT_REST_JOINTS * 0.5 + np.array([3.0, 1.0, 0.0], np.float32)  # smaller body, far away
    cams = fit_cameras([a, b], ("front", "side"), 100, 80, margin_m=0.0, pad_px=0)
    assert len({cam.scale for row in cams for cam in row}) == 1
    for cam, points in zip(cams[0], (a, b)):
        xy, _ = cam.project(points)
        assert np.allclose((xy.min(0) + xy.max(0)) / 2, (50, 40), atol=1e-3)
    fill = max((np.ptp(cam.project(p)[0], axis=0) / (100, 80)).max() for row in cams for cam, p in zip(row, (a, b)))
    assert fill == pytest.approx(1.0, rel=1e-4)  # the limiting extent exactly fills its view


# ------------------------------------------------------------------------------------- rasteriser


def test_rasterizer_covers_pixel_centres_once_and_keeps_the_nearest_face():
    # two triangles forming the square [2, 10] x [3, 9] at depth 0, and a nearer square on top of
    # its right half; listed far-first and near-first, the near one must win either way
    xy = np.array([[2, 3], [10, 3], [10, 9], [2, 9], [6, 0], [14, 0], [14, 12], [6, 12]], np.float32)
    depth = np.array([0, 0, 0, 0, 1, 1, 1, 1], np.float32)
    far, near = [[0, 1, 2], [0, 2, 3]], [[4, 5, 6], [4, 6, 7]]
    for faces, near_ids in ((far + near, {2, 3}), (near + far, {0, 1})):
        owner, zbuffer = rasterize(xy, depth, np.array(faces), 16, 12)
        far_px = (owner >= 0) & ~np.isin(owner, list(near_ids))
        near_px = np.isin(owner, list(near_ids))
        assert far_px.sum() == 4 * 6  # columns 2..5 of rows 3..8: the far square's uncovered part
        assert near_px.sum() == 8 * 12  # columns 6..13, every row (clipped to the image)
        assert not far_px[:, 6:].any()
        assert (zbuffer[near_px] == 1).all() and (zbuffer[far_px] == 0).all() and np.isneginf(zbuffer[owner < 0]).all()


def test_rasterizer_clips_to_the_image_and_skips_degenerate_and_back_faces():
    # a triangle far larger than the image, and a nearer zero-area one (collinear corners)
    xy = np.array([[-50, -50], [200, -50], [-50, 200], [1, 1], [5, 5], [9, 9]], np.float32)
    depth = np.array([0, 0, 0, 1, 1, 1], np.float32)
    owner, _ = rasterize(xy, depth, np.array([[0, 1, 2], [3, 4, 5]]), 8, 6)
    assert owner.shape == (6, 8) and (owner == 0).all()
    # the big triangle winds clockwise on screen (y down): it faces away when only front faces count
    owner, _ = rasterize(xy, depth, np.array([[0, 1, 2]]), 8, 6, front_only=True)
    assert (owner == -1).all()
    owner, _ = rasterize(xy, depth, np.array([[0, 2, 1]]), 8, 6, front_only=True)
    assert (owner == 0).all()


def test_shading_interpolates_vertex_colours_and_outlines_depth_steps():
    from signavatar.rendering.mesh_view import interpolate, outline

    # one square of two triangles, black on the left edge and white on the right
    xy = np.array([[0, 0], [10, 0], [10, 10], [0, 10]], np.float32)
    faces = np.array([[0, 1, 2], [0, 2, 3]])
    owner, zbuffer = rasterize(xy, np.zeros(4, np.float32), faces, 10, 10)
    values = np.array([[0.0], [255.0], [255.0], [0.0]], np.float32)
    image = interpolate(owner, xy, faces, values)[..., 0]
    np.testing.assert_allclose(image[5], 25.5 * (np.arange(10) + 0.5), atol=1e-3)  # linear in x, both triangles
    # a nearer block in the middle: outlined on its border only (and the square on the image's edge)
    zbuffer[3:7, 3:7] = 0.5
    edge = outline(zbuffer, step_m=0.1)
    assert edge[3, 3:7].all() and edge[3:7, 3].all() and not edge[4:6, 4:6].any()
    assert not edge[1:9, 1:3].any()


# ----------------------------------------------------------------------------------------- videos


def test_mp4_and_gif_decode_with_the_right_frame_count_and_size(tmp_path):
    clip = signing_clip(frames=12)
    out, gif = tmp_path / "clip.mp4", tmp_path / "clip.gif"
    preview = render_preview([clip], out, size=PANEL, gif_path=gif)
    assert (preview.num_frames, preview.size) == (12, PANEL)

    reader = decord.VideoReader(str(out))
    assert len(reader) == 12
    assert reader[0].asnumpy().shape == (PANEL[1], PANEL[0], 3)
    frames = decode_with_av(out)
    assert len(frames) == 12 and frames[0].shape == (PANEL[1], PANEL[0], 3)
    with av.open(str(out)) as container:
        assert float(container.streams.video[0].average_rate) == pytest.approx(30.0)

    with Image.open(gif) as image:
        assert image.size == PANEL and image.n_frames == 12
        assert image.info["loop"] == 0


def test_frames_change_when_the_clip_moves_and_only_the_counter_changes_when_it_does_not(tmp_path):
    size = (240, 180)
    moving = Preview([signing_clip(frames=12)], size=size)
    still = Preview([signing_clip(frames=12, moving=False)], size=size)
    left, top, _, bottom = moving.view_box(0, 0)
    body = (slice(top, bottom), slice(left, moving.view_box(0, 1)[2]))  # both views, no text
    first, last = moving.frame(0), moving.frame(11)
    Image.fromarray(last).save(tmp_path / "moving_last_frame.png")
    assert np.abs(first[body].astype(int) - last[body]).mean() > 0.5
    assert np.array_equal(still.frame(0)[body], still.frame(11)[body])
    assert not np.array_equal(still.frame(0), still.frame(11))  # the frame counter
    # something is drawn in each view, on a plain background around it
    for view in range(2):
        left, top, right, bottom = moving.view_box(0, view)
        drawn = (first[top:bottom, left:right] != BACKGROUND).any(-1)
        assert 0.01 < drawn.mean() < 0.5


def test_hands_and_fingers_are_drawn_with_their_own_colours():
    clip = signing_clip(frames=2)
    preview = Preview([clip], size=(240, 180), views=("front",), body="skeleton")
    frame = preview.frame(1).astype(int)
    red, blue = frame[..., 0] - frame[..., 2], frame[..., 2] - frame[..., 0]
    right_arm, left_arm = red > 80, blue > 60  # vermillion / blue, allowing anti-aliasing and depth fading
    assert right_arm.sum() > 50 and left_arm.sum() > 50
    # facing the signer: the right arm is drawn on the image's left, the left arm on its right
    assert np.nonzero(right_arm)[1].mean() < 120 < np.nonzero(left_arm)[1].mean()
    # finger bones: pixels close to at least four of the five finger colours
    near = [(np.abs(frame - colour).sum(-1) < 40).sum() for colour in FINGER_COLORS]
    assert sum(n > 3 for n in near) >= 4


def _skin(image: np.ndarray) -> np.ndarray:
    """Pixels of the avatar's skin, lit lighter or darker (warm: red over green over blue)."""
    r, g, b = np.moveaxis(image.astype(int), -1, 0)
    return (r > 110) & (r - g > 12) & (g - b > 8) & (r - b < 120)


def test_avatar_preview_draws_the_signer_and_a_close_up_of_each_hand(tmp_path):
    """The default body is the avatar: its right sleeve (reddish) on the image's left, the left one
    (bluish) on the right; the hands view shows each hand, large, in its own half in every frame."""
    clip = signing_clip(frames=6)
    preview = Preview([clip], size=(360, 200), views=("front", "hands"))
    assert preview.mode == "avatar"
    for k in (0, 5):
        frame = preview.frame(k)
        Image.fromarray(frame).save(tmp_path / f"avatar_{k}.png")
        left, top, right, bottom = preview.view_box(0, 0)
        front = frame[top:bottom, left:right].astype(int)
        reddish = (front[..., 0] - front[..., 2] > 40) & ~_skin(front)
        bluish = front[..., 2] - front[..., 0] > 30
        assert reddish.sum() > 100 and bluish.sum() > 100 and _skin(front).sum() > 100
        assert np.nonzero(reddish)[1].mean() < np.nonzero(bluish)[1].mean()
        left, top, right, bottom = preview.view_box(0, 1)
        hands = frame[top:bottom, left:right]
        half = hands.shape[1] // 2
        for tile in (hands[:, :half], hands[:, half:]):
            assert _skin(tile).mean() > 0.1  # a hand fills a good part of its tile
    skin_front = _skin(preview.frame(0)[slice(*preview.view_box(0, 0)[1::2]), slice(*preview.view_box(0, 0)[::2])])
    assert skin_front.mean() < 0.1  # the body view shows the hands small


def test_side_by_side_panels_and_mixed_lengths_and_rates(tmp_path):
    reference = signing_clip(frames=12, clip_id="ref")
    reconstruction = signing_clip(frames=8, clip_id="rec")  # ends early: holds its last frame
    generation = signing_clip(frames=6, fps=15.0, clip_id="gen")  # same duration as the reference
    out = tmp_path / "compare.mp4"
    preview = render_preview(
        [reference, reconstruction, generation], out, labels=["reference", "reconstruction", "generation"], size=PANEL
    )
    assert preview.size == (3 * PANEL[0], PANEL[1])
    reader = decord.VideoReader(str(out))
    assert len(reader) == 12
    assert reader[5].asnumpy().shape == (PANEL[1], 3 * PANEL[0], 3)
    assert [list(i[[0, 7, 11]]) for i in preview.source_frames] == [[0, 7, 11], [0, 7, 7], [0, 4, 5]]


def test_mesh_preview_with_a_synthetic_smplx_model(tmp_path):
    model_dir = tmp_path / "smplx"
    write_synthetic_smplx(model_dir)
    clip = signing_clip(frames=3)
    out = tmp_path / "mesh.mp4"
    preview = render_preview([clip], out, body_model_path=str(model_dir), size=(64, 48))
    assert preview.mode == "smplx"  # a model path: the SMPL-X mesh, as before the avatar
    frames = decode_with_av(out)
    assert len(frames) == 3 and frames[0].shape == (48, 64, 3)
    left, top, right, bottom = preview.view_box(0, 0)
    view = preview.frame(0)[top:bottom, left:right]
    assert 0.05 < ((view != BACKGROUND).any(-1)).mean() < 1.0  # the mesh covers part of the view
    Image.fromarray(preview.frame(2)).save(tmp_path / "mesh_frame.png")


# ------------------------------------------------------------------------------------ bad input


def test_bad_arguments_are_rejected_with_clear_errors(tmp_path):
    clip = signing_clip(frames=2)
    with pytest.raises(ValueError, match="at least one clip"):
        render_preview([], tmp_path / "x.mp4")
    with pytest.raises(ValueError, match="unsupported preview format '.avi'"):
        render_preview([clip], tmp_path / "x.avi")
    with pytest.raises(ValueError, match="even"):
        Preview([clip], size=(97, 72))
    with pytest.raises(ValueError, match="unknown view"):
        Preview([clip], views=("top",))
    with pytest.raises(ValueError, match="2 labels for 1 clips"):
        Preview([clip], labels=["a", "b"])
    with pytest.raises(FileNotFoundError, match="SMPL-X model file not found"):
        Preview([clip], body_model_path=str(tmp_path / "nowhere"))
    with pytest.raises(ValueError, match="body 'smplx' needs the SMPL-X model files"):
        Preview([clip], body="smplx")
    with pytest.raises(ValueError, match="unknown body 'robot'"):
        Preview([clip], body="robot")


# ------------------------------------------------------------------------------------------- CLI


def test_cli_renders_side_by_side_mp4_and_gif(tmp_path):
    paths = []
    for clip_id in ("ref", "gen"):
        paths.append(str(tmp_path / f"{clip_id}.npz"))
        save_npz(signing_clip(frames=10, clip_id=clip_id), paths[-1])
    out = tmp_path / "out" / "compare.mp4"
    argv = ["render", *paths, "--out", str(out), "--gif", "--labels", "reference,generation", "--size", "96x72"]
    assert signavatar_main(argv) == 0
    reader = decord.VideoReader(str(out))
    assert len(reader) == 10 and reader[0].asnumpy().shape == (72, 192, 3)
    with Image.open(tmp_path / "out" / "compare.gif") as gif:
        assert gif.size == (192, 72) and gif.n_frames == 10


def test_cli_reports_missing_and_unreadable_files(tmp_path, capsys):
    good = str(tmp_path / "good.npz")
    save_npz(signing_clip(frames=2), good)
    not_npz = tmp_path / "notes.npz"
    not_npz.write_text("this is not a numpy archive")
    out = str(tmp_path / "out.mp4")
    assert signavatar_main(["render", str(tmp_path / "missing.npz"), "--out", out]) == 2
    assert "missing.npz" in capsys.readouterr().err
    assert signavatar_main(["render", good, str(not_npz), "--out", out]) == 2
    assert "notes.npz: not a readable .npz file" in capsys.readouterr().err
    assert signavatar_main(["render", good, "--out", str(tmp_path / "out.webm")]) == 2
    assert "out.webm: use a file name ending in .mp4 or .gif" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        signavatar_main(["render", good, "--out", out, "--size", "big"])
    assert not (tmp_path / "out.mp4").exists()


def test_cli_reads_clips_from_s3_and_writes_previews_there(s3_bucket):
    from signavatar import storage

    clip_uri = f"{s3_bucket}/clips/wave.npz"
    save_npz(signing_clip(frames=6), clip_uri)
    out = f"{s3_bucket}/previews/wave.mp4"
    assert signavatar_main(["render", clip_uri, "--out", out, "--gif", "--size", "96x72"]) == 0
    with av.open(io.BytesIO(storage.read_bytes(out))) as container:
        assert sum(1 for _ in container.decode(video=0)) == 6
    with Image.open(io.BytesIO(storage.read_bytes(f"{s3_bucket}/previews/wave.gif"))) as gif:
        assert gif.n_frames == 6 and gif.size == (96, 72)
