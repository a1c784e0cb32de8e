"""Score an exported artifact with ONNX Runtime and `tokenizers` alone (no torch, no transformers),
so the reported number is the number the service reproduces."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer
from tqdm.auto import tqdm

from training.args import DataArguments
from training.documents import DataError, Document
from training.metrics import classification_metrics, mean_kept_per_layer
from training.tokenization import encode_texts, pad_batch, pad_token_id


@dataclass
class OnnxClassifier:
    """An ONNX Runtime session, its tokenizer and its class names."""

    session: object
    tokenizer: Tokenizer
    label_names: list[str]
    max_length: int

    @classmethod
    def from_files(
        cls, model_path: Path, tokenizer_path: Path, label_names: list[str], max_length: int
    ) -> OnnxClassifier:
        import onnxruntime as ort

        session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
        return cls(session, Tokenizer.from_file(str(tokenizer_path)), label_names, max_length)

    @classmethod
    def from_artifact(cls, artifact_dir: str | Path) -> OnnxClassifier:
        artifact_dir = Path(artifact_dir)
        metadata = read_metadata(artifact_dir)
        labels = json.loads((artifact_dir / "labels.json").read_text(encoding="utf-8"))
        return cls.from_files(
            artifact_dir / "model.onnx",
            artifact_dir / "tokenizer.json",
            labels,
            int(metadata["max_length"]),
        )

    def predict(self, texts: Sequence[str], batch_size: int = 16) -> tuple[np.ndarray, np.ndarray]:
        """`(logits (N, C), kept_kv_counts (N, L))` in the order of `texts`.

        Documents are batched by length (less padding); a document's logits do not depend on
        its batch (docs/contracts.md), so the order of batching does not change the result.
        """
        sequences = encode_texts(self.tokenizer, texts, self.max_length)
        order = np.argsort([len(ids) for ids in sequences], kind="stable")
        pad_id = pad_token_id(self.tokenizer)
        logits, kept = [None] * len(texts), [None] * len(texts)
        batches = range(0, len(order), batch_size)
        for start in tqdm(batches, desc="scoring", unit="batch", disable=len(batches) < 10):
            batch = order[start : start + batch_size]
            input_ids, attention_mask = pad_batch([sequences[i] for i in batch], pad_id)
            batch_logits, batch_kept = self.session.run(
                ["logits", "kept_kv_counts"],
                {"input_ids": input_ids, "attention_mask": attention_mask},
            )
            for row, index in enumerate(batch):
                logits[index], kept[index] = batch_logits[row], batch_kept[row]
        return np.stack(logits), np.stack(kept)


def read_metadata(artifact_dir: Path) -> dict:
    path = Path(artifact_dir) / "metadata.json"
    if not path.is_file():
        raise FileNotFoundError(f"{artifact_dir}: not an artifact (no metadata.json)")
    return json.loads(path.read_text(encoding="utf-8"))


def score(classifier: OnnxClassifier, documents: Sequence[Document], batch_size: int = 16) -> dict:
    """Test metrics of `classifier` on `documents`, plus the mean keys/values kept per layer."""
    index = {name: i for i, name in enumerate(classifier.label_names)}
    unknown = next((d for d in documents if d.label not in index), None)
    if unknown is not None:
        raise DataError(
            f"{unknown.file}: row {unknown.row}: label {unknown.label!r} is not one of the "
            f"model's classes ({', '.join(classifier.label_names)})"
        )
    logits, kept = classifier.predict([d.text for d in documents], batch_size)
    metrics = classification_metrics(
        [index[d.label] for d in documents], logits.argmax(axis=1).tolist(), classifier.label_names
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
    artifact_dir: str | Path, data_args: DataArguments | None = None, batch_size: int = 16
) -> dict:
    """Re-score an artifact on a test split: the one given, else the one it was trained with."""
    artifact_dir = Path(artifact_dir)
    classifier = OnnxClassifier.from_artifact(artifact_dir)
    if data_args is None or not (data_args.has_source or data_args.test_file):
        data_args = data_arguments_from_metadata(read_metadata(artifact_dir).get("dataset", {}))
    return score(classifier, load_test_documents(data_args), batch_size)
