"""The browser viewer (``viewer/``, served at ``/`` by the Serve ingress): the ``/skeleton`` route
against the body layer, the browser's forward kinematics against Python's, the page without its
bundle, and the page itself in headless Chromium (the first gloss plays on load, type a gloss,
watch it play, pause, scrub, switch samples, download, sign an image, reconstruct an uploaded clip
and an uploaded video, build a sentence from the gloss chips, have the app sign it and follow its
current gloss).
The app runs with test_serving's stand-in video estimator, so video uploads are answered.

Needs ``make viewer`` (the bundle and viewer/node_modules) and, for the browser test, Debian's
``chromium`` (``/usr/bin/chromium``); each test that lacks one skips saying which."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
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
    (tmp_path / "input.json").write_text(json.dumps({
        "skeleton": skeleton,
        "clip": {"numFrames": clip.num_frames, "poses": clip.poses.ravel().tolist(), "trans": clip.trans.ravel().tolist()},
    }))
    script = (
        "import { readFileSync } from 'node:fs';"
        "import { forwardKinematics } from './src/kinematics.js';"
        "const { skeleton, clip } = JSON.parse(readFileSync(process.argv[1], 'utf8'));"
        "const { positions } = forwardKinematics(clip, skeleton);"
        "console.log(JSON.stringify(Array.from(positions)));"
    )
    result = subprocess.run([NODE, "--input-type=module", "-e", script, str(tmp_path / "input.json")], cwd=VIEWER,
                            capture_output=True, text=True, timeout=60, check=True)
    browser = np.asarray(json.loads(result.stdout)).reshape(clip.num_frames, 55, 3)
    python = forward_kinematics_axis_angle(torch.from_numpy(clip.poses), skeleton["rest_joints"],
                                           trans=torch.from_numpy(clip.trans)).numpy()
    assert np.abs(python - python[:, :1]).max() > 0.5  # a posed skeleton, not a point
    np.testing.assert_allclose(browser, python, atol=1e-4)


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
            "sentence": words, **{k: str(v) for k, v in files.items()}}
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
    # the skeleton is drawn in the previews' colours (lit, so compared loosely)
    assert _pixels_near(frame_a, RIGHT_COLOR) > 50 and _pixels_near(frame_a, LEFT_COLOR) > 50

    # paused on the scrubbed first frame; switching samples keeps the frame and changes the pose
    paused = steps["paused"]
    assert paused["before"] == paused["after"] and paused["before"].startswith("frame 1/16 ")
    assert paused["button"] == "Play" and paused["pressed"] == "2" and paused["labels"] == [f"{gloss} · sample 2/2"]
    assert _changed_pixels(tmp_path / "sample-1-frame-1.png", tmp_path / "sample-2-frame-1.png") > 100

    # the download is the /generate npz output (two samples: a zip of npz files) of what is shown
    assert steps["download"]["name"].endswith(".zip")
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
