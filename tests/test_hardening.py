"""The Serve app against a hostile but realistic client (issues 15 and 32), over real HTTP on
127.0.0.1: decompression bombs, former 500s, header injection, slow and many clients, admission
before work (bytes in flight, request cost, queued model work, route slots only past the body),
uploads spooled rather than held, JSON parsed off the event loop, unknown words with an untrained
CLIP, the offline docs page; and the pieces behind them without Ray.

Each case asserts the status and a message naming the problem (or the limit), that the server
still answers afterwards, and for the bombs that the replicas' memory stays bounded: the peak
resident set (``VmHWM`` in ``/proc/<pid>/status``, reset through ``/proc/<pid>/clear_refs`` before
each bomb) of every replica (the ingress, and the model's where it has its own) exceeds its
resident set before the bomb by less than ``MEMORY_SLACK`` (64 MiB), where decoding any of them
would take hundreds of MB.

One app for the module, with the local config's limits tightened where that keeps the inputs small
(video frames, timeouts, the reconstruct route's concurrency, the budgets); the npz and image bombs
go against the production defaults of ``max_clip_decoded_bytes`` and ``max_image_pixels``. Its CLIP
is the tiny one with random weights (``clip.pretrained: random``, as the demo's), and its video
estimator (``sleepy_estimator``) holds a request as long as a file name asks, so route slots and
budgets can be filled deterministically.
"""

from __future__ import annotations

import io
import json
import mmap
import os
import re
import socket
import struct
import time
import zipfile
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path

import numpy as np
import pytest
import requests

from signavatar.config import ServeConfig
from signavatar.motion.amass import clip_to_npz_bytes
from signavatar.motion.json_io import clip_to_dict
from tests.conftest import free_port
from tests.support.clips import random_clip
from tests.test_serving import APP_NAME, assert_error, deploy, generate, local_args, png_bytes

MIB = 1024 * 1024
MEMORY_SLACK = 64 * MIB  # allowed growth of a replica's peak RSS per bomb
BODY_TIMEOUT_S = 3.0
BODY_IDLE_S = 1.0
KEEP_ALIVE_S = 2
RECONSTRUCT_SLOTS = 2
UPLOAD_LIMIT = 48 * MIB
TINY_FRAMES = 16  # the tiny checkpoint's clip length: a reconstruction or one sample costs this much
# Tightened limits (the rest are ServeConfig's defaults, as in serve_configs/local.yaml).
LIMITS = {
    "max_upload_bytes": UPLOAD_LIMIT,
    "max_json_bytes": 2 * MIB,
    "max_clip_frames": 600,
    "max_video_frames": 40,
    "max_video_seconds": 5.0,
    "max_video_pixels": 64 * 64,
    "body_timeout_s": BODY_TIMEOUT_S,
    "body_idle_timeout_s": BODY_IDLE_S,
    "route_concurrency": {"generate": 48, "reconstruct": RECONSTRUCT_SLOTS},
    "max_inflight_bytes": 64 * MIB,
    "max_request_cost": 16 * 64,
    "max_queued_cost": 3 * TINY_FRAMES,  # two held reconstructions leave room for one sample
    "video_estimator": "tests.test_hardening:sleepy_estimator",
}
DEFAULTS = ServeConfig()


def sleepy_estimator(config):
    """Test video estimator: a clip of a few random frames, after sleeping as many seconds as a
    file named ``sleep-<seconds>.mp4`` asks."""
    def estimate(video: bytes, filename: str):
        if filename.startswith("sleep-"):
            time.sleep(float(filename.removeprefix("sleep-").split(".")[0]))
        return random_clip(f"video-{filename}", frames=8, gloss="")

    return estimate


