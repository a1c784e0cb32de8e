"""`proportional_attention` (beyond the paper): the layers after Lc weigh each combined token by
its group's size, and the classifier reads their size-weighted mean.

The independent reference is ToMe's own reading of a merged token: it stands for its group, so
attention over the m combined tokens with log(size) added to their logits is plain attention
over the sequence in which each combined token appears size times (an empty group not at all),
and the size-weighted mean is that sequence's plain mean. Checked besides like the other
variants: ONNX parity and batch invariance in ONNX Runtime.
"""

import pytest
import torch

from model import CoreBertConfig
from tests.factories import make_tiny_model, tiny_config_kwargs
from tests.model.conftest import (
    RAGGED_LENGTHS,
    assert_batch_invariant,
    assert_onnx_parity,
    export_and_open,
    ragged_batch,
)
from training.args import ModelArguments

VOCAB = tiny_config_kwargs()["vocab_size"]
COMBINE_LAYER = 3  # of the tiny model's 5


def proportional_model(variant: str = "pfc", **options):
    return make_tiny_model(
        variant, combine_layer=COMBINE_LAYER, proportional_attention=True, **options
    )


def unmerged_logits(model, input_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One document's logits by the reference: each combined token repeated by its group's size,
    plain BERT layers after Lc over that sequence, its plain mean to the classifier. Also the
    group sizes."""
    captured = {}

    def keep(module, inputs, output):
        captured["combined"], captured["assignment"] = output

    encoder = model.bert.encoder
    handle = encoder.token_combiner.register_forward_hook(keep)
    try:
        model(input_ids=input_ids)
    finally:
        handle.remove()
    sizes = captured["assignment"].sum(dim=-1)[0]  # (m,)
    sequence = captured["combined"][0].repeat_interleave(sizes.long(), dim=0).unsqueeze(0)
    for layer in encoder.layer[COMBINE_LAYER:]:
        sequence, _ = layer(sequence, sequence, None)
    return model.classifier(sequence.mean(dim=1)), sizes


@pytest.mark.parametrize("variant", ["c", "pfc"])
@pytest.mark.parametrize("length", [2, 9, 60])
def test_a_combined_token_counts_as_its_group(variant, length):
    model = proportional_model(variant)
    input_ids, _ = ragged_batch([length], VOCAB, seed=length)
    with torch.no_grad():
        ours = model(input_ids=input_ids).logits
        reference, sizes = unmerged_logits(model, input_ids)
    torch.testing.assert_close(ours, reference, rtol=0, atol=1e-5)
    assert sizes.sum().item() == length
    if length == 2:  # fewer tokens than groups: empty groups, which take no part
        assert (sizes == 0).any()


def test_the_paper_layout_reads_its_combined_tokens_otherwise():
    """The reference is not the paper's pooling: without the option the logits differ."""
    input_ids, _ = ragged_batch([60], VOCAB, seed=60)
    model = proportional_model()
    paper = make_tiny_model("pfc", combine_layer=COMBINE_LAYER)
    paper.load_state_dict(model.state_dict())
    with torch.no_grad():
        reference, _ = unmerged_logits(model, input_ids)
        assert not torch.allclose(paper(input_ids=input_ids).logits, reference, atol=1e-3)


def test_it_needs_combining_and_is_recorded():
    with pytest.raises(ValueError, match="proportional_attention needs combining"):
        CoreBertConfig(proportional_attention=True)
    with pytest.raises(ValueError, match="--proportional-attention needs a variant with combining"):
        ModelArguments(variant="pf", proportional_attention=True)
    assert proportional_model().config.method_options()["proportional_attention"] is True
    assert make_tiny_model("pfc").config.method_options()["proportional_attention"] is False


@pytest.mark.parametrize("variant", ["c", "pfc"])
def test_onnx_parity_and_batch_invariance(variant, tmp_path):
    exported = export_and_open(proportional_model(variant), tmp_path)
    assert_onnx_parity(exported, RAGGED_LENGTHS, VOCAB, seed=5)
    assert_batch_invariant(exported[2], RAGGED_LENGTHS, VOCAB, seed=6)


@pytest.mark.parametrize("precision", ["int8", "fp16"])
def test_the_lower_precisions_give_a_document_its_label_alone_or_batched(precision, tmp_path):
    """int8 quantizes activations per batch, so logits may move a little with the batch (as for
    every variant, tests/training/test_precisions.py); the label and the budgets may not."""
    import numpy as np
    import onnxruntime as ort

    from artifact.files import ONNX_OUTPUT_NAMES
    from artifact.runtime import softmax
    from training.precisions import WRITERS

    _, fp32, _ = export_and_open(proportional_model(), tmp_path)
    lower = tmp_path / f"model.{precision}.onnx"
    WRITERS[precision](fp32, lower)
    session = ort.InferenceSession(str(lower), providers=["CPUExecutionProvider"])
    lengths = [60, 2, 33, 9]
    input_ids, attention_mask = ragged_batch(lengths, VOCAB, seed=7)
    feeds = {"input_ids": input_ids.numpy(), "attention_mask": attention_mask.numpy()}
    logits, kept = session.run(list(ONNX_OUTPUT_NAMES), feeds)
    for row, length in enumerate(lengths):
        alone = {name: value[row : row + 1, :length] for name, value in feeds.items()}
        alone_logits, alone_kept = session.run(list(ONNX_OUTPUT_NAMES), alone)
        assert alone_logits[0].argmax() == logits[row].argmax()
        np.testing.assert_allclose(softmax(alone_logits[0]), softmax(logits[row]), atol=1e-2)
        np.testing.assert_array_equal(alone_kept[0], kept[row])
