"""Seeded, stratified train/validation/test splits, the label set, and the record of a split.

Order of operations, so that each split depends only on what it must:
1. a source without a test split gives up `test_fraction` of its training documents (seeded by
   `split_seed` alone: every variant and training seed is scored on the same documents);
2. a source without a validation split gives up `validation_fraction` of what is left;
3. `max_*_samples` take stratified subsets of each split;
4. with `transfer_samples`, a stratified subset of the training documents step 3 left out is the
   transfer set: documents a distilled student learns from through its teacher alone (their
   labels are never read; training/distillation.py);
5. `with_transfer_documents` adds unlabelled documents from elsewhere (a file) to the transfer
   set, refusing any whose text the model is validated or scored on.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from training.documents import DEFAULT_LABEL_SEPARATOR, DataError, Document, sorted_label_names


@dataclass
class DataSplits:
    """Documents of each split, the class names (index = class id) and how they were made."""

    train: list[Document]
    validation: list[Document]
    test: list[Document]
    label_names: list[str]
    description: dict = field(default_factory=dict)
    multi_label: bool = False
    # Unlabelled for training: what only a teacher speaks for (not a split of the artifact).
    transfer: list[Document] = field(default_factory=list)

    def label_ids(self, documents: Sequence[Document]) -> list[int]:
        index = {name: i for i, name in enumerate(self.label_names)}
        return [index[document.label] for document in documents]

    def label_matrix(self, documents: Sequence[Document]) -> np.ndarray:
        """(N, C) int8: 1 where a document carries the label (multi-label targets)."""
        index = {name: i for i, name in enumerate(self.label_names)}
        matrix = np.zeros((len(documents), len(self.label_names)), dtype=np.int8)
        for row, document in enumerate(documents):
            matrix[row, [index[label] for label in document.labels]] = 1
        return matrix

    def targets(self, documents: Sequence[Document]) -> list:
        """What the model is trained against: class ids, or rows of 0/1 floats (multi-label)."""
        if self.multi_label:
            return self.label_matrix(documents).astype(np.float32).tolist()
        return self.label_ids(documents)

    def sizes(self) -> dict[str, int]:
        return {name: len(documents) for name, documents in self.parts().items()}

    def parts(self) -> dict[str, list[Document]]:
        return {"train": self.train, "validation": self.validation, "test": self.test}

    def document_ids(self) -> dict[str, list[str]]:
        return {
            name: [document.doc_id for document in documents]
            for name, documents in self.parts().items()
        }

    def fingerprint(self) -> str:
        """SHA-256 of the document ids of every split: equal fingerprints, equal splits."""
        encoded = json.dumps(self.document_ids(), sort_keys=True).encode("utf-8")
        return hashlib.sha256(encoded).hexdigest()

    def describe(self) -> dict:
        """The `dataset` object of metadata.json."""
        return {
            **self.description,
            "labels": self.label_names,
            "sizes": self.sizes(),
            "split_fingerprint": self.fingerprint(),
        }

    def record(self) -> dict:
        """Contents of split.json: the description plus every document id of every split (and
        of the transfer set, when there is one)."""
        documents = self.document_ids()
        if self.transfer:
            documents["transfer"] = [document.doc_id for document in self.transfer]
        return {**self.describe(), "documents": documents}


def with_transfer_documents(
    splits: DataSplits, documents: Sequence[Document], source: str
) -> DataSplits:
    """`splits` whose transfer set also holds `documents` (from `source`, recorded): an error
    names the first whose text, up to whitespace, is a validation or test document's, since the
    teacher's logits on it would leak that split into training."""
    held_out = {
        _normalised(document.text): f"{name} document {document.doc_id}"
        for name in ("validation", "test")
        for document in splits.parts()[name]
    }
    for document in documents:
        seen = held_out.get(_normalised(document.text))
        if seen is not None:
            raise DataError(
                f"{document.file}: row {document.row}: the same text as {seen}; a transfer set "
                f"must not hold documents the model is validated or scored on"
            )
    description = {**splits.description, "transfer_file": source}
    description["transfer_file_documents"] = len(documents)
    return replace(splits, transfer=[*splits.transfer, *documents], description=description)


def _normalised(text: str) -> str:
    return " ".join(text.split())


def make_splits(
    train: list[Document],
    validation: list[Document] | None,
    test: list[Document] | None,
    *,
    validation_fraction: float,
    test_fraction: float,
    split_seed: int,
    max_train_samples: int | None = None,
    max_eval_samples: int | None = None,
    max_test_samples: int | None = None,
    description: dict | None = None,
    multi_label: bool = False,
    transfer_samples: int = 0,
) -> DataSplits:
    """Complete the missing splits, check the labels, take the subsets and the transfer set
    (see module docstring)."""
    held_out = []
    if test is None:
        train, test = holdout(train, test_fraction, split_seed)
        held_out.append("test")
    if validation is None:
        train, validation = holdout(train, validation_fraction, split_seed + 1)
        held_out.append("validation")
    labelled = subset(train, max_train_samples, split_seed + 2)
    transfer = transfer_set(train, labelled, transfer_samples, split_seed + 5)
    train = labelled
    validation = subset(validation, max_eval_samples, split_seed + 3)
    test = subset(test, max_test_samples, split_seed + 4)
    label_names = check_labels(train, {"validation": validation, "test": test}, multi_label)
    settings = {
        "split_seed": split_seed,
        "held_out": held_out,
        "validation_fraction": validation_fraction if "validation" in held_out else None,
        "test_fraction": test_fraction if "test" in held_out else None,
        "max_train_samples": max_train_samples,
        "max_eval_samples": max_eval_samples,
        "max_test_samples": max_test_samples,
        "multi_label": multi_label,
    }
    if transfer_samples:
        settings["transfer_samples"] = len(transfer)
    description = {**(description or {}), **settings}
    return DataSplits(train, validation, test, label_names, description, multi_label, transfer)


