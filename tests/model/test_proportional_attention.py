"""`proportional_attention` (beyond the paper): the layers after Lc weigh each combined token by
its group's size, and the classifier reads their size-weighted mean.

The independent reference is ToMe's own reading of a merged token: it stands for its group, so
attention over the m combined tokens with log(size) added to their logits is plain attention
over the sequence in which each combined token appears size times (an empty group not at all),
and the size-weighted mean is that sequence's plain mean. Its graphs' parity and batch
invariance: tests/model/test_combining_options.py.
"""

import pytest
import torch

from tests.factories import make_tiny_model, tiny_config_kwargs
from tests.model.conftest import (
    ragged_batch,
)

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
