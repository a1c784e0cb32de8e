"""The explain outputs: the logits path unchanged, the padding conventions, batch invariance, and
the explain graph against PyTorch in ONNX Runtime."""

import numpy as np
import onnxruntime as ort
import pytest
import torch

from artifact.files import EXPLAIN_OUTPUT_NAMES
from model.onnx_export import check_explain_parity, export_onnx
from tests.factories import make_tiny_model, tiny_config_kwargs
from tests.model.conftest import ALL_VARIANTS, ragged_batch

VOCAB = tiny_config_kwargs()["vocab_size"]
LENGTHS = [40, 9, 3, 1, 27]


def explained(model, input_ids, attention_mask):
    with torch.no_grad():
        return model(input_ids=input_ids, attention_mask=attention_mask, explain=True)


@pytest.mark.parametrize("variant", ALL_VARIANTS)
def test_explaining_leaves_the_logits_and_kept_counts_alone(variant):
    model = make_tiny_model(variant, combine_layer=4)
    input_ids, attention_mask = ragged_batch(LENGTHS, VOCAB)
    with torch.no_grad():
        plain = model(input_ids=input_ids, attention_mask=attention_mask)
    output = explained(model, input_ids, attention_mask)
    assert plain.explanation is None
    torch.testing.assert_close(output.logits, plain.logits, rtol=0, atol=1e-5)
    assert torch.equal(output.kept_kv_counts, plain.kept_kv_counts)


@pytest.mark.parametrize("variant", ALL_VARIANTS)
def test_padding_and_never_pruned_conventions(variant):
    model = make_tiny_model(variant, combine_layer=4)
    input_ids, attention_mask = ragged_batch(LENGTHS, VOCAB)
    output = explained(model, input_ids, attention_mask)
    explanation, padding = output.explanation, ~attention_mask.bool()
    pruning_layers = model.config.num_pruning_layers
    assert (explanation.kept_layers[padding] == 0).all()
    assert (explanation.importance[padding] == 0).all()
    assert (explanation.groups[padding] == -1).all()
    real = attention_mask.bool()
    assert (explanation.kept_layers[real] >= 1).all()
    assert (explanation.kept_layers <= pruning_layers).all()
    assert (explanation.kept_layers[:, 0][real[:, 0]] == pruning_layers).all()  # [CLS] stays
    if model.config.pruning == "none":
        assert (explanation.kept_layers[real] == pruning_layers).all()
    assert ((explanation.importance >= 0) & (explanation.importance <= 1)).all()
    first = explanation.importance[0, 1 : LENGTHS[0] - 1]  # the first document's words
    assert first.max().item() == pytest.approx(1.0)
    if model.config.combine_layer is None:
        assert (explanation.groups == -1).all()
    else:
        groups = explanation.groups[real]
        assert ((groups >= 0) & (groups < model.config.num_combination_tokens)).all()


@pytest.mark.parametrize("variant", ["p", "pfc"])
def test_kept_layers_add_up_to_the_kept_counts(variant):
    """Summed over positions, the layers each token stayed are the keys/values each layer kept."""
    model = make_tiny_model(variant, keep_ratio=0.6, combine_layer=5)
    input_ids, attention_mask = ragged_batch(LENGTHS, VOCAB, seed=1)
    output = explained(model, input_ids, attention_mask)
    pruning_layers = model.config.num_pruning_layers
    per_document = output.kept_kv_counts[:, :pruning_layers].sum(dim=1)
    assert torch.equal(output.explanation.kept_layers.sum(dim=1), per_document)


@pytest.mark.parametrize("variant", ALL_VARIANTS)
def test_a_documents_explanation_does_not_depend_on_its_batch(variant):
    model = make_tiny_model(variant, combine_layer=4)
    input_ids, attention_mask = ragged_batch(LENGTHS, VOCAB, seed=2)
    batch = explained(model, input_ids, attention_mask).explanation
    for row, length in enumerate(LENGTHS):
        alone = explained(
            model, input_ids[row : row + 1, :length], attention_mask[row : row + 1, :length]
        ).explanation
        assert torch.equal(alone.kept_layers[0], batch.kept_layers[row, :length])
        assert torch.equal(alone.groups[0], batch.groups[row, :length])
        torch.testing.assert_close(
            alone.importance[0], batch.importance[row, :length], rtol=0, atol=1e-5
        )


@pytest.fixture(scope="module", params=ALL_VARIANTS)
def explain_graph(request, tmp_path_factory):
    """(model, path, session) of the explain graph, exported once per variant."""
    model = make_tiny_model(request.param, combine_layer=3)
    path = export_onnx(model, tmp_path_factory.mktemp(request.param) / "explain.onnx", explain=True)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return model, path, session


@pytest.mark.parametrize(("lengths", "seed"), [([1], 0), ([2, 1], 1), ([64, 9, 33], 2)])
def test_the_explain_graph_matches_pytorch(explain_graph, lengths, seed):
    model, path, _ = explain_graph
    input_ids, attention_mask = ragged_batch(lengths, VOCAB, seed=seed)
    report = check_explain_parity(model, path, input_ids, attention_mask, atol=1e-4)
    assert report.passed, report


def test_the_explain_graph_is_batch_invariant(explain_graph):
    _, _, session = explain_graph
    lengths = [120, 7, 1, 64]
    input_ids, attention_mask = ragged_batch(lengths, VOCAB, seed=3)

    def run(ids, mask):
        return session.run(
            list(EXPLAIN_OUTPUT_NAMES), {"input_ids": ids.numpy(), "attention_mask": mask.numpy()}
        )

    kept, importance, groups = run(input_ids, attention_mask)
    for row, length in enumerate(lengths):
        alone = run(input_ids[row : row + 1, :length], attention_mask[row : row + 1, :length])
        np.testing.assert_array_equal(alone[0][0], kept[row, :length])
        np.testing.assert_allclose(alone[1][0], importance[row, :length], rtol=0, atol=1e-4)
        np.testing.assert_array_equal(alone[2][0], groups[row, :length])
