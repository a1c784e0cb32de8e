"""ASGI middleware: request metrics for POST /classify, and the request body size limit."""

from __future__ import annotations

import json
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import ERROR_STATUS, error_body
from service.metrics import ServiceMetrics


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
        content = json.dumps(
            error_body(
                "payload_too_large",
                f"request body too large: {seen}, the limit is {self.max_bytes} bytes",
            )
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": ERROR_STATUS["payload_too_large"],
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(content)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": content})
