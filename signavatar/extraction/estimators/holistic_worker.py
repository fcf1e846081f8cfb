"""The client of the MediaPipe Holistic worker process: frames in over a pipe, landmarks out.

MediaPipe cannot live in the project environment (see ``requirements-mediapipe.lock``), so each
estimator (one per Ray Data actor or Serve replica) starts one long-lived worker process in
``.venv-mediapipe`` (``signavatar/extraction/mediapipe_worker.py``, whose docstring defines the
pipe protocol) and streams a video's frames to it; the landmarks come back per frame.

Failure handling: a worker that dies (or outlives ``frame_timeout_s`` on a frame) fails the video
it was working on with a ``HolisticWorkerError`` and is started anew for the next video; a frame
the worker rejects fails its video the same way while the worker goes on. A missing environment
is a ``HolisticUnavailable`` naming ``make mediapipe-env`` and ``extract.holistic.python``.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import re
import select
import subprocess
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from signavatar.config import HolisticConfig
from signavatar.extraction import mediapipe_worker as protocol
from signavatar.extraction.estimators.holistic_record import HolisticVideo

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[3]
WORKER_SCRIPT = Path(protocol.__file__).resolve()
IN_FLIGHT = 2
"""Frames sent ahead of the reply being read, so the worker never waits for the client."""
_LOG_NOISE = re.compile(r"^([IW]\d{4} |INFO: |WARNING: All log messages)")
"""MediaPipe's start-up chatter on stderr (glog info/warnings): logged, kept out of error messages."""


class HolisticUnavailable(RuntimeError):
    """The MediaPipe environment is missing or its worker cannot start."""


class HolisticWorkerError(RuntimeError):
    """The worker failed on the current video (died, timed out, or rejected a frame)."""


def resolve_python(path: str) -> Path:
    """The mediapipe environment's interpreter; relative paths are relative to the repository root."""
    python = Path(path).expanduser()
    return python if python.is_absolute() else REPO_ROOT / python



def _frames_array(chunk: np.ndarray) -> np.ndarray:
    frames = np.asarray(chunk)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be uint8 [N, H, W, 3] RGB; got {frames.dtype} {list(frames.shape)}")
    return np.ascontiguousarray(frames)


def _wait(fd: int, event: int, deadline: float) -> None:
    poller = select.poll()
    poller.register(fd, event | select.POLLHUP | select.POLLERR)
    while not poller.poll(max(0.0, deadline - time.monotonic()) * 1000):
        if time.monotonic() >= deadline:
            raise TimeoutError


