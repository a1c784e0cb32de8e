"""Documents longer than the model: which tokens are kept, or which overlapping windows cover the
document and how their scores are combined.

Pure functions on the untruncated token ids of one document (numpy only), shared by the service
and by training, so that a strategy reads the same tokens wherever it runs. A document's ids are
`[CLS] body [SEP]` as the artifact's tokenizer makes them (docs/contracts.md); the two special
tokens are taken off, the strategy picks from the body, and every sequence the model reads gets
them back, so `[CLS]` and `[SEP]` are never cut.

Strategies (`max_length` counts [CLS] and [SEP], so a window holds `max_length - 2` body tokens,
its budget):

* `right`: the first `budget` tokens (what BERT tokenizers do by default).
* `left`: the last `budget` tokens.
* `head_tail`: a quarter of the budget from the start and the rest from the end, 128 + 382 at
  512 tokens, the head + tail split Sun et al. (2019, "How to Fine-Tune BERT for Text
  Classification?") found best on IMDb; 32 + 94 at 128.
* `chunks`: windows of `budget` tokens starting every `stride` tokens until one reaches the end,
  at most `max_chunks` of them (a longer document is cut there and flagged truncated); each
  window is scored alone and the document's scores are the mean of the windows' weighted by the
  number of body tokens each holds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np

TruncationStrategy = Literal["right", "left", "head_tail", "chunks"]
STRATEGIES: tuple[TruncationStrategy, ...] = get_args(TruncationStrategy)
NUM_SPECIAL_TOKENS = 2  # [CLS] and [SEP]
DEFAULT_MAX_CHUNKS = 16


def window_budget(max_length: int) -> int:
    """Body tokens a sequence of `max_length` tokens holds besides [CLS] and [SEP]."""
    if max_length < NUM_SPECIAL_TOKENS + 1:
        raise ValueError(
            f"max_length must leave room for a token besides [CLS] and [SEP], got {max_length}"
        )
    return max_length - NUM_SPECIAL_TOKENS


def head_tail_lengths(budget: int) -> tuple[int, int]:
    """`(head, tail)`: a quarter of the budget, rounded to the nearest (halves up), from the
    start, and the rest from the end: (128, 382) at 510, (32, 94) at 126."""
    head = (budget + 2) // 4
    return head, budget - head


def kept_right(num_tokens: int, budget: int) -> np.ndarray:
    """Positions in the body that `right` keeps: the first `budget`."""
    return np.arange(min(num_tokens, budget))


def kept_left(num_tokens: int, budget: int) -> np.ndarray:
    """Positions in the body that `left` keeps: the last `budget`."""
    return np.arange(max(num_tokens - budget, 0), num_tokens)


def kept_head_tail(num_tokens: int, budget: int) -> np.ndarray:
    """Positions in the body that `head_tail` keeps: all of a body that fits, else the head's
    first and the tail's last tokens."""
    if num_tokens <= budget:
        return np.arange(num_tokens)
    head, tail = head_tail_lengths(budget)
    return np.concatenate([np.arange(head), np.arange(num_tokens - tail, num_tokens)])


# The strategies that read one sequence: strategy -> (body length, budget) -> kept positions.
KEPT_POSITIONS: dict[str, Callable[[int, int], np.ndarray]] = {
    "right": kept_right,
    "left": kept_left,
    "head_tail": kept_head_tail,
}


