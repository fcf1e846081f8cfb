"""The Serve application over real HTTP on 127.0.0.1: every route, every class of bad input (the
server answering afterwards), determinism, batching, the video-estimator seam, the serve configs,
the Python client and the CLI commands.

Module order matters for cost only: the app is deployed once (``server``) and redeployed once
with a test video estimator at the end (``test_video_estimator_seam_and_model_errors``)."""

from __future__ import annotations

import importlib
import io
import json
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import av
import numpy as np
import pytest
import requests
import yaml
from PIL import Image

from signavatar.motion.amass import clip_from_npz_bytes, clip_to_npz_bytes, load_npz
from signavatar.motion.clip import MotionClip
from signavatar.motion.json_io import clip_from_dict, clip_to_dict
from tests.conftest import free_port
from tests.support.clips import random_clip

REPO = Path(__file__).resolve().parents[1]
APP_NAME = "signavatar"
UPLOAD_LIMIT = 300_000  # bytes; small so the oversized case is cheap


def fake_video_estimator(config):
    """Test estimator for the ``video_estimator`` seam: one random clip frame per decoded video
    frame. Files named ``crash*`` make it fail (a server error), ``nobody*`` are unusable videos."""

    def estimate(video: bytes, filename: str) -> MotionClip:
        if filename.startswith("crash"):
            raise RuntimeError("estimator crashed")
        if filename.startswith("nobody"):
            raise ValueError("no signer found in the video")
        with av.open(io.BytesIO(video)) as container:
            frames = sum(1 for _ in container.decode(video=0))
        return random_clip(f"video-{filename}", frames=frames, gloss="")

    return estimate


