"""Documents longer than the model: each strategy on hand-made token sequences (which tokens are
kept, where windows start, how windows weigh), and the invariants over any length."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from artifact.tokenization import encode_texts, encode_windows
from artifact.truncation import (
    DEFAULT_MAX_CHUNKS,
    STRATEGIES,
    Truncation,
    aggregate,
    aggregate_windows,
    default_stride,
    head_tail_lengths,
    window_starts,
    window_weights,
)
from tests.factories import make_tiny_tokenizer

CLS, SEP = 101, 102


def document(num_tokens: int) -> list[int]:
    """`[CLS] 1 2 ... num_tokens [SEP]`: body token i sits at body position i - 1."""
    return [CLS, *range(1, num_tokens + 1), SEP]


def windows_of(truncation: Truncation, num_tokens: int, max_length: int) -> list[list[int]]:
    return [
        window.tolist() for window in truncation.split(document(num_tokens), max_length).windows
    ]


def test_head_tail_takes_a_quarter_of_the_budget_from_the_start() -> None:
    assert head_tail_lengths(510) == (128, 382)  # max_length 512
    assert head_tail_lengths(126) == (32, 94)  # max_length 128
    assert head_tail_lengths(4) == (1, 3)
    assert head_tail_lengths(1) == (0, 1)


# A body of 10 tokens in windows of max_length 6: four body tokens besides [CLS] and [SEP].
@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        ("right", [CLS, 1, 2, 3, 4, SEP]),
        ("left", [CLS, 7, 8, 9, 10, SEP]),
        ("head_tail", [CLS, 1, 8, 9, 10, SEP]),
    ],
)
def test_one_sequence_strategies_keep_their_tokens(strategy: str, expected: list[int]) -> None:
    split = Truncation(strategy).split(document(10), max_length=6)  # type: ignore[arg-type]
    assert [window.tolist() for window in split.windows] == [expected]
    assert split.truncated and split.num_tokens == 6 and split.weights.tolist() == [1.0]


def test_head_tail_at_128_tokens_keeps_the_first_32_and_the_last_94() -> None:
    (window,) = Truncation("head_tail").split(document(300), max_length=128).windows
    assert window.tolist() == [CLS, *range(1, 33), *range(207, 301), SEP]


def test_chunks_overlap_by_the_stride_and_weigh_by_their_tokens() -> None:
    truncation = Truncation("chunks", chunk_stride=3)
    assert windows_of(truncation, 11, max_length=6) == [
        [CLS, 1, 2, 3, 4, SEP],
        [CLS, 4, 5, 6, 7, SEP],
        [CLS, 7, 8, 9, 10, SEP],
        [CLS, 10, 11, SEP],  # the first window that reaches the end
    ]
    split = truncation.split(document(11), max_length=6)
    assert split.weights.tolist() == [4.0, 4.0, 4.0, 2.0]
    assert not split.truncated and split.num_windows == 4 and split.num_tokens == 22


def test_chunks_default_to_half_a_window() -> None:
    assert default_stride(4) == 2 and default_stride(126) == 63 and default_stride(510) == 255
    assert default_stride(1) == 1
    assert Truncation("chunks").stride(128) == 63
    assert windows_of(Truncation("chunks"), 8, max_length=6) == [
        [CLS, 1, 2, 3, 4, SEP],
        [CLS, 3, 4, 5, 6, SEP],
        [CLS, 5, 6, 7, 8, SEP],
    ]


def test_window_starts_and_weights() -> None:
    assert window_starts(4, 4, 2).tolist() == [0]  # fits: one window
    assert window_starts(0, 4, 2).tolist() == [0]
    assert window_starts(5, 4, 2).tolist() == [0, 2]
    assert window_starts(10, 4, 4).tolist() == [0, 4, 8]  # stride = budget: disjoint windows
    assert window_weights(10, np.array([0, 4, 8]), 4).tolist() == [4.0, 4.0, 2.0]
    assert window_weights(0, np.array([0]), 4).tolist() == [1.0]  # an empty body still counts
    with pytest.raises(ValueError, match=r"stride must be in 1..4"):
        window_starts(10, 4, 5)


def test_chunks_stop_at_max_chunks_and_flag_the_document() -> None:
    truncation = Truncation("chunks", chunk_stride=2, max_chunks=2)
    split = truncation.split(document(10), max_length=6)
    assert [window.tolist() for window in split.windows] == [
        [CLS, 1, 2, 3, 4, SEP],
        [CLS, 3, 4, 5, 6, SEP],
    ]
    assert split.truncated
    exactly = Truncation("chunks", chunk_stride=2, max_chunks=4).split(document(10), 6)
    assert exactly.num_windows == 4 and not exactly.truncated
    assert Truncation().max_chunks == DEFAULT_MAX_CHUNKS == 16


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_document_that_fits_is_read_whole(strategy: str) -> None:
    split = Truncation(strategy).split(document(4), max_length=6)  # type: ignore[arg-type]
    assert [window.tolist() for window in split.windows] == [document(4)]
    assert not split.truncated and split.num_windows == len(split.weights) == 1
    empty = Truncation(strategy).split([CLS, SEP], max_length=6)  # type: ignore[arg-type]
    assert [window.tolist() for window in empty.windows] == [[CLS, SEP]]


def test_aggregate_is_the_weighted_mean_of_the_windows() -> None:
    rows = np.array([[0.8, 0.2], [0.2, 0.8], [0.5, 0.5]])
    np.testing.assert_allclose(aggregate(rows, np.array([4.0, 4.0, 2.0])), [0.5, 0.5])
    np.testing.assert_allclose(aggregate(rows[:1], np.ones(1)), rows[0])
    truncation = Truncation("chunks", chunk_stride=3)
    documents = [truncation.split(document(n), 6) for n in (11, 2)]  # 4 windows, then 1
    values = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [0.3, 0.7]])
    np.testing.assert_allclose(aggregate_windows(values, documents), [[8 / 14, 6 / 14], [0.3, 0.7]])
    with pytest.raises(ValueError, match="4 rows for 5 windows"):
        aggregate_windows(values[:4], documents)


def test_truncation_refuses_what_it_cannot_do() -> None:
    with pytest.raises(ValueError, match="unknown truncation 'middle'; known: right, left, head_"):
        Truncation("middle")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least 1"):
        Truncation("chunks", chunk_stride=0)
    with pytest.raises(ValueError, match="at least 1"):
        Truncation("chunks", max_chunks=0)
    with pytest.raises(ValueError, match="stride 127 is over the 126 document tokens"):
        Truncation("chunks", chunk_stride=127).stride(128)
    with pytest.raises(ValueError, match=r"\[CLS\] ... \[SEP\]"):
        Truncation().split([CLS], 6)
    assert Truncation("chunks", chunk_stride=126).stride(128) == 126
    Truncation("right", chunk_stride=127).check(128)  # the stride of a strategy that has none
    with pytest.raises(ValueError, match="stride 127"):
        Truncation("chunks", chunk_stride=127).check(128)
    with pytest.raises(ValueError, match="room for a token"):
        Truncation("left").check(2)


def test_describe_names_the_resolved_chunk_settings() -> None:
    assert Truncation("left").describe(128) == {"strategy": "left"}
    assert Truncation("chunks").describe(128) == {
        "strategy": "chunks",
        "chunk_stride": 63,
        "max_chunks": 16,
    }


def test_right_reads_what_a_truncating_tokenizer_keeps() -> None:
    tokenizer = make_tiny_tokenizer()
    texts = ["the film", "the market and the bank " * 12, "a good game " * 30]
    for max_length in (5, 16, 64):
        truncated = encode_texts(tokenizer, texts, max_length)
        split = encode_windows(tokenizer, texts, Truncation("right"), max_length)
        assert [document.windows[0].tolist() for document in split] == truncated
        assert [document.num_tokens for document in split] == [len(ids) for ids in truncated]


@settings(deadline=None, max_examples=300)
@given(
    num_tokens=st.integers(0, 400),
    max_length=st.integers(3, 130),
    strategy=st.sampled_from(["right", "left", "head_tail"]),
)
def test_one_sequence_keeps_the_budget_in_order_with_its_special_tokens(
    num_tokens: int, max_length: int, strategy: str
) -> None:
    split = Truncation(strategy).split(document(num_tokens), max_length)  # type: ignore[arg-type]
    (window,) = split.windows
    budget = max_length - 2
    kept = window[1:-1].tolist()
    assert window[0] == CLS and window[-1] == SEP
    assert len(kept) == min(num_tokens, budget)
    assert kept == sorted(set(kept))  # each token once, in document order
    assert split.truncated == (num_tokens > budget)
    if strategy == "right":
        assert kept == list(range(1, len(kept) + 1))
    if strategy == "left":
        assert kept == list(range(num_tokens - len(kept) + 1, num_tokens + 1))
    if strategy == "head_tail" and num_tokens > budget:
        head, tail = head_tail_lengths(budget)
        assert kept == [*range(1, head + 1), *range(num_tokens - tail + 1, num_tokens + 1)]


@settings(deadline=None, max_examples=300)
@given(
    num_tokens=st.integers(0, 400),
    max_length=st.integers(3, 130),
    stride_share=st.floats(0.01, 1.0),
    max_chunks=st.integers(1, 20),
)
def test_chunks_cover_the_document_in_overlapping_windows(
    num_tokens: int, max_length: int, stride_share: float, max_chunks: int
) -> None:
    budget = max_length - 2
    stride = max(1, int(stride_share * budget))
    every = Truncation("chunks", chunk_stride=stride, max_chunks=10_000).split(
        document(num_tokens), max_length
    )
    bodies = [window[1:-1].tolist() for window in every.windows]
    assert all(window[0] == CLS and window[-1] == SEP for window in every.windows)
    assert all(len(window) <= max_length for window in every.windows)
    covered = {token for body in bodies for token in body}
    assert covered == set(range(1, num_tokens + 1))  # every token is read
    if num_tokens:  # window k starts k strides in
        assert [body[0] - 1 for body in bodies] == [k * stride for k in range(len(bodies))]
    assert all(len(body) == budget for body in bodies[:-1])  # only the last may be short
    assert len(bodies) == 1 or bodies[-2][-1] < num_tokens  # no window past the end is added
    assert every.weights.tolist() == [float(max(len(body), 1)) for body in bodies]

    capped = Truncation("chunks", chunk_stride=stride, max_chunks=max_chunks).split(
        document(num_tokens), max_length
    )
    assert capped.num_windows == min(max_chunks, every.num_windows)
    assert capped.truncated == (every.num_windows > max_chunks)
    for kept, window in zip(capped.windows, every.windows, strict=False):
        assert kept.tolist() == window.tolist()
