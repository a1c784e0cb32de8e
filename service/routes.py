"""HTTP routes: thin wrappers over the engine.

No `from __future__ import annotations` here: the request model is built at run time and
FastAPI reads the endpoint's annotations as real objects.
"""

import asyncio
import dataclasses
import secrets
from collections.abc import Awaitable
from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, Request, Response, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from artifact.explain import CoreWord
from artifact.problem import thresholds_by_label
from service.config import Settings
from service.engine import Classification, ClassifierEngine, ClassifyOptions
from service.errors import ClientDisconnectedError, ErrorType, UnauthorizedError
from service.logs import current_request_id
from service.middleware import milliseconds
from service.schemas import (
    CLASSIFY_HEADERS,
    ClassifyRequestFields,
    ClassifyResponse,
    CoreWordResult,
    DocumentResult,
    Health,
    ModelInfo,
    ModelRef,
    classify_request_model,
    error_responses,
)

T = TypeVar("T")

bearer_scheme = HTTPBearer(auto_error=False)
api_key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False)


async def get_engine(request: Request) -> ClassifierEngine:
    # async: FastAPI runs plain `def` dependencies in a worker thread, a hop per request.
    return request.app.state.engine


def api_key_guard(expected: str):
    """A dependency accepting `Authorization: Bearer <key>` or `X-API-Key: <key>`."""

    async def check(
        bearer: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
        api_key: Annotated[str | None, Security(api_key_scheme)],
    ) -> None:
        given = bearer.credentials if bearer is not None else api_key
        if given is None:
            raise UnauthorizedError(
                "missing API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if not secrets.compare_digest(given.encode(), expected.encode()):
            raise UnauthorizedError("wrong API key", headers={"WWW-Authenticate": "Bearer"})

    return check


async def unless_disconnected(request: Request, work: Awaitable[T]) -> T:
    """Await `work`, cancelling it if the client disconnects first (its queued documents are
    then dropped by the batcher)."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
        if not task.done():
            task.cancel()
    if task.done() and not task.cancelled():
        return task.result()
    raise ClientDisconnectedError("the client disconnected before its results were ready")


async def _disconnected(request: Request) -> None:
    """Return once the client has gone (the body has already been read by then)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


def core_words(core: list[CoreWord] | None) -> list[CoreWordResult] | None:
    """A result's core words as the answer gives them (None when not asked: left out)."""
    if core is None:
        return None
    return [CoreWordResult(**dataclasses.asdict(word)) for word in core]


def document_result(document_id: str | None, result: Classification) -> DocumentResult:
    """A document's answer; `id`, `scores` and `core` only when there are some (the route answers
    with `exclude_unset`), `label` and `score` always (null when a multi-label model gives no
    label)."""
    optional = {"id": document_id, "scores": result.scores, "core": core_words(result.core)}
    return DocumentResult(
        label=result.label,
        score=result.score,
        labels=result.top,
        num_tokens=result.num_tokens,
        num_chunks=result.num_chunks,
        truncated=result.truncated,
        **{key: value for key, value in optional.items() if value is not None},
    )


def build_router(settings: Settings) -> APIRouter:
    ClassifyRequest = classify_request_model(
        settings.max_documents_per_request, settings.max_document_chars, settings.truncation
    )
    guarded = (
        [Depends(api_key_guard(settings.api_key.get_secret_value()))] if settings.api_key else []
    )
    # Every status each operation can answer, with the error body (docs/service.md, Errors).
    # An invalid x-request-id gets 400 anywhere, and anything unexpected 500.
    auth: tuple[ErrorType, ...] = ("unauthorized",) if settings.api_key else ()
    router = APIRouter()

    @router.post(
        "/classify",
        response_model=ClassifyResponse,
        response_model_exclude_unset=True,
        dependencies=guarded,
        summary="Classify documents",
        responses={
            200: {"headers": CLASSIFY_HEADERS},
            **error_responses(
                "bad_request",
                *auth,
                "payload_too_large",
                "validation",
                "queue_full",
                "inference",
                "internal",
                "not_ready",
                "timeout",
            ),
        },
    )
    async def classify(
        body: ClassifyRequest,  # type: ignore[valid-type]  # a class built at run time
        request: Request,
        response: Response,
        engine: Annotated[ClassifierEngine, Depends(get_engine)],
    ) -> ClassifyResponse:
        classify_request: ClassifyRequestFields = body
        texts = [document.text for document in classify_request.documents]
        given = classify_request.model_fields_set
        options = ClassifyOptions(
            top_k=classify_request.top_k if "top_k" in given else None,
            raw_scores=classify_request.raw_scores,
            truncation=classify_request.truncation,
            threshold=classify_request.threshold,
            explain=classify_request.explain,
            explain_top_k=classify_request.explain_top_k,
        )
        classified = await unless_disconnected(
            request, engine.classify(texts, options, current_request_id())
        )
        timings = classified.timings
        response.headers["x-tokenization-time"] = milliseconds(timings.tokenization_s)
        response.headers["x-queue-time"] = milliseconds(timings.queue_s)
        response.headers["x-inference-time"] = milliseconds(timings.inference_s)
        response.headers["x-num-tokens"] = str(timings.num_tokens)
        card = engine.card
        return ClassifyResponse(
            results=[
                document_result(document.id, result)
                for document, result in zip(
                    classify_request.documents, classified.results, strict=True
                )
            ],
            model=ModelRef(name=card.name, version=card.version, variant=card.variant),
        )

    @router.get(
        "/health/live",
        response_model=Health,
        summary="The process is up",
        responses=error_responses("bad_request", "internal"),
    )
    async def live() -> Health:
        return Health(status="alive")

    @router.get(
        "/health/ready",
        response_model=Health,
        responses={
            503: {"model": Health, "description": "Starting up or shutting down."},
            **error_responses("bad_request", "internal"),
        },
        summary="The model is loaded and warmed up, and the service is not stopping",
    )
    async def ready(
        response: Response, engine: Annotated[ClassifierEngine, Depends(get_engine)]
    ) -> Health:
        if engine.ready:
            return Health(status="ready")
        response.status_code = 503
        return Health(status="not ready")

    @router.get(
        "/v1/model",
        response_model=ModelInfo,
        dependencies=guarded,
        summary="The model served, its labels and its test metrics",
        responses=error_responses("bad_request", *auth, "internal"),
    )
    async def model_info(engine: Annotated[ClassifierEngine, Depends(get_engine)]) -> ModelInfo:
        card = engine.card
        return ModelInfo(
            name=card.name,
            version=card.version,
            variant=card.variant,
            provider=engine.classifier.provider,
            precision=engine.classifier.precision,
            labels=list(card.labels),
            problem_type=card.problem_type,
            thresholds=thresholds_by_label(card.label_rule, card.labels),
            max_length=engine.classifier.max_length,
            metrics=card.metrics,
            warnings=card.warnings,
            metadata=card.metadata,
        )

    @router.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        content, content_type = request.app.state.metrics.render()
        return Response(content=content, media_type=content_type)

    return router
