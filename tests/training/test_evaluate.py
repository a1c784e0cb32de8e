"""Scoring an exported artifact with ONNX Runtime and tokenizers alone."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from artifact.runtime import OnnxClassifier
from artifact.tokenization import encode_texts
from tests.artifacts import make_tiny_artifact, tiny_documents, tiny_label_names
from tests.factories import make_tiny_model, make_tiny_tokenizer
from tests.training.conftest import write_csv
from training.__main__ import main
from training.args import DataArguments
from training.documents import DataError
from training.evaluate import evaluate_artifact

VARIANT = "pfc"


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    return make_tiny_artifact(tmp_path_factory.mktemp("evaluate") / "artifact", VARIANT, seed=3)


@pytest.fixture
def test_csv(tmp_path):
    texts, labels = tiny_documents(15, seed=9)
    names = tiny_label_names(3)
    rows = [{"text": t, "label": names[i]} for t, i in zip(texts, labels, strict=True)]
    return write_csv(tmp_path / "test.csv", rows)


def test_onnx_predictions_match_the_pytorch_model(artifact):
    texts, _ = tiny_documents(9, seed=4)
    logits, kept = OnnxClassifier.from_artifact(artifact).predict(texts, batch_size=4)

    torch_model = make_tiny_model(VARIANT, seed=3, num_labels=3)
    for row, ids in enumerate(encode_texts(make_tiny_tokenizer(), texts, 64)):
        with torch.no_grad():
            expected = torch_model(torch.tensor([ids]), torch.ones(1, len(ids), dtype=torch.long))
        np.testing.assert_allclose(logits[row], expected.logits[0].numpy(), atol=1e-4)
        np.testing.assert_array_equal(kept[row], expected.kept_kv_counts[0].numpy())


def test_predictions_do_not_depend_on_batching(artifact):
    texts, _ = tiny_documents(11, seed=5)
    classifier = OnnxClassifier.from_artifact(artifact)
    one_by_one, kept_one = classifier.predict(texts, batch_size=1)
    batched, kept_batched = classifier.predict(texts, batch_size=4)
    np.testing.assert_allclose(one_by_one, batched, atol=1e-4)
    np.testing.assert_array_equal(kept_one, kept_batched)


def test_evaluates_a_test_file(artifact, test_csv):
    metrics = evaluate_artifact(artifact, DataArguments(test_file=str(test_csv)), batch_size=4)

    classifier = OnnxClassifier.from_artifact(artifact)
    texts, labels = tiny_documents(15, seed=9)
    predicted = classifier.predict(texts)[0].argmax(axis=1)
    assert metrics["num_documents"] == 15
    assert metrics["accuracy"] == pytest.approx(float(np.mean(predicted == np.array(labels))))
    assert len(metrics["mean_kept_kv_counts"]) == 5
    assert metrics["backend"] == "onnxruntime"


def test_a_label_the_model_does_not_know(artifact, tmp_path):
    path = write_csv(tmp_path / "odd.csv", [{"text": "the game", "label": "weather"}])
    with pytest.raises(DataError, match=r"odd.csv: row 1: label 'weather' is not one of the "):
        evaluate_artifact(artifact, DataArguments(test_file=str(path)))


def test_cli_prints_and_writes_the_metrics(artifact, test_csv, tmp_path, capsys):
    output = tmp_path / "metrics.json"
    code = main(["evaluate", str(artifact), "--test-file", str(test_csv), "--output", str(output)])

    printed = json.loads(capsys.readouterr().out)
    assert code == 0
    assert printed == json.loads(output.read_text())
    assert set(printed["per_class"]) == set(tiny_label_names(3))


def test_evaluation_imports_neither_torch_nor_transformers(artifact, test_csv):
    script = (
        "import sys\n"
        "from training.args import DataArguments\n"
        "from training.evaluate import evaluate_artifact\n"
        f"m = evaluate_artifact({str(artifact)!r}, DataArguments(test_file={str(test_csv)!r}))\n"
        "assert m['num_documents'] == 15\n"
        "print(sorted(name for name in ('torch', 'transformers') if name in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parents[2],
    )
    assert result.stdout.strip() == "[]"


def test_evaluate_of_an_incomplete_artifact_exits_with_what_is_missing(tmp_path, capsys):
    from training.__main__ import main

    (tmp_path / "labels.json").write_text('["a", "b"]')
    assert main(["evaluate", str(tmp_path)]) == 1
    error = capsys.readouterr().err
    assert error.startswith("error:") and "model.onnx" in error and "metadata.json" in error
