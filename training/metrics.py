"""Classification metrics reported by training and evaluation (the paper's: accuracy, macro-F1,
micro-F1), plus the per-class report and confusion matrix that explain them."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
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
        "per_class": {
            name: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(label_names)
        },
        "confusion_matrix": confusion_matrix(true_ids, predicted_ids, labels=class_ids).tolist(),
    }


def mean_kept_per_layer(kept_kv_counts: np.ndarray) -> list[float]:
    """Mean over documents of the keys/values each layer attended to: (docs, layers) -> layers."""
    counts = np.asarray(kept_kv_counts, dtype=np.float64)
    if counts.ndim != 2 or counts.shape[0] == 0:
        raise ValueError(f"expected a non-empty (documents, layers) array, got {counts.shape}")
    return [round(float(value), 2) for value in counts.mean(axis=0)]
