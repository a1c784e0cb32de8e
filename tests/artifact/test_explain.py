"""Explanations mapped back onto the text: positions read under each truncation, word pieces
merged into words, offsets into the submitted text, and artifacts without an explain graph."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from artifact.card import ArtifactError, load_artifact
from artifact.explain import SequenceExplanation, TokenSpans, core_words
from artifact.files import EXPLAIN_FILE
from artifact.runtime import OnnxClassifier
from artifact.truncation import STRATEGIES, Truncation
from tests.factories import make_tiny_tokenizer


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("num_ids", [2, 3, 20, 61, 62, 63, 200])
def test_read_positions_are_what_split_reads(strategy: str, num_ids: int) -> None:
    ids = np.arange(100, 100 + num_ids)
    truncation = Truncation(strategy, chunk_stride=7, max_chunks=5)
    document = truncation.split(ids, 16)
    read = truncation.read_positions(num_ids, 16)
    assert len(read.positions) == document.num_windows
    for positions, window in zip(read.positions, document.windows, strict=True):
        np.testing.assert_array_equal(ids[positions], window)
    np.testing.assert_array_equal(read.weights, document.weights)
    assert read.truncated == document.truncated


def explanation_of(importance: list[float], kept: int = 3, group: int = 0) -> SequenceExplanation:
    scores = np.asarray(importance, dtype=np.float32)
    n = len(scores)
    return SequenceExplanation(np.full(n, kept), scores, np.full(n, group))


def test_core_words_merge_pieces_and_point_into_the_text() -> None:
    text = "The  Market rose: zqx bank!"
    encoding = make_tiny_tokenizer().encode(text)
    spans = TokenSpans.from_encoding(encoding)
    # "zqx" is not in the vocabulary: it becomes the pieces z ##q ##x, one word.
    assert encoding.tokens[:1] == ["[CLS]"] and encoding.tokens[-1] == "[SEP]"
    importance = np.linspace(0.1, 0.9, len(encoding.ids)).tolist()
    importance[encoding.tokens.index("##q")] = 1.0
    positions = [np.arange(len(encoding.ids))]
    words = core_words(text, spans, positions, [explanation_of(importance)], top_k=64)
    assert words[0].text == "zqx" and words[0].score == pytest.approx(1.0)
    assert [w.score for w in words] == sorted((w.score for w in words), reverse=True)
    for word in words:
        assert text[word.start : word.end] == word.text
    assert {w.text for w in words} == {"The", "Market", "rose", ":", "zqx", "bank", "!"}
    assert len(core_words(text, spans, positions, [explanation_of(importance)], top_k=2)) == 2


def test_a_token_read_twice_keeps_its_best_reading() -> None:
    text = "bank market sales"
    spans = TokenSpans.from_encoding(make_tiny_tokenizer().encode(text))
    # [CLS] bank market sales [SEP] read as two windows sharing "market" (position 2).
    positions = [np.array([0, 1, 2, 4]), np.array([0, 2, 3, 4])]
    explanations = [
        explanation_of([0.0, 0.2, 0.3, 0.0], kept=1, group=1),
        explanation_of([0.0, 0.9, 0.5, 0.0], kept=4, group=2),
    ]
    words = core_words(text, spans, positions, explanations, top_k=3)
    assert [(w.text, w.score, w.kept_layers, w.group) for w in words] == [
        ("market", pytest.approx(0.9), 4, 2),
        ("sales", pytest.approx(0.5), 4, 2),
        ("bank", pytest.approx(0.2), 1, 1),
    ]


def test_words_no_window_read_are_left_out() -> None:
    text = "bank market sales"
    spans = TokenSpans.from_encoding(make_tiny_tokenizer().encode(text))
    words = core_words(text, spans, [np.array([0, 3, 4])], [explanation_of([0, 1, 0])], 10)
    assert [w.text for w in words] == ["sales"]


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_the_classifier_explains_long_texts_under_every_truncation(
    tiny_artifact: Path, strategy: str
) -> None:
    classifier = OnnxClassifier.from_artifact(tiny_artifact, max_length=16)
    assert classifier.can_explain
    text = " ".join(["market bank profit film star zqx"] * 12)
    words = classifier.core_words([text, "bank"], Truncation(strategy), top_k=5)
    assert 1 <= len(words[0]) <= 5 and [w.text for w in words[1]] == ["bank"]
    for word in words[0]:
        assert text[word.start : word.end] == word.text
        assert 0.0 <= word.score <= 1.0


def test_an_artifact_without_an_explain_graph_loads_and_says_it_cannot_explain(
    tiny_artifact: Path, tmp_path: Path
) -> None:
    older = shutil.copytree(tiny_artifact, tmp_path / "older")
    (older / EXPLAIN_FILE).unlink()
    artifact = load_artifact(older)
    assert artifact.explain_path is None
    assert load_artifact(tiny_artifact).explain_path == tiny_artifact / EXPLAIN_FILE
    classifier = OnnxClassifier.from_artifact(artifact)
    assert not classifier.can_explain
    with pytest.raises(ArtifactError, match=EXPLAIN_FILE):
        classifier.explain([np.array([2, 30, 3])])
    assert classifier.predict(["bank market"])[0].shape == (1, 3)
