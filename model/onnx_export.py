"""ONNX export of a corebert classifier, and the parity check against PyTorch.

Input/output names and dynamic axes are the artifact contract's (`artifact.files`), shared with
every reader of the graph. The graph is traced in
eval mode under `torch.no_grad()`: no dropout, no Gumbel noise, no straight-through path. The
TorchScript exporter is used because it records the data-dependent `topk` width (the largest
per-document budget in the batch) as a tensor, so the key/value sets really shrink in the graph.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from artifact.files import (
    DYNAMIC_AXES,
    EXPLAIN_DYNAMIC_AXES,
    EXPLAIN_OUTPUT_NAMES,
    ONNX_INPUT_NAMES,
    ONNX_OUTPUT_NAMES,
)

from .fused_attention import CONTRIB_DOMAIN, CONTRIB_OPSET

if TYPE_CHECKING:
    from .modeling import CoreBertForSequenceClassification

DEFAULT_OPSET = 17


class _InferenceGraph(nn.Module):
    """The classifier as (input_ids, attention_mask) -> (logits, kept_kv_counts)."""

    def __init__(self, classifier: nn.Module):
        super().__init__()
        self.classifier = classifier

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor):
        output = self.classifier(input_ids=input_ids, attention_mask=attention_mask)
        return output.logits, output.kept_kv_counts


class _ExplainGraph(nn.Module):
    """The classifier as (input_ids, attention_mask) -> (kept_layers, importance,
    combination_group), per input position: the explain graph, apart from the logits graph so
    that a document nobody asks about pays nothing for it."""

    def __init__(self, classifier: nn.Module):
        super().__init__()
        self.classifier = classifier

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor):
        output = self.classifier(input_ids=input_ids, attention_mask=attention_mask, explain=True)
        explanation = output.explanation
        return explanation.kept_layers, explanation.importance, explanation.groups


def example_inputs(vocab_size: int, batch: int = 2, length: int = 16) -> tuple[torch.Tensor, ...]:
    """Tracing inputs with ragged lengths, so no shape is specialised to a single document."""
    generator = torch.Generator().manual_seed(0)
    input_ids = torch.randint(
        low=min(5, vocab_size - 1), high=vocab_size, size=(batch, length), generator=generator
    )
    attention_mask = torch.ones_like(input_ids)
    attention_mask[1:, length // 2 :] = 0
    return input_ids, attention_mask


def export_onnx(
    model: CoreBertForSequenceClassification,
    path: str | Path,
    opset: int = DEFAULT_OPSET,
    explain: bool = False,
) -> Path:
    """Write `model` to `path` as a single ONNX file: the logits graph, or with `explain` the
    explain graph (`artifact.files.EXPLAIN_OUTPUT_NAMES`)."""
    if opset < DEFAULT_OPSET:
        raise ValueError(f"opset must be >= {DEFAULT_OPSET}, got {opset}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    graph = _ExplainGraph(model) if explain else _InferenceGraph(model)
    output_names = EXPLAIN_OUTPUT_NAMES if explain else ONNX_OUTPUT_NAMES
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer warnings about Python-side constants
            torch.onnx.export(
                graph,
                example_inputs(model.config.vocab_size),
                str(path),
                dynamo=False,
                input_names=list(ONNX_INPUT_NAMES),
                output_names=list(output_names),
                dynamic_axes=EXPLAIN_DYNAMIC_AXES if explain else DYNAMIC_AXES,
                opset_version=opset,
                custom_opsets={CONTRIB_DOMAIN: CONTRIB_OPSET},
                do_constant_folding=True,
            )
    finally:
        model.train(was_training)
    return path


@dataclass
class ParityReport:
    """Largest |logit difference| between PyTorch and ONNX Runtime over the checked inputs."""

    max_abs_diff: float
    atol: float
    num_documents: int
    kept_counts_equal: bool

    @property
    def passed(self) -> bool:
        return self.max_abs_diff <= self.atol and self.kept_counts_equal

    def to_dict(self) -> dict:
        return {**asdict(self), "passed": self.passed}


def check_onnx_parity(
    model: nn.Module,
    onnx_path: str | Path,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    atol: float = 1e-4,
    session=None,
) -> ParityReport:
    """Run the same batch through PyTorch (eval) and ONNX Runtime (CPU) and compare."""
    from artifact.runtime import create_session, run_session

    if session is None:
        session = create_session(onnx_path, device="cpu")
    model.eval()
    with torch.no_grad():
        expected = model(input_ids=input_ids, attention_mask=attention_mask)
    logits, kept = run_session(
        session, input_ids.numpy().astype(np.int64), attention_mask.numpy().astype(np.int64)
    )
    return ParityReport(
        max_abs_diff=float(np.abs(logits - expected.logits.numpy()).max(initial=0.0)),
        atol=atol,
        num_documents=int(input_ids.shape[0]),
        kept_counts_equal=bool(np.array_equal(kept, expected.kept_kv_counts.numpy())),
    )


@dataclass
class ExplainParityReport:
    """The explain graph against PyTorch: the largest |importance difference|, and whether the
    kept layers and groups are equal."""

    max_importance_diff: float
    atol: float
    kept_layers_equal: bool
    groups_equal: bool

    @property
    def passed(self) -> bool:
        return (
            self.max_importance_diff <= self.atol and self.kept_layers_equal and self.groups_equal
        )


def check_explain_parity(
    model: nn.Module,
    onnx_path: str | Path,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    atol: float = 1e-4,
) -> ExplainParityReport:
    """Run the same batch through PyTorch (eval, `explain=True`) and the explain graph."""
    from artifact.runtime import create_session, run_explain_session

    session = create_session(onnx_path, device="cpu")
    model.eval()
    with torch.no_grad():
        expected = model(input_ids=input_ids, attention_mask=attention_mask, explain=True)
    kept_layers, importance, groups = run_explain_session(
        session, input_ids.numpy().astype(np.int64), attention_mask.numpy().astype(np.int64)
    )
    explanation = expected.explanation
    return ExplainParityReport(
        max_importance_diff=float(
            np.abs(importance - explanation.importance.numpy()).max(initial=0.0)
        ),
        atol=atol,
        kept_layers_equal=bool(np.array_equal(kept_layers, explanation.kept_layers.numpy())),
        groups_equal=bool(np.array_equal(groups, explanation.groups.numpy())),
    )