def mp4_bytes(frames: int = 6, size: int = 32) -> bytes:
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(np.full((size, size, 3), 30 * i, np.uint8), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return buffer.getvalue()


def png_bytes(color=(200, 30, 30), size=(40, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return buffer.getvalue()


def local_args(tiny, **extra) -> dict:
    """serve_configs/local.yaml's app args, pointed at the tiny checkpoint."""
    config = yaml.safe_load((REPO / "serve_configs" / "local.yaml").read_text())
    args = dict(config["applications"][0]["args"])
    args.update(checkpoint=tiny.checkpoint, clip=tiny.clip.model_dump(), max_upload_bytes=UPLOAD_LIMIT,
                batch_wait_timeout_s=0.05, video_estimator=None)  # video tests name their own estimator
    args.update(extra)
    return args


def deploy(args: dict) -> None:
    from ray import serve

    from signavatar.serving.app import build_app

    serve.run(build_app(args), name=APP_NAME, route_prefix="/")


@pytest.fixture(scope="module")
def url(ray_cluster, tiny_checkpoint):
    from ray import serve

    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    deploy(local_args(tiny_checkpoint))
    yield f"http://127.0.0.1:{port}"
    serve.shutdown()


def model_stats() -> dict:
    from ray import serve

    from signavatar.serving.app import INGRESS_DEPLOYMENT

    return serve.get_deployment_handle(INGRESS_DEPLOYMENT, app_name=APP_NAME).model_stats.remote().result()


def generate(url: str, **body) -> requests.Response:
    return requests.post(f"{url}/generate", json=body, timeout=60)


def poses(response: requests.Response) -> np.ndarray:
    return np.stack([np.asarray(c["poses"]) for c in response.json()["clips"]])


def assert_error(response: requests.Response, status: int, *named: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "message", "request_id"}
    assert body["request_id"] == response.headers["x-request-id"]
    for word in named:
        assert word in body["message"], (word, body["message"])
    return body


def assert_serving(url: str, gloss: str) -> None:
    assert requests.get(f"{url}/healthz", timeout=30).json() == {"status": "ok"}
    assert generate(url, text=gloss).status_code == 200


# --- routes -------------------------------------------------------------------------------------

def test_health_ready_glosses_and_docs(url, tiny_checkpoint):
    assert requests.get(f"{url}/healthz", timeout=30).json() == {"status": "ok"}
    ready = requests.get(f"{url}/readyz", timeout=30).json()
    assert ready == {"ready": True, "device": "cpu", "glosses": 3, "video_estimator": None}
    glosses = requests.get(f"{url}/glosses", timeout=30).json()
    assert glosses["glosses"] == tiny_checkpoint.glosses
    assert glosses["embedding_dim"] == 32 and glosses["num_frames"] == 16
    schema = requests.get(f"{url}/openapi.json", timeout=30).json()
    assert {"/generate", "/reconstruct", "/glosses", "/healthz", "/readyz"} <= set(schema["paths"])
    body_types = set(schema["paths"]["/generate"]["post"]["requestBody"]["content"])
    assert body_types == {"application/json", "multipart/form-data"}
    assert requests.get(f"{url}/docs", timeout=30).status_code == 200


def test_generate_text_is_deterministic_per_seed(url, tiny_checkpoint):
    gloss = tiny_checkpoint.glosses[1]
    first = generate(url, text=gloss, num_samples=2, seed=7)
    assert first.status_code == 200, first.text
    clips = [clip_from_dict(c) for c in first.json()["clips"]]
    assert [c.gloss for c in clips] == [gloss, gloss] and clips[0].poses.shape == (16, 55, 3)
    assert np.array_equal(poses(first), poses(generate(url, text=gloss, num_samples=2, seed=7)))
    assert not np.allclose(poses(first), poses(generate(url, text=gloss, num_samples=2, seed=8)))
    assert not np.allclose(poses(first)[0], poses(first)[1])  # samples of one request differ
    longer = generate(url, text=gloss, num_frames=24)
    assert longer.json()["clips"][0]["num_frames"] == 24
    unseen = generate(url, text="a cup of tea", seed=1)  # not a gloss: goes through the tiny CLIP
    assert unseen.status_code == 200 and unseen.json()["clips"][0]["gloss"] == "a cup of tea"


def test_generate_temperature_per_request(url, tiny_checkpoint):
    """``temperature``: z ~ N(0, T^2 I) for this request; omitted, the checkpoint's (and the clip's
    source says which); 0 is the mean motion, the same for every seed and sample."""
    gloss = tiny_checkpoint.glosses[0]
    default = generate(url, text=gloss, num_samples=2, seed=3)
    saved_t = default.json()["clips"][0]["source"]["temperature"]
    assert saved_t == tiny_checkpoint.config.model.sampling_temperature
    assert np.array_equal(poses(default), poses(generate(url, text=gloss, num_samples=2, seed=3, temperature=saved_t)))
    hotter = generate(url, text=gloss, num_samples=2, seed=3, temperature=2 * saved_t)
    assert hotter.json()["clips"][0]["source"]["temperature"] == 2 * saved_t
    assert not np.allclose(poses(hotter), poses(default))
    mean = poses(generate(url, text=gloss, num_samples=2, seed=3, temperature=0))
    assert np.allclose(mean[0], mean[1], atol=1e-6)
    assert np.allclose(mean, poses(generate(url, text=gloss, num_samples=2, seed=99, temperature=0)), atol=1e-6)


def test_generate_npz_zip_and_image(url, tiny_checkpoint):
    gloss = tiny_checkpoint.glosses[0]
    single = generate(url, text=gloss, seed=3, format="npz", gender="female")
    assert single.headers["content-type"] == "application/x-npz"
    with np.load(io.BytesIO(single.content)) as npz:
        assert npz["poses"].shape == (16, 165) and str(npz["gender"]) == "female"
    as_json = generate(url, text=gloss, seed=3).json()["clips"][0]
    np.testing.assert_allclose(clip_from_npz_bytes(single.content).poses, as_json["poses"], atol=1e-6)

    form = {"seed": "5", "num_samples": "3", "format": "npz"}
    image = requests.post(f"{url}/generate", files={"image": ("red.png", png_bytes(), "image/png")}, data=form,
                          timeout=60)
    assert image.status_code == 200, image.text
    assert image.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(image.content)) as archive:
        names = archive.namelist()
        assert len(names) == 3
        again = requests.post(f"{url}/generate", files={"image": ("red.png", png_bytes(), "image/png")}, data=form,
                              timeout=60)
        with zipfile.ZipFile(io.BytesIO(again.content)) as second:
            assert all(clip_from_npz_bytes(archive.read(n)).poses.tobytes()
                       == clip_from_npz_bytes(second.read(n)).poses.tobytes() for n in names)


def glb_document(data: bytes) -> dict:
    """The JSON chunk of a .glb."""
    assert data[:4] == b"glTF"
    length = int.from_bytes(data[12:16], "little")
    return json.loads(data[20:20 + length])


def test_generate_avatar_formats_as_json_multipart_and_sentences(url, tiny_checkpoint, tmp_path):
    """format=glb|bvh|pose: the avatar's files of the clips the JSON answer holds, under server-chosen
    names with safe content types; several samples as a zip; sentences too."""
    from bvh import Bvh

    from signavatar.extraction.pose_files import read_pose_file

    a, b, _ = tiny_checkpoint.glosses
    shown = generate(url, text=a, seed=3).json()["clips"][0]
    glb = generate(url, text=a, seed=3, format="glb")
    assert glb.status_code == 200, glb.text
    assert glb.headers["content-type"] == "model/gltf-binary"
    assert glb.headers["content-disposition"] == 'attachment; filename="signavatar.glb"'
    assert glb.headers["x-content-type-options"] == "nosniff"
    document = glb_document(glb.content)
    assert document["asset"]["extras"]["clip"]["frames"] == shown["num_frames"] == 16
    assert len(document["animations"][0]["channels"]) == len(document["skins"][0]["joints"]) + 1

    bvh = generate(url, text=a, seed=3, format="bvh")
    assert bvh.headers["content-type"] == "application/octet-stream"
    assert bvh.headers["content-disposition"] == 'attachment; filename="signavatar.bvh"'
    parsed = Bvh(bvh.text)
    assert parsed.nframes == 16 and parsed.frame_time == pytest.approx(1 / shown["fps"], abs=1e-6)
    # the root's position channels: the rest pelvis plus the clip's translation
    rest_pelvis = requests.get(f"{url}/skeleton", timeout=30).json()["rest_joints"][0]
    np.testing.assert_allclose([[float(v) for v in f[:3]] for f in parsed.frames],
                               np.asarray(shown["trans"]) + rest_pelvis, atol=2e-6)

    pose = generate(url, text=a, seed=3, format="pose")
    assert pose.headers["content-disposition"] == 'attachment; filename="signavatar.pose"'
    (tmp_path / "a.pose").write_bytes(pose.content)
    assert read_pose_file(str(tmp_path / "a.pose")).num_frames == 16

    # an image, two samples: a zip of one file per sample, named by the server
    form = {"seed": "5", "num_samples": "2", "format": "glb"}
    image = requests.post(f"{url}/generate", files={"image": ("a\"b.png", png_bytes(), "image/png")}, data=form,
                          timeout=120)
    assert image.status_code == 200, image.text
    assert image.headers["content-type"] == "application/zip"
    assert image.headers["content-disposition"] == 'attachment; filename="signavatar-glb.zip"'
    with zipfile.ZipFile(io.BytesIO(image.content)) as archive:
        assert archive.namelist() == ["sample-1.glb", "sample-2.glb"]
        assert all("animations" in glb_document(archive.read(n)) for n in archive.namelist())

    # a sentence, and a reconstruction
    sentence = generate(url, glosses=[a, b], seed=3)
    frames = sentence.json()["clips"][0]["num_frames"]
    assert Bvh(generate(url, glosses=[a, b], seed=3, format="bvh").text).nframes == frames
    extras = glb_document(generate(url, glosses=[a, b], seed=3, format="glb").content)["asset"]["extras"]["clip"]
    assert [s["kind"] for s in extras["segments"]] == ["sign", "transition", "sign"]
    reconstruct = {"files": {"file": ("c.npz", clip_to_npz_bytes(random_clip(frames=6)))}, "timeout": 60}
    as_json = requests.post(f"{url}/reconstruct", data={"gloss": a}, **reconstruct).json()["clip"]
    upload = requests.post(f"{url}/reconstruct", data={"gloss": a, "format": "bvh"}, **reconstruct)
    assert upload.status_code == 200, upload.text
    assert Bvh(upload.text).nframes == as_json["num_frames"]


def test_reconstruct_npz_and_json_clips(url, tiny_checkpoint):
    gloss = tiny_checkpoint.glosses[2]
    clip = random_clip("upload", frames=30, gloss=gloss)
    form = {"gloss": gloss, "seed": "4"}
    as_npz = requests.post(f"{url}/reconstruct", files={"file": ("up.npz", clip_to_npz_bytes(clip))}, data=form,
                           timeout=60)
    assert as_npz.status_code == 200, as_npz.text
    rec = clip_from_dict(as_npz.json()["clip"])
    assert rec.gloss == gloss and rec.clip_id == "rec-upload"
    assert rec.num_frames / rec.fps == pytest.approx(clip.num_frames / clip.fps)  # duration kept
    as_json = requests.post(f"{url}/reconstruct", data=form, timeout=60,
                            files={"file": ("up.json", json.dumps(clip_to_dict(clip)), "application/json")})
    np.testing.assert_allclose(as_json.json()["clip"]["poses"], rec.poses, atol=1e-5)  # same seed, same result


def test_video_upload_without_estimator_is_501(url, tiny_checkpoint):
    response = requests.post(f"{url}/reconstruct", files={"file": ("sign.mp4", mp4_bytes(), "video/mp4")},
                             data={"gloss": "drink"}, timeout=60)
    assert_error(response, 501, "video_estimator")


# --- bad input ----------------------------------------------------------------------------------

def _nan_clip_npz() -> bytes:
    clip = random_clip("bad", frames=8)
    buffer = io.BytesIO()
    arrays = {"poses": clip.poses.reshape(8, 165).copy(), "trans": clip.trans, "betas": clip.betas}
    arrays["poses"][3, 7] = np.nan
    np.savez(buffer, **arrays)
    return buffer.getvalue()


BAD_REQUESTS = {
    "empty text": (lambda u: generate(u, text="   "), 422, ["'text'", "empty"]),
    "over-long text": (lambda u: generate(u, text="x" * 301), 422, ["'text'", "301"]),
    "missing text": (lambda u: generate(u, seed=1), 422, ["text"]),
    "unknown field": (lambda u: generate(u, text="drink", guidance=2), 422, ["guidance"]),
    "temperature too high": (lambda u: generate(u, text="drink", temperature=5.5), 422, ["temperature", "5"]),
    "negative temperature": (lambda u: generate(u, text="drink", temperature=-1), 422, ["temperature"]),
    "temperature not a number": (lambda u: requests.post(f"{u}/generate", files={"image": ("a.png", png_bytes())},
                                                         data={"temperature": "nan"}, timeout=30), 422, ["temperature"]),
    "num_samples too large": (lambda u: generate(u, text="drink", num_samples=17), 422, ["num_samples", "1..16"]),
    "num_samples zero": (lambda u: generate(u, text="drink", num_samples=0), 422, ["num_samples"]),
    "num_frames too large": (lambda u: generate(u, text="drink", num_frames=1201), 422, ["num_frames", "1200"]),
    "unknown format": (lambda u: generate(u, text="drink", format="fbx"), 422, ["format"]),
    "malformed json": (lambda u: requests.post(f"{u}/generate", data=b"{", timeout=30,
                                               headers={"content-type": "application/json"}), 400, ["JSON"]),
    "json not an object": (lambda u: requests.post(f"{u}/generate", json=["drink"], timeout=30), 422, ["dictionary"]),
    "unknown content type": (lambda u: requests.post(f"{u}/generate", data=b"drink", timeout=30,
                                                     headers={"content-type": "text/plain"}), 415, ["text/plain"]),
    "oversized upload": (lambda u: requests.post(f"{u}/generate", timeout=30,
                                                 files={"image": ("big.png", b"\0" * (UPLOAD_LIMIT + 1), "image/png")}),
                         413, [str(UPLOAD_LIMIT)]),
    "undecodable image": (lambda u: requests.post(f"{u}/generate", files={"image": ("a.png", b"no png", "image/png")},
                                                  timeout=30), 400, ["'a.png'"]),
    "image of wrong type": (lambda u: requests.post(f"{u}/generate", files={"image": ("a.gif", b"GIF89a", "image/gif")},
                                                    timeout=30), 415, ["image/gif"]),
    "multipart without image": (lambda u: requests.post(f"{u}/generate", files={"other": ("a.png", png_bytes())},
                                                        timeout=30), 422, ["other"]),
    "undecodable video": (lambda u: requests.post(f"{u}/reconstruct", data={"gloss": "drink"}, timeout=30,
                                                  files={"file": ("v.mp4", b"\0\1\2 not a video", "video/mp4")}),
                          400, ["'v.mp4'"]),
    "NaN in clip": (lambda u: requests.post(f"{u}/reconstruct", files={"file": ("nan.npz", _nan_clip_npz())},
                                            data={"gloss": "drink"}, timeout=30), 422, ["nan.npz", "NaN"]),
    "clip not an npz": (lambda u: requests.post(f"{u}/reconstruct", files={"file": ("c.npz", b"garbage")},
                                                data={"gloss": "drink"}, timeout=30), 400, ["'c.npz'"]),
    "clip json with bad shape": (lambda u: requests.post(f"{u}/reconstruct", data={"gloss": "drink"}, timeout=30,
                                                         files={"file": ("c.json", json.dumps({"poses": [[1, 2]]}))}),
                                 422, ["poses"]),
    "reconstruct without gloss": (lambda u: requests.post(f"{u}/reconstruct", timeout=30,
                                                          files={"file": ("c.npz", clip_to_npz_bytes(random_clip()))}),
                                  422, ["gloss"]),
    "reconstruct as json": (lambda u: requests.post(f"{u}/reconstruct", json={"gloss": "drink"}, timeout=30),
                            415, ["multipart/form-data"]),
}


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_bad_input_is_a_4xx_naming_the_problem_and_server_keeps_serving(url, tiny_checkpoint, case):
    send, status, named = BAD_REQUESTS[case]
    assert_error(send(url), status, *named)
    assert_serving(url, tiny_checkpoint.glosses[0])


# --- batching -----------------------------------------------------------------------------------

def test_concurrent_requests_share_model_calls_without_changing_results(url, tiny_checkpoint):
    gloss, n = tiny_checkpoint.glosses[0], 8
    sequential = [poses(generate(url, text=gloss, seed=s)) for s in range(n)]
    before = model_stats()
    with ThreadPoolExecutor(n) as pool:
        concurrent = list(pool.map(lambda s: generate(url, text=gloss, seed=s), range(n)))
    after = model_stats()
    requests_seen = after["generate_requests"] - before["generate_requests"]
    batches = after["generate_batches"] - before["generate_batches"]
    assert requests_seen == n
    assert batches < n and after["max_batch"] > 1  # N concurrent requests -> fewer than N model calls
    for s, response in enumerate(concurrent):
        # a batch never changes a result (beyond float rounding of a larger matmul)
        np.testing.assert_allclose(poses(response), sequential[s], atol=1e-5, rtol=0)


def test_batcher_starts_at_once_when_idle_and_batches_what_queued_meanwhile():
    """The replica's batching, without Ray: a lone request is not held for a batch window; requests
    arriving while the model is busy share its next call (up to the batch size), in order; a
    failed call fails each request of its batch, and the next batch runs."""
    import asyncio

    from signavatar.serving.batching import Batcher

    async def scenario() -> None:
        calls: list[list[int]] = []
        busy = asyncio.Event()

        async def run(jobs: list[int]) -> list[int]:
            calls.append(list(jobs))
            if len(calls) == 1:
                await busy.wait()  # the first call holds the model while others arrive
            if 13 in jobs:
                raise ValueError("bad batch")
            return [10 * job for job in jobs]

        batcher = Batcher(run, max_batch_size=3)
        first = asyncio.create_task(batcher.submit(1))
        for _ in range(3):  # the request's task, then the batcher's
            await asyncio.sleep(0)
        assert calls == [[1]]  # started at once, alone
        rest = [asyncio.create_task(batcher.submit(job)) for job in (2, 3, 4, 5)]
        await asyncio.sleep(0)
        busy.set()
        results = await asyncio.gather(first, *rest)
        assert calls == [[1], [2, 3, 4], [5]]
        assert [result for result, _ in results] == [10, 20, 30, 40, 50]
        assert [spent.batch for _, spent in results] == [1, 3, 3, 3, 1]
        failed = await asyncio.gather(batcher.submit(13), batcher.submit(6), return_exceptions=True)
        assert [type(r) for r in failed] == [ValueError, ValueError]  # one call: 13 and 6 shared it
        assert (await batcher.submit(7))[0] == 70
        assert batcher.stats == {"batches": 5, "requests": 8, "max_batch": 3}

    asyncio.run(scenario())


# --- client and CLI -----------------------------------------------------------------------------

def test_client_and_cli(url, tiny_checkpoint, tmp_path, capsys):
    from signavatar.cli import main
    from signavatar.client import ServiceRequestError, SignAvatarClient
    from signavatar.motion.payload import clips_from_payload

    client = SignAvatarClient(url)
    assert client.health() and client.ready()["ready"] and client.glosses() == tiny_checkpoint.glosses
    gloss = tiny_checkpoint.glosses[1]
    clips = client.generate(gloss, num_samples=2, seed=11)
    reference = generate(url, text=gloss, num_samples=2, seed=11)
    np.testing.assert_allclose(np.stack([c.poses for c in clips]), poses(reference), atol=1e-6)
    from_json = clips_from_payload(reference.content, reference.headers["content-type"])
    assert [c.clip_id for c in from_json] == [c.clip_id for c in clips] == [f"gen-{gloss}-s11-0", f"gen-{gloss}-s11-1"]
    assert len(client.generate(image=png_bytes(), seed=2)) == 1
    with pytest.raises(ServiceRequestError) as error:
        client.generate(gloss, num_samples=99)
    assert error.value.status == 422 and error.value.request_id

    out = tmp_path / "drink.npz"
    assert main(["generate", gloss, "--out", str(out), "--url", url, "--seed", "11", "--num-samples", "2"]) == 0
    written = json.loads(capsys.readouterr().out)["written"]
    assert written == [str(tmp_path / "drink_0.npz"), str(tmp_path / "drink_1.npz")]
    np.testing.assert_array_equal(load_npz(written[0]).poses, clips[0].poses)

    rec = tmp_path / "rec.json"
    assert main(["reconstruct", written[0], "--gloss", gloss, "--out", str(rec), "--url", url]) == 0
    assert clip_from_dict(json.loads(rec.read_text())).gloss == gloss
    assert main(["generate", gloss, "--out", str(out), "--url", url, "--num-samples", "0"]) == 1
    assert "num_samples" in capsys.readouterr().err
    hot = tmp_path / "hot.json"
    assert main(["generate", gloss, "--out", str(hot), "--url", url, "--seed", "11", "--temperature", "2.5"]) == 0
    assert clip_from_dict(json.loads(hot.read_text())).source["temperature"] == 2.5
    assert client.generate(gloss, seed=11, temperature=2.5)[0].source["temperature"] == 2.5


# --- sentences ----------------------------------------------------------------------------------

def test_sentence_route_one_clip_with_segments_and_its_errors(url, tiny_checkpoint):
    from signavatar.model.pipeline import SignAvatar
    from signavatar.model.sentence import generate_sentences

    a, b, c = tiny_checkpoint.glosses
    words = [a, b, a]
    response = generate(url, glosses=words, seed=3)
    assert response.status_code == 200, response.text
    [clip] = response.json()["clips"]
    segments = clip["segments"]
    assert [s["kind"] for s in segments] == ["sign", "transition", "sign", "transition", "sign"]
    assert [s["gloss"] for s in segments if s["kind"] == "sign"] == words and clip["gloss"] == " ".join(words)
    assert segments[0]["start"] == 0 and segments[-1]["end"] == clip["num_frames"] == len(clip["poses"])
    assert all(x["end"] == y["start"] for x, y in zip(segments, segments[1:]))
    # the library's sentence (one decoder pass, the checkpoint's sentence and qc settings)
    avatar = SignAvatar.from_checkpoint(tiny_checkpoint.checkpoint, device="cpu")
    [expected] = generate_sentences(avatar, words, seed=3, cfg=avatar.config.sentence, qc=avatar.config.qc)
    assert segments == [s.to_dict() for s in expected.segments]
    np.testing.assert_allclose(clip["poses"], expected.poses, atol=1e-5)
    # the same sentence as text, and as npz with its segments array
    as_text = generate(url, text=f" {a}  {b} {a}", sentence=True, seed=3)
    np.testing.assert_allclose(poses(as_text), poses(response), atol=1e-6)
    npz = generate(url, glosses=words, seed=3, format="npz")
    assert [s.to_dict() for s in clip_from_npz_bytes(npz.content).segments] == segments
    # options: a request default, overridden per gloss; two samples, two sentences
    held = generate(url, glosses=[{"gloss": a, "hold_frames": 5}, b], transition_frames=4, speed=2.0,
                    num_samples=2, seed=3)
    assert held.status_code == 200, held.text
    for sample in held.json()["clips"]:
        first, transition, second = sample["segments"]
        assert transition["end"] - transition["start"] == 4 and first["end"] - first["start"] >= 5
    plain = generate(url, glosses=[a, b], transition_frames=4, speed=2.0, seed=3).json()["clips"][0]["segments"]
    assert held.json()["clips"][0]["segments"][0]["end"] == plain[0]["end"] + 5
    # glosses outside the vocabulary: refused naming them, unless CLIP is asked for
    body = assert_error(generate(url, glosses=[a, "zebra", "qq", "zebra"]), 422, "'zebra'", "'qq'", "allow_unknown")
    assert body["error"] == "invalid_input"
    clip_path = generate(url, glosses=[a, "zebra"], allow_unknown=True)
    assert [s["gloss"] for s in clip_path.json()["clips"][0]["segments"] if s["kind"] == "sign"] == [a, "zebra"]
    # longer than the server's frame limit (1200): 12 signs, each held 120 frames
    assert_error(generate(url, glosses=[a, b, c] * 4, hold_frames=120), 413, "max_num_frames", "1200")
    assert_error(generate(url, glosses=[a], speed=9), 422, "speed")
    assert_error(generate(url, glosses=[a, {"gloss": b, "hold_frames": -1}]), 422, "hold_frames")
    assert_error(generate(url, glosses=[a] * 33), 422, "glosses", "32")
    assert_error(generate(url, text=" ".join([a] * 33), sentence=True), 422, "text", "32")
    assert_error(generate(url, glosses=[a, "b\x00"]), 422, "glosses[1]", "U+0000")
    assert_error(generate(url, text=a, speed=2.0), 422, "speed", "sentence")
    assert_error(generate(url, text=a, glosses=[a]), 422, "exactly one")
    # a fingerspelled word: a sentence of its letters (the tiny vocabulary has none: through CLIP when
    # allowed), joined by the short letter transition unless the request sets one
    from signavatar.model.sentence import FINGERSPELL_TRANSITION_FRAMES

    spelled = generate(url, fingerspell="QxQ", allow_unknown=True, seed=1)
    assert spelled.status_code == 200, spelled.text
    segments = spelled.json()["clips"][0]["segments"]
    assert [s["gloss"] for s in segments if s["kind"] == "sign"] == ["q", "x", "q"]
    assert {s["end"] - s["start"] for s in segments if s["kind"] == "transition"} == {FINGERSPELL_TRANSITION_FRAMES}
    slower = generate(url, fingerspell="qx", allow_unknown=True, transition_frames=9).json()["clips"][0]["segments"]
    assert [s["end"] - s["start"] for s in slower if s["kind"] == "transition"] == [9]
    assert_error(generate(url, fingerspell="qx"), 422, "'q'", "'x'", "allow_unknown")
    assert_error(generate(url, fingerspell="q1"), 422, "fingerspell", "'1'")
    assert_error(generate(url, fingerspell="qx", text=a), 422, "exactly one")
    assert_serving(url, a)
    # the API docs show the sentence fields, per-gloss options included (no dangling $ref)
    body = requests.get(f"{url}/openapi.json", timeout=30).json()["paths"]["/generate"]["post"]["requestBody"]
    fields = body["content"]["application/json"]["schema"]["properties"]
    assert {"glosses", "sentence", "speed", "hold_frames", "transition_frames", "allow_unknown"} <= set(fields)
    per_gloss = [t for t in fields["glosses"]["anyOf"][0]["items"]["anyOf"] if t.get("type") == "object"]
    assert set(per_gloss[0]["properties"]) == {"gloss", "speed", "hold_frames", "transition_frames"}
    assert "$ref" not in json.dumps(body)


def test_sentence_client_and_cli(url, tiny_checkpoint, tmp_path, capsys):
    from signavatar.cli import main
    from signavatar.client import SignAvatarClient

    a, b, _ = tiny_checkpoint.glosses
    [clip] = SignAvatarClient(url).generate(glosses=[a, b], seed=2, transition_frames=6)
    assert [(s.gloss, s.end - s.start) for s in clip.segments if s.kind == "transition"] == [("", 6)]
    out = tmp_path / "s.npz"
    assert main(["generate", "--glosses", a, b, "--out", str(out), "--url", url, "--seed", "2",
                 "--transition-frames", "6"]) == 0
    assert json.loads(capsys.readouterr().out)["written"] == [str(out)]
    written = load_npz(str(out))
    assert written.segments == clip.segments and written.clip_id == clip.clip_id
    np.testing.assert_array_equal(written.poses, clip.poses)
    assert main(["generate", "--glosses", a, "zebra", "--out", str(out), "--url", url]) == 1
    assert "zebra" in capsys.readouterr().err
    assert main(["generate", "--fingerspell", "qx", "--out", str(out), "--url", url, "--allow-unknown"]) == 0
    capsys.readouterr()
    assert [s.gloss for s in load_npz(str(out)).segments if s.kind == "sign"] == ["q", "x"]
    assert main(["generate", "--fingerspell", "qx", "--out", str(out), "--url", url]) == 1
    assert "'q'" in capsys.readouterr().err


# --- serve configs ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["local.yaml", "cluster.yaml"])
def test_serve_configs_build(name):
    from ray import serve
    from ray.serve.schema import ServeDeploySchema

    from signavatar.serving import app as serving_app

    schema = ServeDeploySchema.model_validate(yaml.safe_load((REPO / "serve_configs" / name).read_text()))
    (application,) = schema.applications
    module, _, attribute = application.import_path.partition(":")
    built = getattr(importlib.import_module(module), attribute)(application.args)
    assert isinstance(built, serve.Application)
    deployments = {d.name: d.model_dump(exclude_unset=True, exclude={"name"}) for d in application.deployments}
    code = {serving_app.SignAvatarIngress.name: serving_app.SignAvatarIngress,
            serving_app.SignAvatarModel.name: serving_app.SignAvatarModel}
    # local.yaml: the model runs in the ingress (model_in_ingress), so no model deployment
    assert set(deployments) == set(code) - ({serving_app.MODEL_DEPLOYMENT} if application.args.get("model_in_ingress")
                                            else set())
    for deployment_name, overrides in deployments.items():  # the overrides are valid options of the code
        code[deployment_name].options(**overrides)
    if name == "cluster.yaml":
        assert deployments[serving_app.MODEL_DEPLOYMENT]["ray_actor_options"]["num_gpus"] == 1
        for deployment in deployments.values():
            auto = deployment["autoscaling_config"]
            assert 1 <= auto["min_replicas"] < auto["max_replicas"] and auto["target_ongoing_requests"] > 0
        assert application.args["checkpoint"].startswith("s3://")
        assert application.args["clip"]["pretrained"].startswith("s3://")
    else:
        assert schema.http_options.host == "127.0.0.1" and schema.http_options.port == 8000
        ingress = deployments[serving_app.INGRESS_DEPLOYMENT]
        assert application.args["model_in_ingress"] and ingress["ray_actor_options"]["num_cpus"] == 1
        assert ingress["num_replicas"] == 1 and application.args["checkpoint"] == "runs/demo/checkpoint"
        assert application.args["video_estimator"] == "signavatar.serving.video:extraction_estimator"


def test_build_app_rejects_unknown_args_naming_them():
    from pydantic import ValidationError

    from signavatar.serving.app import build_app

    with pytest.raises(ValidationError, match="max_batchsize"):
        build_app({"max_batchsize": 3})
    with pytest.raises(ValueError, match="package.module:factory"):
        build_app({"video_estimator": "no_colon_here"})


def test_extraction_estimator_turns_a_video_into_a_clip(tmp_path):
    """The extraction pipeline behind the seam, in-process: a stand-in TorchScript regressor on a
    rendered skeleton video; a clip rejected by quality control is an unusable video (ValueError)."""
    from signavatar.config import ServeConfig, SyntheticCorpusConfig
    from signavatar.data.synthetic import generate_corpus
    from tests.support.synthetic_video import encode_mp4, save_stand_in_regressor, skeleton_frames
    from signavatar.serving.video import extraction_estimator

    save_stand_in_regressor(str(tmp_path / "regressor.pt"))
    extract = {"estimator": "torchscript", "model_path": str(tmp_path / "regressor.pt"), "crop_to_bbox": False}
    (tmp_path / "ok.yaml").write_text(yaml.safe_dump({"extract": extract, "qc": {"enabled": False}}))
    (tmp_path / "strict.yaml").write_text(yaml.safe_dump({"extract": extract, "qc": {"min_frames": 10_000}}))
    clip = generate_corpus(SyntheticCorpusConfig(num_glosses=2, clips_per_gloss=2))[0]
    video = encode_mp4(skeleton_frames(clip), clip.fps)

    estimate = extraction_estimator(ServeConfig(video_estimator="signavatar.serving.video:extraction_estimator",
                                                extraction_config=str(tmp_path / "ok.yaml")))
    extracted = estimate(video, "sign.mp4")
    assert extracted.num_frames == clip.num_frames and extracted.clip_id == "upload-sign"
    assert extracted.source["estimator"] == "torchscript"
    strict = extraction_estimator(ServeConfig(extraction_config=str(tmp_path / "strict.yaml")))
    with pytest.raises(ValueError, match="sign.mp4 rejected"):
        strict(video, "sign.mp4")


# --- last: redeploys the app with a video estimator ---------------------------------------------

def test_video_estimator_seam_and_model_errors(url, tiny_checkpoint):
    estimator = "tests.test_serving:fake_video_estimator"
    deploy(local_args(tiny_checkpoint, video_estimator=estimator))
    assert requests.get(f"{url}/readyz", timeout=30).json()["video_estimator"] == estimator
    gloss = tiny_checkpoint.glosses[0]
    ok = requests.post(f"{url}/reconstruct", files={"file": ("sign.mp4", mp4_bytes(frames=6), "video/mp4")},
                       data={"gloss": gloss, "seed": "1"}, timeout=60)
    assert ok.status_code == 200, ok.text
    rec = ok.json()["clip"]
    assert rec["gloss"] == gloss and rec["clip_id"] == "rec-video-sign.mp4"

    unusable = requests.post(f"{url}/reconstruct", files={"file": ("nobody.mp4", mp4_bytes(), "video/mp4")},
                             data={"gloss": gloss}, timeout=60)
    assert_error(unusable, 422, "no signer found")
    crash = requests.post(f"{url}/reconstruct", files={"file": ("crash.mp4", mp4_bytes(), "video/mp4")},
                          data={"gloss": gloss}, timeout=60)
    body = assert_error(crash, 500, "video estimator", "RuntimeError")
    assert body["request_id"] in body["message"]
    assert_serving(url, gloss)
