"""Errors of the service and the one table that maps them to HTTP status codes.

Every error response has the same body, `ErrorResponse`:
`{"error": {"type": "...", "message": "...", "details": [...]}}`; the OpenAPI document
publishes that model for each status an operation can answer. The handlers that answer with
it, and count each error, are in `handlers` (this module sits below `metrics`, which reads the
table).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

ErrorType = Literal[
    "bad_request",
    "validation",
    "payload_too_large",
    "unauthorized",
    "not_found",
    "method_not_allowed",
    "queue_full",
    "timeout",
    "client_disconnected",
    "inference",
    "not_ready",
    "internal",
]


@dataclass(frozen=True)
class ErrorKind:
    status: int
    when: str


# error type -> status and meaning; the keys are the `type` label of corebert_errors_total.
ERRORS: dict[ErrorType, ErrorKind] = {
    "bad_request": ErrorKind(
        400, "an invalid x-request-id header, or a body that cannot be decoded as text"
    ),
    "validation": ErrorKind(422, "the body is not JSON or does not match the schema"),
    "payload_too_large": ErrorKind(413, "the body is over the configured size limit"),
    "unauthorized": ErrorKind(401, "an API key is configured, and it is missing or wrong"),
    "not_found": ErrorKind(404, "no such path"),
    "method_not_allowed": ErrorKind(405, "the path does not take this method (see Allow)"),
    "queue_full": ErrorKind(429, "the queue cannot take the request's documents; retry later"),
    "timeout": ErrorKind(504, "the request took longer than the configured timeout"),
    "client_disconnected": ErrorKind(499, "the client left before its results were ready"),
    "inference": ErrorKind(500, "the model failed on a batch holding the request's documents"),
    "not_ready": ErrorKind(503, "the service is starting up or shutting down"),
    "internal": ErrorKind(500, "an unexpected error"),
}
ERROR_STATUS: dict[ErrorType, int] = {name: kind.status for name, kind in ERRORS.items()}


class ErrorDetail(BaseModel):
    field: str = Field(description="Where: `documents[3].text`, `top_k`, `x-request-id`, ...")
    document_index: int | None = Field(
        description="The document the problem is in, or null outside `documents`."
    )
    message: str
    type: str = Field(description="The validator's name for the problem.")


class ErrorInfo(BaseModel):
    type: ErrorType
    message: str
    details: list[ErrorDetail] = Field(description="One entry per problem; empty if none.")


class ErrorResponse(BaseModel):
    """The body of every error answer."""

    error: ErrorInfo


class ServiceError(Exception):
    """An error with a known type; its status code comes from ERROR_STATUS."""

    error_type: ClassVar[ErrorType] = "internal"

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


class ExplainUnavailableError(ServiceError):
    """`explain` asked of a model whose artifact has no explain graph (written before it)."""

    error_type = "validation"


def error_body(
    error_type: ErrorType, message: str, details: Sequence[dict[str, Any]] = ()
) -> dict[str, Any]:
    """The error body, through the model the OpenAPI document publishes."""
    error = ErrorInfo(
        type=error_type,
        message=message,
        details=[ErrorDetail.model_validate(detail) for detail in details],
    )
    return ErrorResponse(error=error).model_dump(mode="json")


def error_response(
    error_type: ErrorType,
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


# pydantic messages that do not say what is allowed -> ones that do, by (type, field name)
CLEARER_MESSAGES: dict[tuple[str, str | None], str] = {
    ("bool_type", None): "Input should be true or false",
    ("string_pattern_mismatch", "text"): "text is empty or whitespace only",
}


def validation_details(errors: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pydantic errors -> `{field, document_index, message, type}`, the document index set
    whenever the error lies inside `documents[i]`."""
    details = []
    for error in errors:
        location = tuple(error.get("loc", ()))
        kind, message = error.get("type", ""), error.get("msg", "")
        if kind == "json_invalid":  # located at a character of the body, not at a field
            position, location = location[-1], ("body",)
            message = f"{message} at character {position}: {error.get('ctx', {}).get('error')}"
        inner = location[1:] if location and location[0] == "body" else location
        index = inner[1] if len(inner) > 1 and inner[0] == "documents" else None
        name = location[-1] if location and isinstance(location[-1], str) else None
        message = CLEARER_MESSAGES.get((kind, name), CLEARER_MESSAGES.get((kind, None), message))
        details.append(
            {
                "field": field_path(location),
                "document_index": index if isinstance(index, int) else None,
                "message": message,
                "type": kind,
            }
        )
    return details
