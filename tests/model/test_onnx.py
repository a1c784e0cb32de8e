"""ONNX export: parity with PyTorch, dynamic axes, batch invariance in ONNX Runtime, clean graph."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from artifact.files import ONNX_INPUT_NAMES, ONNX_OUTPUT_NAMES
from model.onnx_export import NEAR_TIE_ATOL, check_onnx_parity, export_onnx, near_ties_only
from tests.factories import make_tiny_model, tiny_config_kwargs
from tests.model.conftest import (
    ALL_VARIANTS,
    RAGGED_LENGTHS,
    assert_batch_invariant,
    ragged_batch,
)

VOCAB = tiny_config_kwargs()["vocab_size"]
# (batch, longest length); the other documents of a batch are shorter, down to one token.
SHAPES = [(1, 1), (1, 2), (2, 3), (3, 17), (4, 64), (5, 128), (6, 255), (7, 300), (8, 512)]


@pytest.fixture(scope="module", params=ALL_VARIANTS)
def exported(request, tmp_path_factory):
    """(variant, model, session), exported once per variant for this module."""
    model = make_tiny_model(request.param, combine_layer=3)
    path = export_onnx(model, tmp_path_factory.mktemp(request.param) / "model.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return request.param, model, session, path


def lengths_for(batch: int, longest: int) -> list[int]:
    """Ragged lengths: the longest, then shorter ones spread down to 1 token."""
    return [longest] + [max(1, longest * (batch - i) // (batch + 1)) for i in range(1, batch)]


@pytest.mark.parametrize(("batch", "longest"), SHAPES)
def test_onnx_matches_pytorch(exported, batch, longest):
    _, model, session, path = exported
    input_ids, attention_mask = ragged_batch(lengths_for(batch, longest), VOCAB, seed=batch)
    report = check_onnx_parity(model, path, input_ids, attention_mask, atol=1e-4, session=session)
    assert report.max_abs_diff <= 1e-4, report
    assert report.kept_counts_equal and report.passed


def test_batch_invariance_in_onnx_runtime(exported):
    assert_batch_invariant(exported[2], RAGGED_LENGTHS, VOCAB, seed=3)


def test_graph_has_dynamic_axes_and_no_training_parts(exported):
    variant, _, _, path = exported
    graph = onnx.load(str(path)).graph
    assert [i.name for i in graph.input] == list(ONNX_INPUT_NAMES)
    assert [o.name for o in graph.output] == list(ONNX_OUTPUT_NAMES)
    for tensor in graph.input:
        dims = tensor.type.tensor_type.shape.dim
        assert [d.dim_param for d in dims] == ["batch", "sequence"]
    operators = {node.op_type for node in graph.node}
    assert not operators & {"RandomUniform", "RandomUniformLike", "RandomNormal", "Dropout"}
    assert (
        max(o.version for o in onnx.load(str(path)).opset_import if o.domain in ("", "ai.onnx"))
        >= 17
    )
    if variant in ("p", "pf", "pfc"):
        assert "TopK" in operators and "GatherElements" in operators  # keys/values really shrink


def test_export_restores_training_mode(tmp_path):
    model = make_tiny_model("pfc").train()
    export_onnx(model, tmp_path / "m.onnx")
    assert model.training


def test_export_rejects_old_opsets(tmp_path):
    with pytest.raises(ValueError, match="opset"):
        export_onnx(make_tiny_model("bert"), tmp_path / "m.onnx", opset=13)


def test_parity_report_detects_a_broken_export(tmp_path):
    model = make_tiny_model("pf")
    path = export_onnx(model, tmp_path / "m.onnx")
    with torch.no_grad():
        model.classifier.bias.add_(1.0)  # PyTorch and the exported graph now disagree
    input_ids, attention_mask = ragged_batch([9, 4], VOCAB)
    report = check_onnx_parity(model, path, input_ids, attention_mask)
    assert not report.passed and report.max_abs_diff > 0.5


def test_near_ties_pass_only_when_few_and_close():
    assert near_ties_only(np.array([]), 32)
    assert near_ties_only(np.array([4.5e-4]), 32)  # one document past atol, close
    assert near_ties_only(np.array([4.5e-4, 2e-3]), 32)  # 2 of 32 = 1/16
    assert not near_ties_only(np.array([4.5e-4] * 3), 32)  # too many for a tie
    assert not near_ties_only(np.array([5 * NEAR_TIE_ATOL]), 32)  # too far for a tie
    assert near_ties_only(np.array([1e-3]), 4)  # a small check still allows one
    assert not near_ties_only(np.array([1e-3, 1e-3]), 4)