def default_stride(budget: int) -> int:
    """Half a window: each token past the first quarter-window and before the last lies in the
    middle half of some window, so no part of the text is read only at a window's edge, with
    context on one side (at about twice the windows of disjoint chunks)."""
    return max(budget // 2, 1)


def window_starts(num_tokens: int, budget: int, stride: int) -> np.ndarray:
    """Body positions where the windows covering a body of `num_tokens` start: 0, stride,
    2 stride, ... up to the first window that reaches the end (one window when it fits)."""
    if not 1 <= stride <= budget:
        raise ValueError(f"stride must be in 1..{budget} (the window's budget), got {stride}")
    count = 1 if num_tokens <= budget else 1 + -(-(num_tokens - budget) // stride)
    return np.arange(count) * stride


def window_weights(num_tokens: int, starts: np.ndarray, budget: int) -> np.ndarray:
    """Weight of each window in the document's scores: the body tokens it holds (the last window
    may hold fewer), at least 1 so that an empty body still has a score."""
    held = np.minimum(budget, num_tokens - np.asarray(starts))
    return np.maximum(held, 1).astype(np.float64)


def aggregate(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The weighted mean of the windows' rows: (W, C), (W,) -> (C,). One window gives its row."""
    weights = np.asarray(weights, dtype=np.float64)
    return weights @ np.asarray(values, dtype=np.float64) / weights.sum()


@dataclass(frozen=True)
class DocumentWindows:
    """What the model reads of one document: one sequence, or with `chunks` its windows, each
    `[CLS] ... [SEP]` of at most `max_length` tokens, with each window's weight in the document's
    scores; `truncated` when some of the document is read by none of them."""

    windows: tuple[np.ndarray, ...]  # each (tokens,) int64
    weights: np.ndarray  # (num_windows,) float64
    truncated: bool

    @property
    def num_windows(self) -> int:
        return len(self.windows)

    @property
    def num_tokens(self) -> int:
        """Tokens the model reads, [CLS] and [SEP] of every window included."""
        return sum(int(window.shape[0]) for window in self.windows)


@dataclass(frozen=True)
class ReadPositions:
    """What `Truncation.split` reads of a document, as positions into its untruncated ids: per
    sequence, the position each of its tokens comes from."""

    positions: tuple[np.ndarray, ...]  # each (tokens,) int64
    weights: np.ndarray  # (num_windows,) float64
    truncated: bool


def aggregate_windows(values: np.ndarray, documents: Sequence[DocumentWindows]) -> np.ndarray:
    """Per document, the weighted mean of its windows' rows: `values` holds one row per window,
    the documents' windows one after the other: (sum W, C) -> (N, C)."""
    bounds = np.cumsum([0, *(document.num_windows for document in documents)])
    if bounds[-1] != len(values):
        raise ValueError(f"{len(values)} rows for {bounds[-1]} windows")
    rows = [
        aggregate(values[start:end], document.weights)
        for start, end, document in zip(bounds[:-1], bounds[1:], documents, strict=True)
    ]
    return np.stack(rows) if rows else np.zeros((0, *np.shape(values)[1:]))


@dataclass(frozen=True)
class Truncation:
    """A strategy and, for `chunks`, its stride (body tokens from one window's start to the next;
    None: `default_stride`) and the most windows a document gets."""

    strategy: TruncationStrategy = "right"
    chunk_stride: int | None = None
    max_chunks: int = DEFAULT_MAX_CHUNKS

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(
                f"unknown truncation {self.strategy!r}; known: {', '.join(STRATEGIES)}"
            )
        if self.chunk_stride is not None and self.chunk_stride < 1:
            raise ValueError(f"chunk stride must be at least 1, got {self.chunk_stride}")
        if self.max_chunks < 1:
            raise ValueError(f"max_chunks must be at least 1, got {self.max_chunks}")

    def stride(self, max_length: int) -> int:
        """The chunk stride for windows of `max_length` tokens; a stride longer than a window
        would skip tokens between windows, and is refused."""
        budget = window_budget(max_length)
        stride = self.chunk_stride if self.chunk_stride is not None else default_stride(budget)
        if stride > budget:
            raise ValueError(
                f"chunk stride {stride} is over the {budget} document tokens of a "
                f"{max_length}-token window: the tokens between windows would never be read"
            )
        return stride

    def check(self, max_length: int) -> None:
        """A `ValueError` when these options cannot read windows of `max_length` tokens."""
        window_budget(max_length)
        if self.strategy == "chunks":
            self.stride(max_length)

    def describe(self, max_length: int) -> dict[str, object]:
        """The strategy and, for chunks, the resolved stride and the window cap (for reports)."""
        if self.strategy != "chunks":
            return {"strategy": self.strategy}
        stride = self.stride(max_length)
        return {"strategy": self.strategy, "chunk_stride": stride, "max_chunks": self.max_chunks}

    def split(self, ids: Sequence[int] | np.ndarray, max_length: int) -> DocumentWindows:
        """The sequences the model reads of one document, from its untruncated `[CLS] body
        [SEP]` ids."""
        ids = np.asarray(ids, dtype=np.int64)
        if ids.ndim != 1 or ids.shape[0] < NUM_SPECIAL_TOKENS:
            raise ValueError(f"expected the ids [CLS] ... [SEP] of one document, got {ids.shape}")
        read = self.read_positions(ids.shape[0], max_length)
        return DocumentWindows(
            windows=tuple(ids[positions] for positions in read.positions),
            weights=read.weights,
            truncated=read.truncated,
        )

    def read_positions(self, num_ids: int, max_length: int) -> ReadPositions:
        """Where each sequence the model reads of a document of `num_ids` untruncated ids
        (`[CLS] body [SEP]`) takes its tokens from: what `split` reads, as positions, so that
        an explanation of a window's tokens points back into the whole text."""
        if num_ids < NUM_SPECIAL_TOKENS:
            raise ValueError(f"expected the ids [CLS] ... [SEP] of one document, got {num_ids}")
        body_length, budget = num_ids - NUM_SPECIAL_TOKENS, window_budget(max_length)
        cls, sep = np.zeros(1, np.int64), np.full(1, num_ids - 1, np.int64)

        def sequence(body_positions: np.ndarray) -> np.ndarray:
            return np.concatenate([cls, 1 + body_positions.astype(np.int64), sep])

        if self.strategy == "chunks":
            every = window_starts(body_length, budget, self.stride(max_length))
            starts = every[: self.max_chunks]
            return ReadPositions(
                positions=tuple(
                    sequence(np.arange(start, min(start + budget, body_length))) for start in starts
                ),
                weights=window_weights(body_length, starts, budget),
                truncated=len(every) > len(starts),
            )
        kept = KEPT_POSITIONS[self.strategy](body_length, budget)
        return ReadPositions(
            positions=(sequence(kept),), weights=np.ones(1), truncated=body_length > budget
        )
