"""The inference backend: an artifact's `OnnxClassifier` (tokenizer + ONNX Runtime session, no
torch) and what the service reports from its outputs.

`OnnxBackend.tokenize` and `OnnxBackend.predict` are blocking and thread-safe; the batcher calls
them from worker threads, off the event loop.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from artifact.card import Artifact, ModelCard
from artifact.runtime import OnnxClassifier, softmax
from service.types import BatchPrediction, TokenizedDocument

logger = logging.getLogger(__name__)


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


class OnnxBackend:
    """The service's `Classifier` for one artifact: documents with their truncation flag in,
    probabilities and kept key/value ratios out."""

    def __init__(
        self,
        artifact: Artifact,
        device: str = "auto",
        max_length: int | None = None,
        intra_op_threads: int = 0,
    ) -> None:
        self.card: ModelCard = artifact.card
        self._model = OnnxClassifier.from_artifact(
            artifact, max_length=max_length, device=device, intra_op_threads=intra_op_threads
        )
        self.max_length = self._model.max_length
        self.provider: str = self._model.provider
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
        return [
            TokenizedDocument(
                ids=np.asarray(encoding.ids, dtype=np.int64),
                truncated=len(encoding.overflowing) > 0,
            )
            for encoding in self._model.encode(texts)
        ]

    def predict(self, sequences: Sequence[np.ndarray]) -> BatchPrediction:
        """Run the sequences as one batch (right-padded)."""
        lengths = np.array([len(ids) for ids in sequences], dtype=np.int64)  # (batch,)
        logits, kept_kv_counts = self._model.run(sequences)
        logits = logits.astype(np.float32)
        return BatchPrediction(
            logits=logits,
            probabilities=softmax(logits),
            kept_kv_ratio=kept_kv_ratio(kept_kv_counts, lengths, self.card.combine_layer),
        )

    def warm_up(self) -> None:
        """Run a short and a full-length document so the first request pays no setup cost."""
        short, full = self.tokenize(["warm up", "warm up " * self.max_length])
        self.predict([short.ids])
        self.predict([full.ids])
