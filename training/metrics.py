"""Classification metrics reported by training and evaluation (the paper's: accuracy, macro-F1,
micro-F1), plus the per-class report and confusion matrix that explain them; for multi-label
models the label-set metrics (micro-, macro- and samples-F1, subset accuracy, Hamming loss);
and the standard error of the accuracy difference of two classifiers read on the same documents."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    hamming_loss,
    precision_recall_fscore_support,
)


def classification_metrics(
    true_ids: Sequence[int], predicted_ids: Sequence[int], label_names: Sequence[str]
) -> dict:
    """Accuracy, macro-/micro-F1, per-class precision/recall/F1/support and the confusion matrix
    (rows: true class, columns: predicted class, both in `label_names` order).

    Classes absent from `true_ids` still get a row: a class the test split lacks is reported with
    support 0 rather than silently dropped.
    """
    if len(true_ids) != len(predicted_ids):
        raise ValueError(f"{len(true_ids)} true labels but {len(predicted_ids)} predictions")
    if len(true_ids) == 0:
        raise ValueError("cannot compute metrics on zero documents")
    class_ids = list(range(len(label_names)))
    precision, recall, f1, support = precision_recall_fscore_support(
        true_ids, predicted_ids, labels=class_ids, zero_division=0
    )
    return {
        "accuracy": float(accuracy_score(true_ids, predicted_ids)),
        "macro_f1": float(
            f1_score(true_ids, predicted_ids, labels=class_ids, average="macro", zero_division=0)
        ),
        "micro_f1": float(
            f1_score(true_ids, predicted_ids, labels=class_ids, average="micro", zero_division=0)
        ),
        "num_documents": len(true_ids),
        "per_class": per_class(label_names, precision, recall, f1, support),
        "confusion_matrix": confusion_matrix(true_ids, predicted_ids, labels=class_ids).tolist(),
    }


def mean_kept_per_layer(kept_kv_counts: np.ndarray) -> list[float]:
    """Mean over documents of the keys/values each layer attended to: (docs, layers) -> layers."""
    counts = np.asarray(kept_kv_counts, dtype=np.float64)
    if counts.ndim != 2 or counts.shape[0] == 0:
        raise ValueError(f"expected a non-empty (documents, layers) array, got {counts.shape}")
    return [round(float(value), 2) for value in counts.mean(axis=0)]


def multilabel_metrics(
    true_labels: np.ndarray, predicted_labels: np.ndarray, label_names: Sequence[str]
) -> dict:
    """Metrics of label sets, (N, C) 0/1 arrays of the true and the predicted labels.

    micro-F1 pools every (document, label) decision, macro-F1 averages the labels' F1,
    samples-F1 averages the documents' F1; subset accuracy is the share of documents whose
    whole label set is right (also `accuracy`, as sklearn's `accuracy_score` counts it), Hamming
    loss the share of wrong (document, label) decisions. A document with no true and no
    predicted label counts as right (F1 1).
    """
    true_labels, predicted_labels = np.asarray(true_labels), np.asarray(predicted_labels)
    if true_labels.shape != predicted_labels.shape:
        raise ValueError(
            f"true labels {true_labels.shape} but predictions {predicted_labels.shape}"
        )
    if true_labels.shape[0] == 0:
        raise ValueError("cannot compute metrics on zero documents")
    precision, recall, f1, support = precision_recall_fscore_support(
        true_labels, predicted_labels, zero_division=0
    )
    subset_accuracy = float(accuracy_score(true_labels, predicted_labels))
    return {
        "accuracy": subset_accuracy,
        "subset_accuracy": subset_accuracy,
        "micro_f1": float(
            f1_score(true_labels, predicted_labels, average="micro", zero_division=0)
        ),
        "macro_f1": float(
            f1_score(true_labels, predicted_labels, average="macro", zero_division=0)
        ),
        "samples_f1": float(
            f1_score(true_labels, predicted_labels, average="samples", zero_division=1)
        ),
        "hamming_loss": float(hamming_loss(true_labels, predicted_labels)),
        "num_documents": int(true_labels.shape[0]),
        "mean_true_labels": float(true_labels.sum(axis=1).mean()),
        "mean_predicted_labels": float(predicted_labels.sum(axis=1).mean()),
        "per_class": per_class(label_names, precision, recall, f1, support),
    }


def per_class(label_names, precision, recall, f1, support) -> dict[str, dict]:
    """Precision, recall, F1 and support of each label, by name (sklearn's per-label arrays)."""
    return {
        name: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
        for i, name in enumerate(label_names)
    }


def paired_standard_error(correct: np.ndarray, baseline_correct: np.ndarray) -> float:
    """Standard error of the accuracy difference of two classifiers read on the same documents,
    as a fraction: the per-document difference in correctness (-1, 0 or 1; a share when a
    classifier's correctness is averaged over several readings) has that spread over
    sqrt(documents)."""
    if len(correct) != len(baseline_correct):
        raise ValueError("the two runs were scored on different numbers of documents")
    differences = np.asarray(correct, dtype=float) - np.asarray(baseline_correct, dtype=float)
    return float(differences.std(ddof=1)) / math.sqrt(len(differences))
