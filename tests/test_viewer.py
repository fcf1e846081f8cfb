"""The browser viewer (``viewer/``, served at ``/`` by the Serve ingress): the ``/skeleton`` and
``/avatar.glb`` routes against the body and avatar layers, the browser's forward kinematics and
retargeting against Python's, the page without its bundle, and the page itself in headless
Chromium (the first gloss plays on load with the avatar, type a gloss, watch it play, pause,
scrub, switch samples, download it as .npz, .glb, .bvh and .pose, switch to the skeleton, frame
the hands, sign an image, reconstruct an uploaded clip and an uploaded video, build a sentence
from the gloss chips, have the app sign it and follow its current gloss, load its .glb in three.js's
GLTFLoader and play it).
The app runs with test_serving's stand-in video estimator, so video uploads are answered.

Needs ``make viewer`` (the bundle and viewer/node_modules) and, for the browser test, Debian's
``chromium`` (``/usr/bin/chromium``); each test that lacks one skips saying which."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
import requests
import torch
from PIL import Image

from signavatar.serving.viewer import INDEX_FILE, STATIC_DIR
from tests.conftest import free_port
from tests.test_serving import deploy, local_args, png_bytes

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
VIEWER = REPO / "viewer"
CHROMIUM = Path("/usr/bin/chromium")
NODE = shutil.which("node")
BROWSER_TIMEOUT_S = 240


def run_in_node(tmp_path: Path, inputs: dict, script: str):
    """Run ``script`` (ES module code, in viewer/, reading ``inputs`` from the JSON file in
    ``process.argv[1]``) in node and return the JSON it prints."""
    (tmp_path / "input.json").write_text(json.dumps(inputs))
    result = subprocess.run([NODE, "--input-type=module", "-e", script, str(tmp_path / "input.json")], cwd=VIEWER,
                            capture_output=True, text=True, timeout=60, check=True)
    return json.loads(result.stdout)


def clip_input(clip) -> dict:
    """A clip as viewer/src/clip.js holds it."""
    return {"numFrames": clip.num_frames, "poses": clip.poses.ravel().tolist(), "trans": clip.trans.ravel().tolist()}


def _needs(*what: str) -> None:
    """Skip unless the named prerequisites ('node', 'bundle', 'chromium') are there."""
    if "node" in what and (NODE is None or not (VIEWER / "node_modules" / "three").is_dir()):
        pytest.skip("node or viewer/node_modules missing: run `make viewer`")
    if "bundle" in what and not (STATIC_DIR / INDEX_FILE).is_file():
        pytest.skip(f"viewer bundle not built ({STATIC_DIR / INDEX_FILE} missing): run `make viewer`")
    if "chromium" in what and not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} missing: apt-get install -y chromium chromium-driver")


@pytest.fixture(scope="module")
def url(ray_cluster, tiny_checkpoint):
    from ray import serve

    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    deploy(local_args(tiny_checkpoint, video_estimator="tests.test_serving:fake_video_estimator"))
    yield f"http://127.0.0.1:{port}"
    serve.shutdown()


def test_skeleton_route_is_the_body_layer_and_drawn_like_the_previews(url):
    from signavatar.body.joints import JOINT_NAMES, PARENTS
    from signavatar.body.skeleton import DEFAULT_REST_JOINTS
    from signavatar.rendering.skeleton_view import BONES, LEFT_COLOR, RIGHT_COLOR

    skeleton = requests.get(f"{url}/skeleton", timeout=30).json()
    assert skeleton["joint_names"] == list(JOINT_NAMES) and skeleton["parents"] == list(PARENTS)
    np.testing.assert_allclose(skeleton["rest_joints"], DEFAULT_REST_JOINTS, atol=1e-6)
    assert [(b["parent"], b["child"]) for b in skeleton["bones"]] == [(b.parent, b.child) for b in BONES]
    colors = {tuple(int(b["color"][i:i + 2], 16) for i in (1, 3, 5)) for b in skeleton["bones"]}
    assert {LEFT_COLOR, RIGHT_COLOR} <= colors and len(colors) == 8  # arms, midline, five fingers
    assert skeleton["head"]["joint"] == JOINT_NAMES.index("head")
    assert "/skeleton" in requests.get(f"{url}/openapi.json", timeout=30).json()["paths"]


def test_browser_forward_kinematics_matches_the_body_layer(url, tmp_path):
    """viewer/src/kinematics.js (run in node) against ``forward_kinematics_axis_angle`` on a random clip."""
    _needs("node")
    from signavatar.body.skeleton import forward_kinematics_axis_angle
    from tests.support.clips import random_clip

    clip = random_clip("fk", frames=5)
    skeleton = requests.get(f"{url}/skeleton", timeout=30).json()
    positions = run_in_node(tmp_path, {"skeleton": skeleton, "clip": clip_input(clip)}, (
        "import { readFileSync } from 'node:fs';"
        "import { forwardKinematics } from './src/kinematics.js';"
        "const { skeleton, clip } = JSON.parse(readFileSync(process.argv[1], 'utf8'));"
        "const { positions } = forwardKinematics(clip, skeleton);"
        "console.log(JSON.stringify(Array.from(positions)));"
    ))
    browser = np.asarray(positions).reshape(clip.num_frames, 55, 3)
    python = forward_kinematics_axis_angle(torch.from_numpy(clip.poses), skeleton["rest_joints"],
                                           trans=torch.from_numpy(clip.trans)).numpy()
    assert np.abs(python - python[:, :1]).max() > 0.5  # a posed skeleton, not a point
    np.testing.assert_allclose(browser, python, atol=1e-4)


def avatar_document(data: bytes) -> dict:
    assert data[:4] == b"glTF"
    return json.loads(data[20:20 + int.from_bytes(data[12:16], "little")])


def test_avatar_route_serves_the_avatar_layers_glb(url):
    from signavatar.avatar.export import avatar_glb

    response = requests.get(f"{url}/avatar.glb", timeout=60)
    assert response.status_code == 200 and response.headers["content-type"] == "model/gltf-binary"
    assert response.content == avatar_glb()  # the built-in rest skeleton's avatar, built once per process
    document = avatar_document(response.content)
    assert "animations" not in document and len(document["skins"][0]["joints"]) == 104
    assert set(document["asset"]["extras"]["retarget"]) >= {"drivers", "alignment", "heads", "parents", "aim", "twist"}
    assert "/avatar.glb" in requests.get(f"{url}/openapi.json", timeout=30).json()["paths"]


def test_browser_retargeting_matches_the_avatar_layer(url, tmp_path):
    """viewer/src/retarget.js (run in node, with the parameters GET /avatar.glb carries) against
    ``signavatar.avatar.retarget`` on a signing clip: the same bone rotations and root path."""
    _needs("node")
    from signavatar.avatar.retarget import retarget
    from signavatar.body.rotations import matrix_to_quaternion
    from tests.support.clips import random_clip

    clip = random_clip("signing", frames=6)
    clip.poses *= 0.5  # large but plausible joint turns
    params = avatar_document(requests.get(f"{url}/avatar.glb", timeout=60).content)["asset"]["extras"]["retarget"]
    skeleton = requests.get(f"{url}/skeleton", timeout=30).json()
    browser = run_in_node(tmp_path, {"skeleton": skeleton, "params": params, "clip": clip_input(clip)}, (
        "import { readFileSync } from 'node:fs';"
        "import { retarget } from './src/retarget.js';"
        "const { skeleton, params, clip } = JSON.parse(readFileSync(process.argv[1], 'utf8'));"
        "const { local, root } = retarget(clip, skeleton, params);"
        "console.log(JSON.stringify({ local: Array.from(local), root: Array.from(root) }));"
    ))
    motion = retarget(clip)
    wxyz = matrix_to_quaternion(torch.from_numpy(motion.local)).numpy()
    python = np.concatenate([wxyz[..., 1:], wxyz[..., :1]], axis=-1)
    cos = np.abs((python * np.asarray(browser["local"]).reshape(python.shape)).sum(-1))
    assert np.degrees(2 * np.arccos(np.clip(cos.min(), 0, 1))) < 0.1  # the same rotation (q and -q alike)
    assert np.abs(motion.local - np.eye(3)).max() > 0.5  # a posed avatar, not the rest pose
    np.testing.assert_allclose(np.asarray(browser["root"]).reshape(-1, 3), motion.root, atol=1e-5)


def test_browser_reads_the_segments_of_a_sentence_from_npz_and_json(tmp_path):
    """viewer/src/clip.js (run in node) on a sentence written by ``signavatar.motion``: the segments
    come through both formats; bad segments are refused, naming the clip."""
    _needs("node")
    from signavatar.motion.amass import clip_to_npz_bytes
    from signavatar.motion.json_io import clip_to_dict
    from tests.test_motion import sentence_clip

    clip = sentence_clip()
    (tmp_path / "s.npz").write_bytes(clip_to_npz_bytes(clip))
    data = clip_to_dict(clip)
    (tmp_path / "s.json").write_text(json.dumps(data))
    data["segments"][2]["end"] = 99
    (tmp_path / "bad.json").write_text(json.dumps(data))
    script = (
        "import { readFileSync } from 'node:fs';"
        "import { clipFromJSON, clipFromNpz, segmentAt } from './src/clip.js';"
        "const [npz, json, bad] = process.argv.slice(1);"
        "const a = await clipFromNpz(new Uint8Array(readFileSync(npz)), 's.npz');"
        "const b = clipFromJSON(JSON.parse(readFileSync(json, 'utf8')), 's.json');"
        "let error = null;"
        "try { clipFromJSON(JSON.parse(readFileSync(bad, 'utf8')), 'bad.json'); } catch (e) { error = e.message; }"
        "console.log(JSON.stringify({ npz: a.segments, json: b.segments, at5: segmentAt(a, 5), error }));"
    )
    result = subprocess.run([NODE, "--input-type=module", "-e", script, *(str(tmp_path / n) for n in ("s.npz", "s.json",
                            "bad.json"))], cwd=VIEWER, capture_output=True, text=True, timeout=60, check=True)
    out = json.loads(result.stdout)
    expected = [s.to_dict() for s in clip.segments]
    assert out["npz"] == expected and out["json"] == expected
    assert out["at5"] == {"index": 1, "segment": expected[1]}
    assert out["error"].startswith("bad.json: segment 2")


def test_page_without_bundle_says_make_viewer(tmp_path):
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from signavatar.serving.errors import NotReady
    from signavatar.serving.viewer import add_viewer_routes

    api = FastAPI()
    add_viewer_routes(api, static_dir=tmp_path / "not-built")
    client = TestClient(api)
    page = client.get("/", headers={"accept": "text/html"})
    assert page.status_code == 503 and "make viewer" in page.text
    with pytest.raises(NotReady, match="make viewer"):  # the app answers it as 503 JSON {error, message}
        client.get("/", headers={"accept": "application/json"})
    assert client.get("/static/main.js").status_code == 404
    assert client.get("/skeleton").status_code == 200  # the API does not need the bundle


def test_page_and_bundle_are_served(url):
    _needs("bundle")
    page = requests.get(f"{url}/", timeout=30)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assets = sorted(p.name for p in STATIC_DIR.iterdir() if p.suffix in {".js", ".css"})
    assert len(assets) == 2 and all(f"static/{a}" in page.text for a in assets)
    for asset in assets:
        response = requests.get(f"{url}/static/{asset}", timeout=30)
        assert response.status_code == 200 and response.content == (STATIC_DIR / asset).read_bytes()
    assert requests.get(f"{url}/static/../viewer.py", timeout=30).status_code == 404


def _changed_pixels(a: Path, b: Path) -> int:
    pa, pb = (np.asarray(Image.open(p).convert("RGB"), dtype=np.int16) for p in (a, b))
    assert pa.shape == pb.shape
    return int((np.abs(pa - pb).max(axis=-1) > 16).sum())


def _pixels_near(path: Path, color: tuple[int, int, int], tolerance: int = 60) -> int:
    pixels = np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)
    return int((np.abs(pixels - np.array(color)).max(axis=-1) < tolerance).sum())


def _skin_pixels(path: Path) -> int:
    """Pixels of the avatar's skin (lit: lighter or darker, always warm: red over green over blue)."""
    r, g, b = np.moveaxis(np.asarray(Image.open(path).convert("RGB"), dtype=np.int16), -1, 0)
    return int(((r > 110) & (r - g > 12) & (g - b > 8) & (r - b < 120)).sum())


