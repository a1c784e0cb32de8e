"""Score an exported artifact with ONNX Runtime and `tokenizers` alone (no torch, no transformers),
so the reported number is the number the service reproduces."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from artifact.card import load_artifact
from artifact.problem import LabelRule, thresholds_by_label
from artifact.runtime import OnnxClassifier
from artifact.truncation import Truncation
from training.args import DataArguments
from training.documents import DEFAULT_LABEL_SEPARATOR, DataError, Document
from training.metrics import classification_metrics, mean_kept_per_layer, multilabel_metrics


def progress_bar(starts: Sequence[int]) -> Iterable[int]:
    """A progress bar over the batches, shown from ten batches on."""
    return tqdm(starts, desc="scoring", unit="batch", disable=len(starts) < 10)


def score(
    classifier: OnnxClassifier,
    documents: Sequence[Document],
    batch_size: int = 16,
    truncation: Truncation | None = None,
) -> dict:
    """Test metrics of `classifier` on `documents` read under `truncation` (default: cut from the
    right) as the service reads and aggregates them, plus the mean keys/values kept per layer,
    the truncation, and the share of documents some of whose text no window read."""
    return score_with_probabilities(classifier, documents, batch_size, truncation)[0]


def score_with_probabilities(
    classifier: OnnxClassifier,
    documents: Sequence[Document],
    batch_size: int = 16,
    truncation: Truncation | None = None,
) -> tuple[dict, np.ndarray]:
    """`score`'s metrics and the class probabilities (N, C) they were computed from."""
    truncation = truncation if truncation is not None else Truncation()
    true_labels = label_matrix(documents, classifier.labels)
    scores = classifier.score_documents(
        [d.text for d in documents], truncation, batch_size, progress_bar
    )
    predicted = classifier.rule.decide(scores.probabilities)
    if classifier.rule.multi_label:
        metrics = multilabel_metrics(true_labels, predicted, classifier.labels)
        metrics["thresholds"] = thresholds_by_label(classifier.rule, classifier.labels)
    else:
        metrics = classification_metrics(
            true_labels.argmax(axis=1).tolist(),
            predicted.argmax(axis=1).tolist(),
            list(classifier.labels),
        )
    metrics["mean_kept_kv_counts"] = mean_kept_per_layer(scores.kept_kv_counts)
    metrics["backend"] = "onnxruntime"
    metrics["truncation"] = truncation.describe(classifier.max_length)
    metrics["truncated_share"] = float(scores.truncated.mean())
    if truncation.strategy == "chunks":
        metrics["mean_chunks"] = round(float(scores.num_windows.mean()), 2)
    return metrics, scores.probabilities


def label_matrix(documents: Sequence[Document], labels: Sequence[str]) -> np.ndarray:
    """(N, C) 0/1: the model's labels each document carries; an error naming the row for a
    label the model does not know."""
    index = {name: i for i, name in enumerate(labels)}
    matrix = np.zeros((len(documents), len(labels)), dtype=np.int8)
    for row, document in enumerate(documents):
        for label in document.labels:
            if label not in index:
                raise DataError(
                    f"{document.file}: row {document.row}: label {label!r} is not one of the "
                    f"model's classes ({', '.join(labels)})"
                )
            matrix[row, index[label]] = 1
    return matrix


def data_arguments_from_metadata(dataset: dict) -> DataArguments:
    """The data options an artifact was trained with, to re-create its test split."""
    files = dataset.get("files") or {}
    return DataArguments(
        dataset=dataset.get("name") if dataset.get("source") != "files" else None,
        dataset_config=dataset.get("config"),
        train_file=files.get("train"),
        validation_file=files.get("validation"),
        test_file=files.get("test"),
        text_column=dataset.get("text_column", "text"),
        label_column=dataset.get("label_column", "label"),
        multi_label=bool(dataset.get("multi_label", False)),
        label_separator=dataset.get("label_separator", DEFAULT_LABEL_SEPARATOR),
        allow_empty_labels=bool(dataset.get("allow_empty_labels", False)),
        validation_fraction=dataset.get("validation_fraction") or 0.2,
        test_fraction=dataset.get("test_fraction") or 0.2,
        split_seed=dataset.get("split_seed", 42),
        max_test_samples=dataset.get("max_test_samples"),
    )


def with_truncation_of(args: DataArguments, given: DataArguments | None) -> DataArguments:
    """`args` reading documents as `given` says (the defaults when None)."""
    if given is None:
        return args
    return replace(
        args,
        truncation=given.truncation,
        chunk_stride=given.chunk_stride,
        max_chunks=given.max_chunks,
    )


def reading_labels_as(args: DataArguments, rule: LabelRule) -> DataArguments:
    """`args` reading label sets when the model is multi-label (no --multi-label needed); an
    error for --multi-label with a single-label model."""
    if rule.multi_label and not args.multi_label:
        return replace(args, multi_label=True)
    if args.multi_label and not rule.multi_label:
        raise DataError("--multi-label was given, but the artifact is a single-label model")
    return args


def load_test_documents(args: DataArguments) -> list[Document]:
    """The test split `args` describe; a lone `--test-file` is used as it is."""
    from training.data import load_splits
    from training.files import read_documents

    if args.test_file and not args.has_source:
        return read_documents(
            args.test_file, args.text_column, args.label_column, args.label_set_options()
        )
    return load_splits(args).test


def evaluate_artifact(
    artifact_dir: str | Path,
    data_args: DataArguments | None = None,
    batch_size: int = 16,
    precision: str = "fp32",
) -> dict:
    """Re-score an artifact's graph at `precision` on a test split (the one given, else the one
    it was trained with), reading long documents as `data_args` says (default: cut from the
    right), as the service does with the same settings."""
    artifact = load_artifact(artifact_dir)
    classifier = OnnxClassifier.from_artifact(artifact, precision=precision)
    truncation = data_args.truncation_policy() if data_args is not None else Truncation()
    truncation.check(classifier.max_length)
    if data_args is None or not (data_args.has_source or data_args.test_file):
        data_args = with_truncation_of(
            data_arguments_from_metadata(artifact.card.dataset), data_args
        )
    documents = load_test_documents(reading_labels_as(data_args, classifier.rule))
    return {**score(classifier, documents, batch_size, truncation), "precision": precision}
