"""`prune_queries` (beyond the paper): dropped tokens stop being queries and keep their states.

Checked like the paper's variants: ONNX parity and batch invariance in ONNX Runtime, budgets
unchanged, and directly that a token dropped after a layer never changes again.
"""

import pytest
import torch

from tests.factories import make_tiny_model, tiny_config_kwargs
from tests.model.conftest import (
    RAGGED_LENGTHS,
    assert_batch_invariant,
    assert_onnx_parity,
    export_and_open,
    ragged_batch,
)

VOCAB = tiny_config_kwargs()["vocab_size"]


@pytest.fixture(scope="module", params=["pf", "pfc"])
def exported(request, tmp_path_factory):
    model = make_tiny_model(request.param, combine_layer=4, prune_queries=True)
    return export_and_open(model, tmp_path_factory.mktemp(request.param))


def test_onnx_matches_pytorch(exported):
    assert_onnx_parity(exported, RAGGED_LENGTHS, VOCAB, seed=5)


def test_a_document_scores_the_same_alone_and_in_a_batch(exported):
    assert_batch_invariant(exported[2], RAGGED_LENGTHS, VOCAB, seed=6)


def test_budgets_are_those_of_the_paper_variant():
    input_ids, attention_mask = ragged_batch([40, 17, 3], VOCAB, seed=2)
    counts = []
    for prune_queries in (False, True):
        model = make_tiny_model("pf", prune_queries=prune_queries).eval()
        with torch.no_grad():
            counts.append(model(input_ids=input_ids, attention_mask=attention_mask).kept_kv_counts)
    assert counts[0][:, :2].tolist() == counts[1][:, :2].tolist()  # same first pruning step


def test_a_token_dropped_after_a_layer_keeps_its_state(monkeypatch):
    model = make_tiny_model("pf", prune_queries=True).eval()
    encoder = model.bert.encoder
    seen = {}
    original = encoder.kept_tokens_layer

    def spy(number, hidden, kv, keys_values, key_mask, scoring):
        if number == 2:  # hidden: the states after layer 1; kv: what layer 2 attends to
            seen.update(hidden=hidden.clone(), index=kv.index.clone(), mask=kv.mask.clone())
        return original(number, hidden, kv, keys_values, key_mask, scoring)

    monkeypatch.setattr(encoder, "kept_tokens_layer", spy)
    input_ids, attention_mask = ragged_batch([30], VOCAB, seed=1)
    with torch.no_grad():
        final = model.bert(input_ids, attention_mask).last_hidden_state[0]  # (N, D)
    kept = set(seen["index"][0][seen["mask"][0]].tolist())
    dropped = [position for position in range(30) if position not in kept]
    assert dropped, "the first pruning step drops at least one of 30 tokens"
    torch.testing.assert_close(final[dropped], seen["hidden"][0, dropped], rtol=0, atol=0)
    assert not torch.equal(final[sorted(kept)], seen["hidden"][0, sorted(kept)])


def test_the_option_is_recorded_with_the_method():
    model = make_tiny_model("pfc", prune_queries=True)
    assert model.config.method_options()["prune_queries"] is True
    assert make_tiny_model("pfc").config.method_options()["prune_queries"] is False
