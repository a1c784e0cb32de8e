"""Tokenization and padding: private tokenizer copies, truncation, right padding."""

from __future__ import annotations

import numpy as np
import pytest
from tokenizers import Tokenizer
from tokenizers.models import WordLevel

from artifact.tokenization import (
    as_tokenizer,
    encode_texts,
    pad_batch,
    pad_token_id,
    truncating_tokenizer,
)
from tests.factories import make_tiny_tokenizer


def test_pad_batch_right_pads_with_the_pad_id_and_masks_the_padding() -> None:
    input_ids, attention_mask = pad_batch([[2, 7, 3], [2, 3], np.array([2, 8, 9, 3])], pad_id=0)
    np.testing.assert_array_equal(input_ids, [[2, 7, 3, 0], [2, 3, 0, 0], [2, 8, 9, 3]])
    np.testing.assert_array_equal(attention_mask, [[1, 1, 1, 0], [1, 1, 0, 0], [1, 1, 1, 1]])
    assert input_ids.dtype == attention_mask.dtype == np.int64


def test_pad_batch_refuses_an_empty_batch() -> None:
    with pytest.raises(ValueError, match="empty batch"):
        pad_batch([], pad_id=0)


def test_truncating_tokenizer_cuts_a_copy_and_leaves_the_original_alone() -> None:
    original = make_tiny_tokenizer()
    truncating = truncating_tokenizer(original, 8)
    assert len(truncating.encode("the market " * 20).ids) == 8
    assert truncating.padding is None
    assert original.truncation is None and len(original.encode("the market " * 20).ids) == 42
    with pytest.raises(ValueError, match="room for"):
        truncating_tokenizer(original, 1)


def test_encode_texts_adds_the_special_tokens() -> None:
    tokenizer = make_tiny_tokenizer()
    (ids,) = encode_texts(tokenizer, ["the film"], max_length=64)
    assert ids[0] == tokenizer.token_to_id("[CLS]") and ids[-1] == tokenizer.token_to_id("[SEP]")
    assert len(ids) == 4


def test_as_tokenizer_drops_truncation_and_padding_and_refuses_other_objects() -> None:
    tokenizer = make_tiny_tokenizer()
    tokenizer.enable_truncation(4)
    tokenizer.enable_padding(length=16)
    copy = as_tokenizer(tokenizer)
    assert copy.truncation is None and copy.padding is None
    with pytest.raises(TypeError, match="got str"):
        as_tokenizer("bert-base-uncased")


def test_pad_token_id_trusts_the_vocabulary() -> None:
    assert pad_token_id(make_tiny_tokenizer()) == 0
    without_pad = Tokenizer(WordLevel({"[UNK]": 0, "word": 1}, unk_token="[UNK]"))
    with pytest.raises(ValueError, match=r"no \[PAD\] token"):
        pad_token_id(without_pad)
