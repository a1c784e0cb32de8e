"""`insert_combiner` (beyond the paper): the combining module runs before layer Lc instead of
replacing it, so every BERT layer is kept.

The independent reference is the paper's own layout: a model with one more layer whose layer Lc
is the combiner computes the same function, weight for weight. Checked like the paper's variants
besides: ONNX parity and batch invariance in ONNX Runtime, budgets, and which graph nodes see
the combined tokens.
"""

import onnx
import pytest
import torch
from torch import nn

from model import CoreBertConfig, CoreBertForSequenceClassification
from model.modeling import TokenCombiner
from model.onnx_export import combined_token_nodes
from tests.factories import make_tiny_model, tiny_config_kwargs
from tests.model.conftest import (
    RAGGED_LENGTHS,
    assert_batch_invariant,
    assert_onnx_parity,
    export_and_open,
    ragged_batch,
)

VOCAB = tiny_config_kwargs()["vocab_size"]
COMBINE_LAYER = 3  # of the tiny model's 5


def replaced_twin(inserted: CoreBertForSequenceClassification) -> CoreBertForSequenceClassification:
    """The paper's layout with one more layer: layer Lc is `inserted`'s combiner, the BERT layers
    from Lc on move one place down. Same weights, so the same function."""
    config = inserted.config
    twin_config = CoreBertConfig.for_variant(
        config.variant,
        tiny_config_kwargs(num_hidden_layers=config.num_hidden_layers + 1),
        combine_layer=config.combine_layer,
        keep_ratio=config.keep_ratio,
    )
    twin = CoreBertForSequenceClassification(twin_config).eval()
    first = config.combine_layer - 1
    state = {}
    for name, value in inserted.state_dict().items():
        if name.startswith("bert.encoder.combiner."):
            name = name.replace("encoder.combiner.", f"encoder.layer.{first}.")
        elif name.startswith("bert.encoder.layer."):
            number = int(name.split(".")[3])
            moved = number + 1 if number >= first else number
            name = name.replace(f"encoder.layer.{number}.", f"encoder.layer.{moved}.", 1)
        state[name] = value
    twin.load_state_dict(state, strict=True)
    return twin


@pytest.mark.parametrize("variant", ["c", "pfc"])
def test_it_computes_the_paper_layout_with_one_more_layer(variant):
    model = make_tiny_model(variant, combine_layer=COMBINE_LAYER, insert_combiner=True)
    twin = replaced_twin(model)
    input_ids, attention_mask = ragged_batch([40, 17, 3, 25], VOCAB, seed=3)
    with torch.no_grad():
        ours = model(input_ids=input_ids, attention_mask=attention_mask)
        theirs = twin(input_ids=input_ids, attention_mask=attention_mask)
    torch.testing.assert_close(ours.logits, theirs.logits, rtol=0, atol=1e-6)
    # The budgets are the paper's: Lc - 1 pruning layers, then none (one column fewer).
    assert ours.kept_kv_counts.tolist() == [row[:-1] for row in theirs.kept_kv_counts.tolist()]


def test_every_bert_layer_is_kept_and_the_combiner_is_new():
    model = make_tiny_model("pfc", combine_layer=COMBINE_LAYER, insert_combiner=True)
    encoder = model.bert.encoder
    assert len(encoder.layer) == model.config.num_hidden_layers
    assert not any(isinstance(layer, TokenCombiner) for layer in encoder.layer)
    assert isinstance(encoder.combiner, TokenCombiner)
    assert model.config.method_options()["insert_combiner"] is True
    assert make_tiny_model("pfc").config.method_options()["insert_combiner"] is False
    assert make_tiny_model("pfc").bert.encoder.combiner is None


def test_backbone_loading_fills_every_layer(bert_checkpoint):
    from transformers import BertModel

    model = CoreBertForSequenceClassification.from_backbone(
        bert_checkpoint,
        variant="pfc",
        combine_layer=COMBINE_LAYER,
        insert_combiner=True,
        num_labels=4,
    )
    loaded = dict(model.bert.named_parameters())
    for name, value in BertModel.from_pretrained(bert_checkpoint).named_parameters():
        if not name.startswith("pooler."):
            assert torch.equal(loaded[name], value), name


def test_it_needs_combining():
    with pytest.raises(ValueError, match="insert_combiner needs combining"):
        CoreBertConfig(**tiny_config_kwargs(), insert_combiner=True)
    plain = CoreBertConfig.for_variant("pf", tiny_config_kwargs(insert_combiner=True))
    assert plain.insert_combiner is False  # a base's value does not carry into a variant without


@pytest.fixture(scope="module", params=["c", "pfc"])
def exported(request, tmp_path_factory):
    model = make_tiny_model(request.param, combine_layer=COMBINE_LAYER, insert_combiner=True)
    return export_and_open(model, tmp_path_factory.mktemp(request.param))


def test_onnx_matches_pytorch(exported):
    assert_onnx_parity(exported, RAGGED_LENGTHS, VOCAB, seed=5)


def test_a_document_scores_the_same_alone_and_in_a_batch(exported):
    assert_batch_invariant(exported[2], RAGGED_LENGTHS, VOCAB, seed=6)


def test_the_combined_token_nodes_are_the_combiners_and_the_layers_from_lc_on(exported):
    """Independent reference: the torch modules' weights, as for the paper's layout
    (tests/training/test_precisions.py)."""
    from tests.training.test_precisions import nodes_holding

    model, path, _ = exported
    graph = onnx.load(str(path))
    combined = set(combined_token_nodes(graph))
    encoder = model.bert.encoder
    modules = [(number, layer) for number, layer in enumerate(encoder.layer, start=1)]
    for number, module in [*modules, (None, encoder.combiner)]:
        for name, linear in module.named_modules():
            if not isinstance(linear, nn.Linear):
                continue
            holders = nodes_holding(linear.weight.detach().numpy(), graph)
            assert holders, f"{number or 'the combiner'}'s {name} weight is in the graph"
            on_combined = name != "key" if number is None else number >= COMBINE_LAYER
            assert (holders <= combined) if on_combined else not (holders & combined), name
