"""Dynamic micro-batching: one worker owns the queue and runs the model off the event loop.

Requests reserve queue space for their documents (`Batcher.admit`), tokenize, then submit.
The worker never holds a document back while the model is idle: when it is free it runs what
is queued at once, and while a batch runs the next one fills (text-embeddings-inference's
policy, so a lone request pays nothing for batching). A maximum wait can be configured
(`BatchPolicy.max_wait_s`, default 0): the worker then also waits until the queue holds
`max_documents` documents or `max_tokens` tokens, or the oldest document has waited that long.
A batch is the oldest document plus those closest to it in length, so little is spent on
padding, within both limits. Documents whose request has ended (client gone, timed out) are
dropped before they cost model time; a batch that fails fails only the requests with a document
in it.

A document here is one sequence the model reads: a chunked document (`artifact.truncation`)
queues each of its windows, and the queue's limit, its depth and the batch metrics count them
one by one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from types import TracebackType

import numpy as np

from artifact.explain import SequenceExplanation
from service.errors import InferenceError, NotReadyError, QueueFullError
from service.metrics import ServiceMetrics
from service.tracing import NoTracing, Tracing
from service.types import BatchPrediction, BatchRun, RequestOrigin

logger = logging.getLogger(__name__)

PredictFn = Callable[[Sequence[np.ndarray]], BatchPrediction]
ExplainFn = Callable[[Sequence[np.ndarray]], list[SequenceExplanation]]


@dataclass(frozen=True)
class BatchPolicy:
    max_documents: int
    max_tokens: int  # padded: documents x longest sequence
    max_wait_s: float
    max_queued_documents: int


@dataclass(frozen=True)
class DocumentPrediction:
    """One document's row of its batch's output, and the batch it ran in."""

    logits: np.ndarray  # (num_labels,)
    probabilities: np.ndarray  # (num_labels,)
    batch: BatchRun
    explanation: SequenceExplanation | None = None  # when its request asked for one


EnqueueFn = Callable[
    [Sequence[np.ndarray], RequestOrigin, bool], list[asyncio.Future[DocumentPrediction]]
]


@dataclass(eq=False)
class _Queued:
    ids: np.ndarray  # (tokens,) int64: a document, or one window of a chunked one
    future: asyncio.Future[DocumentPrediction]
    origin: RequestOrigin
    enqueued_at: float  # time.perf_counter()
    explain: bool = False  # also run the explain graph on it


def request_ids(queued: Sequence[_Queued]) -> list[str]:
    """The ids of the requests behind these documents, each once, for log lines about them."""
    return sorted({item.origin.request_id for item in queued if item.origin.request_id})


def select_batch(
    lengths: Sequence[int], first: int, max_documents: int, max_tokens: int
) -> list[int]:
    """Indices (ascending) of a batch holding `first` and the documents nearest to it in length.

    Candidates are taken nearest length first, earliest first on ties; one is skipped when it
    would push the padded size (count x longest) over `max_tokens`. `first` always goes in,
    even alone over the budget, so every document runs eventually.
    """
    anchor = lengths[first]
    candidates = sorted(
        (index for index in range(len(lengths)) if index != first),
        key=lambda index: (abs(lengths[index] - anchor), index),
    )
    chosen, longest = [first], anchor
    for index in candidates:
        if len(chosen) >= max_documents:
            break
        widest = max(longest, lengths[index])
        if widest * (len(chosen) + 1) <= max_tokens:
            chosen.append(index)
            longest = widest
    return sorted(chosen)


class Ticket:
    """Queue space reserved for one request's documents; give back what was not submitted.

    The batcher hands it the operations it may perform on the queue, so a ticket knows nothing
    else of the batcher.
    """

    def __init__(
        self,
        count: int,
        enqueue: EnqueueFn,
        release: Callable[[int], None],
        reserve: Callable[[int], None],
    ) -> None:
        self._reserved = count
        self._enqueue = enqueue
        self._release = release
        self._reserve = reserve

    def __enter__(self) -> Ticket:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._release(self._reserved)
        self._reserved = 0

    def reserve(self, count: int) -> None:
        """Reserve room for `count` more (a chunked document's windows past its first), or raise
        429 / 503 errors."""
        if count > 0:
            self._reserve(count)
            self._reserved += count

    async def submit(
        self,
        sequences: Sequence[np.ndarray],
        origin: RequestOrigin | None = None,
        explain: bool = False,
    ) -> list[DocumentPrediction]:
        """Queue the sequences and wait for their predictions (with `explain`, explanations
        too), in the same order.

        Cancelling the caller cancels the sequences' futures: the worker drops them.
        """
        if len(sequences) > self._reserved:
            raise ValueError(f"{len(sequences)} documents submitted, {self._reserved} reserved")
        origin = origin if origin is not None else RequestOrigin()
        futures = self._enqueue(sequences, origin, explain)
        self._reserved -= len(sequences)
        outcomes = await asyncio.gather(*futures, return_exceptions=True)
        predictions: list[DocumentPrediction] = []
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
            predictions.append(outcome)
        return predictions


class Batcher:
    """Owns the queue of tokenized documents and the single inference worker."""

    def __init__(
        self,
        predict: PredictFn,
        policy: BatchPolicy,
        metrics: ServiceMetrics,
        tracing: Tracing | None = None,
        explain: ExplainFn | None = None,
    ) -> None:
        self._predict = predict
        self._explain = explain
        self._policy = policy
        self._metrics = metrics
        self._tracing: Tracing = tracing if tracing is not None else NoTracing()
        self._batches_run = 0
        self._queue: list[_Queued] = []
        self._reserved = 0  # admitted documents not queued yet (being tokenized)
        self._arrived = asyncio.Event()
        self._accepting = False
        self._closing = False
        self._worker: asyncio.Task[None] | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="corebert-model")

    @property
    def queued_documents(self) -> int:
        """Documents admitted and not yet taken into a batch."""
        return self._reserved + len(self._queue)

    @property
    def accepting(self) -> bool:
        return self._accepting

    def start(self) -> None:
        self._accepting = True
        self._worker = asyncio.create_task(self._run(), name="corebert-batcher")
        self._worker.add_done_callback(self._on_worker_exit)

    def admit(self, count: int) -> Ticket:
        """Reserve queue space for `count` documents, or raise 429 / 503 errors."""
        self._reserve(count)
        return Ticket(count, self._enqueue, self._release, self._reserve)

    def _reserve(self, count: int) -> None:
        if not self._accepting:
            raise NotReadyError("the service is not accepting requests (starting or stopping)")
        limit = self._policy.max_queued_documents
        if self.queued_documents + count > limit:
            raise QueueFullError(
                f"the queue is full ({self.queued_documents} of {limit} documents waiting); "
                "retry later",
                headers={"Retry-After": "1"},
            )
        self._reserved += count
        self._update_depth()

    async def close(self, timeout_s: float) -> None:
        """Stop admitting, run what is queued, then stop the worker (fail leftovers after
        `timeout_s`)."""
        self._accepting = False
        self._closing = True
        self._arrived.set()
        if self._worker is not None and not self._worker.done():
            try:
                await asyncio.wait_for(asyncio.shield(self._worker), timeout_s)
            except TimeoutError:
                logger.warning("queue not drained after %.1f s; failing what is left", timeout_s)
                self._worker.cancel()
                for queued in self._queue:
                    if not queued.future.done():
                        queued.future.set_exception(NotReadyError("the service stopped"))
                self._queue.clear()
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _on_worker_exit(self, worker: asyncio.Task[None]) -> None:
        """A worker that died of a bug must not leave requests waiting for their timeout."""
        if worker.cancelled() or worker.exception() is None:
            return
        logger.error("the batching worker failed", exc_info=worker.exception())
        self._accepting = False
        for queued in self._queue:
            if not queued.future.done():
                queued.future.set_exception(InferenceError("the batching worker failed"))
        self._queue.clear()
        self._update_depth()

    def _enqueue(
        self, sequences: Sequence[np.ndarray], origin: RequestOrigin, explain: bool = False
    ) -> list[asyncio.Future[DocumentPrediction]]:
        loop = asyncio.get_running_loop()
        now = time.perf_counter()
        queued = [_Queued(ids, loop.create_future(), origin, now, explain) for ids in sequences]
        self._queue.extend(queued)
        self._reserved -= len(sequences)
        self._arrived.set()
        return [item.future for item in queued]

    def _release(self, count: int) -> None:
        if count:
            self._reserved -= count
            self._update_depth()
            self._arrived.set()  # a closing worker may be waiting on these

    def _update_depth(self) -> None:
        self._metrics.queue_depth.set(self.queued_documents)

    async def _run(self) -> None:
        while True:
            await self._wait_for_documents()
            if self._queue and self._policy.max_wait_s > 0:
                await self._wait_to_fill()
            self._drop_abandoned()
            if self._queue:
                await self._execute(self._take_batch())
            elif self._closing and self._reserved == 0:
                return

    async def _wait_for_documents(self) -> None:
        """Return as soon as a document is queued (at once when one is), or when closing with
        nothing left to come."""
        while not self._queue:
            if self._closing and self._reserved == 0:
                return
            self._arrived.clear()
            await self._arrived.wait()

    async def _wait_to_fill(self) -> None:
        """With a maximum wait: hold the batch until it is full or its oldest document has
        waited `max_wait_s` (never while closing)."""
        deadline = self._queue[0].enqueued_at + self._policy.max_wait_s
        while not self._closing and not self._is_full():
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                return
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                return

    def _is_full(self) -> bool:
        return len(self._queue) >= self._policy.max_documents or (
            sum(len(item.ids) for item in self._queue) >= self._policy.max_tokens
        )

    def _drop_abandoned(self) -> None:
        kept = [item for item in self._queue if not item.future.done()]
        if len(kept) < len(self._queue):
            dropped = [item for item in self._queue if item.future.done()]
            self._metrics.dropped_documents.inc(len(dropped))
            logger.debug(
                "dropped %d documents whose request had ended",
                len(dropped),
                extra={"request_ids": request_ids(dropped)},
            )
            self._queue = kept
            self._update_depth()

    def _take_batch(self) -> list[_Queued]:
        lengths = [len(item.ids) for item in self._queue]
        chosen = set(select_batch(lengths, 0, self._policy.max_documents, self._policy.max_tokens))
        batch = [item for index, item in enumerate(self._queue) if index in chosen]
        self._queue = [item for index, item in enumerate(self._queue) if index not in chosen]
        self._update_depth()
        return batch

    async def _execute(self, batch: list[_Queued]) -> None:
        loop = asyncio.get_running_loop()
        self._batches_run += 1
        number = self._batches_run
        sequences = [item.ids for item in batch]
        explained = [row for row, item in enumerate(batch) if item.explain]
        started = time.perf_counter()
        for item in batch:
            self._metrics.queue_wait.observe(started - item.enqueued_at)
        try:
            prediction, explanations = await loop.run_in_executor(
                self._executor, self._timed_predict, sequences, explained
            )
        except Exception as error:
            self._record(number, batch, started, error)
            logger.exception(
                "the model failed on batch %d of %d documents",
                number,
                len(batch),
                extra={"request_ids": request_ids(batch)},
            )
            failure = InferenceError(
                f"the model failed on a batch of {len(batch)} documents: "
                f"{type(error).__name__}: {error}"
            )
            for item in batch:
                if not item.future.done():
                    item.future.set_exception(failure)
            return
        run = self._record(number, batch, started, None)
        for row, item in enumerate(batch):
            if not item.future.done():
                item.future.set_result(
                    DocumentPrediction(
                        prediction.logits[row],
                        prediction.probabilities[row],
                        batch=run,
                        explanation=explanations.get(row),
                    )
                )

    def _record(
        self, number: int, batch: list[_Queued], started: float, error: BaseException | None
    ) -> BatchRun:
        """The batch as it ran, with its trace context once the tracer has recorded it."""
        lengths = [len(item.ids) for item in batch]
        run = BatchRun(
            number=number,
            documents=len(batch),
            padded_tokens=max(lengths) * len(lengths),
            started=started,
            finished=time.perf_counter(),
        )
        served = [item.origin for item in batch]
        return replace(run, trace_context=self._tracing.record_batch(run, served, error))

    def _timed_predict(
        self, sequences: Sequence[np.ndarray], explained: Sequence[int] = ()
    ) -> tuple[BatchPrediction, dict[int, SequenceExplanation]]:
        """Runs in the model thread: the model call, the explain graph over the rows in
        `explained` (only when some request asked: a batch of others runs no more than the
        model), plus the batch metrics."""
        lengths = [len(ids) for ids in sequences]
        padded = max(lengths) * len(lengths)
        started = time.perf_counter()
        prediction = self._predict(sequences)
        explanations = self._explain_rows(sequences, explained)
        self._metrics.inference_duration.observe(time.perf_counter() - started)
        self._metrics.batch_size_documents.observe(len(sequences))
        self._metrics.batch_size_tokens.observe(padded)
        self._metrics.tokens.inc(sum(lengths))
        self._metrics.padding_tokens.inc(padded - sum(lengths))
        for ratio in prediction.kept_kv_ratio:
            self._metrics.kept_kv_ratio.observe(float(ratio))
        return prediction, explanations

    def _explain_rows(
        self, sequences: Sequence[np.ndarray], rows: Sequence[int]
    ) -> dict[int, SequenceExplanation]:
        """The explain graph over the given rows of the batch, as one batch of their own."""
        if not rows:
            return {}
        if self._explain is None:
            raise RuntimeError("a document asked for an explanation, and the model has none")
        explained = self._explain([sequences[row] for row in rows])
        return dict(zip(rows, explained, strict=True))
