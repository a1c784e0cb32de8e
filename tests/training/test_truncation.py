"""--truncation in training and evaluation: documents are read as the service reads them, and the
number a run reports is the number `evaluate` gives with the same options."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from artifact.runtime import OnnxClassifier, softmax
from artifact.tokenization import encode_texts, encode_windows
from artifact.truncation import Truncation
from tests.artifacts import make_tiny_artifact, tiny_documents, tiny_label_names
from tests.factories import make_tiny_tokenizer
from tests.training.conftest import train_argv, write_csv
from training.__main__ import main
from training.args import DataArguments
from training.data import load_splits
from training.evaluate import evaluate_artifact
from training.files import read_documents
from training.train import encode_split

CHUNKS = ("--truncation", "chunks", "--chunk-stride", "16")


@pytest.fixture(scope="module")
def artifact(tmp_path_factory) -> Path:
    return make_tiny_artifact(tmp_path_factory.mktemp("truncation") / "artifact", seed=5)


@pytest.fixture(scope="module")
def long_test_csv(tmp_path_factory) -> Path:
    """Documents of 40 to 150 words: most run past the tiny model's 64 tokens."""
    texts, labels = tiny_documents(12, seed=13, min_words=40, max_words=150)
    names = tiny_label_names(3)
    rows = [{"text": t, "label": names[i]} for t, i in zip(texts, labels, strict=True)]
    return write_csv(tmp_path_factory.mktemp("long") / "test.csv", rows)


def test_encode_split_reads_what_the_strategy_keeps(tiny_train_csv: Path) -> None:
    splits = load_splits(DataArguments(train_file=str(tiny_train_csv)))
    tokenizer = make_tiny_tokenizer()
    texts = [d.text for d in splits.train]
    right = encode_split(tokenizer, splits.train, splits, 24, Truncation())
    assert right.sequences == encode_texts(tokenizer, texts, 24)  # what training always read
    assert right.labels == splits.label_ids(splits.train)
    left = encode_split(tokenizer, splits.train, splits, 24, Truncation("left"))
    expected = encode_windows(tokenizer, texts, Truncation("left"), 24)
    assert left.sequences == [document.windows[0].tolist() for document in expected]


def test_encode_split_with_chunks_makes_every_window_an_example(tiny_train_csv: Path) -> None:
    splits = load_splits(DataArguments(train_file=str(tiny_train_csv)))
    tokenizer = make_tiny_tokenizer()
    truncation = Truncation("chunks", chunk_stride=8, max_chunks=3)
    encoded = encode_split(tokenizer, splits.train, splits, 24, truncation)
    read = encode_windows(tokenizer, [d.text for d in splits.train], truncation, 24)
    counts = [document.num_windows for document in read]
    assert max(counts) == 3 and min(counts) == 1  # long documents capped, short ones whole
    assert len(encoded) == sum(counts)
    assert encoded.sequences == [w.tolist() for document in read for w in document.windows]
    labels = splits.label_ids(splits.train)
    assert encoded.labels == [
        label for label, n in zip(labels, counts, strict=True) for _ in range(n)
    ]


def by_hand(classifier: OnnxClassifier, texts: list[str], truncation: Truncation) -> np.ndarray:
    """Predicted class ids: every window run alone, probabilities averaged by window tokens."""
    predicted = []
    for document in classifier.encode_windows(texts, truncation):
        probabilities = np.stack([softmax(classifier.run([w])[0][0]) for w in document.windows])
        predicted.append(int((document.weights @ probabilities).argmax()))
    return np.array(predicted)


@pytest.mark.parametrize("strategy", ["right", "left", "head_tail", "chunks"])
def test_evaluate_reads_documents_as_the_service_does(
    artifact: Path, long_test_csv: Path, strategy: str
) -> None:
    data = DataArguments(test_file=str(long_test_csv), truncation=strategy, chunk_stride=20)
    metrics = evaluate_artifact(artifact, data, batch_size=4)

    texts, labels = tiny_documents(12, seed=13, min_words=40, max_words=150)
    classifier = OnnxClassifier.from_artifact(artifact)
    truncation = data.truncation_policy()
    expected = by_hand(classifier, texts, truncation)
    assert metrics["accuracy"] == pytest.approx(float(np.mean(expected == np.array(labels))))
    assert metrics["truncation"] == truncation.describe(64)
    long = [len(ids) > 64 for ids in encode_texts(make_tiny_tokenizer(), texts, 10_000)]
    if strategy == "chunks":
        windows = [d.num_windows for d in classifier.encode_windows(texts, truncation)]
        assert metrics["mean_chunks"] == round(float(np.mean(windows)), 2) > 1
        assert metrics["truncated_share"] == 0.0  # 16 windows of 62 tokens, 20 apart, suffice
    else:
        assert "mean_chunks" not in metrics
        assert metrics["truncated_share"] == pytest.approx(np.mean(long)) and any(long)