class HolisticWorker:
    """One MediaPipe worker process, started on first use and again after it dies."""

    def __init__(self, cfg: HolisticConfig) -> None:
        self.cfg = cfg
        self.python = resolve_python(cfg.python)
        self.options = {
            "face": cfg.face,
            "smooth_landmarks": cfg.smooth_landmarks,
            "min_detection_confidence": cfg.min_detection_confidence,
            "min_tracking_confidence": cfg.min_tracking_confidence,
        }
        self.floats = protocol.frame_floats(cfg.face)
        self.hello: dict = {}
        self.starts = 0
        self._proc: subprocess.Popen | None = None
        self._stderr: collections.deque[str] = collections.deque(maxlen=30)
        self._stderr_reader: threading.Thread | None = None
        self._finalizer: weakref.finalize | None = None
        self._lock = threading.Lock()

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Start the worker unless it is running; wait for its READY message."""
        if self.alive:
            return
        if self._proc is not None:
            log.warning("MediaPipe worker %d is gone (exit code %s); starting a new one", self._proc.pid, self._proc.returncode)
            self.close()
        if not self.python.exists():
            raise HolisticUnavailable(
                f"MediaPipe environment not found: {self.python} does not exist. Build it with `make mediapipe-env` "
                "or point extract.holistic.python at its interpreter"
            )
        self._stderr.clear()
        proc = subprocess.Popen(
            [str(self.python), "-I", str(WORKER_SCRIPT), "--options", json.dumps(self.options)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            bufsize=0,
        )
        self._proc = proc
        self.starts += 1
        self._finalizer = weakref.finalize(self, _stop, proc)
        self._stderr_reader = threading.Thread(target=_drain_stderr, args=(proc.stderr, self._stderr), daemon=True)
        self._stderr_reader.start()
        os.set_blocking(proc.stdin.fileno(), False)
        os.set_blocking(proc.stdout.fileno(), False)
        try:
            opcode, payload = self._receive(time.monotonic() + self.cfg.startup_timeout_s)
        except HolisticWorkerError as exc:
            raise HolisticUnavailable(f"the MediaPipe worker ({self.python}) did not start: {exc}") from None
        if opcode != protocol.READY:
            self.close()
            raise HolisticUnavailable(f"the MediaPipe worker sent opcode {opcode} instead of READY")
        self.hello = json.loads(payload)
        log.info("MediaPipe %s worker started (pid %d)", self.hello["mediapipe"], proc.pid)

    def close(self) -> None:
        """Stop the worker (it also stops by itself when this process's end of its stdin closes)."""
        if self._finalizer is not None:
            self._finalizer()
        self._proc = self._finalizer = None

    def process_video(self, chunks: Iterable[np.ndarray], fps: float) -> HolisticVideo:
        """Every frame of one video (uint8 ``[N, H, W, 3]`` chunks, one size) -> its landmarks."""
        with self._lock:
            self.start()
            deadline = lambda: time.monotonic() + self.cfg.frame_timeout_s  # noqa: E731
            self._send(protocol.RESET, 0, 0, b"", deadline())
            opcode, payload = self._receive(deadline())
            if opcode != protocol.ACK:
                raise HolisticWorkerError(f"the worker could not start a new video: {payload.decode(errors='replace')}")
            vectors: list[np.ndarray] = []
            try:
                size = self._stream(chunks, vectors, deadline)
            except HolisticWorkerError as exc:
                raise HolisticWorkerError(f"frame {len(vectors)} of the video: {exc}") from None
        if not vectors:
            raise ValueError("no frames were decoded (empty video or frame range)")
        parts = protocol.split_landmarks(np.stack(vectors), self.cfg.face)
        return HolisticVideo(face=parts.pop("face", None), **parts, width=int(size[1]), height=int(size[0]), fps=fps)

    def _stream(
        self, chunks: Iterable[np.ndarray], vectors: list[np.ndarray], deadline: Callable[[], float]
    ) -> tuple[int, int] | None:
        """Send every frame, keeping ``IN_FLIGHT`` unanswered; collect the replies in ``vectors``.
        Returns the frame size (None without frames)."""
        size: tuple[int, int] | None = None
        sent = 0
        failure: str | None = None
        try:
            for chunk in chunks:
                frames = _frames_array(chunk)
                if size is None:
                    size = frames.shape[1:3]
                elif frames.shape[1:3] != size:
                    raise ValueError(f"frame size changed within the video: {list(size)} -> {list(frames.shape[1:3])}")
                for frame in frames:
                    self._send(protocol.FRAME, frame.shape[0], frame.shape[1], memoryview(frame.reshape(-1)), deadline())
                    sent += 1
                    while sent - len(vectors) >= IN_FLIGHT and failure is None:
                        failure = self._collect(vectors, deadline())
                    if failure is not None:
                        raise HolisticWorkerError(f"the worker rejected it: {failure}")
            while sent > len(vectors):
                failure = self._collect(vectors, deadline())
                if failure is not None:
                    raise HolisticWorkerError(f"the worker rejected it: {failure}")
        finally:
            # Keep the stream in step: replies still owed for this video are read and dropped.
            owed = sent - len(vectors) - (failure is not None)
            if owed and self.alive:
                try:
                    for _ in range(owed):
                        self._receive(deadline())
                except HolisticWorkerError:
                    log.warning("the MediaPipe worker failed while an aborted video was drained; it will be restarted")
        return size

    def _collect(self, vectors: list[np.ndarray], deadline: float) -> str | None:
        """Read one frame's reply into ``vectors``; the worker's message when it rejected the frame."""
        opcode, payload = self._receive(deadline)
        if opcode == protocol.ERROR:
            return payload.decode(errors="replace")
        if opcode != protocol.LANDMARKS or len(payload) != 4 * self.floats:
            self._fail(f"unexpected reply (opcode {opcode}, {len(payload)} bytes)")
        vectors.append(np.frombuffer(payload, "<f4").astype(np.float32))
        return None

    def _send(self, opcode: int, height: int, width: int, payload: bytes | memoryview, deadline: float) -> None:
        fd = self._proc.stdin.fileno()
        for part in (memoryview(protocol.REQUEST.pack(opcode, height, width, len(payload))), memoryview(payload)):
            while len(part):
                try:
                    _wait(fd, select.POLLOUT, deadline)
                    part = part[os.write(fd, part) :]
                except BlockingIOError:
                    continue
                except (BrokenPipeError, ConnectionResetError):
                    self._fail("the worker closed its input")
                except TimeoutError:
                    self._fail(f"it took no frame within {self.cfg.frame_timeout_s} s (extract.holistic.frame_timeout_s)")

    def _read(self, size: int, deadline: float) -> bytes:
        fd = self._proc.stdout.fileno()
        data = bytearray()
        while len(data) < size:
            try:
                _wait(fd, select.POLLIN, deadline)
                chunk = os.read(fd, size - len(data))
            except BlockingIOError:
                continue
            except TimeoutError:
                self._fail(f"no reply within {self.cfg.frame_timeout_s} s (extract.holistic.frame_timeout_s)")
            if not chunk:
                self._fail("the worker exited")
            data += chunk
        return bytes(data)

    def _receive(self, deadline: float) -> tuple[int, bytes]:
        opcode, size = protocol.REPLY.unpack(self._read(protocol.REPLY.size, deadline))
        return opcode, self._read(size, deadline) if size else b""

    def _fail(self, what: str) -> None:
        """Stop the worker and raise, with its exit code and last stderr lines."""
        proc = self._proc
        proc.kill()  # abandoned either way: dead, hung or out of step
        code = proc.wait()
        self.close()
        self._stderr_reader.join(timeout=2)  # it ends at the dead worker's EOF, having read the last lines
        tail = " | ".join(list(self._stderr)[-5:])
        raise HolisticWorkerError(
            f"MediaPipe worker (pid {proc.pid}) failed: {what} (exit code {code}){f'; stderr: {tail}' if tail else ''}"
        )


def _drain_stderr(stream, tail: collections.deque[str]) -> None:
    """Keep the worker's stderr flowing (a full pipe would block it); its last lines go into errors."""
    for raw in iter(stream.readline, b""):
        line = raw.decode(errors="replace").rstrip()
        if line:
            log.debug("mediapipe worker: %s", line)
            if not _LOG_NOISE.match(line):
                tail.append(line)
    stream.close()


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.stdin.close()  # the worker ends on EOF
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for stream in (proc.stdin, proc.stdout):
        if not stream.closed:
            stream.close()