@pytest.fixture(scope="module")
def app(ray_cluster, tiny_checkpoint):
    from ray import serve

    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port, "request_timeout_s": 60,
                              "keep_alive_timeout_s": KEEP_ALIVE_S})
    untrained = {"model_name": f"local-dir:{tiny_checkpoint.clip_dir}", "pretrained": "random"}
    deploy(local_args(tiny_checkpoint, clip=untrained, **LIMITS))
    yield f"http://127.0.0.1:{port}", port, tiny_checkpoint.glosses[0]
    serve.shutdown()


@pytest.fixture(scope="module")
def url(app) -> str:
    return app[0]


def serving(url: str, gloss: str) -> None:
    assert requests.get(f"{url}/healthz", timeout=30).json() == {"status": "ok"}
    response = generate(url, text=gloss)
    assert response.status_code == 200, response.text


# --- memory of the replicas ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def replica_pids(app) -> dict[str, int]:
    """Every replica of the app by deployment name (the ingress, and the model where it runs in
    a deployment of its own)."""
    from ray.util.state import list_actors

    prefix = f"ServeReplica:{APP_NAME}:"
    pids = {actor.class_name.removeprefix(prefix): actor.pid
            for actor in list_actors(filters=[("state", "=", "ALIVE")], limit=1000)
            if actor.class_name.startswith(prefix)}
    assert "SignAvatarIngress" in pids, pids
    return pids


def rss(pid: int, field: str) -> int:
    """``VmRSS`` (resident set now) or ``VmHWM`` (peak resident set) of a process, in bytes."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(rf"^{field}:\s+(\d+) kB", status, re.M).group(1)) * 1024


@contextmanager
def memory_bounded(pids: dict[str, int], slack: int = MEMORY_SLACK) -> Iterator[None]:
    """The peak resident set of each process during the block stays within ``slack`` of its
    resident set before it. The peak is reset first (``5`` to ``clear_refs``, Linux 4.0+), so an
    earlier, higher peak (loading the model) cannot hide a bomb's allocation."""
    for pid in pids.values():
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    before = {name: rss(pid, "VmRSS") for name, pid in pids.items()}
    yield
    for name, pid in pids.items():
        grown = rss(pid, "VmHWM") - before[name]
        assert grown < slack, f"{name} (pid {pid}) peak RSS rose {grown / MIB:.0f} MiB above its resident set"


def test_memory_bound_sees_an_allocation():
    """The measurement itself: 128 MiB touched inside the block is seen."""
    with pytest.raises(AssertionError, match="peak RSS rose"):
        with memory_bounded({"this process": os.getpid()}):
            # fresh pages from the kernel: a malloc'd array may reuse heap pages that are already resident
            # in a long test session, which would not raise the peak
            pages = mmap.mmap(-1, 2 * MEMORY_SLACK)
            np.frombuffer(pages, dtype=np.uint8)[:] = 1


# --- bombs --------------------------------------------------------------------------------------