def transfer_set(
    train: list[Document], labelled: list[Document], size: int, seed: int
) -> list[Document]:
    """At most `size` of the training documents not in `labelled`, stratified like a subset;
    an error when `size` asks for more than are left (a transfer set must not repeat the
    labelled documents)."""
    if size <= 0:
        return []
    chosen = {id(document) for document in labelled}
    left = [document for document in train if id(document) not in chosen]
    if size > len(left):
        raise DataError(
            f"a transfer set of {size} documents needs that many training documents beyond the "
            f"{len(labelled)} trained on; {len(left)} are left (lower --max-train-samples or "
            f"--distill-transfer-samples)"
        )
    return subset(left, size, seed)


def check_labels(
    train: list[Document], others: dict[str, list[Document]], multi_label: bool = False
) -> list[str]:
    """The sorted class names of `train` (with `multi_label`, the union of its label sets);
    errors for a single class, an empty split, a label in another split that training never
    sees, and data that does not look like what `multi_label` says."""
    if not train:
        raise DataError("the training split is empty")
    check_label_kind(train, multi_label)
    names = sorted_label_names({label for document in train for label in document.labels})
    if len(names) < 2:
        raise DataError(
            f"{_files(train)}: the training data has a single class ({names[0]!r}); a classifier "
            f"needs at least two"
        )
    known = set(names)
    for split, documents in others.items():
        if not documents:
            raise DataError(f"the {split} split is empty")
        for document in documents:
            for label in document.labels:
                if label not in known:
                    raise DataError(
                        f"{document.file}: row {document.row}: label {label!r} of the {split} "
                        f"split does not occur in the training data (known: {', '.join(names)})"
                    )
    return names


def check_label_kind(train: list[Document], multi_label: bool) -> None:
    """Multi-label options on single-label data, or single-label options on multi-label data
    (labels joined by the default separator whose parts are labels of their own) are an error
    before training."""
    if multi_label:
        if not any(len(document.labels) > 1 for document in train):
            raise DataError(
                f"{_files(train)}: --multi-label, but no training document has more than one "
                f"label: train without --multi-label (or give the --label-separator the file "
                f"uses)"
            )
        return
    several = next((document for document in train if len(document.labels) != 1), None)
    if several is not None:
        raise DataError(
            f"{several.file}: row {several.row}: {len(several.labels)} labels "
            f"({', '.join(several.labels)}): multi-label data needs --multi-label"
        )
    names = {document.label for document in train}
    separator = DEFAULT_LABEL_SEPARATOR
    joined = next(
        (n for n in sorted(names) if separator in n and set(n.split(separator)) <= names), None
    )
    if joined is not None:
        raise DataError(
            f"{_files(train)}: label {joined!r} joins labels that occur on their own: "
            f"multi-label data needs --multi-label"
        )


def holdout(
    documents: list[Document], fraction: float, seed: int
) -> tuple[list[Document], list[Document]]:
    """Split off `fraction` of `documents` (stratified by label when possible), both parts in
    their original order."""
    count = round(len(documents) * fraction)
    if count < 1 or count >= len(documents):
        raise DataError(
            f"{_files(documents)}: cannot hold out {fraction:.0%} of {len(documents)} documents"
        )
    chosen = set(_stratified_choice(documents, count, seed))
    kept = [document for i, document in enumerate(documents) if i not in chosen]
    return kept, [document for i, document in enumerate(documents) if i in chosen]


def subset(documents: list[Document], size: int | None, seed: int) -> list[Document]:
    """At most `size` documents, stratified by label, in their original order."""
    if size is None or size >= len(documents):
        return documents
    chosen = set(_stratified_choice(documents, size, seed))
    return [document for i, document in enumerate(documents) if i in chosen]


def _stratified_choice(documents: list[Document], count: int, seed: int) -> list[int]:
    """Indices of `count` documents drawn with each class's share preserved where sklearn can
    (every class needs two members and `count` one slot per class), else uniformly."""
    from sklearn.model_selection import train_test_split

    indices = list(range(len(documents)))
    # A multi-label document is stratified by its whole label set.
    labels = ["|".join(document.labels) for document in documents]
    counts = Counter(labels)
    stratify = labels if min(counts.values()) >= 2 and len(counts) <= count else None
    if stratify is not None and len(documents) - count < len(counts):
        stratify = None
    _, chosen = train_test_split(indices, test_size=count, random_state=seed, stratify=stratify)
    return sorted(chosen)


def _files(documents: list[Document]) -> str:
    files = sorted({document.file for document in documents})
    return files[0] if len(files) == 1 else f"{files[0]} and {len(files) - 1} other files"
