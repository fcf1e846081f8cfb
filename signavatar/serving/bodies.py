"""Request bodies, received whole before any work is done with them.

A body is refused from its ``content-length`` when that is over the limit (413, nothing read), and
while it arrives: past the limit (413), after a pause longer than ``body_idle_timeout_s`` or when
not complete within ``body_timeout_s`` (408, the connection is closed). A JSON body (small:
``max_request_json_bytes``) is collected in memory; a multipart form is parsed as it streams in,
each file part written to a spooled temporary file (in memory up to 1 MiB, then on disk), so an
upload is held once, by the file system, until a decoder reads it from there.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator

from starlette.datastructures import FormData
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import ClientDisconnect, Request

from signavatar.config import ServeConfig
from signavatar.serving.errors import BadRequest, PayloadTooLarge, RequestTimeout, ServiceError

MAX_FORM_FIELD_BYTES = 64 * 1024  # a non-file form field (gloss, seed, ...)


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def body_limit(mtype: str, cfg: ServeConfig) -> tuple[int, str]:
    """(byte limit, its setting's name) for a body of media type ``mtype``."""
    if mtype == "application/json":
        return cfg.max_request_json_bytes, "max_request_json_bytes"
    return cfg.max_upload_bytes, "max_upload_bytes"


@contextlib.contextmanager
def unread_body() -> Iterator[None]:
    """A refusal raised in the block is answered with ``connection: close``: it comes before the
    body is read, and the client may still be sending one nobody will read."""
    try:
        yield
    except ServiceError as exc:
        exc.headers = {**exc.headers, "connection": "close"}
        raise


def declared_length(request: Request, limit: int, setting: str) -> int | None:
    """The body's declared length (None: chunked), or a 413 when it is over ``limit``."""
    declared = request.headers.get("content-length")
    if declared is None or not declared.isdigit():
        return None
    if int(declared) > limit:
        raise PayloadTooLarge(f"request body of {int(declared)} bytes exceeds the limit of {limit} bytes ({setting})")
    return int(declared)


async def chunks(request: Request, limit: int, setting: str, cfg: ServeConfig) -> AsyncIterator[bytes]:
    """The body's pieces as they arrive, within ``limit`` bytes, ``body_idle_timeout_s`` between
    pieces and ``body_timeout_s`` in all."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + cfg.body_timeout_s
    stream = request.stream()
    size = 0
    while True:
        left = deadline - loop.time()
        try:
            chunk = await asyncio.wait_for(anext(stream), min(cfg.body_idle_timeout_s, max(left, 0.0)))
        except StopAsyncIteration:
            return
        except TimeoutError:
            if left <= cfg.body_idle_timeout_s:
                raise RequestTimeout(f"the request body did not arrive within {cfg.body_timeout_s:g} s "
                                     f"(body_timeout_s; {size} bytes received)") from None
            raise RequestTimeout(f"the request body paused for more than {cfg.body_idle_timeout_s:g} s "
                                 f"(body_idle_timeout_s; {size} bytes received)") from None
        except ClientDisconnect:
            raise BadRequest("the client disconnected while sending the request body") from None
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request body exceeds the limit of {limit} bytes ({setting})")
        if chunk:
            yield chunk


async def receive_bytes(request: Request, limit: int, setting: str, cfg: ServeConfig) -> bytes:
    body = bytearray()
    async for chunk in chunks(request, limit, setting, cfg):
        body += chunk
    return bytes(body)


async def receive_form(request: Request, limit: int, setting: str, cfg: ServeConfig,
                       max_files: int = 2, max_fields: int = 16) -> FormData:
    """A multipart body parsed as it arrives, file parts into spooled temporary files; the caller
    closes the form (``await form.close()``), which deletes them."""
    parser = MultiPartParser(request.headers, chunks(request, limit, setting, cfg), max_files=max_files,
                             max_fields=max_fields, max_part_size=MAX_FORM_FIELD_BYTES)
    try:
        return await parser.parse()
    except MultiPartException as exc:
        raise BadRequest(f"malformed multipart body: {exc.message}") from None
