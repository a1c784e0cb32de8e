"""Accuracy, macro-/micro-F1, the per-class report and the confusion matrix on known cases."""

from __future__ import annotations

import numpy as np
import pytest

from training.metrics import classification_metrics, mean_kept_per_layer


def test_known_case():
    # true:  a a a b b c      predicted: a a b b b a
    metrics = classification_metrics([0, 0, 0, 1, 1, 2], [0, 0, 1, 1, 1, 0], ["a", "b", "c"])

    assert metrics["accuracy"] == pytest.approx(4 / 6)
    # F1 per class: a: P 2/3 R 2/3 -> 2/3; b: P 2/3 R 1 -> 0.8; c: 0
    assert metrics["macro_f1"] == pytest.approx((2 / 3 + 0.8 + 0) / 3)
    assert metrics["micro_f1"] == pytest.approx(4 / 6)  # single-label: micro-F1 == accuracy
    assert metrics["per_class"]["b"] == {
        "precision": pytest.approx(2 / 3), "recall": 1.0, "f1": pytest.approx(0.8), "support": 2,
    }  # fmt: skip
    assert metrics["confusion_matrix"] == [[2, 1, 0], [0, 2, 0], [1, 0, 0]]
    assert metrics["num_documents"] == 6


def test_a_class_missing_from_the_test_split_still_has_a_row():
    metrics = classification_metrics([0, 1], [0, 1], ["a", "b", "c"])
    assert metrics["per_class"]["c"]["support"] == 0
    assert metrics["confusion_matrix"][2] == [0, 0, 0]
    assert metrics["accuracy"] == 1.0


def test_mismatched_or_empty_inputs():
    with pytest.raises(ValueError, match="2 true labels but 1 predictions"):
        classification_metrics([0, 1], [0], ["a", "b"])
    with pytest.raises(ValueError, match="zero documents"):
        classification_metrics([], [], ["a", "b"])


def test_mean_kept_per_layer():
    assert mean_kept_per_layer(np.array([[10, 9, 0], [20, 17, 0]])) == [15.0, 13.0, 0.0]
    with pytest.raises(ValueError, match="documents, layers"):
        mean_kept_per_layer(np.zeros((0, 3)))
