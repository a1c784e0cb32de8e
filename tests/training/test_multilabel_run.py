"""A tiny multi-label set end to end: train -> export -> evaluate -> serve, in seconds."""

from __future__ import annotations

import json

import numpy as np
import pytest

from artifact.card import load_artifact
from artifact.problem import MULTI_LABEL
from service.runtime import OnnxBackend
from tests.artifacts import tiny_multilabel_documents
from tests.service.helpers import IsolatedSettings, serve
from tests.training.conftest import train_argv, write_csv
from training.__main__ import main

NAMES = ["politics", "sport", "tech"]
LABEL_SET_KEYS = ("micro_f1", "macro_f1", "samples_f1", "subset_accuracy", "hamming_loss")


def label_rows(count: int, seed: int) -> list[dict]:
    texts, label_sets = tiny_multilabel_documents(count, num_labels=len(NAMES), seed=seed)
    return [
        {"text": text, "label": [NAMES[i] for i in labels]}
        for text, labels in zip(texts, label_sets, strict=True)
    ]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def multilabel_run(tiny_base_model, tmp_path_factory):
    """Two epochs on 90 generated documents with list labels (JSON Lines)."""
    directory = tmp_path_factory.mktemp("multilabel")
    train_file = directory / "train.jsonl"
    train_file.write_text("".join(json.dumps(row) + "\n" for row in label_rows(90, seed=1)))
    output_dir = directory / "run"
    argv = train_argv(tiny_base_model, train_file, output_dir, "--multi-label", "--epochs", "2")
    assert main(argv) == 0
    return output_dir


def test_the_run_records_problem_type_thresholds_and_label_set_metrics(multilabel_run):
    metadata = json.loads((multilabel_run / "artifact" / "metadata.json").read_text())
    metrics = json.loads((multilabel_run / "metrics.json").read_text())
    assert metadata["problem_type"] == MULTI_LABEL
    assert set(metadata["thresholds"]) == set(NAMES)
    assert all(0 <= value <= 1 for value in metadata["thresholds"].values())
    tuning = metadata["threshold_tuning"]
    assert tuning["method"] == "tuned" and tuning["min_positives"] == 5
    for key in LABEL_SET_KEYS:
        assert metrics[key] == metadata["metrics"][key]
        assert 0 <= metrics[key] <= 1
    assert metrics["micro_f1"] > 0.5  # the generated labels show in the words
    assert set(metrics["per_class"]) == set(NAMES)
    assert {"precision", "recall", "f1", "support"} == set(metrics["per_class"]["sport"])
    assert "majority_baseline" not in metrics and metrics["warnings"] == []
    for entry in metadata["precisions"].values():  # label sets compared, thresholded
        assert 0 <= entry["label_agreement"] <= 1
    assert metadata["precisions"]["fp32"]["label_agreement"] == 1.0
    card = load_artifact(multilabel_run / "artifact").card
    assert card.label_rule.multi_label
    assert card.thresholds == tuple(metadata["thresholds"][name] for name in NAMES)


def test_evaluate_reproduces_the_label_set_metrics(multilabel_run, capsys):
    assert main(["evaluate", str(multilabel_run / "artifact")]) == 0
    rescored = json.loads(capsys.readouterr().out)
    reported = json.loads((multilabel_run / "metrics.json").read_text())
    for key in (*LABEL_SET_KEYS, "per_class", "thresholds"):
        assert rescored[key] == reported[key]


def test_evaluate_reads_label_sets_of_a_csv_test_file_for_a_multi_label_model(
    multilabel_run, tmp_path, capsys
):
    rows = [{**row, "label": "|".join(row["label"])} for row in label_rows(12, seed=5)]
    test_file = write_csv(tmp_path / "test.csv", rows)
    argv = ["evaluate", str(multilabel_run / "artifact"), "--test-file", str(test_file)]
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["num_documents"] == 12


@pytest.mark.anyio
async def test_the_service_answers_the_trained_label_sets(multilabel_run):
    artifact = load_artifact(multilabel_run / "artifact")
    backend = OnnxBackend(artifact, device="cpu")
    texts = [row["text"] for row in label_rows(6, seed=9)]
    async with serve(IsolatedSettings(model_dir=artifact.directory), backend) as client:
        response = await client.post("/classify", json={"documents": texts, "top_k": 3})
        info = (await client.get("/v1/model")).json()
    assert response.status_code == 200, response.text
    assert info["problem_type"] == MULTI_LABEL
    assert info["thresholds"] == artifact.card.metadata["thresholds"]
    thresholds = np.array([info["thresholds"][name] for name in NAMES])
    for result in response.json()["results"]:
        scores = {entry["label"]: entry["score"] for entry in result["scores"]}
        given = [name for name, t in zip(NAMES, thresholds, strict=True) if scores[name] >= t]
        assert sorted(entry["label"] for entry in result["labels"]) == sorted(given)


def test_a_global_threshold_replaces_the_tuned_ones(tiny_base_model, tmp_path):
    rows = [{**row, "label": ";".join(row["label"])} for row in label_rows(60, seed=2)]
    train_file = write_csv(tmp_path / "train.csv", rows)
    options = ("--multi-label", "--label-separator", ";", "--threshold", "0.4", "--epochs", "1")
    assert main(train_argv(tiny_base_model, train_file, tmp_path / "run", *options)) == 0
    metadata = json.loads((tmp_path / "run" / "artifact" / "metadata.json").read_text())
    assert metadata["thresholds"] == dict.fromkeys(NAMES, 0.4)
    assert metadata["threshold_tuning"]["method"] == "global"
    assert metadata["dataset"]["label_separator"] == ";"
