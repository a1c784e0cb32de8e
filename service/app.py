"""Assembles the FastAPI app; the engine lives in the lifespan.

`uvicorn service.app:app` reads the settings from the environment when it loads `app`;
tests and embedders call `create_app(settings, classifier)` instead.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI

from artifact.card import ArtifactError, load_artifact
from service.config import Settings
from service.engine import ClassifierEngine
from service.handlers import install_error_handlers
from service.logs import configure_logging
from service.metrics import ServiceMetrics
from service.middleware import (
    BodySizeLimitMiddleware,
    RequestContextMiddleware,
    RequestMetricsMiddleware,
)
from service.playground import install_playground
from service.routes import build_router
from service.runtime import OnnxBackend
from service.schemas import document_request_context
from service.tracing import start_tracing
from service.types import Classifier

if TYPE_CHECKING:  # the API's type only; nothing of OpenTelemetry is imported to run this
    from opentelemetry.trace import TracerProvider

logger = logging.getLogger(__name__)


def load_backend(settings: Settings) -> OnnxBackend:
    """The ONNX backend of the artifact in `settings.model_dir`; an `ArtifactError` when the
    artifact is incomplete or malformed or lacks the graph `settings.precision` names."""
    return OnnxBackend(
        load_artifact(settings.model_dir),
        device=settings.device,
        max_length=settings.max_length,
        intra_op_threads=settings.intra_op_threads,
        precision=settings.precision,
    )


def publish_request_context(app: FastAPI) -> None:
    """The OpenAPI document, with the request id header and the timing headers that the
    request middleware adds to every operation."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_request_context(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented override


def create_app(
    settings: Settings | None = None,
    classifier: Classifier | None = None,
    tracer_provider: TracerProvider | None = None,
) -> FastAPI:
    """The app serving `classifier`, or the artifact in `settings.model_dir` when None.

    Tracing is on when `settings.otlp_endpoint` is set, or with the `tracer_provider` given."""
    settings = settings if settings is not None else Settings()
    configure_logging(settings.log_level, settings.log_format)
    metrics = ServiceMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            backend = (
                classifier
                if classifier is not None
                else await asyncio.to_thread(load_backend, settings)
            )
        except ArtifactError as error:  # the whole story is in the message: one line says it
            logger.error("cannot start: %s", error)
            raise
        engine = ClassifierEngine(backend, settings, metrics, tracing)
        app.state.engine = engine
        await engine.start()
        for warning in engine.card.warnings:
            logger.warning("model %s was trained with a warning: %s", engine.card.name, warning)
        logger.info("ready: %s at %s on %s", engine.card.name, backend.precision, backend.provider)
        try:
            yield
        finally:
            logger.info("shutting down: finishing queued documents")
            await engine.stop()
            await asyncio.to_thread(tracing.shutdown)  # flushes spans: network, off the loop

    app = FastAPI(
        title="corebert",
        summary="Document classification with a pruned, token-combining BERT on ONNX Runtime.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    tracing = start_tracing(app, settings.otlp_endpoint, tracer_provider)
    app.include_router(build_router(settings))
    install_playground(app)
    publish_request_context(app)
    install_error_handlers(app, metrics)
    # Added last = outermost: metrics see every answer, the 400 of an invalid request id and
    # the 413 of the size limit included; those carry the request id and total time too.
    app.add_middleware(BodySizeLimitMiddleware, metrics=metrics, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContextMiddleware, metrics=metrics, tracing=tracing)
    app.add_middleware(RequestMetricsMiddleware, metrics=metrics, routes={("POST", "/classify")})
    return app


def __getattr__(name: str) -> FastAPI:
    """`service.app:app` for uvicorn, built on first access so importing reads no settings."""
    if name == "app":
        return create_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
