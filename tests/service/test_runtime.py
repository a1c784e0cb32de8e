"""The backend: tokenization under a truncation strategy, prediction, kept-KV ratio.

Artifact loading and provider choice are the artifact package's (tests/artifact/).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from tokenizers import Tokenizer

from artifact.card import load_artifact
from artifact.runtime import CPU_PROVIDER, CUDA_PROVIDER
from artifact.truncation import Truncation
from service.runtime import OnnxBackend, kept_kv_ratio


@pytest.fixture
def classifier(tiny_classifier: OnnxBackend) -> OnnxBackend:
    return tiny_classifier


def reference_outputs(artifact: Path, text: str, max_length: int) -> tuple[np.ndarray, np.ndarray]:
    """Logits and kept_kv_counts of one document, straight from ONNX Runtime."""
    tokenizer = Tokenizer.from_file(str(artifact / "tokenizer.json"))
    tokenizer.enable_truncation(max_length)
    ids = np.array([tokenizer.encode(text).ids], dtype=np.int64)
    session = ort.InferenceSession(str(artifact / "model.onnx"), providers=[CPU_PROVIDER])
    logits, kept = session.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids)})
    return logits[0], kept[0]


def test_cuda_requested_on_a_machine_without_it_runs_on_cpu(tiny_artifact: Path, caplog) -> None:
    if CUDA_PROVIDER in ort.get_available_providers():
        pytest.skip("this machine has the CUDA provider; the fallback is tested without it")
    with caplog.at_level(logging.WARNING, logger="artifact.runtime"):
        classifier = OnnxBackend(load_artifact(tiny_artifact), device="cuda")
    assert classifier.provider == CPU_PROVIDER
    assert "device=cuda was requested" in caplog.text


def test_tokenize_truncates_to_max_length_and_flags_it(classifier: OnnxBackend) -> None:
    short, long = classifier.tokenize(["the film was good", "the match " * 200], Truncation())
    assert not short.truncated and short.num_tokens == 6  # [CLS] 4 words [SEP]
    assert long.truncated and long.num_tokens == classifier.max_length == 64
    assert short.windows[0].dtype == np.int64


def test_tokenize_reads_a_long_document_as_the_strategy_says(classifier: OnnxBackend) -> None:
    text = "the match " * 200  # 400 words, each one token
    (left,) = classifier.tokenize([text], Truncation("left"))
    assert left.truncated and left.num_windows == 1 and left.num_tokens == 64
    (chunked,) = classifier.tokenize([text], Truncation("chunks", chunk_stride=62))
    assert chunked.num_windows == 7 and not chunked.truncated  # 400 tokens, 62 a window
    assert chunked.num_tokens == 400 + 2 * 7
    (capped,) = classifier.tokenize([text], Truncation("chunks", max_chunks=3))
    assert capped.num_windows == 3 and capped.truncated


def test_max_length_setting_caps_but_never_exceeds_the_model(tiny_artifact: Path) -> None:
    artifact = load_artifact(tiny_artifact)
    assert OnnxBackend(artifact, device="cpu", max_length=16).max_length == 16
    assert OnnxBackend(load_artifact(tiny_artifact), max_length=4096).max_length == 64


def test_predict_matches_onnx_runtime_on_each_document_alone(
    classifier: OnnxBackend, tiny_artifact: Path
) -> None:
    texts = ["the film was good", "market shares and bank profit " * 4, "vote " * 100]
    documents = classifier.tokenize(texts, Truncation())
    prediction = classifier.predict([document.windows[0] for document in documents])
    assert prediction.probabilities.shape == (3, 3)
    np.testing.assert_allclose(prediction.probabilities.sum(axis=1), 1.0, rtol=1e-6)
    for row, text in enumerate(texts):
        logits, kept = reference_outputs(tiny_artifact, text, classifier.max_length)
        expected = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
        np.testing.assert_allclose(prediction.probabilities[row], expected, atol=1e-5)
        pruning_layers = kept[: classifier.card.combine_layer - 1]
        expected_ratio = pruning_layers.mean() / documents[row].num_tokens
        assert prediction.kept_kv_ratio[row] == pytest.approx(expected_ratio)


def test_kept_kv_ratio_averages_the_layers_before_combining() -> None:
    kept = np.array([[10, 9, 8, 7, 0], [4, 4, 3, 3, 0]])  # (batch, layers)
    ratios = kept_kv_ratio(kept, np.array([10, 4]), combine_layer=5)
    np.testing.assert_allclose(ratios, [0.85, 0.875])


def test_kept_kv_ratio_is_one_without_pruning() -> None:
    kept = np.array([[12, 12, 12], [5, 5, 5]])
    np.testing.assert_allclose(kept_kv_ratio(kept, np.array([12, 5]), combine_layer=None), 1.0)
    combined_at_first_layer = kept_kv_ratio(np.zeros((2, 3), np.int64), np.array([4, 4]), 1)
    np.testing.assert_allclose(combined_at_first_layer, 1.0)
