"""Errors of the service and the one table that maps them to HTTP status codes.

Every error response has the same body:
`{"error": {"type": "...", "message": "...", "details": [...]}}`. The handlers that answer with
it, and count each error, are in `handlers` (this module sits below `metrics`, which reads the
table).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from fastapi.responses import JSONResponse

# error type -> HTTP status code; the keys are the `type` label of corebert_errors_total.
ERROR_STATUS: dict[str, int] = {
    "bad_request": 400,  # an invalid x-request-id header
    "validation": 422,  # the body does not match the schema
    "payload_too_large": 413,  # the body is over max_body_bytes
    "unauthorized": 401,  # API key configured, and missing or wrong
    "queue_full": 429,  # the queue cannot take the request's documents (Retry-After)
    "timeout": 504,  # the request took longer than request_timeout_s
    "client_disconnected": 499,  # the client left; its queued documents were dropped
    "inference": 500,  # the model failed on a batch holding the request's documents
    "not_ready": 503,  # warming up or shutting down
    "internal": 500,  # anything else
}


class ServiceError(Exception):
    """An error with a known type; its status code comes from ERROR_STATUS."""

    error_type: ClassVar[str] = "internal"

    def __init__(self, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}

    @property
    def status_code(self) -> int:
        return ERROR_STATUS[self.error_type]


class BadRequestError(ServiceError):
    error_type = "bad_request"


class UnauthorizedError(ServiceError):
    error_type = "unauthorized"


class QueueFullError(ServiceError):
    error_type = "queue_full"


class RequestTimeoutError(ServiceError):
    error_type = "timeout"


class ClientDisconnectedError(ServiceError):
    error_type = "client_disconnected"


class InferenceError(ServiceError):
    error_type = "inference"


class NotReadyError(ServiceError):
    error_type = "not_ready"


def error_body(
    error_type: str, message: str, details: Sequence[dict[str, Any]] = ()
) -> dict[str, Any]:
    return {"error": {"type": error_type, "message": message, "details": list(details)}}


def error_response(
    error_type: str,
    message: str,
    details: Sequence[dict[str, Any]] = (),
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(
        error_body(error_type, message, details),
        status_code=ERROR_STATUS[error_type],
        headers=headers,
    )


def field_path(location: Sequence[str | int]) -> str:
    """`("body", "documents", 3, "text")` -> `"documents[3].text"`."""
    path = ""
    for part in location[1:] if location and location[0] == "body" else location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "body"


# pydantic messages that do not say what is allowed -> ones that do
ALLOWED_VALUES_MESSAGES = {"bool_type": "Input should be true or false"}


def validation_details(errors: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pydantic errors -> `{field, document_index, message, type}`, the document index set
    whenever the error lies inside `documents[i]`."""
    details = []
    for error in errors:
        location = tuple(error.get("loc", ()))
        inner = location[1:] if location and location[0] == "body" else location
        index = inner[1] if len(inner) > 1 and inner[0] == "documents" else None
        details.append(
            {
                "field": field_path(location),
                "document_index": index if isinstance(index, int) else None,
                "message": ALLOWED_VALUES_MESSAGES.get(error.get("type", ""), error.get("msg", "")),
                "type": error.get("type", ""),
            }
        )
    return details
