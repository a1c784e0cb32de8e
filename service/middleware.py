"""ASGI middleware: request metrics for POST /classify, the request id and total time of every
request, and the request body size limit."""

from __future__ import annotations

import json
import logging
import math
import time
import uuid
from collections.abc import Sequence
from typing import Any

from pydantic import TypeAdapter, ValidationError
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import ERROR_STATUS, error_body
from service.logs import REQUEST_ID
from service.metrics import ServiceMetrics
from service.schemas import REQUEST_ID_HEADER, REQUEST_ID_RULE, RequestId
from service.tracing import Tracing

logger = logging.getLogger(__name__)

_REQUEST_ID = TypeAdapter(RequestId)


def milliseconds(seconds: float, round_up: bool = False) -> str:
    """A duration for a timing header: milliseconds with three decimals, rounded down (a part)
    or up (a total), so the parts never add up to more than the total."""
    microseconds = math.ceil(seconds * 1e6) if round_up else math.floor(seconds * 1e6)
    return f"{max(microseconds, 0) / 1000:.3f}"


async def send_json(
    send: Send, status: int, body: dict[str, Any], headers: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    content = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(content)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": content})


class RequestMetricsMiddleware:
    """Counts requests by status, times them end to end, and tracks those in flight, for the
    requests whose (method, path) is listed."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics, routes: set[tuple[str, str]]):
        self.app = app
        self.metrics = metrics
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (scope["method"], scope["path"]) not in self.routes:
            await self.app(scope, receive, send)
            return
        status = 500  # what the client gets when the app raises before answering

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        self.metrics.requests_in_flight.inc()
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_status)
        finally:
            self.metrics.request_duration.observe(time.perf_counter() - started)
            self.metrics.requests.labels(status=str(status)).inc()
            self.metrics.requests_in_flight.dec()


class RequestContextMiddleware:
    """Gives every HTTP request an id, the client's `x-request-id` or a new one, that its log
    lines (`service.logs`), its span and its response carry; adds `x-total-time` (ms, from here
    to the answer) to the response. An invalid id gets 400 `bad_request` naming the header.

    An exception nobody handled becomes the 500 `internal` answer here, so it carries the id
    too (and is logged with it)."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics, tracing: Tracing) -> None:
        self.app = app
        self.metrics = metrics
        self.tracing = tracing

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        given = dict(scope["headers"]).get(REQUEST_ID_HEADER.encode())
        try:
            request_id = self._request_id(given)
        except ValidationError as error:
            await self._reject(send, error)
            return
        token = REQUEST_ID.set(request_id)
        self.tracing.annotate_request(request_id)
        answered = False

        async def send_with_headers(message: Message) -> None:
            nonlocal answered
            if message["type"] == "http.response.start":
                answered = True
                headers = MutableHeaders(scope=message)
                headers.append(REQUEST_ID_HEADER, request_id)
                elapsed = time.perf_counter() - started
                headers.append("x-total-time", milliseconds(elapsed, round_up=True))
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as error:
            if answered:
                raise
            logger.exception("unexpected error on %s %s", scope["method"], scope["path"])
            self.metrics.errors.labels(type="internal").inc()
            body = error_body("internal", f"internal error: {type(error).__name__}")
            await send_json(send_with_headers, ERROR_STATUS["internal"], body)
        finally:
            REQUEST_ID.reset(token)

    @staticmethod
    def _request_id(given: bytes | None) -> str:
        if not given:
            return uuid.uuid4().hex
        return _REQUEST_ID.validate_python(given.decode("latin-1"))

    async def _reject(self, send: Send, error: ValidationError) -> None:
        self.metrics.errors.labels(type="bad_request").inc()
        details = [
            {
                "field": REQUEST_ID_HEADER,
                "document_index": None,
                "message": f"{problem['msg']}; allowed: {REQUEST_ID_RULE}",
                "type": problem["type"],
            }
            for problem in error.errors()
        ]
        body = error_body(
            "bad_request",
            f"invalid {REQUEST_ID_HEADER} header: {REQUEST_ID_RULE} (or leave it out and one is "
            "generated)",
            details,
        )
        fresh = uuid.uuid4().hex.encode()
        await send_json(send, ERROR_STATUS["bad_request"], body, [(b"x-request-id", fresh)])


class BodySizeLimitMiddleware:
    """Answers 413 to a body over `max_bytes`, from Content-Length or while reading it.

    The body is read here in full (the JSON parser needs all of it anyway) and replayed to the
    app; later `receive` calls pass through, so the app still sees the client disconnect.
    """

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics, max_bytes: int) -> None:
        self.app = app
        self.metrics = metrics
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._reject(send, f"{int(declared)} bytes declared")
            return
        chunks, size, more_body = [], 0, True
        while more_body:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._reject(send, f"over {size} bytes received")
                return
            chunks.append(chunk)
            more_body = message.get("more_body", False)
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _reject(self, send: Send, seen: str) -> None:
        self.metrics.errors.labels(type="payload_too_large").inc()
        body = error_body(
            "payload_too_large",
            f"request body too large: {seen}, the limit is {self.max_bytes} bytes",
        )
        await send_json(send, ERROR_STATUS["payload_too_large"], body, [(b"connection", b"close")])
