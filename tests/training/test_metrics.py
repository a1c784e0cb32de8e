"""Accuracy, macro-/micro-F1, the per-class report and the confusion matrix on known cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from training.metrics import classification_metrics, mean_kept_per_layer, paired_standard_error


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


def test_the_paired_standard_error_is_the_spread_of_the_per_document_difference():
    # 10 documents: the configuration alone right on 3, `bert` alone right on 1, both on 6.
    config = np.array([1, 1, 1, 0, 1, 1, 1, 1, 1, 1], dtype=bool)
    baseline = np.array([0, 0, 0, 1, 1, 1, 1, 1, 1, 1], dtype=bool)
    differences = [1, 1, 1, -1, 0, 0, 0, 0, 0, 0]  # mean 0.2
    variance = sum((d - 0.2) ** 2 for d in differences) / 9
    assert paired_standard_error(config, baseline) == pytest.approx(math.sqrt(variance / 10))


def test_two_runs_that_agree_on_every_document_differ_by_zero_with_zero_error():
    same = np.array([1, 0, 1, 1], dtype=bool)
    assert paired_standard_error(same, same) == 0.0


def test_runs_on_different_numbers_of_documents_are_refused():
    with pytest.raises(ValueError, match="different numbers"):
        paired_standard_error(np.ones(3, dtype=bool), np.ones(4, dtype=bool))
