"""Exception handlers: every error becomes the one error body (`errors`) and is counted in
corebert_errors_total (`metrics`)."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from service.errors import ErrorType, ServiceError, error_body, error_response, validation_details
from service.metrics import ServiceMetrics

# What the framework answers by itself (routing, a body it cannot decode) -> the error type.
HTTP_ERROR_TYPES: dict[int, ErrorType] = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
}

logger = logging.getLogger(__name__)


def install_error_handlers(app: FastAPI, metrics: ServiceMetrics) -> None:
    """Map validation errors, ServiceErrors and anything unexpected to the error body, and
    count each in corebert_errors_total."""

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, error: RequestValidationError) -> JSONResponse:
        metrics.errors.labels(type="validation").inc()
        details = validation_details(error.errors())
        summary = "; ".join(f"{d['field']}: {d['message']}" for d in details[:3])
        more = f" (and {len(details) - 3} more)" if len(details) > 3 else ""
        return error_response("validation", f"invalid request: {summary}{more}", details)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, error: HTTPException) -> JSONResponse:
        error_type = HTTP_ERROR_TYPES.get(error.status_code, "internal")
        metrics.errors.labels(type=error_type).inc()
        return JSONResponse(
            error_body(error_type, str(error.detail)),
            status_code=error.status_code,
            headers=error.headers,
        )

    @app.exception_handler(ServiceError)
    async def _service(request: Request, error: ServiceError) -> JSONResponse:
        metrics.errors.labels(type=error.error_type).inc()
        return error_response(error.error_type, error.message, headers=error.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        logger.exception("unexpected error on %s %s", request.method, request.url.path)
        metrics.errors.labels(type="internal").inc()
        return error_response("internal", f"internal error: {type(error).__name__}")
