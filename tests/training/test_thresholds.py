"""Per-label thresholds on hand-made scores whose best threshold is known, the fallback for
rare labels, and the label-set metrics on a case worked by hand."""

import numpy as np
import pytest

from artifact.problem import DEFAULT_THRESHOLD
from training.metrics import multilabel_metrics
from training.thresholds import MIN_POSITIVES, best_threshold, global_thresholds, tune_thresholds


def test_a_clean_cut_lands_halfway_between_the_classes():
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.3])
    truth = np.array([1, 1, 1, 0, 0])
    assert best_threshold(scores, truth) == pytest.approx(0.65)  # F1 1.0 on (0.6, 0.7]


def test_the_threshold_maximises_f1_where_no_cut_is_clean():
    # Cutting after 0.9: F1 2/4; after both 0.8s: 4/6; after 0.6: 4/7; keeping all: 6/8.
    scores = np.array([0.3, 0.8, 0.9, 0.6, 0.8])
    truth = np.array([1, 1, 1, 0, 0])
    assert best_threshold(scores, truth) == pytest.approx(0.15)


def test_equal_scores_are_never_split():
    # 0.7 is shared by a positive and a negative: a cut goes before or after both. After both
    # gives F1 4/5, the best; splitting them (keeping the positive alone) would give 1.0.
    scores = np.array([0.9, 0.7, 0.7, 0.2])
    truth = np.array([1, 1, 0, 0])
    assert best_threshold(scores, truth) == pytest.approx(0.45)


def test_among_equal_f1s_the_higher_threshold_wins():
    # Keeping 0.9 alone gives F1 2/3, as does keeping the top four: the higher threshold wins.
    scores = np.array([0.9, 0.6, 0.5, 0.4, 0.1])
    truth = np.array([1, 0, 0, 1, 0])
    assert best_threshold(scores, truth) == pytest.approx(0.75)


def test_each_label_is_tuned_on_its_own_and_rare_labels_keep_the_default():
    rng = np.random.default_rng(0)
    targets = np.zeros((40, 3), dtype=np.int8)
    targets[:20, 0] = 1  # label a: 20 positives, scored above 0.3 exactly when positive
    targets[:10, 1] = 1  # label b: 10 positives, above 0.8 exactly when positive
    targets[: MIN_POSITIVES - 1, 2] = 1  # label c: too rare to tune
    probabilities = np.column_stack([
        np.where(targets[:, 0], rng.uniform(0.31, 1, 40), rng.uniform(0, 0.29, 40)),
        np.where(targets[:, 1], rng.uniform(0.81, 1, 40), rng.uniform(0, 0.79, 40)),
        rng.uniform(0, 1, 40),
    ])  # fmt: skip
    tuned = tune_thresholds(probabilities, targets, ["a", "b", "c"])
    assert 0.29 < tuned.values[0] < 0.31 and 0.79 < tuned.values[1] < 0.81
    assert tuned.values[2] == DEFAULT_THRESHOLD and tuned.untuned_labels == ("c",)
    metadata = tuned.metadata(["a", "b", "c"])
    assert metadata["thresholds"]["c"] == DEFAULT_THRESHOLD
    assert metadata["threshold_tuning"] == {
        "method": "tuned", "min_positives": MIN_POSITIVES, "default": DEFAULT_THRESHOLD,
        "untuned_labels": ["c"],
    }  # fmt: skip


def test_a_global_threshold_applies_to_every_label():
    assert global_thresholds(0.35, 3).values == (0.35, 0.35, 0.35)


def test_label_set_metrics_on_a_known_case():
    #            a  b  c
    truth = [
        [1, 1, 0],  # predicted a b  : right
        [0, 1, 0],  # predicted b c  : one extra
        [1, 0, 1],  # predicted a    : one missed
        [0, 0, 0],
    ]  # predicted none : right (an empty set, allowed)
    predicted = [[1, 1, 0], [0, 1, 1], [1, 0, 0], [0, 0, 0]]  # fmt: skip
    metrics = multilabel_metrics(np.array(truth), np.array(predicted), ["a", "b", "c"])
    assert metrics["subset_accuracy"] == metrics["accuracy"] == pytest.approx(2 / 4)
    assert metrics["hamming_loss"] == pytest.approx(2 / 12)
    # true positives 4, predicted 5, true 5 -> micro-F1 8/10
    assert metrics["micro_f1"] == pytest.approx(0.8)
    # a: P 1 R 1; b: P 1 R 1; c: predicted once and true once, never both -> F1 1, 1, 0
    assert metrics["macro_f1"] == pytest.approx(2 / 3)
    # per document F1: 1, 2/3, 2/3, 1 (nothing true, nothing predicted)
    assert metrics["samples_f1"] == pytest.approx((1 + 2 / 3 + 2 / 3 + 1) / 4)
    assert metrics["per_class"]["c"] == {
        "precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1,
    }  # fmt: skip
    assert metrics["mean_true_labels"] == pytest.approx(5 / 4)