def npz_bomb(frames: int) -> bytes:
    """An AMASS-style npz whose ``poses`` are ``frames`` x 165 float32 zeros, written by streaming
    (never held decoded here): 400,000 frames decode to 264 MB and compress to about 260 KB."""
    buffer = io.BytesIO()
    row_block = bytes(165 * 4 * 1000)
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("poses.npy", "w", force_zip64=True) as member:
            np.lib.format.write_array_header_1_0(member, {"descr": "<f4", "fortran_order": False,
                                                          "shape": (frames, 165)})
            for _ in range(frames // 1000):
                member.write(row_block)
    return buffer.getvalue()


def png_bomb(side: int) -> bytes:
    """A black ``side`` x ``side`` greyscale PNG, compressed row by row (12000 x 12000: ~140 KB
    that decode to 432 MB as RGB)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    compressor, row, parts = zlib.compressobj(9), bytes(side + 1), []
    for _ in range(side):
        parts.append(compressor.compress(row))
    parts.append(compressor.flush())
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b"")


def clip_npz(frames: int = 8, scale: float = 1.0, **arrays) -> bytes:
    clip = random_clip("up", frames=frames)
    data = {"poses": clip.poses.reshape(frames, 165) * scale, "trans": clip.trans, "betas": clip.betas, **arrays}
    buffer = io.BytesIO()
    np.savez(buffer, **data)
    return buffer.getvalue()


def reconstruct(url: str, name: str, data: bytes, content_type: str = "application/octet-stream",
                **form) -> requests.Response:
    return requests.post(f"{url}/reconstruct", files={"file": (name, data, content_type)},
                         data={"gloss": "drink", **form}, timeout=60)


def image_generate(url: str, name: str, data: bytes) -> requests.Response:
    return requests.post(f"{url}/generate", files={"image": (name, data, "image/png")},
                         data={"allow_unknown": "true"}, timeout=60)


BOMBS: dict[str, tuple[Callable[[str], requests.Response], int, list[str]]] = {
    "npz of 400k frames (264 MB decoded)": (
        lambda u: reconstruct(u, "bomb.npz", npz_bomb(400_000)), 413,
        ["bomb.npz", "264000128 bytes", str(DEFAULTS.max_clip_decoded_bytes), "max_clip_decoded_bytes"]),
    "npz over the frame limit": (
        lambda u: reconstruct(u, "long.npz", clip_npz(frames=601)), 413, ["long.npz", "601 frames", "max_clip_frames"]),
    "json clip over the frame limit": (
        lambda u: reconstruct(u, "long.json", json.dumps({"poses": np.zeros((601, 55, 3)).tolist()}).encode()),
        413, ["long.json", "601 frames", "max_clip_frames"]),
    "12000x12000 png (432 MB decoded)": (
        lambda u: image_generate(u, "huge.png", png_bomb(12000)), 413,
        ["huge.png", "12000x12000", str(DEFAULTS.max_image_pixels), "max_image_pixels"]),
    "video over the frame limit": (
        lambda u: reconstruct(u, "long.mp4", mp4_bytes_at(frames=41, fps=10), "video/mp4"), 413,
        ["long.mp4", "more than 40 frames", "max_video_frames"]),
    "video over the duration limit": (
        lambda u: reconstruct(u, "slow.mp4", mp4_bytes_at(frames=12, fps=2), "video/mp4"), 413,
        ["slow.mp4", "6.0 s", "max_video_seconds"]),
    "video over the pixel limit": (
        lambda u: reconstruct(u, "big.mp4", mp4_bytes_at(frames=3, fps=10, size=96), "video/mp4"), 413,
        ["big.mp4", "96x96", "max_video_pixels"]),
}


def mp4_bytes_at(frames: int, fps: int, size: int = 32) -> bytes:
    import av

    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(np.full((size, size, 3), 20 * i % 256, np.uint8), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return buffer.getvalue()


@pytest.mark.parametrize("case", list(BOMBS))
def test_bombs_are_refused_from_headers_with_memory_bounded(app, replica_pids, case):
    url, _, gloss = app
    send, status, named = BOMBS[case]
    with memory_bounded(replica_pids):
        assert_error(send(url), status, *named)
    serving(url, gloss)


# --- former 500s --------------------------------------------------------------------------------

def _post_json(url: str, raw: bytes) -> requests.Response:
    return requests.post(f"{url}/generate", data=raw, headers={"content-type": "application/json"}, timeout=60)


FORMER_500S: dict[str, tuple[Callable[[str], requests.Response], int, list[str]]] = {
    "lone surrogate in text": (lambda u: _post_json(u, b'{"text": "drink \\ud800"}'), 422,
                               ["'text'", "U+D800", "lone surrogate"]),
    "control character in text": (lambda u: _post_json(u, b'{"text": "a\\u0000b"}'), 422, ["'text'", "U+0000"]),
    "JSON nested 30k deep": (lambda u: _post_json(u, b"[" * 30_000 + b"]" * 30_000), 400, ["nested too deeply"]),
    "JSON body over max_request_json_bytes": (
        lambda u: _post_json(u, b" " * (DEFAULTS.max_request_json_bytes + 1)), 413,
        [str(DEFAULTS.max_request_json_bytes), "max_request_json_bytes"]),
    "corrupt zip starting with PK": (lambda u: reconstruct(u, "broken.npz", b"PK\x03\x04" + bytes(200)), 400,
                                     ["broken.npz", "not a readable .npz"]),
    "poses x 1e30": (lambda u: reconstruct(u, "huge.npz", clip_npz(scale=1e30)), 422,
                     ["huge.npz", "'poses'", "rad", "4 pi"]),
    "trans of 1e6 m": (lambda u: reconstruct(u, "far.npz", clip_npz(trans=np.full((8, 3), 1e6, np.float32))), 422,
                       ["far.npz", "'trans'", "100 m"]),
    "fps of 1e-6": (lambda u: reconstruct(u, "still.npz", clip_npz(mocap_framerate=np.array(1e-6))), 422,
                    ["still.npz", "fps"]),
    "source JSON nested deeply in an npz": (
        lambda u: reconstruct(u, "deep.npz", clip_npz(source=np.array("[" * 5000 + "]" * 5000))), 422,
        ["deep.npz", "RecursionError"]),
    "lone surrogate in a JSON clip's id": (  # not Unicode, so not JSON text to the parser
        lambda u: reconstruct(u, "s.json", json.dumps({**clip_to_dict(random_clip("x", frames=4)),
                                                       "clip_id": "x\ud800"}).encode()), 400,
        ["s.json", "surrogate"]),
    "unknown path": (lambda u: requests.get(f"{u}/nope", timeout=30), 404, ["/nope"]),
    "wrong method": (lambda u: requests.get(f"{u}/generate", timeout=30), 405, ["GET /generate"]),
}


@pytest.mark.parametrize("case", list(FORMER_500S))
def test_former_server_errors_are_4xx_naming_the_problem(app, case):
    url, _, gloss = app
    send, status, named = FORMER_500S[case]
    assert_error(send(url), status, *named)
    serving(url, gloss)


def test_video_without_a_person_is_unusable_input_not_a_server_error():
    """The extraction estimator (MediaPipe Holistic) on a video with nobody in it: a ValueError,
    which the app answers 422 (``value_error_is_input``), not the RuntimeError behind a 500."""
    from signavatar.config import HolisticConfig
    from signavatar.extraction.estimators.holistic_worker import HolisticUnavailable, HolisticWorker
    from signavatar.serving.video import extraction_estimator

    try:
        HolisticWorker(HolisticConfig()).close()
    except HolisticUnavailable as exc:
        pytest.skip(f"MediaPipe environment not available: {exc}")
    estimate = extraction_estimator(ServeConfig())
    with pytest.raises(ValueError, match="nobody.mp4 error .* no frame shows both shoulders"):
        estimate(mp4_bytes_at(frames=10, fps=10, size=64), "nobody.mp4")


# --- response headers ---------------------------------------------------------------------------

SAFE_NAME = re.compile(r"[A-Za-z0-9-]+\.(npz|zip)")


def disposition(response: requests.Response) -> tuple[str, str]:
    """(filename, filename*) of an attachment, asserting nothing else is in the header."""
    assert response.status_code == 200, response.text
    match = re.fullmatch(r"attachment; filename=\"([^\"]*)\"; filename\*=UTF-8''([A-Za-z0-9%._-]+)",
                         response.headers["content-disposition"])
    assert match, response.headers["content-disposition"]
    assert SAFE_NAME.fullmatch(match.group(1)), match.group(1)
    return match.group(1), match.group(2)


def test_download_names_are_safe_slugs_with_rfc6266_filename_star(app):
    url, _, gloss = app
    assert disposition(generate(url, text=gloss, format="npz", seed=3)) == (
        f"gen-{gloss}-s3-0.npz", f"gen-{gloss}-s3-0.npz")
    unknown = {"format": "npz", "allow_unknown": True}  # words outside the vocabulary, asked for anyway
    assert disposition(generate(url, text="水を飲む", **unknown)) == (
        "gen-s0-0.npz", "gen-%E6%B0%B4%E3%82%92%E9%A3%B2%E3%82%80-s0-0.npz")
    ascii_name, _ = disposition(generate(url, text='x"; filename=evil.exe', **unknown))
    assert ascii_name == "gen-x-filename-evil-exe-s0-0.npz"
    crlf = generate(url, text="cup\r\nSet-Cookie: a=b", **unknown)
    assert "set-cookie" not in crlf.headers and disposition(crlf)[0] == "gen-cup-Set-Cookie-a-b-s0-0.npz"
    assert_error(generate(url, text="a\x7fb", **unknown), 422, "U+007F")

    several = generate(url, text="../../../tmp/evil", num_samples=3, **unknown)
    assert disposition(several)[0] == "gen-tmp-evil-s0.zip"
    with zipfile.ZipFile(io.BytesIO(several.content)) as archive:
        assert archive.namelist() == [f"gen-tmp-evil-s0-{i}.npz" for i in range(3)]
    serving(url, gloss)


# --- slow and many clients ----------------------------------------------------------------------

def open_request(port: int, head: str, body: bytes = b"") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    sock.sendall(head.encode() + body)
    return sock


def upload_head(port: int, declared: int, path: str = "/reconstruct") -> socket.socket:
    """A multipart upload that announces ``declared`` bytes and sends the first few."""
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {declared}\r\n"
            "Content-Type: multipart/form-data; boundary=b\r\n\r\n")
    return open_request(port, head, b"--b\r\nContent-Disposition: form-data; name=\"gloss\"\r\n\r\n")


def slow_json(port: int) -> socket.socket:
    """A /generate JSON body that announces 200 bytes and sends one."""
    head = "POST /generate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 200\r\nContent-Type: application/json\r\n\r\n"
    return open_request(port, head, b"{")


def answer(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def status_of(reply: bytes) -> int:
    return int(reply.split(b" ", 2)[1])


def valid_npz_upload(url: str, gloss: str, name: str = "ok.npz") -> requests.Response:
    return reconstruct(url, name, clip_to_npz_bytes(random_clip("ok", gloss=gloss)), gloss=gloss)


def test_stalled_bodies_take_no_route_slot_and_are_cut_after_a_pause(app):
    """More stalled bodies than the reconstruct route has slots, and stalled /generate bodies: both
    routes serve others meanwhile (a slot is taken only past the body), and each stalled body is
    answered 408 once it has paused ``body_idle_timeout_s``."""
    url, port, gloss = app
    with ExitStack() as stack:
        stalled = [stack.enter_context(upload_head(port, 100_000)) for _ in range(RECONSTRUCT_SLOTS + 2)]
        stalled += [stack.enter_context(slow_json(port)) for _ in range(8)]
        assert valid_npz_upload(url, gloss).status_code == 200
        serving(url, gloss)
        replies = [answer(sock) for sock in stalled]
    assert all(status_of(reply) == 408 and b"body_idle_timeout_s" in reply for reply in replies), \
        [reply[:200] for reply in replies]
    serving(url, gloss)


def test_trickling_body_is_cut_at_body_timeout(app):
    """A body sent a byte at a time, each pause shorter than ``body_idle_timeout_s``, is cut when the
    whole body has taken ``body_timeout_s``."""
    url, port, gloss = app
    with upload_head(port, 100_000) as sock:
        reply = b""
        for _ in range(int(4 * BODY_TIMEOUT_S / BODY_IDLE_S)):
            time.sleep(BODY_IDLE_S / 4)
            try:
                sock.sendall(b"x")
            except OSError:  # the server has answered and closed
                break
        reply = answer(sock)
    assert status_of(reply) == 408 and b"body_timeout_s" in reply and b"request_id" in reply, reply[:300]
    serving(url, gloss)


def test_route_slots_and_queued_model_work_give_back_pressure(app):
    """Two reconstructions held by the estimator fill the route (503 naming route_concurrency,
    retry-after) and two thirds of the queued model work: /generate still serves a request that
    fits what is left, and refuses a bigger one at once (503 naming max_queued_cost)."""
    url, _, gloss = app
    video = mp4_bytes_at(frames=4, fps=10)

    def held_in_route() -> requests.Response:  # retried while the route is full (this test's own probes)
        while (response := reconstruct(url, "sleep-3.mp4", video, "video/mp4", gloss=gloss)).status_code == 503:
            time.sleep(0.05)
        return response

    with ThreadPoolExecutor(RECONSTRUCT_SLOTS) as pool:
        held = [pool.submit(held_in_route) for _ in range(RECONSTRUCT_SLOTS)]
        for _ in range(200):  # until both are in the estimator
            refused = valid_npz_upload(url, gloss)
            if refused.status_code == 503:
                break
            assert refused.status_code == 200, refused.text
            time.sleep(0.05)
        body = assert_error(refused, 503, "/reconstruct", f"limit of {RECONSTRUCT_SLOTS}",
                            "route_concurrency.reconstruct")
        assert body["error"] == "overloaded" and refused.headers["retry-after"] == "1"
        serving(url, gloss)  # one sample: what the held reconstructions left of the budget
        over = generate(url, text=gloss, num_samples=2)
        assert_error(over, 503, "max_queued_cost", f"{2 * TINY_FRAMES} frame-samples")
        assert over.headers["retry-after"] == "1"
        assert [f.result().status_code for f in held] == [200] * RECONSTRUCT_SLOTS
    assert valid_npz_upload(url, gloss).status_code == 200  # slots and budget free again
    assert generate(url, text=gloss, num_samples=2).status_code == 200


def test_bodies_over_the_bytes_budget_are_refused_before_they_are_read(app):
    """A held upload has reserved most of ``max_inflight_bytes`` by its declared size: another that
    announces more than is left is answered 503 at once (its body never sent); a small JSON request
    still fits."""
    url, port, gloss = app
    with upload_head(port, 40 * MIB) as held:
        with upload_head(port, 30 * MIB) as refused:
            reply = answer(refused)
        serving(url, gloss)
        assert status_of(answer(held)) == 408
    assert status_of(reply) == 503 and b"max_inflight_bytes" in reply and b"retry-after: 1" in reply.lower(), reply
    serving(url, gloss)


def test_uploads_are_spooled_to_disk_not_held_in_memory(app, replica_pids):
    """A 40 MiB upload goes to a temporary file as it arrives and is read from there: the replicas'
    peak memory grows by less than 3x the upload. Serve's own transport of a body from the proxy
    to the replica holds up to about twice its size while it arrives (a handler that only drains
    the stream measures the same); reading it into bytes and copying those, as before, took about
    5x (200 MiB for this upload)."""
    url, _, gloss = app
    data = b"PK\x03\x04" + os.urandom(40 * MIB)
    with memory_bounded(replica_pids, slack=3 * len(data)):
        assert_error(reconstruct(url, "big.npz", data), 400, "big.npz", "not a readable .npz")
    serving(url, gloss)


def test_idle_and_half_sent_connections_do_not_block_others(app):
    """Idle keep-alive connections are closed after ``keep_alive_timeout_s``; connections stuck
    half-way through their headers hold only a socket in the proxy (no ingress slot), so others
    are served meanwhile."""
    url, port, gloss = app
    with ExitStack() as stack:
        stalled = [stack.enter_context(open_request(port, "POST /generate HTTP/1.1\r\nHost: 127.0.0.1\r\n"))
                   for _ in range(70)]
        serving(url, gloss)
        idle = stack.enter_context(open_request(port, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"))
        reply = answer(idle)  # the answer, then the close after the keep-alive timeout
        assert reply.startswith(b"HTTP/1.1 200") and reply.endswith(b'{"status":"ok"}')
        assert len(stalled) == 70
    serving(url, gloss)


# --- admission and decoding off the event loop --------------------------------------------------

def test_a_request_over_max_request_cost_is_refused_before_model_work(app):
    """The issue's ~500-byte request (32 glosses, num_frames 1200, 16 samples): a 413 from its own
    numbers, and the model never sees it."""
    from tests.test_serving import model_stats

    url, _, gloss = app
    before = model_stats()
    body = assert_error(generate(url, glosses=[gloss] * 32, num_frames=1200, num_samples=16), 413,
                        "max_request_cost", "16 samples x 1200 frames", str(LIMITS["max_request_cost"]))
    assert body["error"] == "payload_too_large"
    assert_error(generate(url, text=gloss, num_frames=65, num_samples=16), 413, "16 samples x 65 frames")
    assert model_stats() == before
    serving(url, gloss)


def children(pid: int) -> list[str]:
    """Command lines of ``pid``'s child processes."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                out.append((stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except (OSError, IndexError, ValueError):
            continue
    return out


def test_json_clips_are_parsed_in_a_child_process(app, replica_pids):
    """A JSON clip upload is parsed by the replica's parser process (parsing holds the GIL, which
    would stall the replica's event loop), with the same result as an npz of the clip."""
    url, _, gloss = app
    clip = random_clip("up", frames=30, gloss=gloss)
    as_json = reconstruct(url, "up.json", json.dumps(clip_to_dict(clip)).encode(), "application/json", gloss=gloss)
    as_npz = reconstruct(url, "up.npz", clip_to_npz_bytes(clip), gloss=gloss)
    assert as_json.status_code == 200, as_json.text
    np.testing.assert_allclose(as_json.json()["clip"]["poses"], as_npz.json()["clip"]["poses"], atol=1e-5)
    assert any("signavatar.serving.json_offload" in cmd for cmd in children(replica_pids["SignAvatarIngress"]))


# --- honest answers -----------------------------------------------------------------------------

def test_unknown_words_with_an_untrained_clip_are_refused_naming_the_nearest(app, tiny_checkpoint):
    url, _, gloss = app
    glosses = tiny_checkpoint.glosses
    typo = gloss[:-1] + ("x" if gloss[-1] != "x" else "y")
    body = assert_error(generate(url, text=typo), 422, repr(typo), f"nearest known: {typo!r} -> {gloss!r}",
                        "allow_unknown", "untrained")
    assert body["error"] == "invalid_input"
    assert_error(generate(url, text="xyzzy"), 422, "'xyzzy' -> none close", *glosses)
    shouted = generate(url, text=gloss.upper(), seed=4)  # case-folded: the known gloss
    assert shouted.status_code == 200, shouted.text
    [clip] = shouted.json()["clips"]
    assert clip["gloss"] == gloss and clip["source"]["untrained_encoder"] is False
    assert shouted.json() == generate(url, text=gloss, seed=4).json()
    anyway = generate(url, text="xyzzy", allow_unknown=True)
    assert anyway.status_code == 200 and anyway.json()["clips"][0]["source"]["untrained_encoder"] is True
    image = requests.post(f"{url}/generate", files={"image": ("a.png", png_bytes())}, timeout=60)
    assert_error(image, 422, "images", "untrained", "allow_unknown")
    allowed = requests.post(f"{url}/generate", files={"image": ("a.png", png_bytes())},
                            data={"allow_unknown": "true"}, timeout=60)
    assert allowed.json()["clips"][0]["source"]["untrained_encoder"] is True
    sentence = generate(url, glosses=[gloss.upper(), glosses[1]])  # sentences case-fold too
    assert [s["gloss"] for s in sentence.json()["clips"][0]["segments"] if s["kind"] == "sign"] == [gloss, glosses[1]]
    assert_error(generate(url, glosses=[gloss, typo]), 422, f"{typo!r} -> {gloss!r}")


SMALLER: dict[str, tuple[Callable[[str], requests.Response], int, list[str]]] = {
    "num_samples as a string": (lambda u: generate(u, text="a", num_samples="3"), 422, ["num_samples", "integer"]),
    "num_samples as true": (lambda u: generate(u, text="a", num_samples=True), 422, ["num_samples", "integer"]),
    "num_samples as 2.0": (lambda u: generate(u, text="a", num_samples=2.0), 422, ["num_samples", "integer"]),
    "sentence as 'yes'": (lambda u: generate(u, text="a", sentence="yes"), 422, ["sentence", "boolean"]),
    "only zero-width characters": (lambda u: generate(u, text="\u200b\u200d\ufeff"), 422, ["'text'", "empty"]),
    "bidi override": (lambda u: generate(u, text="abc\u202edef", allow_unknown=True), 422,
                      ["'text'", "U+202E", "bidirectional"]),
    "NaN temperature": (lambda u: requests.post(f"{u}/generate", files={"image": ("a.png", png_bytes())},
                                                data={"temperature": "nan", "allow_unknown": "true"}, timeout=30),
                        422, ["temperature", "finite"]),
    "complex poses": (lambda u: reconstruct(u, "c.npz", _complex_npz()), 422, ["c.npz", "'poses'", "complex"]),
    "JSON clip num_frames disagreeing": (
        lambda u: reconstruct(u, "n.json", json.dumps({**clip_to_dict(random_clip("x", frames=4)),
                                                       "num_frames": 400}).encode(), "application/json"),
        422, ["n.json", "'num_frames'", "400", "4 frames"]),
    "corrupt video": (lambda u: reconstruct(u, "v.mp4", b"\0" * 2000, "video/mp4"), 400, ["'v.mp4'"]),
}


def _complex_npz() -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, poses=np.zeros((4, 165), np.complex64))
    return buffer.getvalue()


