"""Names the artifact's writers and readers share: its four files, the optional graphs beside
them, and the ONNX graphs' tensors.

A name lives here only; `model.onnx_export` exports with these names, the readers feed and fetch
with them.
"""

from __future__ import annotations

from pathlib import Path

MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
LABELS_FILE = "labels.json"
METADATA_FILE = "metadata.json"
ARTIFACT_FILES = (MODEL_FILE, TOKENIZER_FILE, LABELS_FILE, METADATA_FILE)
# The graph at each precision: fp32 always; int8 (CPU) and fp16 (GPU) beside it when training
# wrote them (metadata.json's `precisions` says which, and why one is missing).
PRECISION_FILES = {"fp32": MODEL_FILE, "int8": "model.int8.onnx", "fp16": "model.fp16.onnx"}
# The explain graph (fp32): the same model with per-position outputs instead of the logits, run
# only for documents whose request asks why. Optional: artifacts written before it lack it.
EXPLAIN_FILE = "model.explain.onnx"

ONNX_INPUT_NAMES = ("input_ids", "attention_mask")  # int64 (batch, sequence); mask 1 = real
ONNX_OUTPUT_NAMES = ("logits", "kept_kv_counts")  # float32 (batch, labels), int64 (batch, layers)
DYNAMIC_AXES = {
    "input_ids": {0: "batch", 1: "sequence"},
    "attention_mask": {0: "batch", 1: "sequence"},
    "logits": {0: "batch"},
    "kept_kv_counts": {0: "batch"},
}
# The explain graph's outputs, each (batch, sequence), one value per input position
# (model/explanation.py): int64 pruning layers the token stayed a key/value of (0 on padding),
# float32 importance in [0, 1] (0 on padding), int64 combination group (-1 on padding or
# without combining).
EXPLAIN_OUTPUT_NAMES = ("kept_layers", "importance", "combination_group")
EXPLAIN_DYNAMIC_AXES = {
    **{name: DYNAMIC_AXES[name] for name in ONNX_INPUT_NAMES},
    **{name: {0: "batch", 1: "sequence"} for name in EXPLAIN_OUTPUT_NAMES},
}


def missing_files(directory: str | Path) -> list[str]:
    """The artifact files `directory` lacks, in `ARTIFACT_FILES` order; empty when complete."""
    return [name for name in ARTIFACT_FILES if not (Path(directory) / name).is_file()]
