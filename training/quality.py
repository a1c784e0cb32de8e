"""A degenerate model never ships silently: the run compares its test scores with always
predicting the most frequent training label, and looks at how concentrated its predictions are.

Both come from the confusion matrix the test metrics already hold (rows: true class, columns:
predicted class), so nothing is scored twice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

# The model must beat the majority-class baseline by this much in accuracy or in macro-F1.
MIN_ACCURACY_GAIN = 0.02
MIN_MACRO_F1_GAIN = 0.05
# Predictions this concentrated on one label are degenerate unless the test split itself is
# nearly as concentrated on it.
ONE_LABEL_SHARE = 0.95
ONE_LABEL_SLACK = 0.05

LIKELY_CAUSES = (
    "a learning rate too small for the backbone (the `paper` recipe's 2e-5 on a small model), "
    "too few epochs or documents, labels that do not follow from the text (shuffled or noisy "
    "columns, the wrong --label-column), or classes so imbalanced that one label wins"
)


def majority_baseline(
    train_label_ids: Sequence[int], confusion: np.ndarray, label_names: Sequence[str]
) -> dict:
    """Accuracy and macro-F1 on the test split of always predicting the most frequent training
    label (ties: the lower class id)."""
    counts = Counter(train_label_ids)
    majority = min(counts, key=lambda label: (-counts[label], label))
    true_counts = confusion.sum(axis=1)
    accuracy = float(true_counts[majority] / max(true_counts.sum(), 1))
    # Only the majority class has a non-zero F1: precision = accuracy, recall = 1.
    f1 = 2 * accuracy / (accuracy + 1.0) if accuracy > 0 else 0.0
    return {
        "label": label_names[majority],
        "accuracy": accuracy,
        "macro_f1": float(f1 / len(label_names)),
    }


def most_predicted_label(confusion: np.ndarray, label_names: Sequence[str]) -> dict:
    """The label the model gave most often, its share of the test documents, and that label's
    own share of the test documents."""
    predicted_counts = confusion.sum(axis=0)
    label = int(predicted_counts.argmax())
    total = max(int(confusion.sum()), 1)
    return {
        "label": label_names[label],
        "share": float(predicted_counts[label] / total),
        "true_share": float(confusion.sum(axis=1)[label] / total),
    }


def degeneracy_warning(metrics: dict) -> str | None:
    """A sentence naming the numbers when `metrics` (with `majority_baseline` and
    `most_predicted_label`) describe a degenerate model, else None."""
    baseline, predicted = metrics["majority_baseline"], metrics["most_predicted_label"]
    problems = []
    accuracy_gain = metrics["accuracy"] - baseline["accuracy"]
    macro_f1_gain = metrics["macro_f1"] - baseline["macro_f1"]
    if accuracy_gain < MIN_ACCURACY_GAIN and macro_f1_gain < MIN_MACRO_F1_GAIN:
        problems.append(
            f"test accuracy {metrics['accuracy']:.3f} and macro-F1 {metrics['macro_f1']:.3f} "
            f"do not clearly beat always predicting {baseline['label']!r} "
            f"({baseline['accuracy']:.3f} and {baseline['macro_f1']:.3f})"
        )
    if (
        predicted["share"] >= ONE_LABEL_SHARE
        and predicted["share"] > predicted["true_share"] + ONE_LABEL_SLACK
    ):
        problems.append(
            f"{predicted['share']:.0%} of the test documents get {predicted['label']!r}, "
            f"which only {predicted['true_share']:.0%} of them carry"
        )
    if not problems:
        return None
    return f"degenerate model: {'; '.join(problems)}. Likely causes: {LIKELY_CAUSES}."


def quality_metrics(
    metrics: dict, train_label_ids: Sequence[int], label_names: Sequence[str]
) -> dict:
    """The baseline and concentration keys added to the test metrics, and the warning if any."""
    confusion = np.asarray(metrics["confusion_matrix"])
    added = {
        "majority_baseline": majority_baseline(train_label_ids, confusion, label_names),
        "most_predicted_label": most_predicted_label(confusion, label_names),
    }
    return {**added, "warnings": [w for w in [degeneracy_warning({**metrics, **added})] if w]}
