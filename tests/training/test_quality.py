"""The degenerate-model guard: majority baseline, concentrated predictions, the loud warning."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.training.conftest import labelled_rows, train_argv, write_csv
from training.__main__ import main
from training.quality import degeneracy_warning, majority_baseline, quality_metrics

LABELS = ["a", "b", "c"]


def metrics_of(confusion: list[list[int]]) -> dict:
    """accuracy, macro-F1 and the confusion matrix, computed by hand from `confusion`."""
    matrix = np.asarray(confusion, dtype=float)
    precision = np.divide(np.diag(matrix), matrix.sum(0), out=np.zeros(3), where=matrix.sum(0) > 0)
    recall = np.divide(np.diag(matrix), matrix.sum(1), out=np.zeros(3), where=matrix.sum(1) > 0)
    f1 = np.divide(
        2 * precision * recall, precision + recall, out=np.zeros(3), where=precision + recall > 0
    )
    return {
        "accuracy": float(np.trace(matrix) / matrix.sum()),
        "macro_f1": float(f1.mean()),
        "confusion_matrix": confusion,
    }


def test_majority_baseline_predicts_the_most_frequent_training_label():
    confusion = np.array([[5, 0, 0], [0, 3, 0], [0, 0, 2]])  # test: 5 a, 3 b, 2 c
    baseline = majority_baseline([1, 1, 0, 2, 1], confusion, LABELS)  # training: mostly b
    assert baseline["label"] == "b" and baseline["accuracy"] == pytest.approx(0.3)
    # F1 of b: precision 0.3, recall 1 -> 0.6 / 1.3; a and c: 0. Macro: / 3.
    assert baseline["macro_f1"] == pytest.approx((0.6 / 1.3) / 3)


def test_a_model_giving_everyone_the_majority_label_is_flagged():
    metrics = metrics_of([[50, 0, 0], [30, 0, 0], [20, 0, 0]])
    quality = quality_metrics(metrics, [0] * 5 + [1] * 3 + [2] * 2, LABELS)
    assert quality["most_predicted_label"] == {"label": "a", "share": 1.0, "true_share": 0.5}
    (warning,) = quality["warnings"]
    assert "do not clearly beat always predicting 'a'" in warning
    assert "100% of the test documents get 'a'" in warning and "Likely causes" in warning


def test_a_useful_model_passes_and_a_skewed_test_split_is_not_blamed_on_the_model():
    good = metrics_of([[40, 5, 5], [5, 20, 5], [2, 3, 15]])
    assert quality_metrics(good, [0, 0, 1, 2], LABELS)["warnings"] == []
    skewed = metrics_of([[96, 0, 0], [2, 1, 0], [0, 0, 1]])  # 96% of the test split is `a`
    quality = quality_metrics(skewed, [0, 0, 0, 1, 2], LABELS)
    assert quality["most_predicted_label"]["share"] == pytest.approx(0.98)
    assert quality["warnings"] == []


def test_a_model_one_point_above_the_baseline_is_not_clear_of_it():
    metrics = {
        "accuracy": 0.51,
        "macro_f1": 0.10,
        "majority_baseline": {"label": "a", "accuracy": 0.50, "macro_f1": 0.08},
        "most_predicted_label": {"label": "a", "share": 0.9, "true_share": 0.5},
    }
    assert "do not clearly beat" in degeneracy_warning(metrics)
    assert degeneracy_warning({**metrics, "macro_f1": 0.3}) is None


def test_unlearnable_labels_end_in_a_recorded_warning_and_a_failing_exit(
    tiny_base_model, tmp_path, capsys
):
    """Every document has the same text, so no model can tell the labels apart."""
    rows = [{"text": "the same words every time", "label": LABELS[i % 3]} for i in range(30)]
    rows += [{"text": "the same words every time", "label": "a"} for _ in range(15)]
    train_file = write_csv(tmp_path / "train.csv", rows)
    argv = train_argv(tiny_base_model, train_file, tmp_path / "run", "--epochs", "1")
    assert main([*argv, "--fail-on-degenerate"]) == 3
    assert "degenerate model" in capsys.readouterr().err
    metadata = json.loads((tmp_path / "run" / "artifact" / "metadata.json").read_text())
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metadata["warnings"] == metrics["warnings"] and len(metrics["warnings"]) == 1
    assert metrics["most_predicted_label"]["share"] == 1.0
    assert metadata["metrics"]["majority_baseline"]["label"] == "a"


def test_learnable_labels_with_the_default_recipe_beat_the_majority_baseline(
    tiny_base_model, tmp_path
):
    """The defaults (no learning rate, epochs or pooling given) learn a learnable data set."""
    train_file = write_csv(tmp_path / "train.csv", labelled_rows(150, seed=3))
    argv = [
        "train", "--base-model", str(tiny_base_model), "--train-file", str(train_file),
        "--output-dir", str(tmp_path / "run"), "--max-length", "48", "--parity-documents", "8",
        "--fail-on-degenerate",
    ]  # fmt: skip
    assert main(argv) == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["warnings"] == []
    assert metrics["accuracy"] > metrics["majority_baseline"]["accuracy"] + 0.1
    assert metrics["macro_f1"] > 2 * metrics["majority_baseline"]["macro_f1"]
