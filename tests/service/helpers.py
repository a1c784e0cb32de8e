"""Test doubles and helpers for the service tests: a gated classifier, an in-process app, and
what the app shows from outside (its queue depth)."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import httpx
import numpy as np

from artifact.explain import SequenceExplanation, TokenSpans
from artifact.truncation import DocumentWindows, Truncation
from service.app import create_app
from service.config import Settings
from service.runtime import OnnxBackend
from service.types import BatchPrediction, Classifier


class IsolatedSettings(Settings):
    """Settings from keyword arguments only: the environment of the test run does not leak in."""

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, **other_sources):
        return (init_settings,)


class GatedClassifier:
    """The real ONNX classifier, with a gate the test opens to let batches run, a record of
    every batch, and an optional failure for batches holding a given token id."""

    def __init__(self, inner: OnnxBackend, fail_on_token: int | None = None) -> None:
        self.inner = inner
        self.card = inner.card
        self.provider = inner.provider
        self.precision = inner.precision
        self.max_length = inner.max_length
        self.gate = threading.Event()
        self.gate.set()
        self.batches: list[list[tuple[int, ...]]] = []
        self.fail_on_token = fail_on_token

    def tokenize(self, texts: Sequence[str], truncation: Truncation) -> list[DocumentWindows]:
        return self.inner.tokenize(texts, truncation)

    def predict(self, sequences: Sequence[np.ndarray]) -> BatchPrediction:
        self.batches.append([tuple(int(i) for i in ids) for ids in sequences])
        if not self.gate.wait(timeout=30):
            raise TimeoutError("the test never opened the gate")
        if self.fail_on_token is not None and any(self.fail_on_token in ids for ids in sequences):
            raise RuntimeError("injected failure")
        return self.inner.predict(sequences)

    @property
    def can_explain(self) -> bool:
        return self.inner.can_explain

    def explain(self, sequences: Sequence[np.ndarray]) -> list[SequenceExplanation]:
        return self.inner.explain(sequences)

    def token_spans(self, texts: Sequence[str]) -> list[TokenSpans]:
        return self.inner.token_spans(texts)

    def warm_up(self) -> None:
        self.inner.warm_up()


@asynccontextmanager
async def serve(
    settings: Settings, classifier: Classifier | None = None, tracer_provider=None
) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan running, and an httpx client talking to it in process; the
    app itself is on `client.app`, for tests that look at its engine."""
    app = create_app(settings, classifier, tracer_provider)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://corebert") as client:
            client.app = app
            yield client


def queue_depth(client: httpx.AsyncClient) -> float:
    """Documents admitted and not yet in a batch, as the app exports them (corebert_queue_depth)."""
    return client.app.state.metrics.registry.get_sample_value("corebert_queue_depth")


def tokenized_requests(client: httpx.AsyncClient) -> float:
    """Requests whose documents are tokenized, and so queued for a batch: the engine queues them
    in the same step of the event loop as it records their tokenization time. The queue depth
    also counts the documents admitted and still being tokenized."""
    registry = client.app.state.metrics.registry
    return registry.get_sample_value("corebert_tokenization_duration_seconds_count")
