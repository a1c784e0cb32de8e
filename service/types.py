"""The types the service's layers exchange, and the `Classifier` protocol a backend implements.

The lowest layer of the service: the queue (`batching`), the engine, the ONNX backend
(`runtime`) and tracing all import it, and it imports none of them, so the queue never loads a
backend. Times are `time.perf_counter()` seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from artifact.card import ModelCard
from artifact.explain import SequenceExplanation, TokenSpans
from artifact.truncation import DocumentWindows, Truncation


@dataclass(frozen=True)
class BatchPrediction:
    """Model outputs for a batch, one row per document in batch order."""

    logits: np.ndarray  # (batch, num_labels) float32
    probabilities: np.ndarray  # (batch, num_labels) float32: softmax, or sigmoid (multi-label)
    kept_kv_ratio: np.ndarray  # (batch,) float64 in [0, 1]


@dataclass(frozen=True)
class RequestOrigin:
    """Where a queued document comes from: its request's id (for log lines about the batch) and
    the request's trace context (opaque here; None when tracing is off)."""

    request_id: str | None = None
    trace_context: object | None = None


@dataclass(frozen=True)
class BatchRun:
    """One model batch as it ran: the queue numbers its batches from 1."""

    number: int
    documents: int
    padded_tokens: int  # documents x longest sequence
    started: float
    finished: float
    trace_context: object | None = None  # the batch's span, for the requests' spans to link to

    @property
    def duration(self) -> float:
        return self.finished - self.started


@dataclass(frozen=True)
class RequestTimings:
    """Where one classify request's time went: tokenizing, waiting in the queue, and the batches
    that ran its documents (each once, in the order they ran)."""

    tokenize_started: float
    tokenize_finished: float
    queued: float  # when its documents joined the queue
    batches: tuple[BatchRun, ...]
    num_tokens: int  # tokens the model read, over the request's documents

    @property
    def tokenization_s(self) -> float:
        return self.tokenize_finished - self.tokenize_started

    @property
    def inference_s(self) -> float:
        """The time of the batches that held its documents."""
        return sum(batch.duration for batch in self.batches)

    @property
    def queue_s(self) -> float:
        """From queueing to its last result, less the time its batches ran: the time its
        documents waited while none of them was running."""
        if not self.batches:
            return 0.0
        waited = max(batch.finished for batch in self.batches) - self.queued - self.inference_s
        return max(waited, 0.0)


class Classifier(Protocol):
    """What the engine needs from a backend (`runtime.OnnxBackend` is the one).

    `tokenize` and `predict` are blocking and must be thread-safe: the engine calls them from
    worker threads, off the event loop.
    """

    card: ModelCard
    provider: str  # the ONNX Runtime execution provider the session runs on
    precision: str  # the artifact's graph it runs: fp32, int8 or fp16
    max_length: int

    def tokenize(self, texts: Sequence[str], truncation: Truncation) -> list[DocumentWindows]:
        """What the model reads of each text: one sequence, or its windows (`chunks`), each of at
        most `max_length` tokens."""
        ...

    def predict(self, sequences: Sequence[np.ndarray]) -> BatchPrediction: ...

    @property
    def can_explain(self) -> bool:
        """Whether the artifact has an explain graph."""
        ...

    def explain(self, sequences: Sequence[np.ndarray]) -> list[SequenceExplanation]:
        """The explain graph's outputs for the sequences, run as one batch."""
        ...

    def token_spans(self, texts: Sequence[str]) -> list[TokenSpans]:
        """Each text's untruncated tokens: character offsets and word ids."""
        ...

    def warm_up(self) -> None: ...
