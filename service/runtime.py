"""The inference backend: the artifact's tokenizer and an ONNX Runtime session (no torch).

`OnnxClassifier.tokenize` and `OnnxClassifier.predict` are blocking and thread-safe; the
batcher calls them from worker threads, off the event loop.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import onnxruntime as ort

from service.artifact import Artifact, ModelCard

logger = logging.getLogger(__name__)

CUDA_PROVIDER = "CUDAExecutionProvider"
CPU_PROVIDER = "CPUExecutionProvider"


@dataclass(frozen=True)
class TokenizedDocument:
    """Token ids of one document, `[CLS] ... [SEP]`, cut to the model's maximum length."""

    ids: np.ndarray  # (num_tokens,) int64
    truncated: bool

    @property
    def num_tokens(self) -> int:
        return int(self.ids.shape[0])


@dataclass(frozen=True)
class BatchPrediction:
    """Model outputs for a batch, one row per document in batch order."""

    probabilities: np.ndarray  # (batch, num_labels) float32, softmax of the logits
    kept_kv_ratio: np.ndarray  # (batch,) float64 in [0, 1]


def choose_providers(device: str, available: Sequence[str]) -> list[str]:
    """Execution providers to ask ONNX Runtime for, best first.

    `device="cuda"` without a CUDA provider falls back to CPU with a warning instead of failing,
    so the same configuration runs on a machine without a GPU.
    """
    if device == "cpu":
        return [CPU_PROVIDER]
    if CUDA_PROVIDER in available:
        return [CUDA_PROVIDER, CPU_PROVIDER]
    if device == "cuda":
        logger.warning(
            "device=cuda was requested but ONNX Runtime offers no %s (available: %s); "
            "falling back to %s",
            CUDA_PROVIDER,
            ", ".join(available),
            CPU_PROVIDER,
        )
    return [CPU_PROVIDER]


def kept_kv_ratio(
    kept_kv_counts: np.ndarray, num_tokens: np.ndarray, combine_layer: int | None
) -> np.ndarray:
    """Per document: mean over the pruning layers of kept / original document tokens.

    The pruning layers are 1 .. Lc-1 when the model combines tokens at layer Lc (1-based), all
    layers otherwise; from Lc on `kept_kv_counts` is 0 by contract and is left out. A model that
    does not prune keeps every token, so its ratio is 1.0.
    """
    # kept_kv_counts: (batch, num_layers); num_tokens: (batch,)
    layers = kept_kv_counts if combine_layer is None else kept_kv_counts[:, : combine_layer - 1]
    if layers.shape[1] == 0:
        return np.ones(kept_kv_counts.shape[0], dtype=np.float64)
    ratios = layers.astype(np.float64) / np.maximum(num_tokens, 1)[:, None]  # (batch, layers)
    return np.clip(ratios.mean(axis=1), 0.0, 1.0)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


class OnnxClassifier:
    """Tokenizer + ONNX Runtime session for one artifact."""

    def __init__(
        self,
        artifact: Artifact,
        device: str = "auto",
        max_length: int | None = None,
        intra_op_threads: int = 0,
    ) -> None:
        self.card: ModelCard = artifact.card
        self.max_length = min(max_length or self.card.max_length, self.card.max_length)
        self._tokenizer = artifact.tokenizer
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(self.max_length)
        self._pad_id = self._tokenizer.token_to_id("[PAD]") or 0

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = intra_op_threads
        # Idle ONNX Runtime threads spin by default, taking the CPU the event loop and the
        # tokenizer need between batches; a server is better off letting them sleep.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        requested = choose_providers(device, ort.get_available_providers())
        self._session = ort.InferenceSession(
            str(artifact.model_path), sess_options=options, providers=requested
        )
        # ONNX Runtime silently drops a provider it cannot initialise (no GPU, missing cuDNN):
        # report the provider the session really uses.
        self.provider: str = self._session.get_providers()[0]
        if requested[0] != self.provider:
            logger.warning(
                "%s could not be initialised; running on %s", requested[0], self.provider
            )
        logger.info(
            "loaded %s %s (%s) from %s on %s, max_length=%d",
            self.card.name,
            self.card.version,
            self.card.variant,
            artifact.directory,
            self.provider,
            self.max_length,
        )

    def tokenize(self, texts: Sequence[str]) -> list[TokenizedDocument]:
        encodings = self._tokenizer.encode_batch(list(texts))
        return [
            TokenizedDocument(
                ids=np.asarray(encoding.ids, dtype=np.int64),
                truncated=len(encoding.overflowing) > 0,
            )
            for encoding in encodings
        ]

    def predict(self, sequences: Sequence[np.ndarray]) -> BatchPrediction:
        """Right-pad the sequences into one batch and run the model."""
        lengths = np.array([len(ids) for ids in sequences], dtype=np.int64)  # (batch,)
        input_ids = np.full((len(sequences), int(lengths.max())), self._pad_id, dtype=np.int64)
        attention_mask = np.zeros_like(input_ids)  # (batch, sequence)
        for row, ids in enumerate(sequences):
            input_ids[row, : len(ids)] = ids
            attention_mask[row, : len(ids)] = 1
        logits, kept_kv_counts = self._session.run(
            ["logits", "kept_kv_counts"],
            {"input_ids": input_ids, "attention_mask": attention_mask},
        )
        return BatchPrediction(
            probabilities=softmax(logits.astype(np.float32)),
            kept_kv_ratio=kept_kv_ratio(kept_kv_counts, lengths, self.card.combine_layer),
        )

    def warm_up(self) -> None:
        """Run a short and a full-length document so the first request pays no setup cost."""
        short, full = self.tokenize(["warm up", "warm up " * self.max_length])
        self.predict([short.ids])
        self.predict([full.ids])