@pytest.mark.parametrize("case", list(SMALLER))
def test_smaller_input_mistakes_are_4xx_naming_them(app, case):
    url, _, gloss = app
    send, status, named = SMALLER[case]
    body = assert_error(send(url), status, *named)
    assert "/tmp" not in body["message"] and "allocate" not in body["message"]  # no server paths or sizes
    serving(url, gloss)


def test_head_requests(url):
    for path in ("/", "/healthz"):
        response = requests.head(f"{url}{path}", timeout=30)
        assert response.status_code == 200 and not response.content, (path, response.status_code)


# --- offline docs -------------------------------------------------------------------------------

def test_docs_page_loads_only_from_the_app(url):
    from signavatar.serving.viewer import DOCS_ASSETS, DOCS_DIR, STATIC_DIR

    if not all((STATIC_DIR / DOCS_DIR / name).is_file() for name in DOCS_ASSETS.values()):
        response = requests.get(f"{url}/docs", timeout=30)
        assert_error(response, 503, "make viewer")
        pytest.skip("viewer bundle not built (make viewer): /docs answers 503 naming it")
    page = requests.get(f"{url}/docs", timeout=30)
    assert page.status_code == 200 and "swagger-ui" in page.text
    assert not re.search(r"https?://", page.text), "the docs page references another host"
    assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text) + re.findall(r"url: '([^']+)'", page.text)
    assert {"static/docs/swagger-ui-bundle.js", "static/docs/swagger-ui.css", "openapi.json"} <= set(assets)
    for asset in assets:
        assert requests.get(f"{url}/{asset}", timeout=30).status_code == 200, asset
    assert '"validatorUrl": null' in page.text  # Swagger UI would otherwise call validator.swagger.io
    assert requests.get(f"{url}/redoc", timeout=30).status_code == 404  # ReDoc would load from a CDN
