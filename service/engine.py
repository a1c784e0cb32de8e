"""The classification engine: admission, tokenization, batching and results for one request.

Routes call `ClassifierEngine.classify`; the engine owns the backend, the batcher and the
tokenizer threads, and is started and stopped by the app's lifespan. Each request's timings
come back with its results (for the response headers) and go to the tracer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from artifact.card import ModelCard
from artifact.explain import DEFAULT_CORE_WORDS, CoreWord, SequenceExplanation, core_words
from artifact.files import EXPLAIN_FILE
from artifact.truncation import (
    STRATEGIES,
    DocumentWindows,
    Truncation,
    TruncationStrategy,
    aggregate_windows,
)
from service.batching import Batcher, BatchPolicy, DocumentPrediction
from service.config import Settings
from service.errors import ExplainUnavailableError, NotReadyError, RequestTimeoutError
from service.metrics import ServiceMetrics
from service.schemas import LabelScore
from service.tracing import NoTracing, Tracing
from service.types import Classifier, RequestOrigin, RequestTimings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClassifyOptions:
    """How a request wants its documents classified (the request body's options)."""

    top_k: int | None = None  # None: not asked (single-label: 1; multi-label: no `scores`)
    raw_scores: bool = False  # logits instead of probabilities
    truncation: TruncationStrategy | None = None  # None: the service's COREBERT_TRUNCATION
    threshold: float | None = None  # multi-label: one threshold for every label instead
    explain: bool = False  # also say which words decided (`core`)
    explain_top_k: int = DEFAULT_CORE_WORDS  # core words per document


@dataclass(frozen=True)
class Classification:
    """The result for one document."""

    label: str | None  # the best label; None when a multi-label model gives none
    score: float | None
    top: list[LabelScore]  # the top_k labels, or a multi-label model's labels given; best first
    num_tokens: int  # of every window
    num_chunks: int  # windows read: 1 unless chunks
    truncated: bool
    scores: list[LabelScore] | None = None  # multi-label: the top_k labels, when asked
    core: list[CoreWord] | None = None  # with explain: the words that decided, best first


@dataclass(frozen=True)
class ClassifiedRequest:
    """The results of one request, in document order, and where its time went."""

    results: list[Classification]
    timings: RequestTimings


def top_labels(
    probabilities: np.ndarray,
    labels: Sequence[str],
    k: int,
    scores: np.ndarray | None = None,
    given: np.ndarray | None = None,
) -> list[LabelScore]:
    """The k most probable labels (of those `given`, a boolean mask, when given), best first
    (ties go to the lower class id), each with its probability, or with its entry of `scores`
    (the logits) when given."""
    order = np.argsort(-probabilities, kind="stable")
    if given is not None:
        order = order[given[order]]
    shown = probabilities if scores is None else scores
    return [LabelScore(label=labels[index], score=float(shown[index])) for index in order[:k]]


class ClassifierEngine:
    def __init__(
        self,
        classifier: Classifier,
        settings: Settings,
        metrics: ServiceMetrics,
        tracing: Tracing | None = None,
    ) -> None:
        self.classifier = classifier
        self._metrics = metrics
        self._tracing: Tracing = tracing if tracing is not None else NoTracing()
        self._timeout_s = settings.request_timeout_s
        self._shutdown_timeout_s = settings.shutdown_timeout_s
        self._default_truncation = settings.truncation
        self._truncations = {
            strategy: Truncation(strategy, settings.chunk_stride, settings.max_chunks)
            for strategy in STRATEGIES
        }
        try:  # the model's window is known only now
            self._truncations["chunks"].check(classifier.max_length)
        except ValueError as error:
            raise ValueError(f"COREBERT_CHUNK_STRIDE={settings.chunk_stride}: {error}") from None
        if settings.max_batch_tokens < classifier.max_length:
            logger.warning(
                "max_batch_tokens (%d) is below the model's max_length (%d): full-length "
                "documents run alone",
                settings.max_batch_tokens,
                classifier.max_length,
            )
        self._batcher = Batcher(
            classifier.predict,
            BatchPolicy(
                max_documents=settings.max_batch_documents,
                max_tokens=settings.max_batch_tokens,
                max_wait_s=settings.batch_max_wait_s,
                max_queued_documents=settings.max_queue_documents,
            ),
            metrics,
            self._tracing,
            explain=classifier.explain,
        )
        self._tokenizer_pool = ThreadPoolExecutor(
            max_workers=2, thread_name_prefix="corebert-tokenize"
        )
        self._started = False

    @property
    def ready(self) -> bool:
        """Warmed up, batching, and not stopping."""
        return self._started and self._batcher.accepting

    @property
    def card(self) -> ModelCard:
        return self.classifier.card

    async def start(self) -> None:
        """Warm the model up, then start batching; ready only after both."""
        started = time.perf_counter()
        await asyncio.to_thread(self.classifier.warm_up)
        logger.info("warm-up done in %.2f s", time.perf_counter() - started)
        card = self.card
        self._metrics.describe_model(
            card.name,
            card.version,
            card.variant,
            self.classifier.provider,
            self.classifier.precision,
            card.labels,
        )
        if self.classifier.provider == "CUDAExecutionProvider":
            self._metrics.watch_gpu_memory()
        self._batcher.start()
        self._started = True
        self._metrics.ready.set(1)

    async def stop(self) -> None:
        """Stop accepting, finish what is queued, then release the threads."""
        self._started = False
        self._metrics.ready.set(0)
        await self._batcher.close(self._shutdown_timeout_s)
        self._tokenizer_pool.shutdown(wait=False, cancel_futures=True)

    async def classify(
        self,
        texts: Sequence[str],
        options: ClassifyOptions | None = None,
        request_id: str | None = None,
    ) -> ClassifiedRequest:
        """Classify the texts, in order, within the request timeout.

        Each document takes a place in the queue on arrival, and a chunked one a place for each
        further window once tokenized (429 when they do not fit); its windows are batched like
        documents and its scores are their token-weighted mean (`artifact.truncation`)."""
        options = options if options is not None else ClassifyOptions()
        truncation = self._truncations[options.truncation or self._default_truncation]
        if not self.ready:
            raise NotReadyError("the service is not ready (warming up or shutting down)")
        if options.explain and not self.classifier.can_explain:
            raise ExplainUnavailableError(
                f"explain: model {self.card.name!r} cannot explain its results: its artifact "
                f"has no explain graph ({EXPLAIN_FILE}; artifacts exported before it lack it)"
            )
        origin = RequestOrigin(request_id, self._tracing.current_context())
        try:
            async with asyncio.timeout(self._timeout_s):
                with self._batcher.admit(len(texts)) as ticket:
                    tokenize_started = time.perf_counter()
                    documents = await self._tokenize(texts, truncation)
                    queued = time.perf_counter()
                    self._metrics.tokenization_duration.observe(queued - tokenize_started)
                    ticket.reserve(sum(d.num_windows for d in documents) - len(documents))
                    windows = [window for document in documents for window in document.windows]
                    predictions = await ticket.submit(windows, origin, options.explain)
                    cores = await self._core_words(texts, truncation, predictions, options)
        except TimeoutError:
            raise RequestTimeoutError(
                f"the request took longer than {self._timeout_s:g} s and was abandoned"
            ) from None
        batches = {prediction.batch.number: prediction.batch for prediction in predictions}
        timings = RequestTimings(
            tokenize_started=tokenize_started,
            tokenize_finished=queued,
            queued=queued,
            batches=tuple(batches[number] for number in sorted(batches)),
            num_tokens=sum(document.num_tokens for document in documents),
        )
        self._tracing.record_request(timings)
        shape = (len(predictions), len(self.card.labels))  # one row per window
        probabilities = aggregate_windows(
            np.reshape([p.probabilities for p in predictions], shape), documents
        )
        logits = aggregate_windows(np.reshape([p.logits for p in predictions], shape), documents)
        results = [
            self._result(document, probabilities[row], logits[row], options, cores[row])
            for row, document in enumerate(documents)
        ]
        logger.debug(
            "classified %d documents",
            len(results),
            extra={
                "documents": len(results),
                "windows": len(predictions),
                "tokens": timings.num_tokens,
                "tokenization_ms": round(timings.tokenization_s * 1000, 3),
                "queue_ms": round(timings.queue_s * 1000, 3),
                "inference_ms": round(timings.inference_s * 1000, 3),
                "batches": [batch.number for batch in timings.batches],
            },
        )
        return ClassifiedRequest(results, timings)

    async def _tokenize(
        self, texts: Sequence[str], truncation: Truncation
    ) -> list[DocumentWindows]:
        loop = asyncio.get_running_loop()
        documents = await loop.run_in_executor(
            self._tokenizer_pool, self.classifier.tokenize, texts, truncation
        )
        for document in documents:
            for window in document.windows:  # what the model reads, window by window
                self._metrics.document_length_tokens.observe(len(window))
        return documents

    async def _core_words(
        self,
        texts: Sequence[str],
        truncation: Truncation,
        predictions: Sequence[DocumentPrediction],
        options: ClassifyOptions,
    ) -> list[list[CoreWord] | None]:
        """With explain, each document's core words from its windows' explanations (in a
        tokenizer thread: the texts are tokenized again, with offsets); None each otherwise."""
        if not options.explain:
            return [None] * len(texts)
        explanations = [prediction.explanation for prediction in predictions]
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._tokenizer_pool,
            self._explain_texts,
            texts,
            truncation,
            explanations,
            options.explain_top_k,
        )

    def _explain_texts(
        self,
        texts: Sequence[str],
        truncation: Truncation,
        explanations: Sequence[SequenceExplanation | None],
        top_k: int,
    ) -> list[list[CoreWord] | None]:
        """Per text, its windows' explanations (one after the other in `explanations`) mapped
        onto its words (`artifact.explain.core_words`)."""
        cores: list[list[CoreWord] | None] = []
        first = 0
        for text, spans in zip(texts, self.classifier.token_spans(texts), strict=True):
            read = truncation.read_positions(len(spans.word_ids), self.classifier.max_length)
            count = len(read.positions)
            windows = [e for e in explanations[first : first + count] if e is not None]
            first += count
            cores.append(core_words(text, spans, read.positions, windows, top_k))
        return cores

    def _result(
        self,
        document: DocumentWindows,
        probabilities: np.ndarray,
        logits: np.ndarray,
        options: ClassifyOptions,
        core: list[CoreWord] | None = None,
    ) -> Classification:
        """One document's result from its (windows' aggregated) probabilities and logits:
        the top_k labels, or for a multi-label model every label at or above its threshold."""
        labels, rule = self.card.labels, self.card.label_rule
        shown = logits if options.raw_scores else None
        scores = None
        if rule.multi_label:
            given = rule.decide(probabilities[None, :], options.threshold)[0]
            top = top_labels(probabilities, labels, len(labels), shown, given)
            if options.top_k is not None:
                scores = top_labels(probabilities, labels, options.top_k, shown)
        else:
            top = top_labels(probabilities, labels, options.top_k or 1, shown)
        for label_score in top[: None if rule.multi_label else 1]:
            self._metrics.documents.labels(label=label_score.label).inc()
        if document.truncated:
            self._metrics.truncated_documents.inc()
        return Classification(
            label=top[0].label if top else None,
            score=top[0].score if top else None,
            top=top,
            num_tokens=document.num_tokens,
            num_chunks=document.num_windows,
            truncated=document.truncated,
            scores=scores,
            core=core,
        )
