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
)
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
