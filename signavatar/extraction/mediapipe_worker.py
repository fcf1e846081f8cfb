"""MediaPipe Holistic in a child process: the worker script and the wire protocol both sides share.

The script runs in ``.venv-mediapipe`` (``make mediapipe-env``), started by path as
``python -I mediapipe_worker.py --options JSON``, so it imports only the standard library, numpy
and mediapipe; the project side (``signavatar.extraction.estimators.holistic_worker``) imports this module
for the protocol constants and codecs below.

Protocol (little-endian, strictly one reply per request, in order):

* client -> worker: a header ``REQUEST = <B I I I`` (opcode, height, width, payload bytes) and the
  payload. ``FRAME``: ``height * width * 3`` bytes of uint8 RGB, row-major. ``RESET``: no payload;
  starts a new video (tracking state is dropped). EOF on stdin ends the worker.
* worker -> client: a header ``REPLY = <B I`` (opcode, payload bytes) and the payload. ``READY``
  (sent once at start): JSON with the mediapipe version, the frame layout and the landmark
  topology. ``LANDMARKS``: one frame's float32 vector (``frame_floats``; layout below). ``ACK``:
  the reset is done. ``ERROR``: UTF-8 message; the frame (or reset) failed, the Holistic graph
  was rebuilt, and the worker goes on with the next request.

A frame's vector: pose image landmarks ``[33, 4]`` (x, y normalised to [0, 1] of the frame, z
MediaPipe's relative depth, visibility), pose world landmarks ``[33, 4]`` (metres, origin between
the hips, visibility), left and right hand ``[21, 3]`` each (normalised like the pose), then, with
``face``, ``[468, 3]`` face mesh. A component that was not detected is all NaN. Left and right are
the signer's.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import struct
import sys
from typing import BinaryIO

import numpy as np

REQUEST = struct.Struct("<BIII")
REPLY = struct.Struct("<BI")
FRAME, RESET = 1, 2
READY, LANDMARKS, ACK, ERROR = 1, 2, 3, 4

NUM_POSE, NUM_HAND, NUM_FACE = 33, 21, 468
MODEL_COMPLEXITY = 1
"""The only pose model inside the 0.10.21 wheel; 0 and 2 would be downloaded at run time."""

DEFAULT_OPTIONS = {
    "face": False,
    "smooth_landmarks": True,
    "min_detection_confidence": 0.5,
    "min_tracking_confidence": 0.5,
}


def frame_floats(face: bool) -> int:
    """Length of one frame's float32 landmark vector."""
    return 2 * NUM_POSE * 4 + 2 * NUM_HAND * 3 + (NUM_FACE * 3 if face else 0)


def split_landmarks(vectors: np.ndarray, face: bool) -> dict[str, np.ndarray]:
    """Frame vectors ``[..., frame_floats]`` -> ``pose [..., 33, 4]``, ``world [..., 33, 4]``,
    ``left_hand``, ``right_hand [..., 21, 3]`` and (with ``face``) ``face [..., 468, 3]``; NaN
    where not detected."""
    if vectors.shape[-1] != frame_floats(face):
        raise ValueError(f"landmark vectors of {vectors.shape[-1]} floats; expected {frame_floats(face)}")
    shapes = {"pose": (NUM_POSE, 4), "world": (NUM_POSE, 4), "left_hand": (NUM_HAND, 3), "right_hand": (NUM_HAND, 3)}
    if face:
        shapes["face"] = (NUM_FACE, 3)
    out, start = {}, 0
    for name, shape in shapes.items():
        size = shape[0] * shape[1]
        out[name] = vectors[..., start : start + size].reshape(vectors.shape[:-1] + shape)
        start += size
    return out


def _points(landmarks, count: int, with_visibility: bool) -> np.ndarray:
    width = 4 if with_visibility else 3
    if landmarks is None:
        return np.full((count, width), np.nan, np.float32)
    if with_visibility:
        return np.array([(p.x, p.y, p.z, p.visibility) for p in landmarks.landmark], np.float32)
    return np.array([(p.x, p.y, p.z) for p in landmarks.landmark], np.float32)


