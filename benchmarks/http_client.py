"""A plain keep-alive HTTP client for the serving benchmarks: ``http.client`` on one connection per
client thread, far less CPU per request than ``requests`` (the clients share the machine with the
proxy and the replica, so what they spend is taken from the server)."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator


class Client:
    """One keep-alive HTTP connection (reopened after the server closes it)."""

    def __init__(self, port: int, timeout: float = 120.0) -> None:
        self.port, self.timeout = port, timeout
        self.conn: http.client.HTTPConnection | None = None
        self.headers: http.client.HTTPMessage | None = None  # of the last response

    def request(self, method: str, path: str, body: bytes | Iterator[bytes] | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, bytes, float]:
        """(status, body, seconds); status 0 when the connection failed before an answer came."""
        start = time.perf_counter()
        for attempt in range(2):  # a keep-alive connection the server closed meanwhile: once more, fresh
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            try:
                try:
                    self.conn.request(method, path, body=body, headers=headers or {})
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the server answered before the body was sent (a refusal): read that answer
                response = self.conn.getresponse()
                data = response.read()
                self.headers = response.headers
                if response.will_close:
                    self.close()
                return response.status, data, time.perf_counter() - start
            except (OSError, http.client.HTTPException):
                self.close()
                if attempt or not isinstance(body, (bytes, type(None))):
                    return 0, b"", time.perf_counter() - start
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def json_request(client: Client, path: str, payload: dict) -> tuple[int, bytes, float]:
    return client.request("POST", path, json.dumps(payload).encode(), {"content-type": "application/json"})
