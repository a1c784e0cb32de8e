"""COREBERT_PRECISION: the graph the service runs (auto: the one made for the provider in use),
what it says about it, the start-up error for a graph the artifact lacks, and batch invariance
at every precision the artifact has."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from artifact.card import ArtifactError, load_artifact
from artifact.files import PRECISION_FILES
from artifact.runtime import CPU_PROVIDER, CUDA_PROVIDER, run_session, softmax
from artifact.tokenization import pad_batch
from artifact.truncation import Truncation
from service.runtime import OnnxBackend, auto_precision
from tests.artifacts import tiny_documents
from tests.service.helpers import IsolatedSettings, serve

pytestmark = pytest.mark.timeout(180)

# A document alone and in a batch: fp32 within 1e-5 on probabilities (what the service held
# before it had precisions; the contract promises 1e-4); the lower precisions keep the label and
# stay within 1e-2 (int8 quantizes activations per batch).
TOLERANCE = {"fp32": 1e-5, "int8": 1e-2, "fp16": 1e-2}
# Lengths from 3 to 92 words: batches need padding, and the longest are cut to 64 tokens.
POOL, _ = tiny_documents(12, seed=31, min_words=1, max_words=90)


def copy_with_precisions(source: Path, destination: Path, **entries: dict) -> Path:
    """A copy of the artifact whose metadata.json's precisions has `entries` replaced."""
    shutil.copytree(source, destination)
    path = destination / "metadata.json"
    metadata = json.loads(path.read_text())
    metadata["precisions"].update(entries)
    path.write_text(json.dumps(metadata))
    return destination


def model_info_labels(metrics_text: str) -> dict[str, str]:
    (family,) = [
        f for f in text_string_to_metric_families(metrics_text) if f.name == "corebert_model_info"
    ]
    (sample,) = family.samples
    return sample.labels


@pytest.fixture(scope="module")
def backends(precision_artifact: Path) -> dict[str, OnnxBackend]:
    artifact = load_artifact(precision_artifact)
    assert artifact.card.available_precisions() == list(PRECISION_FILES)
    return {p: OnnxBackend(artifact, device="cpu", precision=p) for p in PRECISION_FILES}


@pytest.fixture(scope="module")
def alone(backends: dict[str, OnnxBackend]) -> dict[str, np.ndarray]:
    """Per precision, each document of POOL run alone: probabilities (documents, labels)."""
    return {
        precision: np.concatenate(
            [
                backend.predict(doc.windows).probabilities
                for doc in backend.tokenize(POOL, Truncation())
            ]
        )
        for precision, backend in backends.items()
    }


@pytest.mark.parametrize(
    ("provider", "available", "expected"),
    [
        (CUDA_PROVIDER, ["fp32", "int8", "fp16"], "fp16"),
        (CPU_PROVIDER, ["fp32", "int8", "fp16"], "int8"),
        (CUDA_PROVIDER, ["fp32", "int8"], "fp32"),
        (CPU_PROVIDER, ["fp32", "fp16"], "fp32"),
        (CPU_PROVIDER, ["fp32"], "fp32"),
        ("TensorrtExecutionProvider", ["fp32", "int8", "fp16"], "fp32"),
    ],
)
def test_auto_picks_the_graph_made_for_the_provider(provider, available, expected) -> None:
    assert auto_precision(provider, available) == expected


@pytest.mark.anyio
async def test_auto_on_the_cpu_serves_int8_and_says_so(precision_artifact: Path, caplog) -> None:
    caplog.set_level(logging.INFO)
    async with serve(IsolatedSettings(model_dir=precision_artifact, device="cpu")) as client:
        info = (await client.get("/v1/model")).json()
        labels = model_info_labels((await client.get("/metrics")).text)
        response = await client.post("/classify", json={"documents": ["a good game"]})
    assert response.status_code == 200
    assert info["precision"] == "int8" and info["provider"] == CPU_PROVIDER
    assert labels["precision"] == "int8" and labels["provider"] == CPU_PROVIDER
    assert "ready: tiny-pfc at int8 on CPUExecutionProvider" in caplog.text


def test_auto_serves_fp32_when_the_graph_for_the_provider_was_left_out(
    precision_artifact: Path, tmp_path: Path
) -> None:
    left_out = {"file": None, "reason": "too inaccurate"}
    artifact = copy_with_precisions(precision_artifact, tmp_path / "artifact", int8=left_out)
    (tmp_path / "artifact" / PRECISION_FILES["int8"]).unlink()
    assert OnnxBackend(load_artifact(artifact), device="cpu").precision == "fp32"


def test_auto_follows_the_provider_the_session_got_not_the_one_asked_for(
    precision_artifact: Path, monkeypatch: pytest.MonkeyPatch, caplog
) -> None:
    """CUDA is offered but the session cannot start on it: the fp16 graph chosen for CUDA gives
    way to the CPU's int8."""
    if CUDA_PROVIDER in ort.get_available_providers():
        pytest.skip("this machine runs CUDA sessions; the fallback is tested on one that cannot")
    # The provider list claims CUDA; ONNX Runtime, built without it, runs the session on the CPU.
    monkeypatch.setattr(ort, "get_available_providers", lambda: [CUDA_PROVIDER, CPU_PROVIDER])
    with caplog.at_level(logging.WARNING, logger="service.runtime"):
        backend = OnnxBackend(load_artifact(precision_artifact), device="auto")
    assert backend.provider == CPU_PROVIDER and backend.precision == "int8"
    assert "the fp16 graph runs on CPUExecutionProvider, not CUDAExecutionProvider" in caplog.text


