"""Text -> token ids -> padded batch, the same way in training, parity checks, evaluation and the
service.

Everything goes through a `tokenizers.Tokenizer` (the `tokenizer.json` that ships in the
artifact), never through a transformers tokenizer at encode time, so the ids a model is trained on
are the ids the service will feed it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from tokenizers import Tokenizer

from artifact.truncation import DocumentWindows, Truncation

PAD_TOKEN = "[PAD]"

# One document's token ids: a list, or a 1-D integer array (the service keeps them as arrays).
TokenIds = Sequence[int] | np.ndarray


def as_tokenizer(tokenizer: Any) -> Tokenizer:
    """A private copy of `tokenizer` with truncation and padding disabled.

    Accepts a `tokenizers.Tokenizer` or a transformers fast tokenizer (its `backend_tokenizer`).
    Copying matters: MiniLM's `tokenizer.json` pads and truncates to 128, which must not leak into
    training or into the exported file.
    """
    backend = getattr(tokenizer, "backend_tokenizer", tokenizer)
    if not isinstance(backend, Tokenizer):
        raise TypeError(
            f"expected a tokenizers.Tokenizer or a fast transformers tokenizer, got "
            f"{type(tokenizer).__name__}"
        )
    copy = Tokenizer.from_str(backend.to_str())
    copy.no_truncation()
    copy.no_padding()
    return copy


def truncating_tokenizer(tokenizer: Any, max_length: int) -> Tokenizer:
    """A private copy of `tokenizer` that cuts to `max_length` tokens ([CLS]/[SEP] included) and
    never pads: padding is per batch, in `pad_batch`."""
    if max_length < 2:
        raise ValueError(f"max_length must leave room for [CLS] and [SEP], got {max_length}")
    truncating = as_tokenizer(tokenizer)
    truncating.enable_truncation(max_length)
    return truncating


def pad_token_id(tokenizer: Tokenizer) -> int:
    """Id of `[PAD]` (BERT vocabularies put it at 0; trust the vocabulary, not the convention)."""
    token_id = tokenizer.token_to_id(PAD_TOKEN)
    if token_id is None:
        raise ValueError(f"the tokenizer has no {PAD_TOKEN} token")
    return token_id


def encode_texts(tokenizer: Any, texts: Sequence[str], max_length: int) -> list[list[int]]:
    """Token ids of each text, `[CLS] ... [SEP]`, cut to `max_length` tokens (specials included)."""
    encodings = truncating_tokenizer(tokenizer, max_length).encode_batch(list(texts))
    return [encoding.ids for encoding in encodings]


def encode_windows(
    tokenizer: Any, texts: Sequence[str], truncation: Truncation, max_length: int
) -> list[DocumentWindows]:
    """What the model reads of each text under `truncation` (`artifact.truncation`): the text is
    tokenized whole, then cut or split into windows of at most `max_length` tokens."""
    encodings = as_tokenizer(tokenizer).encode_batch(list(texts))
    return [truncation.split(encoding.ids, max_length) for encoding in encodings]


def pad_batch(sequences: Sequence[TokenIds], pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad to the longest sequence: `(input_ids, attention_mask)`, both int64 (B, T), the
    inputs of the ONNX graph in `ONNX_INPUT_NAMES` order."""
    if not sequences:
        raise ValueError("cannot pad an empty batch")
    length = max(len(ids) for ids in sequences)
    input_ids = np.full((len(sequences), length), pad_id, dtype=np.int64)  # (B, T)
    attention_mask = np.zeros((len(sequences), length), dtype=np.int64)  # (B, T)
    for row, ids in enumerate(sequences):
        input_ids[row, : len(ids)] = ids
        attention_mask[row, : len(ids)] = 1
    return input_ids, attention_mask
