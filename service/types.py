"""The types the service's layers exchange, and the `Classifier` protocol a backend implements.

The lowest layer of the service: the queue (`batching`), the engine and the ONNX backend
(`runtime`) all import it, and it imports none of them, so the queue never loads a backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from artifact.card import ModelCard


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


class Classifier(Protocol):
    """What the engine needs from a backend (`runtime.OnnxBackend` is the one).

    `tokenize` and `predict` are blocking and must be thread-safe: the engine calls them from
    worker threads, off the event loop.
    """

    card: ModelCard
    provider: str
    max_length: int

    def tokenize(self, texts: Sequence[str]) -> list[TokenizedDocument]: ...

    def predict(self, sequences: Sequence[np.ndarray]) -> BatchPrediction: ...

    def warm_up(self) -> None: ...
