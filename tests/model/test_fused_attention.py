"""The inference graph's fused pieces: packed projections and the MultiHeadAttention operator.

Checked against independent references (torch's scaled_dot_product_attention, the separate
nn.Linear projections), and in the exported graph: which layers run the fused operator.
"""

import onnx
import pytest
import torch
from torch import nn

from model.fused_attention import fused_attention, reference_attention
from model.modeling import CoreBertSelfAttention, packed_linear
from model.onnx_export import export_onnx
from tests.factories import make_tiny_model, tiny_config_kwargs

HEADS = 3


def random_attention_inputs(seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    query = torch.randn(2, 5, 12, generator=generator)
    key = torch.randn(2, 7, 12, generator=generator)
    value = torch.randn(2, 7, 12, generator=generator)
    bias = torch.randn(36, generator=generator)
    key_mask = torch.tensor([[True] * 7, [True] * 4 + [False] * 3])
    return query, key, value, bias, key_mask


def sdpa_reference(query, key, value, bias, key_mask):
    """The same attention through torch's own kernel: (B, H, T, hs) heads, boolean mask."""
    b_q, b_k, b_v = bias.split(12)

    def heads(x):
        return x.view(x.shape[0], x.shape[1], HEADS, 4).transpose(1, 2)

    mask = None if key_mask is None else key_mask[:, None, None, :]
    context = nn.functional.scaled_dot_product_attention(
        heads(query + b_q), heads(key + b_k), heads(value + b_v), attn_mask=mask
    )
    return context.transpose(1, 2).reshape(query.shape)


@pytest.mark.parametrize("masked", [True, False])
def test_reference_attention_matches_torch_sdpa(masked):
    query, key, value, bias, key_mask = random_attention_inputs()
    key_mask = key_mask if masked else None
    expected = sdpa_reference(query, key, value, bias, key_mask)
    got = reference_attention(query, key, value, bias, key_mask, HEADS)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)
    torch.testing.assert_close(fused_attention(query, key, value, bias, key_mask, HEADS), got)


def test_a_padded_key_changes_nothing():
    query, key, value, bias, key_mask = random_attention_inputs()
    changed_key, changed_value = key.clone(), value.clone()
    changed_key[1, 4:] += 100.0  # padding of document 2
    changed_value[1, 4:] -= 100.0
    before = reference_attention(query, key, value, bias, key_mask, HEADS)
    after = reference_attention(query, changed_key, changed_value, bias, key_mask, HEADS)
    torch.testing.assert_close(after, before, rtol=0, atol=0)


def test_packed_linear_equals_the_separate_projections():
    torch.manual_seed(0)
    projections = (nn.Linear(12, 12), nn.Linear(12, 12), nn.Linear(12, 12))
    x = torch.randn(2, 5, 12)
    for got, projection in zip(packed_linear(x, projections), projections, strict=True):
        torch.testing.assert_close(got, projection(x), rtol=0, atol=1e-6)
    for got, projection in zip(packed_linear(x, projections, False), projections, strict=True):
        torch.testing.assert_close(got, x @ projection.weight.T, rtol=0, atol=1e-6)


@pytest.mark.parametrize("same_input", [True, False])
def test_inference_paths_agree_with_the_training_path(same_input):
    """Eval (packed projections; fused attention when nothing is scored) = train-mode maths."""
    config = make_tiny_model("bert").config
    attention = CoreBertSelfAttention(config)
    generator = torch.Generator().manual_seed(1)
    queries = torch.randn(2, 6, config.hidden_size, generator=generator)
    keys_values = queries if same_input else torch.randn(2, 4, config.hidden_size)
    key_mask = torch.ones(2, keys_values.shape[1], dtype=torch.bool)
    key_mask[1, -2:] = False
    query_mask = torch.ones(2, 6, dtype=torch.bool)
    attention.train()  # dropout is 0 in the tiny config: training maths, deterministic
    expected, expected_received = attention(queries, keys_values, key_mask, query_mask)
    attention.eval()
    scored, received = attention(queries, keys_values, key_mask, query_mask)
    fused, nothing = attention(queries, keys_values, key_mask)
    torch.testing.assert_close(scored, expected, rtol=0, atol=1e-5)
    torch.testing.assert_close(received, expected_received, rtol=0, atol=1e-6)
    torch.testing.assert_close(fused, expected, rtol=0, atol=1e-5)
    assert nothing is None


def fused_layers(path) -> list[str]:
    graph = onnx.load(str(path)).graph
    return [n.name for n in graph.node if n.op_type == "MultiHeadAttention"]


@pytest.mark.parametrize(
    ("variant", "combine_layer", "expected"),
    [
        ("bert", None, 5),  # every layer: nothing is scored
        ("pf", None, 1),  # only the last layer scores nothing
        ("pfc", 3, 1 + 2),  # layer Lc - 1 and the two layers after Lc
        ("c", 5, 4),  # no pruning: every layer before Lc
    ],
)
def test_the_fused_operator_runs_exactly_where_no_probabilities_are_needed(
    tmp_path, variant, combine_layer, expected
):
    options = {} if combine_layer is None else {"combine_layer": combine_layer}
    model = make_tiny_model(variant, **options)
    assert len(fused_layers(export_onnx(model, tmp_path / "model.onnx"))) == expected


def test_unpruned_layers_project_q_k_v_with_one_matrix_product(tmp_path):
    """bert: one packed (D, 3D) weight per layer and no separate Q/K/V MatMul left."""
    tiny = tiny_config_kwargs()
    path = export_onnx(make_tiny_model("bert"), tmp_path / "model.onnx")
    shapes = [tuple(t.dims) for t in onnx.load(str(path)).graph.initializer]
    packed = (tiny["hidden_size"], 3 * tiny["hidden_size"])
    assert shapes.count(packed) == tiny["num_hidden_layers"]