def test_auto_on_cuda_serves_fp16(precision_artifact: Path) -> None:
    if CUDA_PROVIDER not in ort.get_available_providers():
        pytest.skip("needs ONNX Runtime's CUDA provider")
    backend = OnnxBackend(load_artifact(precision_artifact), device="cuda")
    assert backend.provider == CUDA_PROVIDER and backend.precision == "fp16"


@pytest.mark.parametrize("precision", list(PRECISION_FILES))
def test_a_named_precision_runs_that_graph(
    backends: dict[str, OnnxBackend], precision_artifact: Path, precision: str
) -> None:
    """The backend's probabilities are those of the named file, run alone by ONNX Runtime (the
    three graphs differ by more than the tolerance, so another file would not match)."""
    backend = backends[precision]
    assert backend.precision == precision
    session = ort.InferenceSession(
        str(precision_artifact / PRECISION_FILES[precision]), providers=[CPU_PROVIDER]
    )
    (document,) = backend.tokenize([POOL[0]], Truncation())
    logits, _ = run_session(session, *pad_batch(document.windows, pad_id=0))
    np.testing.assert_allclose(
        backend.predict(document.windows).probabilities, softmax(logits), atol=1e-6
    )


def test_the_graphs_differ_enough_to_tell_them_apart(alone: dict[str, np.ndarray]) -> None:
    """What makes the test above able to fail: each lower precision moves some probability."""
    for precision in ("int8", "fp16"):
        assert np.abs(alone[precision] - alone["fp32"]).max() > 1e-5, precision


def test_a_graph_run_away_from_its_provider_is_flagged(precision_artifact: Path, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="service.runtime"):
        OnnxBackend(load_artifact(precision_artifact), device="cpu", precision="fp16")
    assert "precision fp16: the graph is made for CUDAExecutionProvider and runs on " in caplog.text


@pytest.mark.anyio
async def test_a_precision_the_artifact_lacks_stops_the_start_naming_what_it_has(
    precision_artifact: Path, tmp_path: Path, caplog
) -> None:
    left_out = {"file": None, "reason": "too inaccurate"}
    artifact = copy_with_precisions(precision_artifact, tmp_path / "artifact", int8=left_out)
    with pytest.raises(ArtifactError, match=r"no int8 graph \(too inaccurate\); it has fp32, fp16"):
        async with serve(IsolatedSettings(model_dir=artifact, precision="int8")):
            pass
    assert "cannot start: artifact" in caplog.text


@pytest.mark.parametrize("precision", list(PRECISION_FILES))
@given(batch=st.lists(st.integers(0, len(POOL) - 1), min_size=1, max_size=len(POOL)))
@settings(max_examples=15, deadline=None)
def test_a_document_scores_the_same_alone_and_in_any_batch(
    backends: dict[str, OnnxBackend], alone: dict[str, np.ndarray], precision: str, batch: list
) -> None:
    backend = backends[precision]
    documents = backend.tokenize([POOL[index] for index in batch], Truncation())
    batched = backend.predict([document.windows[0] for document in documents]).probabilities
    expected = alone[precision][batch]
    np.testing.assert_array_equal(batched.argmax(axis=1), expected.argmax(axis=1))
    np.testing.assert_allclose(batched, expected, atol=TOLERANCE[precision])


@pytest.mark.anyio
@pytest.mark.parametrize("precision", list(PRECISION_FILES))
async def test_the_service_scores_a_document_the_same_alone_and_in_a_batch(
    precision_artifact: Path, precision: str
) -> None:
    batches = [list(range(len(POOL))), [11, 0, 5], [3, 9]]
    settings_ = IsolatedSettings(model_dir=precision_artifact, precision=precision, device="cpu")

    async def classify(client, texts: list[str]) -> list[dict]:
        response = await client.post("/classify", json={"documents": texts, "top_k": 3})
        assert response.status_code == 200, response.text
        return response.json()["results"]

    async with serve(settings_) as client:
        assert (await client.get("/v1/model")).json()["precision"] == precision
        single = [(await classify(client, [text]))[0] for text in POOL]
        batched = [(batch, await classify(client, [POOL[i] for i in batch])) for batch in batches]
        metrics = (await client.get("/metrics")).text
    sizes = {
        sample.name: sample.value
        for family in text_string_to_metric_families(metrics)
        if family.name == "corebert_batch_size_documents"
        for sample in family.samples
    }
    # Each request ran as one batch: the documents alone, then the batches whole.
    assert sizes["corebert_batch_size_documents_count"] == len(POOL) + len(batches)
    assert sizes["corebert_batch_size_documents_sum"] == len(POOL) + sum(map(len, batches))
    for batch, results in batched:
        for index, result in zip(batch, results, strict=True):
            by_label = {entry["label"]: entry["score"] for entry in result["labels"]}
            expected = {entry["label"]: entry["score"] for entry in single[index]["labels"]}
            assert result["label"] == single[index]["label"]
            assert by_label.keys() == expected.keys()
            for label, score in by_label.items():
                assert score == pytest.approx(expected[label], abs=TOLERANCE[precision])
