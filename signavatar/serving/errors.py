"""Errors the HTTP API answers with: one JSON shape for all of them.

``{"error": <code>, "message": <what is wrong, naming the field or input>, "request_id": <id>}``.
4xx means the request was wrong (the server keeps serving); 5xx means we failed, and the request
id is the key to find the logged traceback.
"""

from __future__ import annotations


class ServiceError(Exception):
    status: int = 500
    code: str = "internal_error"
    headers: dict[str, str] = {}  # extra response headers of this kind of error

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(ServiceError):
    status, code = 400, "bad_request"


class UndecodableInput(ServiceError):
    status, code = 400, "undecodable_input"


class RequestTimeout(ServiceError):
    """The client did not send its request in time; the connection is closed."""

    status, code = 408, "request_timeout"
    headers = {"connection": "close"}


class PayloadTooLarge(ServiceError):
    """The body, or what it decodes to (clip frames, image pixels, video frames), is over a limit;
    the message names the limit."""

    status, code = 413, "payload_too_large"


class UnsupportedMediaType(ServiceError):
    status, code = 415, "unsupported_media_type"


class InvalidInput(ServiceError):
    """Well-formed but out of range or breaking the motion-clip contract (NaN, wrong shape)."""

    status, code = 422, "invalid_input"


class ModelError(ServiceError):
    status, code = 500, "model_error"


class NotConfigured(ServiceError):
    """A feature whose backend this deployment does not have (e.g. no video estimator)."""

    status, code = 501, "not_configured"


class NotReady(ServiceError):
    status, code = 503, "not_ready"


class Overloaded(ServiceError):
    """A route or budget of the replica is spent (back-pressure): retry after ``retry_after_s``."""

    status, code = 503, "overloaded"

    def __init__(self, message: str, retry_after_s: int = 1) -> None:
        super().__init__(message)
        self.headers = {"retry-after": str(max(1, int(retry_after_s)))}
