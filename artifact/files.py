"""Names the artifact's writers and readers share: its four files and the ONNX graph's tensors.

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

ONNX_INPUT_NAMES = ("input_ids", "attention_mask")  # int64 (batch, sequence); mask 1 = real
ONNX_OUTPUT_NAMES = ("logits", "kept_kv_counts")  # float32 (batch, labels), int64 (batch, layers)
DYNAMIC_AXES = {
    "input_ids": {0: "batch", 1: "sequence"},
    "attention_mask": {0: "batch", 1: "sequence"},
    "logits": {0: "batch"},
    "kept_kv_counts": {0: "batch"},
}


def missing_files(directory: str | Path) -> list[str]:
    """The artifact files `directory` lacks, in `ARTIFACT_FILES` order; empty when complete."""
    return [name for name in ARTIFACT_FILES if not (Path(directory) / name).is_file()]
