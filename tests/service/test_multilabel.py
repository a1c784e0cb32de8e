"""A multi-label artifact served beside a single-label one: label sets by threshold, the
request's threshold, `scores` with top_k, /v1/model, and batch invariance."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from artifact.card import load_artifact
from artifact.problem import sigmoid
from artifact.runtime import OnnxClassifier
from artifact.truncation import Truncation
from service.runtime import OnnxBackend
from tests.artifacts import make_tiny_multilabel_artifact
from tests.service.helpers import IsolatedSettings, serve

THRESHOLDS = (0.3, 0.5, 0.55)
LABELS = ["class_0", "class_1", "class_2"]
TEXTS = [
    "the film was brilliant",
    "market shares fell as the bank cut its profit forecast",
    "the team won the league match",
    "new phone software for internet users",
]


@pytest.fixture(scope="module")
def multilabel_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_multilabel_artifact(
        tmp_path_factory.mktemp("artifacts") / "tiny-multilabel", thresholds=THRESHOLDS
    )


@pytest.fixture(scope="module")
def multilabel_backend(multilabel_artifact: Path) -> OnnxBackend:
    return OnnxBackend(load_artifact(multilabel_artifact), device="cpu")


@pytest.fixture(scope="module")
def probabilities(multilabel_artifact: Path) -> np.ndarray:
    """Each text's sigmoid probabilities, computed from the graph's logits alone."""
    logits, _ = OnnxClassifier.from_artifact(multilabel_artifact).predict(TEXTS)
    return sigmoid(logits)


def expected_labels(row: np.ndarray, thresholds=THRESHOLDS) -> list[str]:
    given = [i for i in np.argsort(-row, kind="stable") if row[i] >= thresholds[i]]
    return [LABELS[i] for i in given]


async def classify(client, **body) -> list[dict]:
    response = await client.post("/classify", json={"documents": TEXTS, **body})
    assert response.status_code == 200, response.text
    return response.json()["results"]


@pytest.mark.anyio
async def test_multi_and_single_label_answers_side_by_side(
    multilabel_artifact, multilabel_backend, probabilities, settings_for, tiny_classifier
):
    async with serve(settings_for(), tiny_classifier) as client:
        single = await classify(client)
    async with serve(IsolatedSettings(model_dir=multilabel_artifact), multilabel_backend) as client:
        multi = await classify(client)
    for result in single:  # today's answer: one label, the top_k (1) labels, no `scores`
        assert set(result) == {"label", "score", "labels", "num_tokens", "num_chunks", "truncated"}
        assert len(result["labels"]) == 1 and result["labels"][0]["label"] == result["label"]
    assert any(len(result["labels"]) > 1 for result in multi)
    for result, row in zip(multi, probabilities, strict=True):
        assert "scores" not in result  # top_k was not asked for
        assert [entry["label"] for entry in result["labels"]] == expected_labels(row)
        for entry in result["labels"]:
            assert entry["score"] == pytest.approx(row[LABELS.index(entry["label"])], abs=1e-5)
        best = result["labels"][0] if result["labels"] else {"label": None, "score": None}
        assert (result["label"], result["score"]) == (best["label"], best["score"])


@pytest.mark.anyio
async def test_a_request_threshold_overrides_the_models_and_none_may_pass(
    multilabel_artifact, multilabel_backend, probabilities
):
    async with serve(IsolatedSettings(model_dir=multilabel_artifact), multilabel_backend) as client:
        everything = await classify(client, threshold=0.0)
        nothing = await classify(client, threshold=1.0)
        middle = await classify(client, threshold=0.5)
    for result in everything:
        assert sorted(entry["label"] for entry in result["labels"]) == LABELS
    for result in nothing:
        assert result["labels"] == [] and result["label"] is None and result["score"] is None
    for result, row in zip(middle, probabilities, strict=True):
        assert [e["label"] for e in result["labels"]] == expected_labels(row, (0.5,) * 3)


@pytest.mark.anyio
async def test_top_k_asks_for_the_scores_of_the_most_probable_labels(
    multilabel_artifact, multilabel_backend, probabilities
):
    async with serve(IsolatedSettings(model_dir=multilabel_artifact), multilabel_backend) as client:
        results = await classify(client, top_k=2, threshold=1.0)
        raw = await classify(client, top_k=3, raw_scores=True)
    for result, row in zip(results, probabilities, strict=True):
        assert result["labels"] == []  # the scores are listed whether given or not
        assert [e["label"] for e in result["scores"]] == [LABELS[i] for i in np.argsort(-row)[:2]]
    for result, row in zip(raw, probabilities, strict=True):
        logits = {e["label"]: e["score"] for e in result["scores"]}
        for label, probability in zip(LABELS, row, strict=True):
            assert sigmoid(np.float64(logits[label])) == pytest.approx(probability, abs=1e-5)


@pytest.mark.anyio
@pytest.mark.parametrize("threshold", [-0.1, 1.5, "0.5", True, None])
async def test_a_threshold_outside_0_1_gets_422_naming_the_field(
    multilabel_artifact, multilabel_backend, threshold
):
    async with serve(IsolatedSettings(model_dir=multilabel_artifact), multilabel_backend) as client:
        response = await client.post("/classify", json={"documents": ["a"], "threshold": threshold})
    assert response.status_code == 422
    (detail,) = response.json()["error"]["details"]
    assert detail["field"] == "threshold" and "0 to 1" in detail["message"]


@pytest.mark.anyio
async def test_model_info_says_the_problem_type_and_the_thresholds(
    multilabel_artifact, multilabel_backend, settings_for, tiny_classifier
):
    async with serve(IsolatedSettings(model_dir=multilabel_artifact), multilabel_backend) as client:
        multi = (await client.get("/v1/model")).json()
        await classify(client, threshold=0.0)
        metrics = (await client.get("/metrics")).text
    async with serve(settings_for(), tiny_classifier) as client:
        single = (await client.get("/v1/model")).json()
    assert multi["problem_type"] == "multi_label_classification"
    assert multi["thresholds"] == dict(zip(LABELS, THRESHOLDS, strict=True))
    assert single["problem_type"] == "single_label_classification"
    assert single["thresholds"] is None
    for label in LABELS:  # each label given counts its document
        assert f'corebert_documents_total{{label="{label}"}} {float(len(TEXTS))}' in metrics


@given(batch=st.lists(st.integers(0, len(TEXTS) - 1), min_size=1, max_size=8))
@settings(max_examples=15, deadline=None)
def test_a_document_scores_the_same_alone_and_in_any_batch(multilabel_backend, batch):
    documents = multilabel_backend.tokenize([TEXTS[index] for index in batch], Truncation())
    batched = multilabel_backend.predict([d.windows[0] for d in documents]).probabilities
    for row, index in zip(batched, batch, strict=True):
        (alone,) = multilabel_backend.tokenize([TEXTS[index]], Truncation())
        expected = multilabel_backend.predict(alone.windows).probabilities[0]
        np.testing.assert_allclose(row, expected, atol=1e-5)
