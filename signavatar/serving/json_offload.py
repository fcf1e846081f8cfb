"""Large JSON documents (motion clip uploads, up to ``max_json_bytes``) parsed in a child process.

Parsing 15 MiB of JSON takes ~0.15 s in C code that never releases the GIL, so on a thread it
would still stall the replica's event loop, and every other request with it (``/healthz``
included). The child (``python -m signavatar.serving.json_offload``, started on first use, one
per replica, importing only numpy and orjson) parses the document, turns the clip's numeric
fields into float32 arrays and answers with their raw buffers beside a small JSON header of
everything else; the replica only copies bytes (no pickle either way).

Wire format, both directions: an 8-byte big-endian length, then that many bytes. Request: the
document. Answer: a header ``{"ok": true, "fields": {...}, "arrays": [[name, shape], ...]}``
followed by one message per array (float32, C order), or ``{"ok": false, "error": "..."}``.
"""

from __future__ import annotations

import asyncio
import os
import struct
import sys
from typing import Any, BinaryIO

import numpy as np
import orjson

ARRAY_FIELDS = ("poses", "expression", "betas", "trans", "confidence")
MAX_HEADER_BYTES = 1024 * 1024  # the document without its arrays (gloss, clip_id, source, segments...)
_LENGTH = struct.Struct(">Q")


def parse_clip_document(data: bytes) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(other fields, numeric arrays) of a JSON motion clip; a ValueError names what is wrong."""
    try:
        payload = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise ValueError("must be a JSON object (a motion clip)")
    arrays = {}
    for name in ARRAY_FIELDS:
        if isinstance(payload.get(name), list):
            try:
                arrays[name] = np.ascontiguousarray(payload.pop(name), dtype=np.float32)
            except (TypeError, ValueError):
                raise ValueError(f"field {name!r} is not a numeric array") from None
    return payload, arrays


# --- the child ----------------------------------------------------------------------------------

def _read_message(stream: BinaryIO) -> bytes | None:
    head = stream.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        return None
    return stream.read(_LENGTH.unpack(head)[0])


def _write_message(stream: BinaryIO, data: bytes | memoryview) -> None:
    stream.write(_LENGTH.pack(len(data)))
    stream.write(data)


def serve_forever(stdin: BinaryIO, stdout: BinaryIO) -> None:
    """Answer documents until stdin closes (the replica is gone)."""
    while (data := _read_message(stdin)) is not None:
        try:
            fields, arrays = parse_clip_document(data)
            header = orjson.dumps({"ok": True, "fields": fields,
                                   "arrays": [[name, list(a.shape)] for name, a in arrays.items()]})
            if len(header) > MAX_HEADER_BYTES:
                raise ValueError(f"has {len(header)} bytes outside its numeric arrays; the limit is "
                                 f"{MAX_HEADER_BYTES}")
        except (ValueError, TypeError) as exc:
            fields, arrays, header = {}, {}, orjson.dumps({"ok": False, "error": str(exc)})
        _write_message(stdout, header)
        for array in arrays.values():
            _write_message(stdout, memoryview(array).cast("B"))
        stdout.flush()
        del data, fields, arrays


# --- the replica's side -------------------------------------------------------------------------

class JsonOffload:
    """The replica's handle on its child; one document at a time."""

    def __init__(self) -> None:
        self._process: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()

    async def _child(self) -> asyncio.subprocess.Process:
        if self._process is None or self._process.returncode is not None:
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
            self._process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "signavatar.serving.json_offload", stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE, env=env, limit=1 << 20)
        return self._process

    async def parse_clip(self, data: bytes) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """As :func:`parse_clip_document`, in the child."""
        async with self._lock:
            child = await self._child()
            try:
                child.stdin.write(_LENGTH.pack(len(data)))
                child.stdin.write(data)
                await child.stdin.drain()
                header = orjson.loads(await self._read(child))
                arrays = {name: np.frombuffer(await self._read(child), np.float32).reshape(shape)
                          for name, shape in header["arrays"]} if header["ok"] else {}
            except BaseException as exc:  # died, or cancelled mid-exchange: the next document gets a fresh child
                child.kill()
                self._process = None
                if isinstance(exc, (OSError, EOFError, asyncio.IncompleteReadError)):
                    raise RuntimeError("the JSON parser process stopped") from None
                raise
        if not header["ok"]:
            raise ValueError(header["error"])
        return header["fields"], arrays

    @staticmethod
    async def _read(child: asyncio.subprocess.Process) -> bytes:
        (length,) = _LENGTH.unpack(await child.stdout.readexactly(_LENGTH.size))
        return await child.stdout.readexactly(length)

    def close(self) -> None:
        if self._process is not None and self._process.returncode is None:
            self._process.kill()


if __name__ == "__main__":
    serve_forever(sys.stdin.buffer, sys.stdout.buffer)
