"""The inference backend: an artifact's `OnnxClassifier` (tokenizer + ONNX Runtime session, no
torch) at the precision the settings ask for, and what the service reports from its outputs.

`OnnxBackend.tokenize` and `OnnxBackend.predict` are blocking and thread-safe; the batcher calls
them from worker threads, off the event loop.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import onnxruntime as ort

from artifact.card import Artifact, ModelCard
from artifact.explain import SequenceExplanation, TokenSpans
from artifact.runtime import CPU_PROVIDER, CUDA_PROVIDER, OnnxClassifier
from artifact.truncation import DocumentWindows, Truncation
from service.types import BatchPrediction

logger = logging.getLogger(__name__)

# The provider each lower-precision graph is made for (docs/contracts.md); fp32 runs anywhere.
MADE_FOR = {"fp16": CUDA_PROVIDER, "int8": CPU_PROVIDER}


def auto_precision(provider: str, available: Sequence[str]) -> str:
    """`precision="auto"`: the graph made for `provider` (fp16 on CUDA, int8 on the CPU) when
    the artifact has it, fp32 otherwise."""
    preferred = next((p for p, made_for in MADE_FOR.items() if made_for == provider), "fp32")
    return preferred if preferred in available else "fp32"


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


def open_precision(
    artifact: Artifact,
    precision: str,
    *,
    device: str,
    max_length: int | None,
    intra_op_threads: int,
) -> tuple[str, OnnxClassifier]:
    """The artifact's graph at `precision` and the precision it is: fp32, int8 or fp16 (an
    `ArtifactError` naming the precisions the artifact has when it lacks that graph), or auto:
    the graph made for the provider the session really runs on (`auto_precision`)."""

    def load(precision: str) -> OnnxClassifier:
        return OnnxClassifier.from_artifact(
            artifact,
            max_length=max_length,
            device=device,
            intra_op_threads=intra_op_threads,
            precision=precision,
        )

    if precision != "auto":
        model = load(precision)
        made_for = MADE_FOR.get(precision, model.provider)
        if made_for != model.provider:
            logger.warning(
                "precision %s: the graph is made for %s and runs on %s here",
                precision,
                made_for,
                model.provider,
            )
        return precision, model
    available = artifact.card.available_precisions()
    # The provider the session will ask for first (`choose_providers`' choice)...
    cuda_offered = CUDA_PROVIDER in ort.get_available_providers()
    asked = CUDA_PROVIDER if device != "cpu" and cuda_offered else CPU_PROVIDER
    chosen = auto_precision(asked, available)
    model = load(chosen)
    # ... and the one it got: ONNX Runtime falls back to the CPU when CUDA cannot start.
    fitting = auto_precision(model.provider, available)
    if fitting != chosen:
        logger.warning(
            "precision auto: the %s graph runs on %s, not %s; loading the %s graph instead",
            chosen,
            model.provider,
            asked,
            fitting,
        )
        chosen, model = fitting, load(fitting)
    return chosen, model


class OnnxBackend:
    """The service's `Classifier` for one artifact: texts in, the sequences the model reads of
    them under a truncation strategy (`artifact.truncation`), and per sequence probabilities and
    kept key/value ratios out."""

    def __init__(
        self,
        artifact: Artifact,
        device: str = "auto",
        max_length: int | None = None,
        intra_op_threads: int = 0,
        precision: str = "auto",
    ) -> None:
        self.card: ModelCard = artifact.card
        self.precision, self._model = open_precision(
            artifact,
            precision,
            device=device,
            max_length=max_length,
            intra_op_threads=intra_op_threads,
        )
        self.max_length = self._model.max_length
        self.provider: str = self._model.provider
        logger.info(
            "loaded %s %s (%s) at %s from %s on %s, max_length=%d",
            self.card.name,
            self.card.version,
            self.card.variant,
            self.precision,
            artifact.directory,
            self.provider,
            self.max_length,
        )

    def tokenize(self, texts: Sequence[str], truncation: Truncation) -> list[DocumentWindows]:
        return self._model.encode_windows(texts, truncation)

    def predict(self, sequences: Sequence[np.ndarray]) -> BatchPrediction:
        """Run the sequences as one batch (right-padded)."""
        lengths = np.array([len(ids) for ids in sequences], dtype=np.int64)  # (batch,)
        logits, kept_kv_counts = self._model.run(sequences)
        logits = logits.astype(np.float32)
        return BatchPrediction(
            logits=logits,
            probabilities=self._model.rule.probabilities(logits),
            kept_kv_ratio=kept_kv_ratio(kept_kv_counts, lengths, self.card.combine_layer),
        )

    @property
    def can_explain(self) -> bool:
        return self._model.can_explain

    def explain(self, sequences: Sequence[np.ndarray]) -> list[SequenceExplanation]:
        """The explain graph over the sequences as one batch (right-padded)."""
        return self._model.explain(sequences)

    def token_spans(self, texts: Sequence[str]) -> list[TokenSpans]:
        return self._model.token_spans(texts)

    def warm_up(self) -> None:
        """Run a short and a full-length document so the first request pays no setup cost
        (through the explain graph too, when the artifact has one)."""
        short, full = self.tokenize(["warm up", "warm up " * self.max_length], Truncation())
        for document in (short, full):
            self.predict(document.windows)
            if self.can_explain:
                self.explain(document.windows)
