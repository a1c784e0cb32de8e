"""Score an exported artifact with ONNX Runtime and `tokenizers` alone (no torch, no transformers),
so the reported number is the number the service reproduces."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from tqdm.auto import tqdm

from artifact.card import load_artifact
from artifact.runtime import OnnxClassifier
from training.args import DataArguments
from training.documents import DataError, Document
from training.metrics import classification_metrics, mean_kept_per_layer


def progress_bar(starts: Sequence[int]) -> Iterable[int]:
    """A progress bar over the batches, shown from ten batches on."""
    return tqdm(starts, desc="scoring", unit="batch", disable=len(starts) < 10)


def score(classifier: OnnxClassifier, documents: Sequence[Document], batch_size: int = 16) -> dict:
    """Test metrics of `classifier` on `documents`, plus the mean keys/values kept per layer."""
    index = {name: i for i, name in enumerate(classifier.labels)}
    unknown = next((d for d in documents if d.label not in index), None)
    if unknown is not None:
        raise DataError(
            f"{unknown.file}: row {unknown.row}: label {unknown.label!r} is not one of the "
            f"model's classes ({', '.join(classifier.labels)})"
        )
    logits, kept = classifier.predict([d.text for d in documents], batch_size, progress_bar)
    metrics = classification_metrics(
        [index[d.label] for d in documents], logits.argmax(axis=1).tolist(), list(classifier.labels)
    )
    metrics["mean_kept_kv_counts"] = mean_kept_per_layer(kept)
    metrics["backend"] = "onnxruntime"
    return metrics


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
        validation_fraction=dataset.get("validation_fraction") or 0.2,
        test_fraction=dataset.get("test_fraction") or 0.2,
        split_seed=dataset.get("split_seed", 42),
        max_test_samples=dataset.get("max_test_samples"),
    )


def load_test_documents(args: DataArguments) -> list[Document]:
    """The test split `args` describe; a lone `--test-file` is used as it is."""
    from training.data import load_splits
    from training.files import read_documents

    if args.test_file and not args.has_source:
        return read_documents(args.test_file, args.text_column, args.label_column)
    return load_splits(args).test


def evaluate_artifact(
    artifact_dir: str | Path,
    data_args: DataArguments | None = None,
    batch_size: int = 16,
    precision: str = "fp32",
) -> dict:
    """Re-score an artifact's graph at `precision` on a test split: the one given, else the one
    it was trained with."""
    artifact = load_artifact(artifact_dir)
    classifier = OnnxClassifier.from_artifact(artifact, precision=precision)
    if data_args is None or not (data_args.has_source or data_args.test_file):
        data_args = data_arguments_from_metadata(artifact.card.dataset)
    return {**score(classifier, load_test_documents(data_args), batch_size), "precision": precision}
