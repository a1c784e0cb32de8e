"""From the explain graph's per-token outputs to the words of the submitted text that decided.

The explain graph (`artifact.files.EXPLAIN_FILE`, docs/contracts.md) gives, per position of each
sequence the model read, the pruning layers the token stayed a key/value of, its importance
(1.0 for the document's most important word piece) and its combination group. Here those are
mapped back onto the whole text: each sequence's positions point into the document's
untruncated tokens (`Truncation.read_positions`), a token read by several windows (`chunks`)
keeps the reading where it scored highest, word pieces are merged into words (the tokenizer's
word ids) and each word is placed in the text by the tokenizer's character offsets, so
`text[start:end]` is the word. Numpy only, like the rest of the package.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from tokenizers import Encoding

DEFAULT_CORE_WORDS = 10
MAX_CORE_WORDS = 64
NOT_A_WORD = -1  # the word id of [CLS], [SEP] and padding


@dataclass(frozen=True)
class SequenceExplanation:
    """The explain graph's outputs for one sequence, cut to its own tokens (no padding)."""

    kept_layers: np.ndarray  # (tokens,) int64
    importance: np.ndarray  # (tokens,) float32 in [0, 1]
    groups: np.ndarray  # (tokens,) int64; -1 without combining


@dataclass(frozen=True)
class TokenSpans:
    """Where a document's untruncated tokens lie in its text, and which word each belongs to."""

    offsets: np.ndarray  # (tokens, 2) int64: character start, end
    word_ids: np.ndarray  # (tokens,) int64; NOT_A_WORD for the special tokens

    @classmethod
    def from_encoding(cls, encoding: Encoding) -> TokenSpans:
        words = [NOT_A_WORD if word is None else word for word in encoding.word_ids]
        special = np.asarray(encoding.special_tokens_mask, dtype=bool)
        word_ids = np.where(special, NOT_A_WORD, np.asarray(words, dtype=np.int64))
        offsets = np.asarray(encoding.offsets, dtype=np.int64).reshape(-1, 2)
        return cls(offsets=offsets, word_ids=word_ids)


@dataclass(frozen=True)
class CoreWord:
    """A word of the text and what the model did with it."""

    text: str
    start: int  # character offsets: text[start:end] is the word
    end: int
    score: float  # the highest importance of its pieces, in [0, 1]
    kept_layers: int  # the most pruning layers one of its pieces stayed a key/value
    group: int  # the combination group of its most important piece; -1 without combining


def token_readings(
    num_tokens: int,
    positions: Sequence[np.ndarray],
    explanations: Sequence[SequenceExplanation],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per untruncated token: whether some sequence read it, and the importance, kept layers and
    group of the reading where it scored highest (the first such reading on ties)."""
    read = np.zeros(num_tokens, dtype=bool)
    importance = np.full(num_tokens, -1.0)
    kept_layers = np.zeros(num_tokens, dtype=np.int64)
    groups = np.full(num_tokens, -1, dtype=np.int64)
    for where, explained in zip(positions, explanations, strict=True):
        better = explained.importance > importance[where]
        chosen = where[better]
        read[where] = True
        importance[chosen] = explained.importance[better]
        kept_layers[chosen] = explained.kept_layers[better]
        groups[chosen] = explained.groups[better]
    return read, importance, kept_layers, groups


def core_words(
    text: str,
    spans: TokenSpans,
    positions: Sequence[np.ndarray],
    explanations: Sequence[SequenceExplanation],
    top_k: int = DEFAULT_CORE_WORDS,
) -> list[CoreWord]:
    """The `top_k` words of `text` the model read with the highest importance, highest first
    (the earlier word first on ties). A word's span is all of its pieces, also ones a
    truncation left out; its score comes from the pieces that were read."""
    read, importance, kept_layers, groups = token_readings(
        len(spans.word_ids), positions, explanations
    )
    best: dict[int, int] = {}  # word id -> its most important read piece
    for position in np.flatnonzero(read & (spans.word_ids != NOT_A_WORD)):
        word = int(spans.word_ids[position])
        if word not in best or importance[position] > importance[best[word]]:
            best[word] = int(position)
    ranked = sorted(best.items(), key=lambda item: (-importance[item[1]], item[0]))[:top_k]
    words = []
    for word, token in ranked:
        pieces = spans.word_ids == word
        start, end = int(spans.offsets[pieces, 0].min()), int(spans.offsets[pieces, 1].max())
        words.append(
            CoreWord(
                text=text[start:end],
                start=start,
                end=end,
                score=float(importance[token]),
                kept_layers=int(kept_layers[pieces & read].max()),
                group=int(groups[token]),
            )
        )
    return words
