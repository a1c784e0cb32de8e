"""The artifact contract as code: what training writes and the service and benchmarks read.

`files` (the four file names, the ONNX input/output names and dynamic axes), `card` (the
validated loader: `load_artifact` -> `Artifact` with a typed `ModelCard`, `ArtifactError`),
`tokenization` (text -> ids -> padded batch), `truncation` (documents longer than the model: the
tokens each strategy keeps, chunk windows and their weights) and `runtime` (ONNX Runtime session
options, provider choice, `OnnxClassifier`). Imports neither torch nor transformers; only `runtime`
imports onnxruntime, so it is left out here: `from artifact.runtime import OnnxClassifier`.
"""

from artifact.card import Artifact, ArtifactError, ModelCard, load_artifact, load_card
from artifact.files import (
    ARTIFACT_FILES,
    DYNAMIC_AXES,
    LABELS_FILE,
    METADATA_FILE,
    MODEL_FILE,
    ONNX_INPUT_NAMES,
    ONNX_OUTPUT_NAMES,
    TOKENIZER_FILE,
)

__all__ = [
    "ARTIFACT_FILES",
    "DYNAMIC_AXES",
    "LABELS_FILE",
    "METADATA_FILE",
    "MODEL_FILE",
    "ONNX_INPUT_NAMES",
    "ONNX_OUTPUT_NAMES",
    "TOKENIZER_FILE",
    "Artifact",
    "ArtifactError",
    "ModelCard",
    "load_artifact",
    "load_card",
]
