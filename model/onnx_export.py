"""ONNX export of a corebert classifier, and the parity check against PyTorch.

Input/output names and dynamic axes are the artifact contract's (`artifact.files`), shared with
every reader of the graph. The graph is traced in
eval mode under `torch.no_grad()`: no dropout, no Gumbel noise, no straight-through path. The
TorchScript exporter is used because it records the data-dependent `topk` width (the largest
per-document budget in the batch) as a tensor, so the key/value sets really shrink in the graph.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import onnx
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
# The graph says where its combination tokens begin (a `metadata_props` entry: the 1-based
# combining layer Lc), so that a tool treating that part apart (the int8 writer keeps it in fp32)
# reads it from the graph itself. TorchScript names each node by its module path: the combiner
# is `encoder/layer.{Lc - 1}`, the layers after it follow.
COMBINE_LAYER_PROP = "corebert.combine_layer"
_LAYER_SCOPE = re.compile(r"/encoder/layer\.(\d+)/")
_INSERTED_COMBINER_SCOPE = "/encoder/combiner"  # CoreBertEncoder.combiner (insert_combiner)


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
    if model.config.combine_layer is not None:
        record_combine_layer(path, model.config.combine_layer)
    return path


def record_combine_layer(path: Path, combine_layer: int) -> None:
    """Write Lc into the graph file's metadata (`COMBINE_LAYER_PROP`)."""
    graph = onnx.load(str(path))
    onnx.helper.set_model_props(graph, {COMBINE_LAYER_PROP: str(combine_layer)})
    onnx.save(graph, str(path))


def combined_token_nodes(graph: onnx.ModelProto) -> list[str]:
    """Names of the nodes that run on the combination tokens: the token combiner (layer Lc, or
    `encoder.combiner` where it is inserted before layer Lc) but for its submodules that read the
    document tokens (`TokenCombiner.DOCUMENT_SIDE`), and every layer from Lc on but a replaced
    one's document side; none for a graph without combining. Raises when the graph records Lc but
    no node carries the expected module path, so a change of naming cannot go unnoticed."""
    from .modeling import TokenCombiner

    props = {entry.key: entry.value for entry in graph.metadata_props}
    if COMBINE_LAYER_PROP not in props:
        return []
    first = int(props[COMBINE_LAYER_PROP]) - 1
    document_side = tuple(
        f"{scope}/{name}/"
        for scope in (f"/encoder/layer.{first}", _INSERTED_COMBINER_SCOPE)
        for name in TokenCombiner.DOCUMENT_SIDE
    )
    names = [
        node.name
        for node in graph.graph.node
        if (
            _INSERTED_COMBINER_SCOPE + "/" in node.name
            or ((scope := _LAYER_SCOPE.search(node.name)) and int(scope.group(1)) >= first)
        )
        and not any(part in node.name for part in document_side)
    ]
    if not names:
        raise ValueError(
            f"the graph records {COMBINE_LAYER_PROP}={first + 1} but no node is "
            f"named under encoder/layer.{first} or later"
        )
    return names


# A discrete choice that is a near-tie in float32 (which token a layer keeps, which group a token
# joins) may go either way in two runtimes and then moves that document's logits a little more
# than rounding does. An export that is wrong moves every document, and by much more. The
# training gate (`near_ties_only`) allows up to this share of the checked documents to depart,
# each by at most NEAR_TIE_ATOL.
NEAR_TIE_ATOL = 1e-2
NEAR_TIE_SHARE = 1 / 16


@dataclass
class ParityReport:
    """Largest |logit difference| between PyTorch and ONNX Runtime over the checked inputs, and
    per document (`document_diffs`, `document_kept_equal`) for the near-tie allowance."""

    max_abs_diff: float
    atol: float
    num_documents: int
    kept_counts_equal: bool
    document_diffs: np.ndarray = field(repr=False)  # (B,) largest |logit difference|
    document_kept_equal: np.ndarray = field(repr=False)  # (B,) kept_kv_counts equal

    @property
    def passed(self) -> bool:
        """Every document within `atol`, every kept count equal (the strict check)."""
        return self.max_abs_diff <= self.atol and self.kept_counts_equal

    def departing(self) -> np.ndarray:
        """(B,) bool: the documents beyond `atol` or with other kept counts."""
        return (self.document_diffs > self.atol) | ~self.document_kept_equal


def near_ties_only(departing_diffs: np.ndarray, num_documents: int) -> bool:
    """Whether the documents that departed from PyTorch (their largest |logit difference|) can
    be near-ties: few of them (at most NEAR_TIE_SHARE of the documents, at least one allowed),
    each within NEAR_TIE_ATOL."""
    allowed = max(1, int(num_documents * NEAR_TIE_SHARE))
    return len(departing_diffs) <= allowed and bool(np.all(departing_diffs <= NEAR_TIE_ATOL))


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
    document_diffs = largest_per_document(np.abs(logits - expected.logits.numpy()))
    document_kept_equal = all_per_document(kept == expected.kept_kv_counts.numpy())
    return ParityReport(
        max_abs_diff=float(document_diffs.max(initial=0.0)),
        atol=atol,
        num_documents=int(input_ids.shape[0]),
        kept_counts_equal=bool(document_kept_equal.all()),
        document_diffs=document_diffs,
        document_kept_equal=document_kept_equal,
    )


@dataclass
class ExplainParityReport:
    """The explain graph against PyTorch: the largest |importance difference|, and whether the
    kept layers and groups are equal; per document for the near-tie allowance."""

    max_importance_diff: float
    atol: float
    kept_layers_equal: bool
    groups_equal: bool
    document_diffs: np.ndarray = field(repr=False)  # (B,) largest |importance difference|
    document_equal: np.ndarray = field(repr=False)  # (B,) kept layers and groups equal

    @property
    def passed(self) -> bool:
        return (
            self.max_importance_diff <= self.atol and self.kept_layers_equal and self.groups_equal
        )

    def departing(self) -> np.ndarray:
        """(B,) bool: the documents beyond `atol` or with other kept layers or groups."""
        return (self.document_diffs > self.atol) | ~self.document_equal


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
    document_diffs = largest_per_document(np.abs(importance - explanation.importance.numpy()))
    layers_equal = all_per_document(kept_layers == explanation.kept_layers.numpy())
    groups_equal = all_per_document(groups == explanation.groups.numpy())
    return ExplainParityReport(
        max_importance_diff=float(document_diffs.max(initial=0.0)),
        atol=atol,
        kept_layers_equal=bool(layers_equal.all()),
        groups_equal=bool(groups_equal.all()),
        document_diffs=document_diffs,
        document_equal=layers_equal & groups_equal,
    )


def largest_per_document(values: np.ndarray) -> np.ndarray:
    """(B, ...) -> (B,): the largest value of each document (0 when it has none)."""
    return values.reshape(values.shape[0], -1).max(axis=1, initial=0.0)


def all_per_document(values: np.ndarray) -> np.ndarray:
    """(B, ...) bool -> (B,): whether all of each document's values hold."""
    return np.all(values.reshape(values.shape[0], -1), axis=1, keepdims=False).astype(bool)
