"""What every option beyond the paper that acts at and after Lc (`variants.COMBINING_OPTIONS`)
must keep: it needs combining, an artifact records it, and its graphs stay exact and batch
invariant (ONNX parity; int8 and fp16 give a document its label and budgets alone or batched).
What each option computes is tested against its own reference beside this file."""

import pytest

from model import CoreBertConfig
from model.variants import COMBINING_OPTIONS
from tests.factories import make_tiny_model, tiny_config_kwargs
from tests.model.conftest import (
    RAGGED_LENGTHS,
    assert_batch_invariant,
    assert_lower_precision_labels_batch_invariant,
    assert_onnx_parity,
    export_and_open,
)
from training.args import ModelArguments

VOCAB = tiny_config_kwargs()["vocab_size"]
COMBINE_LAYER = 3  # of the tiny model's 5


def model_with(option: str, variant: str = "pfc"):
    return make_tiny_model(variant, combine_layer=COMBINE_LAYER, **{option: True})


@pytest.mark.parametrize("option", COMBINING_OPTIONS)
def test_it_needs_combining_and_is_recorded(option):
    with pytest.raises(ValueError, match=f"{option} needs combining"):
        CoreBertConfig(**{option: True})
    flag = "--" + option.replace("_", "-")
    with pytest.raises(ValueError, match=f"{flag} needs a variant with combining"):
        ModelArguments(variant="pf", **{option: True})
    assert model_with(option).config.method_options()[option] is True
    assert make_tiny_model("pfc").config.method_options()[option] is False


@pytest.mark.parametrize("option", COMBINING_OPTIONS)
@pytest.mark.parametrize("variant", ["c", "pfc"])
def test_onnx_parity_and_batch_invariance(option, variant, tmp_path):
    exported = export_and_open(model_with(option, variant), tmp_path)
    assert_onnx_parity(exported, RAGGED_LENGTHS, VOCAB, seed=5)
    assert_batch_invariant(exported[2], RAGGED_LENGTHS, VOCAB, seed=6)


@pytest.mark.parametrize("option", COMBINING_OPTIONS)
@pytest.mark.parametrize("precision", ["int8", "fp16"])
def test_the_lower_precisions_give_a_document_its_label_alone_or_batched(
    option, precision, tmp_path
):
    assert_lower_precision_labels_batch_invariant(model_with(option), precision, tmp_path, VOCAB)
