"""What a model's logits mean: one label per document, or a set of labels.

transformers' `problem_type` names the two: `single_label_classification` (softmax over the
labels, the most probable one is the answer) and `multi_label_classification` (a sigmoid per
label, every label at or above its decision threshold is in the answer, possibly none). A
`LabelRule` holds the problem type and the thresholds; the card builds it from metadata.json,
`OnnxClassifier` applies it, training and the service decide labels through it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

SINGLE_LABEL = "single_label_classification"
MULTI_LABEL = "multi_label_classification"
PROBLEM_TYPES = (SINGLE_LABEL, MULTI_LABEL)
# The threshold of a multi-label model's label when none was tuned for it.
DEFAULT_THRESHOLD = 0.5


def softmax(logits: np.ndarray) -> np.ndarray:
    """Class probabilities of `logits` (..., C), computed stably (max subtracted first)."""
    exp = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return exp / exp.sum(axis=-1, keepdims=True)


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """Per-label probabilities of `logits`, stable for any magnitude (no overflow in exp)."""
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(logits)))


def check_threshold(value: float, what: str = "threshold") -> float:
    """`value` as a float in [0, 1]; a ValueError naming `what` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{what} must be a number in [0, 1], got {value!r}")
    return float(value)


@dataclass(frozen=True)
class LabelRule:
    """How probabilities come from the logits and labels from the probabilities.

    `thresholds` (one per label, index = class id) belong to a multi-label model only; None
    there means `DEFAULT_THRESHOLD` for every label.
    """

    problem_type: str = SINGLE_LABEL
    thresholds: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if self.problem_type not in PROBLEM_TYPES:
            raise ValueError(
                f"problem_type must be one of {', '.join(PROBLEM_TYPES)}, got {self.problem_type!r}"
            )
        if self.thresholds is not None:
            if not self.multi_label:
                raise ValueError("thresholds belong to a multi-label model only")
            for value in self.thresholds:
                check_threshold(value)

    @property
    def multi_label(self) -> bool:
        return self.problem_type == MULTI_LABEL

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """(N, C) logits -> (N, C) probabilities: softmax, or a sigmoid per label."""
        return sigmoid(logits) if self.multi_label else softmax(logits)

    def threshold_vector(self, num_labels: int, threshold: float | None = None) -> np.ndarray:
        """(C,) the decision threshold of each label: `threshold` for all when given."""
        if threshold is not None:
            return np.full(num_labels, check_threshold(threshold))
        if self.thresholds is None:
            return np.full(num_labels, DEFAULT_THRESHOLD)
        if len(self.thresholds) != num_labels:
            raise ValueError(f"{len(self.thresholds)} thresholds for {num_labels} labels")
        return np.asarray(self.thresholds, dtype=np.float64)

    def decide(self, probabilities: np.ndarray, threshold: float | None = None) -> np.ndarray:
        """(N, C) bool: the labels each document gets. Single-label: its most probable label
        (ties: the lower class id). Multi-label: every label at or above its threshold (or
        `threshold`, when given)."""
        probabilities = np.asarray(probabilities)
        if not self.multi_label:
            chosen = np.zeros(probabilities.shape, dtype=bool)
            chosen[np.arange(len(probabilities)), probabilities.argmax(axis=1)] = True
            return chosen
        return probabilities >= self.threshold_vector(probabilities.shape[1], threshold)

    def correct(self, probabilities: np.ndarray, true_labels: np.ndarray) -> np.ndarray:
        """(N,) bool: the documents given exactly their true labels (`true_labels`: (N, C), one
        row per document); their share is the accuracy (multi-label: subset accuracy)."""
        return (self.decide(probabilities) == np.asarray(true_labels, dtype=bool)).all(axis=1)

    def agreement(self, probabilities: np.ndarray, reference: np.ndarray) -> float:
        """Share of documents given exactly the same labels from both probability arrays."""
        same = (self.decide(probabilities) == self.decide(reference)).all(axis=1)
        return float(same.mean())


def thresholds_by_label(rule: LabelRule, labels: Sequence[str]) -> dict[str, float] | None:
    """metadata.json's `thresholds`: each label's threshold by name; None for single-label."""
    if not rule.multi_label:
        return None
    return dict(zip(labels, rule.threshold_vector(len(labels)).tolist(), strict=True))
