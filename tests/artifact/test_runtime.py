"""Running an artifact: provider choice, session options, and `OnnxClassifier`."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from artifact.card import load_artifact
from artifact.runtime import (
    CPU_PROVIDER,
    CUDA_PROVIDER,
    OnnxClassifier,
    choose_providers,
    session_options,
    softmax,
)
from artifact.truncation import Truncation
from tests.artifacts import tiny_documents

SPINNING = "session.intra_op.allow_spinning"


@pytest.fixture(scope="module")
def classifier(tiny_artifact: Path) -> OnnxClassifier:
    return OnnxClassifier.from_artifact(tiny_artifact)


def test_choose_providers_prefers_cuda_when_offered() -> None:
    available = [CUDA_PROVIDER, CPU_PROVIDER]
    assert choose_providers("auto", available) == [CUDA_PROVIDER, CPU_PROVIDER]
    assert choose_providers("cuda", available) == [CUDA_PROVIDER, CPU_PROVIDER]
    assert choose_providers("cpu", available) == [CPU_PROVIDER]


def test_choose_providers_falls_back_to_cpu_with_a_warning(caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="artifact.runtime"):
        assert choose_providers("auto", [CPU_PROVIDER]) == [CPU_PROVIDER]
        assert not caplog.records
        assert choose_providers("cuda", ["AzureExecutionProvider", CPU_PROVIDER]) == [CPU_PROVIDER]
    assert "falling back to CPUExecutionProvider" in caplog.text


def test_session_options_let_idle_threads_sleep_unless_asked() -> None:
    server = session_options(3)
    assert server.intra_op_num_threads == 3
    assert server.get_session_config_entry(SPINNING) == "0"
    assert server.enable_cpu_mem_arena
    measuring = session_options(allow_spinning=True, memory_arena=False)
    assert measuring.get_session_config_entry(SPINNING) == "1"
    assert not measuring.enable_cpu_mem_arena


def test_from_artifact_takes_labels_and_length_from_the_card(tiny_artifact: Path) -> None:
    card = load_artifact(tiny_artifact).card
    classifier = OnnxClassifier.from_artifact(tiny_artifact)
    assert classifier.labels == card.labels and classifier.max_length == card.max_length == 64
    assert classifier.provider == CPU_PROVIDER
    shorter = OnnxClassifier.from_artifact(load_artifact(tiny_artifact), max_length=16)
    assert shorter.max_length == 16
    assert OnnxClassifier.from_artifact(tiny_artifact, max_length=4096).max_length == 64


def test_encode_cuts_to_max_length_and_says_so(classifier: OnnxClassifier) -> None:
    short, long = classifier.encode(["the film was good", "the match " * 200])
    assert len(short.ids) == 6 and not short.overflowing
    assert len(long.ids) == 64 and long.overflowing


def test_a_padded_batch_gives_each_document_its_own_outputs(classifier: OnnxClassifier) -> None:
    texts, _ = tiny_documents(5, seed=2)
    sequences = [encoding.ids for encoding in classifier.encode(texts)]
    assert len({len(ids) for ids in sequences}) > 1  # the batch needs padding
    logits, kept = classifier.run(sequences)
    assert logits.shape == (5, 3) and kept.shape == (5, 5)
    assert logits.dtype == np.float32 and kept.dtype == np.int64
    for row, ids in enumerate(sequences):
        alone_logits, alone_kept = classifier.run([ids])
        np.testing.assert_allclose(alone_logits[0], logits[row], rtol=0, atol=1e-4)
        np.testing.assert_array_equal(alone_kept[0], kept[row])


def test_predict_keeps_the_order_of_the_texts(classifier: OnnxClassifier) -> None:
    texts, _ = tiny_documents(7, seed=6)
    seen: list[list[int]] = []

    def progress(starts):
        seen.append(list(starts))
        return starts

    logits, kept = classifier.predict(texts, batch_size=3, progress=progress)
    assert seen == [[0, 3, 6]]
    for row, text in enumerate(texts):
        alone_logits, alone_kept = classifier.predict([text])
        np.testing.assert_allclose(alone_logits[0], logits[row], rtol=0, atol=1e-4)
        np.testing.assert_array_equal(alone_kept[0], kept[row])


def test_score_documents_with_right_truncation_is_predict(classifier: OnnxClassifier) -> None:
    texts = ["the film was good", "the match " * 200, *tiny_documents(4, seed=8)[0]]
    logits, kept = classifier.predict(texts, batch_size=3)
    scores = classifier.score_documents(texts, Truncation("right"), batch_size=3)
    np.testing.assert_allclose(scores.logits, logits, rtol=0, atol=1e-6)
    np.testing.assert_allclose(scores.probabilities, softmax(logits), rtol=0, atol=1e-6)
    np.testing.assert_array_equal(scores.kept_kv_counts, kept)
    assert scores.num_windows.tolist() == [1] * 6
    cut = [bool(encoding.overflowing) for encoding in classifier.encode(texts)]
    assert scores.truncated.tolist() == cut and cut[:2] == [False, True]


def test_a_chunked_document_scores_the_weighted_mean_of_its_windows(
    classifier: OnnxClassifier,
) -> None:
    long_text = " ".join(["the market and the bank", "a good game for the team"] * 14)
    texts = ["the film was good", long_text]
    truncation = Truncation("chunks", chunk_stride=20)
    scores = classifier.score_documents(texts, truncation, batch_size=2)
    short, long = classifier.encode_windows(texts, truncation)
    assert short.num_windows == 1 and long.num_windows > 2
    assert scores.num_windows.tolist() == [1, long.num_windows]
    alone = [classifier.run([window]) for window in long.windows]  # each window by itself
    window_probabilities = np.stack([softmax(logits[0]) for logits, _ in alone])
    weights = long.weights / long.weights.sum()
    np.testing.assert_allclose(scores.probabilities[1], weights @ window_probabilities, atol=1e-5)
    window_logits = np.stack([logits[0] for logits, _ in alone])
    np.testing.assert_allclose(scores.logits[1], weights @ window_logits, atol=1e-4)
    window_kept = np.stack([kept[0] for _, kept in alone])
    np.testing.assert_allclose(scores.kept_kv_counts[1], weights @ window_kept)
    short_logits, _ = classifier.run([short.windows[0]])
    np.testing.assert_allclose(scores.probabilities[0], softmax(short_logits[0]), atol=1e-6)
    capped = classifier.score_documents(texts, Truncation("chunks", chunk_stride=20, max_chunks=2))
    assert capped.num_windows.tolist() == [1, 2] and capped.truncated.tolist() == [False, True]