def test_viewer_in_headless_chromium(url, tiny_checkpoint, tmp_path):
    _needs("node", "bundle", "chromium")
    from signavatar.config import SyntheticCorpusConfig
    from signavatar.data.synthetic import generate_corpus
    from tests.support.synthetic_video import encode_mp4, skeleton_frames
    from signavatar.motion.amass import clip_to_npz_bytes
    from signavatar.motion.clip import Segment
    from signavatar.rendering.skeleton_view import LEFT_COLOR, RIGHT_COLOR
    from signavatar.motion.payload import clips_from_payload

    gloss, seed = tiny_checkpoint.glosses[1], 5
    words = [tiny_checkpoint.glosses[2], tiny_checkpoint.glosses[0], tiny_checkpoint.glosses[2]]
    signing = generate_corpus(SyntheticCorpusConfig(num_glosses=2, clips_per_gloss=2))[0]  # plausible motion
    files = {"image": tmp_path / "red.png", "clip": tmp_path / "upload.npz", "video": tmp_path / "sign.mp4"}
    files["image"].write_bytes(png_bytes())
    files["clip"].write_bytes(clip_to_npz_bytes(signing))
    files["video"].write_bytes(encode_mp4(skeleton_frames(signing), signing.fps))  # H.264, as a camera gives
    args = {"url": url, "gloss": gloss, "seed": seed, "outDir": str(tmp_path), "chromium": str(CHROMIUM),
            "sentence": words, "spell": "qx", **{k: str(v) for k, v in files.items()}}
    run = subprocess.run([NODE, "scripts/check_page.mjs", json.dumps(args)], cwd=VIEWER, capture_output=True,
                         text=True, timeout=BROWSER_TIMEOUT_S)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    log.info("viewer screenshots in %s", tmp_path)
    steps = report["steps"]
    assert report["problems"] == [], report  # no console errors, failed requests or HTTP errors

    # first visit: the known glosses as chips (and in the text box's list), the first one playing
    first = tiny_checkpoint.glosses[0]
    assert steps["start"] == {"state": "ready", "glosses": tiny_checkpoint.glosses, "options": tiny_checkpoint.glosses,
                              "labels": [f"{first} · sample 1/1"], "caption": first, "timelineShown": False}
    assert steps["generate"]["state"] == "ready" and steps["generate"]["labels"] == [f"{gloss} · sample 1/2"]
    assert steps["playing"]["samples"] == ["1", "2"]

    # frames advance: the readout moves and the picture changes
    assert steps["playing"]["first"]["frame"] != steps["playing"]["second"]["frame"]
    frame_a, frame_b = tmp_path / "frame-a.png", tmp_path / "frame-b.png"
    assert _changed_pixels(frame_a, frame_b) > 100
    # the avatar is drawn (its skin); with the switch, the skeleton in the previews' colours (lit,
    # so compared loosely); the hands close-up fills the view with the hands
    avatar, skeleton = tmp_path / "avatar.png", tmp_path / "skeleton.png"
    assert _skin_pixels(avatar) > 2000 and _changed_pixels(avatar, skeleton) > 2000
    assert _pixels_near(skeleton, RIGHT_COLOR) > 50 and _pixels_near(skeleton, LEFT_COLOR) > 50
    assert _pixels_near(avatar, RIGHT_COLOR) < 50  # no skeleton over the avatar
    assert _skin_pixels(tmp_path / "avatar-hands.png") > 3 * _skin_pixels(avatar)
    assert _changed_pixels(tmp_path / "skeleton.png", tmp_path / "skeleton-hands.png") > 2000
    assert steps["switches"] == {"skeleton": "false", "hands": "true", "labels": [f"{gloss} · sample 2/2"]}

    # paused on the scrubbed first frame; switching samples keeps the frame and changes the pose
    paused = steps["paused"]
    assert paused["before"] == paused["after"] and paused["before"].startswith("frame 1/16 ")
    assert paused["button"] == "Play" and paused["pressed"] == "2" and paused["labels"] == [f"{gloss} · sample 2/2"]
    assert _changed_pixels(tmp_path / "sample-1-frame-1.png", tmp_path / "sample-2-frame-1.png") > 100

    # the downloads are the /generate outputs of what is shown (two samples: zips of one file each)
    assert steps["download"]["name"].endswith(".zip")
    for fmt in ("glb", "bvh", "pose"):
        assert steps["download"][fmt]["name"] == f"signavatar-{fmt}.zip"
        with zipfile.ZipFile(steps["download"][fmt]["path"]) as archive:
            assert archive.namelist() == [f"sample-1.{fmt}", f"sample-2.{fmt}"]
    downloaded = clips_from_payload(Path(steps["download"]["path"]).read_bytes(), "application/zip")
    shown = requests.post(f"{url}/generate", json={"text": gloss, "num_samples": 2, "seed": seed}, timeout=60)
    np.testing.assert_allclose(np.stack([c.poses for c in downloaded]),
                               np.stack([np.asarray(c["poses"]) for c in shown.json()["clips"]]), atol=1e-5)

    # an image signed (multipart /generate)
    assert steps["image"]["state"] == "ready" and steps["image"]["labels"] == ["image red.png · sample 1/2"]

    # an uploaded clip and its reconstruction side by side; a video beside its reconstruction
    clip, video = steps["clip"], steps["video"]
    assert clip["state"] == "ready" and not clip["videoShown"], clip
    assert clip["labels"] == ["input · upload.npz", f"reconstruction · {gloss}"]
    assert video["state"] == "ready" and video["videoShown"], video
    assert video["labels"] == [f"reconstruction · {gloss}"] and video["videoWidth"] == 160

    # a sentence built from the chips: the timeline holds its signs and transitions, and the
    # caption under the avatar names the gloss of the frame shown, while playing and when jumping
    shown = steps["sentence"]
    assert shown["built"] == words and shown["state"] == "ready", shown
    assert shown["labels"] == [f"{' '.join(words)} · sample 1/1"]
    answer = requests.post(f"{url}/generate", json={"glosses": words, "seed": seed}, timeout=60)
    segments = [Segment.from_value(s) for s in answer.json()["clips"][0]["segments"]]  # what the page was sent

    def expected_caption(frame: int) -> str:
        index = next(i for i, s in enumerate(segments) if s.start <= frame < s.end)
        if segments[index].kind == "sign":
            return segments[index].gloss
        return "→ " + next(s.gloss for s in segments[index:] if s.kind == "sign")

    assert [(b["kind"], b["start"], b["end"]) for b in shown["blocks"]] == [(s.kind, s.start, s.end) for s in segments]
    assert [b["text"] for b in shown["blocks"] if b["kind"] == "sign"] == words
    for block in shown["blocks"]:
        assert block["frame"] == block["start"] and block["current"] == "true", block
        assert block["caption"] == expected_caption(block["start"]), block
    playing = shown["playing"]
    assert len({p["frame"] for p in playing}) > 3  # it plays
    assert all(p["caption"] == expected_caption(p["frame"]) for p in playing), playing

    # the sentence's .glb in three.js's GLTFLoader: one skinned mesh of 104 bones, its animation
    # (every bone's rotation and the root's translation) as long as the sentence, and played
    loaded = steps["gltfLoader"]
    fps = answer.json()["clips"][0]["fps"]
    assert loaded["name"] == "signavatar.glb" and "CC0" in loaded["copyright"]
    assert (loaded["skinned"], loaded["bones"], loaded["animations"], loaded["tracks"]) == (1, 104, 1, 105)
    assert loaded["duration"] == pytest.approx((segments[-1].end - 1) / fps, abs=1e-4)
    # played by an AnimationMixer, the bones take the file's own key frames (q or -q)
    glb = (tmp_path / "sentence.glb").read_bytes()
    document = avatar_document(glb)
    blob = glb[28 + int.from_bytes(glb[12:16], "little"):]

    def keyframes(bone: int) -> np.ndarray:
        accessor = document["accessors"][document["animations"][0]["samplers"][bone]["output"]]
        view = document["bufferViews"][accessor["bufferView"]]
        return np.frombuffer(blob, np.float32, accessor["count"] * 4, view["byteOffset"]).reshape(-1, 4)

    for frame, played in ((0, loaded["first"]), (loaded["frame"], loaded["middle"])):
        played = np.asarray(played).reshape(-1, 4)
        stored = np.stack([keyframes(b)[frame] for b in range(len(played))])
        assert np.abs(np.abs((played * stored).sum(-1)) - 1).max() < 1e-5
    assert np.abs(np.asarray(loaded["first"]) - loaded["middle"]).max() > 1e-3  # and they move

    # Spell: the word's letters asked for as a fingerspelled sentence; this model knows no letter,
    # so the server's 422 naming them is what the page shows (the sentence is still on stage)
    spell = steps["spell"]
    assert spell["state"] == "error" and "'q'" in spell["status"] and "'x'" in spell["status"], spell
