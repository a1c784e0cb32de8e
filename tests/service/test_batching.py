"""The batcher on its own, with a fake model: batch selection, the no-wait policy, flushing,
dropping, failures."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Sequence

import anyio
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.batching import Batcher, BatchPolicy, select_batch
from service.errors import InferenceError, NotReadyError, QueueFullError
from service.metrics import ServiceMetrics
from service.types import BatchPrediction

pytestmark = pytest.mark.timeout(60)


class FakeModel:
    """Scores a document by its length, so each caller can check it got its own row."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.fail_lengths: set[int] = set()

    def __call__(self, sequences: Sequence[np.ndarray]) -> BatchPrediction:
        self.batches.append([len(ids) for ids in sequences])
        self.gate.wait(timeout=30)
        if self.fail_lengths & {len(ids) for ids in sequences}:
            raise RuntimeError("injected failure")
        lengths = np.array([len(ids) for ids in sequences], dtype=np.float32)
        scores = np.stack([lengths, np.full_like(lengths, 1000.0)], axis=1)
        return BatchPrediction(
            logits=scores,
            probabilities=scores,
            kept_kv_ratio=np.ones(len(sequences)),
        )


def document(num_tokens: int) -> np.ndarray:
    """A sequence the model reads: a whole document, or one window of a chunked one."""
    return np.arange(num_tokens, dtype=np.int64)


def make_batcher(model: FakeModel, **policy) -> tuple[Batcher, ServiceMetrics]:
    values = dict(max_documents=8, max_tokens=4096, max_wait_s=0.0, max_queued_documents=64)
    values.update(policy)
    metrics = ServiceMetrics()
    return Batcher(model, BatchPolicy(**values), metrics), metrics


async def classify(batcher: Batcher, lengths: Sequence[int]) -> list[float]:
    with batcher.admit(len(lengths)) as ticket:
        predictions = await ticket.submit([document(n) for n in lengths])
    return [float(p.probabilities[0]) for p in predictions]


async def wait_until(condition, timeout_s: float = 10.0) -> None:
    with anyio.fail_after(timeout_s):
        while not condition():
            await anyio.sleep(0.005)


class FrozenClockLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock stands still: no timer ever fires (no sleep ends, no
    `wait_for` times out), while callbacks, I/O and worker threads run as usual. What happens
    on it happened without waiting for any time to pass."""

    def time(self) -> float:
        return 0.0


def run_on_frozen_clock(work: Awaitable[list[float]], model: FakeModel, guard_s: float) -> bool:
    """Run `work` on a frozen clock; True if it finished, False if it was still waiting when
    the guard (a thread, on the real clock; only a bound, never a measurement) cancelled it."""

    async def main() -> bool:
        task = asyncio.ensure_future(work)
        loop = asyncio.get_running_loop()
        guard = threading.Timer(guard_s, lambda: loop.call_soon_threadsafe(task.cancel))
        guard.start()
        try:
            await task
            return True
        except asyncio.CancelledError:
            return False
        finally:
            guard.cancel()
            model.gate.set()

    with asyncio.Runner(loop_factory=FrozenClockLoop) as runner:
        return runner.run(main())


def test_a_lone_request_runs_at_once_while_the_clock_stands_still() -> None:
    model = FakeModel()

    async def lone_request() -> list[float]:
        batcher, _ = make_batcher(model)  # the service's default: no maximum wait
        batcher.start()
        scores = await classify(batcher, [5])
        await batcher.close(timeout_s=5)
        return scores

    assert run_on_frozen_clock(lone_request(), model, guard_s=30), "the lone request waited"
    assert model.batches == [[5]]


def test_with_a_maximum_wait_a_lone_request_waits_for_the_clock() -> None:
    """The control of the test above: the same lone request with a 50 ms maximum wait never
    reaches the model while the clock stands still."""
    model = FakeModel()
    queued = threading.Event()

    async def lone_request() -> list[float]:
        batcher, _ = make_batcher(model, max_wait_s=0.05)
        batcher.start()
        with batcher.admit(1) as ticket:
            waiting = asyncio.ensure_future(ticket.submit([document(5)]))
            await asyncio.sleep(0)
            queued.set()
            predictions = await waiting
        return [float(p.probabilities[0]) for p in predictions]

    assert not run_on_frozen_clock(lone_request(), model, guard_s=1)
    assert queued.is_set() and model.batches == []


@pytest.mark.anyio
async def test_the_next_batch_fills_while_one_runs() -> None:
    model = FakeModel()
    batcher, _ = make_batcher(model)
    batcher.start()
    model.gate.clear()
    first = asyncio.create_task(classify(batcher, [5]))
    await wait_until(lambda: model.batches == [[5]])  # alone: nothing held it back
    later = [asyncio.create_task(classify(batcher, [n])) for n in (7, 6, 40, 8)]
    await wait_until(lambda: batcher.queued_documents == 4)
    assert model.batches == [[5]]  # the model is busy: they wait together
    model.gate.set()
    assert await first == [5.0]
    assert [await task for task in later] == [[7.0], [6.0], [40.0], [8.0]]
    assert model.batches == [[5], [7, 6, 40, 8]]
    await batcher.close(timeout_s=5)


@pytest.mark.anyio
async def test_the_next_batch_keeps_length_grouping_and_the_token_budget() -> None:
    model = FakeModel()
    batcher, _ = make_batcher(model, max_documents=3, max_tokens=100)
    batcher.start()
    model.gate.clear()
    first = asyncio.create_task(classify(batcher, [50]))
    await wait_until(lambda: len(model.batches) == 1)
    later = asyncio.create_task(classify(batcher, [10, 40, 12, 39, 11, 9]))
    await wait_until(lambda: batcher.queued_documents == 6)
    model.gate.set()
    await asyncio.gather(first, later)
    # the oldest (10) and the two nearest in length (earliest first on ties); then 40 with 39,
    # as 12 would pad three documents to 3 x 40 > 100 tokens
    assert model.batches == [[50], [10, 11, 9], [40, 39], [12]]
    await batcher.close(timeout_s=5)


@settings(deadline=None, max_examples=200)
@given(
    lengths=st.lists(st.integers(1, 64), min_size=1, max_size=40),
    max_documents=st.integers(1, 10),
    max_tokens=st.integers(1, 256),
    data=st.data(),
)
def test_select_batch_respects_limits_and_keeps_the_anchor(
    lengths, max_documents, max_tokens, data
) -> None:
    first = data.draw(st.integers(0, len(lengths) - 1))
    chosen = select_batch(lengths, first, max_documents, max_tokens)
    assert first in chosen
    assert chosen == sorted(set(chosen))
    assert len(chosen) <= max_documents
    if len(chosen) > 1:
        assert max(lengths[i] for i in chosen) * len(chosen) <= max_tokens


def test_select_batch_groups_similar_lengths() -> None:
    lengths = [10, 200, 11, 190, 12, 9, 205]
    assert select_batch(lengths, 0, 4, 10_000) == [0, 2, 4, 5]
    assert select_batch(lengths, 1, 3, 10_000) == [1, 3, 6]
    assert select_batch(lengths, 1, 8, 399) == [1]  # any pair pads to at least 2 x 200
    assert select_batch(lengths, 1, 8, 615) == [1, 3, 6]  # 3 x 205
    assert select_batch(lengths, 1, 8, 614) == [1, 6]  # 205 is nearest; 190 would make 615


@pytest.mark.anyio
async def test_concurrent_requests_share_batches_and_get_their_own_rows() -> None:
    model = FakeModel()
    batcher, metrics = make_batcher(model, max_wait_s=0.05)
    batcher.start()
    model.gate.clear()
    requests = [asyncio.create_task(classify(batcher, [n, n + 100])) for n in range(1, 13)]
    await wait_until(lambda: len(model.batches) == 1 and batcher.queued_documents >= 16)
    model.gate.set()
    results = await asyncio.gather(*requests)
    assert results == [[float(n), float(n + 100)] for n in range(1, 13)]
    assert max(len(batch) for batch in model.batches) == 8
    assert sum(len(batch) for batch in model.batches) == 24
    assert metrics.registry.get_sample_value("corebert_batch_size_documents_count") == 3
    assert model.batches[0] == [1, 2, 3, 4, 5, 6, 7, 8]  # short ones together: the oldest's kind
    assert model.batches[1] == [101, 102, 103, 104, 105, 106, 107, 108]
    await batcher.close(timeout_s=5)


@pytest.mark.anyio
async def test_token_budget_limits_the_padded_batch() -> None:
    model = FakeModel()
    batcher, _ = make_batcher(model, max_wait_s=0.05, max_tokens=100)
    batcher.start()
    model.gate.clear()
    task = asyncio.create_task(classify(batcher, [1]))
    await wait_until(lambda: len(model.batches) == 1)
    waiting = asyncio.create_task(classify(batcher, [30, 30, 30, 30, 30]))
    await wait_until(lambda: batcher.queued_documents == 5)
    model.gate.set()
    await asyncio.gather(task, waiting)
    assert model.batches[1:] == [[30, 30, 30], [30, 30]]
    await batcher.close(timeout_s=5)


@pytest.mark.anyio
async def test_documents_of_a_cancelled_request_are_dropped_before_inference() -> None:
    model = FakeModel()
    batcher, metrics = make_batcher(model, max_documents=1)
    batcher.start()
    model.gate.clear()
    running = asyncio.create_task(classify(batcher, [5]))
    await wait_until(lambda: len(model.batches) == 1)
    abandoned = asyncio.create_task(classify(batcher, [7, 8]))
    await wait_until(lambda: batcher.queued_documents == 2)
    abandoned.cancel()
    after = asyncio.create_task(classify(batcher, [9]))
    await wait_until(lambda: batcher.queued_documents == 3)
    model.gate.set()
    assert await running == [5.0] and await after == [9.0]
    assert model.batches == [[5], [9]]
    assert metrics.registry.get_sample_value("corebert_dropped_documents_total") == 2
    assert batcher.queued_documents == 0
    await batcher.close(timeout_s=5)


@pytest.mark.anyio
async def test_a_failing_batch_fails_only_its_own_requests() -> None:
    model = FakeModel()
    model.fail_lengths = {3}
    batcher, _ = make_batcher(model, max_documents=1)
    batcher.start()
    model.gate.clear()
    failing = asyncio.create_task(classify(batcher, [3]))
    await wait_until(lambda: len(model.batches) == 1)
    healthy = asyncio.create_task(classify(batcher, [4]))
    split = asyncio.create_task(classify(batcher, [5, 3]))  # one good batch, one failing
    await wait_until(lambda: batcher.queued_documents == 3)
    model.gate.set()
    with pytest.raises(InferenceError, match="batch of 1 documents: RuntimeError: injected"):
        await failing
    assert await healthy == [4.0]
    with pytest.raises(InferenceError):
        await split
    assert await classify(batcher, [6]) == [6.0]
    await batcher.close(timeout_s=5)


@pytest.mark.anyio
async def test_admission_refuses_beyond_the_queue_limit() -> None:
    model = FakeModel()
    batcher, metrics = make_batcher(model, max_documents=1, max_queued_documents=3)
    batcher.start()
    model.gate.clear()
    running = asyncio.create_task(classify(batcher, [1]))
    await wait_until(lambda: len(model.batches) == 1)
    queued = asyncio.create_task(classify(batcher, [2, 2, 2]))
    await wait_until(lambda: batcher.queued_documents == 3)
    with pytest.raises(QueueFullError, match="3 of 3 documents waiting") as refused:
        batcher.admit(1)
    assert refused.value.headers == {"Retry-After": "1"}
    assert metrics.registry.get_sample_value("corebert_queue_depth") == 3
    model.gate.set()
    await asyncio.gather(running, queued)
    assert metrics.registry.get_sample_value("corebert_queue_depth") == 0
    with batcher.admit(3):  # room again; leaving unsubmitted gives the room back
        assert batcher.queued_documents == 3
    assert batcher.queued_documents == 0
    await batcher.close(timeout_s=5)


@pytest.mark.anyio
async def test_a_ticket_reserves_room_for_more_windows_within_the_limit() -> None:
    model = FakeModel()
    batcher, metrics = make_batcher(model, max_documents=1, max_queued_documents=4)
    batcher.start()
    with batcher.admit(1) as ticket:
        ticket.reserve(2)  # a document read in three windows
        assert batcher.queued_documents == 3
        assert metrics.registry.get_sample_value("corebert_queue_depth") == 3
        with pytest.raises(QueueFullError, match="3 of 4 documents waiting"):
            ticket.reserve(2)
        ticket.reserve(0)
        assert batcher.queued_documents == 3
        predictions = await ticket.submit([document(5), document(6), document(7)])
    assert [float(p.probabilities[0]) for p in predictions] == [5.0, 6.0, 7.0]
    with batcher.admit(1) as ticket:
        ticket.reserve(1)
    assert batcher.queued_documents == 0  # what was not submitted is given back
    await batcher.close(timeout_s=5)


@pytest.mark.anyio
async def test_close_finishes_what_is_queued_then_refuses() -> None:
    model = FakeModel()
    batcher, _ = make_batcher(model, max_documents=2, max_wait_s=10.0)
    batcher.start()
    queued = [asyncio.create_task(classify(batcher, [n])) for n in (1, 2, 3)]
    await wait_until(lambda: batcher.queued_documents == 1)  # two ran as a full batch
    await batcher.close(timeout_s=5)  # flushes the last one without waiting 10 s
    assert [await task for task in queued] == [[1.0], [2.0], [3.0]]
    with pytest.raises(NotReadyError):
        batcher.admit(1)


class UnmeasurableDocument(np.ndarray):
    """A document whose length cannot be read: the worker fails on it outside any model call,
    as it would on a bug of its own."""

    def __len__(self) -> int:
        raise RuntimeError("a bug")


@pytest.mark.anyio
async def test_a_worker_that_dies_fails_queued_requests_and_stops_admitting() -> None:
    model = FakeModel()
    batcher, _ = make_batcher(model)
    batcher.start()
    poisoned = document(3).view(UnmeasurableDocument)
    with (
        pytest.raises(InferenceError, match="batching worker failed"),
        batcher.admit(2) as ticket,
    ):
        await ticket.submit([poisoned, document(4)])
    assert not batcher.accepting
    with pytest.raises(NotReadyError):
        batcher.admit(1)
    assert batcher.queued_documents == 0
    await batcher.close(timeout_s=5)
