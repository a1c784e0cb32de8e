"""The artifact at three precisions: the fp32 graph, dynamic int8 for CPUs, mixed fp16 for GPUs.

Both lower precisions are made with ONNX Runtime's own tools (`quantize_dynamic`, and the float16
converter of `onnxruntime.transformers`) from the exported fp32 graph, then scored on the test
split against the PyTorch model: a precision that loses more than the allowed accuracy is left
out of the artifact, with the reason recorded, never shipped silently.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from artifact.files import PRECISION_FILES
from artifact.problem import LabelRule
from artifact.runtime import OnnxClassifier
from artifact.truncation import Truncation, aggregate_windows
from training.documents import Document
from training.evaluate import label_matrix, score_with_probabilities
from training.metrics import paired_standard_error

logger = logging.getLogger(__name__)

# Ops of the pruning layers' scoring path (attention probabilities -> importance scores ->
# quantiles -> budgets -> top-k) that fp16 could change the kept tokens through.
_SCORING_PATH_STOP = "MatMul"  # the attention context: the model's own arithmetic, fp16 is fine
_SCORING_PATH_END = "TopK"
# How `write_int8` makes the graph, recorded beside its scores in metadata.json: int8 figures
# made another way (per-tensor weights, every node quantized) are not comparable.
INT8_RECIPE = "dynamic, per-channel weights, nodes on the combination tokens fp32"

# The batch sizes the int8 graph is scored at before it is kept or left out. Its activations are
# quantized with one scale per batch, so a document's label can depend on its batch-mates, and
# one batching's accuracy is one draw: a run whose int8 graph read -0.7 points at batch 16 read
# 0.0 at batches 1, 8 and 32 (docs/design.md, "Judging int8 over batchings"). The gate reads the
# mean over a document served alone up to the service's largest default batch.
INT8_GATE_BATCH_SIZES = (1, 8, 16, 32)


def write_int8(
    fp32_path: Path,
    int8_path: Path,
    *,
    per_channel: bool = True,
    combination_side_fp32: bool = True,
) -> None:
    """Dynamic int8 quantization of the MatMul/Gemm weights (activations quantized per batch):
    by default one scale per output channel, and the nodes that run on the combination tokens
    (`combined_token_nodes`: the combiner's query, value and output, the layers after it) kept
    fp32. The options turn either off, for benchmarks/int8_recipes.py's comparison.

    Both defaults are measured (docs/design.md, "Precisions"; docs/results.md, "int8 recipes"):
    with one weight scale per tensor and every node quantized, the pruning variants' int8 graphs
    lost 1.2-2.3 points against their fp32 graphs on 20 Newsgroups where `bert` lost 0.2. The
    combination side sees a handful of tokens per document, so keeping it fp32 costs little time.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # Imported here, as torch is elsewhere in this module: scoring and reports need no torch.
    from model.onnx_export import combined_token_nodes

    excluded = []
    if combination_side_fp32:  # the graph is read only to find those nodes
        excluded = combined_token_nodes(onnx.load(str(fp32_path), load_external_data=False))
    quantize_dynamic(
        fp32_path,
        int8_path,
        weight_type=QuantType.QInt8,
        per_channel=per_channel,
        nodes_to_exclude=excluded,
    )


def scoring_nodes(model: onnx.ModelProto) -> list[str]:
    """Names of the nodes from each attention softmax to the top-k that picks the next layer's
    keys/values, not through the context MatMul: where fp16 would change which tokens are kept.
    """
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    frontier = [node for node in model.graph.node if node.op_type == "Softmax"]
    reached: dict[str, onnx.NodeProto] = {}
    while frontier:
        node = frontier.pop()
        if node.name in reached or node.op_type == _SCORING_PATH_STOP:
            continue
        reached[node.name] = node
        if node.op_type == _SCORING_PATH_END:
            continue
        for output in node.output:
            frontier.extend(consumers.get(output, []))
    return sorted(reached)


def write_fp16(fp32_path: Path, fp16_path: Path) -> None:
    """Mixed precision: fp16 weights and arithmetic, fp32 inputs/outputs and scoring path."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = onnx.load(str(fp32_path))
    converted = convert_float_to_float16(
        model, keep_io_types=True, node_block_list=scoring_nodes(model)
    )
    onnx.save(without_repeated_nodes(converted), str(fp16_path))


def without_repeated_nodes(model: onnx.ModelProto) -> onnx.ModelProto:
    """Drop the later copies of identical nodes. The converter inserts one Cast back to fp32 per
    blocked consumer of an fp16 tensor, all with the same name and output, which ONNX Runtime
    refuses; the first copy comes before every consumer, so it serves them all."""
    seen, kept = set(), []
    for node in model.graph.node:
        key = node.SerializeToString()
        if key not in seen:
            seen.add(key)
            kept.append(node)
    del model.graph.node[:]
    model.graph.node.extend(kept)
    return model


WRITERS: dict[str, Callable[[Path, Path], None]] = {"int8": write_int8, "fp16": write_fp16}


def pytorch_probabilities(
    model: Any,
    classifier: OnnxClassifier,
    documents: Sequence[Document],
    truncation: Truncation,
    batch_size: int,
) -> np.ndarray:
    """The PyTorch fp32 model's class probabilities on `documents`, read as `classifier` reads
    them under `truncation` (windows aggregated like the service): the reference every graph is
    held to."""
    import torch

    from artifact.tokenization import pad_batch, pad_token_id

    read = classifier.encode_windows([d.text for d in documents], truncation)
    windows = [window for document in read for window in document.windows]
    pad_id = pad_token_id(classifier.tokenizer)
    batches = []
    model.eval()
    with torch.no_grad():
        for start in range(0, len(windows), batch_size):
            input_ids, attention_mask = pad_batch(windows[start : start + batch_size], pad_id)
            output = model(torch.from_numpy(input_ids), torch.from_numpy(attention_mask))
            batches.append(classifier.rule.probabilities(output.logits.float().numpy()))
    return aggregate_windows(np.concatenate(batches), read)


def precision_scores(
    metrics: dict[str, Any],
    probabilities: np.ndarray,
    reference: np.ndarray,
    rule: LabelRule | None = None,
) -> dict[str, Any]:
    """One graph's test accuracy and macro-F1, and how far it is from PyTorch fp32 (`reference`
    probabilities): the share of documents given the same labels under `rule` (the predicted
    label; a multi-label model's thresholded label set), and the largest probability
    difference."""
    return {
        "accuracy": metrics["accuracy"],
        "macro_f1": metrics["macro_f1"],
        "label_agreement": (rule or LabelRule()).agreement(probabilities, reference),
        "max_prob_diff": float(np.abs(probabilities - reference).max()),
    }


def over_batchings(
    score_at: Callable[[int], tuple[dict[str, Any], np.ndarray]],
    batch_sizes: Sequence[int],
    reference: np.ndarray,
    rule: LabelRule | None = None,
    graded_against: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, Any]:
    """`precision_scores` of one graph scored at each of `batch_sizes` (`score_at(batch_size)`
    gives its metrics and probabilities): accuracy and macro-F1 averaged over the batchings,
    the lowest label agreement and the largest probability difference, and the accuracy of
    each batching under `accuracy_by_batch_size`.

    With `graded_against` (the documents' true labels, (N, C), and the fp32 graph's
    probabilities), also `accuracy_drop_standard_error`: the paired standard error of the mean
    accuracy's difference to fp32, from each document's share of right answers over the
    batchings against fp32's answer on it. A drop of one document in 500 is 0.2 points; this
    says how many such points the test split can tell apart.
    """
    rule = rule or LabelRule()
    readings = {size: score_at(size) for size in batch_sizes}
    scores = {size: precision_scores(*read, reference, rule) for size, read in readings.items()}
    summary = {
        "accuracy": float(np.mean([s["accuracy"] for s in scores.values()])),
        "macro_f1": float(np.mean([s["macro_f1"] for s in scores.values()])),
        "label_agreement": min(s["label_agreement"] for s in scores.values()),
        "max_prob_diff": max(s["max_prob_diff"] for s in scores.values()),
        "accuracy_by_batch_size": {str(size): s["accuracy"] for size, s in scores.items()},
    }
    if graded_against is not None:
        true_labels, fp32_probabilities = graded_against
        right_share = np.mean(
            [rule.correct(probabilities, true_labels) for _, probabilities in readings.values()],
            axis=0,
        )
        fp32_right = rule.correct(fp32_probabilities, true_labels)
        summary["accuracy_drop_standard_error"] = paired_standard_error(right_share, fp32_right)
    return summary


def too_inaccurate(
    precision: str,
    accuracy: float,
    fp32_accuracy: float,
    max_accuracy_drop: float,
    standard_error: float | None = None,
) -> str | None:
    """Why a `precision` graph scoring `accuracy` is left out of the artifact, or None when it
    loses at most `max_accuracy_drop` (a fraction) against fp32. The reason gives the drop's
    paired `standard_error` when known, so a drop of a few documents reads as what it is."""
    drop = fp32_accuracy - accuracy
    if drop <= max_accuracy_drop:
        return None
    error = "" if standard_error is None else f" ± {100 * standard_error:.1f}"
    return (
        f"{precision} test accuracy {accuracy:.4f} is {100 * drop:.1f}{error} points below "
        f"fp32's {fp32_accuracy:.4f} (at most {100 * max_accuracy_drop:.1f} allowed)"
    )


def export_precisions(
    directory: Path,
    fp32_classifier: OnnxClassifier,
    documents: Sequence[Document],
    reference: np.ndarray,
    fp32_scores: tuple[dict[str, Any], np.ndarray],
    *,
    max_accuracy_drop: float,
    truncation: Truncation | None = None,
    batch_size: int = 16,
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Write the int8 and fp16 graphs beside `directory`'s fp32 graph, score them on `documents`
    read under `truncation` (default: cut from the right) against the `reference` probabilities,
    and drop a lower precision that loses more than `max_accuracy_drop` (a fraction) of
    accuracy. `fp32_scores` is the fp32 graph's `score_with_probabilities` on the same
    documents, computed once by the caller. fp16 is scored at `batch_size`; int8, whose
    activations are quantized per batch, at each of INT8_GATE_BATCH_SIZES (`over_batchings`);
    each with the paired standard error of its accuracy drop, which a left-out graph's reason
    gives too.

    Returns metadata.json's `precisions` object and the warnings for the precisions dropped.
    """
    fp32 = precision_scores(*fp32_scores, reference, fp32_classifier.rule)
    precisions = {"fp32": {"file": PRECISION_FILES["fp32"], **fp32}}
    true_labels = label_matrix(documents, fp32_classifier.labels)
    warnings = []
    for precision, write in WRITERS.items():
        path = directory / PRECISION_FILES[precision]
        write(directory / PRECISION_FILES["fp32"], path)
        classifier = OnnxClassifier(
            path,
            fp32_classifier.tokenizer,
            fp32_classifier.labels,
            fp32_classifier.max_length,
            rule=fp32_classifier.rule,
        )
        batch_sizes = INT8_GATE_BATCH_SIZES if precision == "int8" else (batch_size,)
        scores = over_batchings(
            partial(score_with_probabilities, classifier, documents, truncation=truncation),
            batch_sizes,
            reference,
            classifier.rule,
            graded_against=(true_labels, fp32_scores[1]),
        )
        entry: dict[str, Any] = {"file": path.name, **scores}
        if precision == "int8":
            entry["recipe"] = INT8_RECIPE
        reason = too_inaccurate(
            precision,
            scores["accuracy"],
            fp32["accuracy"],
            max_accuracy_drop,
            scores["accuracy_drop_standard_error"],
        )
        if reason:
            path.unlink()
            entry["file"] = None
            entry["reason"] = reason
            warnings.append(f"{precision} graph left out: {entry['reason']}")
            logger.warning("%s", warnings[-1])
        precisions[precision] = entry
    return precisions, warnings