def pack_results(results, face: bool) -> bytes:
    """A Holistic result -> one frame's float32 vector (the layout in the module docstring)."""
    parts = [
        _points(results.pose_landmarks, NUM_POSE, True),
        _points(results.pose_world_landmarks, NUM_POSE, True),
        _points(results.left_hand_landmarks, NUM_HAND, False),
        _points(results.right_hand_landmarks, NUM_HAND, False),
    ]
    if face:
        # Refined meshes have 478 points; the first 468 are the plain mesh.
        parts.append(_points(results.face_landmarks, NUM_FACE, False)[:NUM_FACE])
    return np.concatenate([p.ravel() for p in parts]).astype("<f4").tobytes()


def topology() -> dict[str, list[tuple[int, int]]]:
    """Landmark connections per ``.pose`` component, as MediaPipe defines them."""
    from mediapipe.python.solutions import holistic

    pairs = lambda connections: sorted((int(a), int(b)) for a, b in connections)  # noqa: E731
    return {
        "POSE_LANDMARKS": pairs(holistic.POSE_CONNECTIONS),
        "POSE_WORLD_LANDMARKS": pairs(holistic.POSE_CONNECTIONS),
        "LEFT_HAND_LANDMARKS": pairs(holistic.HAND_CONNECTIONS),
        "RIGHT_HAND_LANDMARKS": pairs(holistic.HAND_CONNECTIONS),
        "FACE_LANDMARKS": pairs(holistic.FACEMESH_TESSELATION),
    }


def _read_exact(stream: BinaryIO, size: int) -> bytes | None:
    """``size`` bytes, or None at a clean EOF before the first byte."""
    data = stream.read(size)
    if not data:
        return None
    while len(data) < size:
        more = stream.read(size - len(data))
        if not more:
            raise EOFError(f"stdin closed inside a message ({len(data)} of {size} bytes)")
        data += more
    return data


def _reply(stream: BinaryIO, opcode: int, payload: bytes = b"") -> None:
    stream.write(REPLY.pack(opcode, len(payload)))
    stream.write(payload)
    stream.flush()


def serve(options: dict, stdin: BinaryIO, stdout: BinaryIO) -> None:
    """Answer requests until stdin closes."""
    import mediapipe
    from mediapipe.python.solutions import holistic

    face = bool(options["face"])

    def build():
        return holistic.Holistic(
            static_image_mode=False,
            model_complexity=MODEL_COMPLEXITY,
            smooth_landmarks=bool(options["smooth_landmarks"]),
            refine_face_landmarks=False,
            min_detection_confidence=float(options["min_detection_confidence"]),
            min_tracking_confidence=float(options["min_tracking_confidence"]),
        )

    model = build()
    hello = {"mediapipe": mediapipe.__version__, "frame_floats": frame_floats(face), "face": face, "topology": topology()}
    _reply(stdout, READY, json.dumps(hello).encode())
    while True:
        header = _read_exact(stdin, REQUEST.size)
        if header is None:
            break
        opcode, height, width, size = REQUEST.unpack(header)
        payload = _read_exact(stdin, size) if size else b""
        if size and payload is None:
            raise EOFError("stdin closed before a frame's payload")
        try:
            if opcode == RESET:
                model.reset()
                _reply(stdout, ACK)
            elif opcode == FRAME:
                if size != height * width * 3:
                    raise ValueError(f"frame of {height}x{width} RGB needs {height * width * 3} bytes, got {size}")
                image = np.frombuffer(payload, np.uint8).reshape(height, width, 3)
                _reply(stdout, LANDMARKS, pack_results(model.process(image), face))
            else:
                raise ValueError(f"unknown request opcode {opcode}")
        except Exception as exc:  # a bad frame must not end the worker: report it, start a clean graph
            _reply(stdout, ERROR, f"{type(exc).__name__}: {exc}".encode(errors="replace"))
            with contextlib.suppress(RuntimeError):  # a failed graph re-raises its error on close
                model.close()
            model = build()
    model.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="MediaPipe Holistic worker: RGB frames on stdin, landmarks on stdout")
    parser.add_argument("--options", default="{}", help=f"JSON object; keys and defaults: {DEFAULT_OPTIONS}")
    args = parser.parse_args(argv)
    options = {**DEFAULT_OPTIONS, **json.loads(args.options)}
    unknown = set(options) - set(DEFAULT_OPTIONS)
    if unknown:
        parser.error(f"unknown options {sorted(unknown)}")
    # The protocol gets a private copy of stdout; fd 1 goes to stderr, so that anything the native
    # code prints cannot corrupt the stream.
    protocol = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    serve(options, sys.stdin.buffer, protocol)


if __name__ == "__main__":
    main()