def test_evaluate_of_the_recorded_split_keeps_the_truncation(
    artifact: Path, long_test_csv: Path, monkeypatch
) -> None:
    """Without a data source, evaluate re-creates the split recorded in metadata.json (a
    generated one here, so the loader is stood in for) and still reads it as asked."""
    asked: list[DataArguments] = []

    def recorded_split(args: DataArguments):
        asked.append(args)
        return read_documents(str(long_test_csv), "text", "label")

    monkeypatch.setattr("training.evaluate.load_test_documents", recorded_split)
    metrics = evaluate_artifact(artifact, DataArguments(truncation="chunks", max_chunks=2))
    (args,) = asked
    assert args.dataset == "tiny-generated"  # the recorded source, not the options given
    assert metrics["truncation"] == {"strategy": "chunks", "chunk_stride": 31, "max_chunks": 2}
    assert metrics["truncated_share"] > 0  # two windows do not cover the longest documents


def test_a_stride_longer_than_the_window_is_refused(artifact: Path, long_test_csv: Path) -> None:
    data = DataArguments(test_file=str(long_test_csv), truncation="chunks", chunk_stride=63)
    with pytest.raises(ValueError, match="stride 63 is over the 62 document tokens"):
        evaluate_artifact(artifact, data)


def test_a_chunked_run_trains_on_every_window_and_evaluate_reports_the_same(
    tiny_base_model: Path, tiny_train_csv: Path, tmp_path: Path, capsys
) -> None:
    argv = train_argv(tiny_base_model, tiny_train_csv, tmp_path, "--epochs", "1", *CHUNKS)
    assert main(argv) == 0
    capsys.readouterr()
    reported = json.loads((tmp_path / "metrics.json").read_text())
    metadata = json.loads((tmp_path / "artifact" / "metadata.json").read_text())
    config = json.loads((tmp_path / "run_config.json").read_text())

    splits = load_splits(DataArguments(train_file=str(tiny_train_csv)))
    truncation = Truncation("chunks", chunk_stride=16)
    windows = encode_windows(make_tiny_tokenizer(), [d.text for d in splits.train], truncation, 48)
    num_windows = sum(document.num_windows for document in windows)
    assert num_windows > len(splits.train)  # some training documents span several windows
    assert reported["training"]["steps"] == math.ceil(num_windows / 8)  # batch 8, one epoch
    expected = {"strategy": "chunks", "chunk_stride": 16, "max_chunks": 16}
    assert reported["truncation"] == metadata["metrics"]["truncation"] == expected
    assert (config["truncation"], config["chunk_stride"]) == ("chunks", 16)

    assert main(["evaluate", str(tmp_path / "artifact"), *CHUNKS]) == 0
    rescored = json.loads(capsys.readouterr().out)
    for key in ("accuracy", "macro_f1", "confusion_matrix", "truncation", "mean_chunks"):
        assert rescored[key] == reported[key], key
    assert main(["evaluate", str(tmp_path / "artifact")]) == 0
    assert json.loads(capsys.readouterr().out)["truncation"] == {"strategy": "right"}


def test_train_refuses_a_stride_longer_than_the_window_before_it_starts(tmp_path, capsys) -> None:
    from training.__main__ import main

    argv = ["train", "--train-file", str(tmp_path / "unread.csv"), "--output-dir", str(tmp_path)]
    with pytest.raises(SystemExit) as stopped:
        main([*argv, "--max-length", "64", "--truncation", "chunks", "--chunk-stride", "63"])
    assert stopped.value.code == 2
    assert "stride 63 is over the 62 document tokens" in capsys.readouterr().err
