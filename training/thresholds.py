"""Decision thresholds of a multi-label model: one per label, tuned on the validation split.

Each label gets the threshold that maximises its own F1 on the validation documents, read from
the exported graph's probabilities (the ones the service answers from). A label carried by
fewer than `MIN_POSITIVES` validation documents keeps `DEFAULT_THRESHOLD`: with one to four
positives a single document moves its F1 by a fifth or more, so a tuned value fits noise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from artifact.problem import DEFAULT_THRESHOLD

if TYPE_CHECKING:  # annotations only: the command line reads MIN_POSITIVES without onnxruntime
    from artifact.runtime import OnnxClassifier
    from artifact.truncation import Truncation
    from training.documents import Document

MIN_POSITIVES = 5


def best_threshold(scores: np.ndarray, truth: np.ndarray) -> float:
    """The threshold t that maximises the F1 of `scores >= t` against `truth` (0/1), halfway
    between the lowest score it keeps and the highest it leaves out; among equal F1s the
    highest threshold (fewest labels given)."""
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    ranked = np.asarray(scores, dtype=np.float64)[order]
    positive = np.asarray(truth, dtype=bool)[order]
    kept = np.arange(1, len(ranked) + 1)  # documents kept when cutting after each position
    f1 = 2 * np.cumsum(positive) / (kept + positive.sum())
    # A threshold cannot split equal scores: cut only where the next score is lower.
    f1[:-1][ranked[:-1] <= ranked[1:]] = -1.0
    cut = int(np.argmax(f1))
    below = ranked[cut + 1] if cut + 1 < len(ranked) else 0.0
    return float((ranked[cut] + below) / 2)


@dataclass(frozen=True)
class Thresholds:
    """Per-label thresholds (index = class id) and how they were set."""

    values: tuple[float, ...]
    method: str  # "tuned" (per label, validation F1) or "global" (--threshold)
    untuned_labels: tuple[str, ...] = ()  # too rare in validation: DEFAULT_THRESHOLD

    def metadata(self, label_names: Sequence[str]) -> dict:
        """metadata.json's `thresholds` (by label name) and `threshold_tuning`."""
        return {
            "thresholds": dict(zip(label_names, self.values, strict=True)),
            "threshold_tuning": {
                "method": self.method,
                "min_positives": MIN_POSITIVES,
                "default": DEFAULT_THRESHOLD,
                "untuned_labels": list(self.untuned_labels),
            },
        }


def tune_thresholds(
    probabilities: np.ndarray, targets: np.ndarray, label_names: Sequence[str]
) -> Thresholds:
    """Each label's `best_threshold` on (N, C) validation probabilities and 0/1 targets;
    `DEFAULT_THRESHOLD` for a label with fewer than `MIN_POSITIVES` positives."""
    values, untuned = [], []
    for index, name in enumerate(label_names):
        truth = targets[:, index]
        if truth.sum() < MIN_POSITIVES:
            values.append(DEFAULT_THRESHOLD)
            untuned.append(name)
        else:
            values.append(best_threshold(probabilities[:, index], truth))
    return Thresholds(tuple(values), "tuned", tuple(untuned))


def global_thresholds(threshold: float, num_labels: int) -> Thresholds:
    """`--threshold` for every label."""
    return Thresholds((float(threshold),) * num_labels, "global")


def run_thresholds(
    classifier: OnnxClassifier,
    validation: Sequence[Document],
    targets: np.ndarray,
    threshold: float | None,
    truncation: Truncation,
    batch_size: int,
) -> Thresholds:
    """A run's thresholds: `threshold` for every label when given, else tuned on the
    validation documents as `classifier` (the exported graph) scores them under `truncation`."""
    if threshold is not None:
        return global_thresholds(threshold, len(classifier.labels))
    texts = [document.text for document in validation]
    probabilities = classifier.score_documents(texts, truncation, batch_size).probabilities
    return tune_thresholds(probabilities, targets, classifier.labels)
