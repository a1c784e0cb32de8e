"""A labelled document, where it came from, and the one error type for bad data.

Every loader turns its rows into `Document`s through `make_document`, so every bad-data error
names the file, the row and the problem the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

# Between the labels of a multi-label CSV/TSV cell unless --label-separator says otherwise.
DEFAULT_LABEL_SEPARATOR = "|"


class DataError(ValueError):
    """Input data that cannot be used; the message names the file, the row and the problem."""


@dataclass(frozen=True)
class Document:
    """One labelled text. `file` and `row` (1-based, header not counted) locate it in its source.

    `labels` holds a single-label document's one class, or a multi-label document's label set
    (sorted, no repeats; empty only where `--allow-empty-labels` allowed it).
    """

    text: str
    labels: tuple[str, ...]
    file: str
    row: int

    @property
    def label(self) -> str:
        """The class of a single-label document."""
        if len(self.labels) != 1:
            raise ValueError(f"{self.doc_id} has {len(self.labels)} labels, not one")
        return self.labels[0]

    @property
    def doc_id(self) -> str:
        """Stable identifier, recorded in `split.json` so a split can be checked and repeated."""
        return f"{self.file}:{self.row}"


def make_document(
    text: Any,
    label: Any,
    *,
    file: str,
    row: int,
    columns=("text", "label"),
    label_set: LabelSetOptions | None = None,
):
    """Validate one row and build its `Document`.

    Labels may be strings or integers (`1`, `"1"` and `1.0` are the same class, named `"1"`).
    With `label_set` (multi-label data) the cell holds a list of them, or a string joined by
    its separator.
    """
    text_column, label_column = columns
    check_text(text, file=file, row=row, column=text_column)
    if label_set is not None:
        labels = label_set.parse(label, file=file, row=row, column=label_column)
    elif isinstance(label, list | tuple):
        raise DataError(
            f"{file}: row {row}: label in column {label_column!r} is a list ({label!r:.60}): "
            f"multi-label data needs --multi-label"
        )
    else:
        labels = (label_name(label, file=file, row=row, column=label_column),)
    return Document(text=text, labels=labels, file=file, row=row)


def make_unlabelled_document(text: Any, *, file: str, row: int, column: str = "text") -> Document:
    """A document without a label (a transfer set's): its text is checked as a labelled one's."""
    check_text(text, file=file, row=row, column=column)
    return Document(text=text, labels=(), file=file, row=row)


def check_text(text: Any, *, file: str, row: int, column: str) -> None:
    if not isinstance(text, str):
        raise DataError(
            f"{file}: row {row}: text in column {column!r} is {_describe(text)}, not a string"
        )
    if not text.strip():
        raise DataError(f"{file}: row {row}: empty text in column {column!r}")


@dataclass(frozen=True)
class LabelSetOptions:
    """How a multi-label cell is read: a list (JSON Lines, Parquet), or a string of labels
    joined by `separator` (CSV/TSV); an empty set only with `allow_empty`."""

    separator: str = DEFAULT_LABEL_SEPARATOR
    allow_empty: bool = False

    def parse(self, value: Any, *, file: str, row: int, column: str) -> tuple[str, ...]:
        """The sorted, de-duplicated label names of one cell."""
        if isinstance(value, str):
            parts: list[Any] = [part for part in value.split(self.separator) if part.strip()]
        elif isinstance(value, list | tuple):
            parts = list(value)
        elif hasattr(value, "tolist"):  # a numpy array from pandas or pyarrow
            parts = list(value.tolist())
        elif value is None:
            parts = []
        else:
            raise DataError(
                f"{file}: row {row}: label in column {column!r} is {_describe(value)}; with "
                f"--multi-label it must be a list of labels or a string joined by "
                f"{self.separator!r}"
            )
        names = tuple(sorted({label_name(p, file=file, row=row, column=column) for p in parts}))
        if not names and not self.allow_empty:
            raise DataError(
                f"{file}: row {row}: no label in column {column!r}; documents without a label "
                f"need --allow-empty-labels"
            )
        return names


def label_name(value: Any, *, file: str, row: int, column: str = "label") -> str:
    """The class name of a label cell: integers and integral floats as their digits, strings
    stripped. Missing values (None, NaN, empty string) and other types are errors."""
    if isinstance(value, bool):
        raise DataError(f"{file}: row {row}: label in column {column!r} is a boolean ({value})")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            raise DataError(f"{file}: row {row}: missing label in column {column!r}")
        if value.is_integer():
            return str(int(value))
        raise DataError(f"{file}: row {row}: label {value} in column {column!r} is not an integer")
    if isinstance(value, str):
        if not value.strip():
            raise DataError(f"{file}: row {row}: missing label in column {column!r}")
        return value.strip()
    if value is None:
        raise DataError(f"{file}: row {row}: missing label in column {column!r}")
    raise DataError(f"{file}: row {row}: label in column {column!r} is {_describe(value)}")


def sorted_label_names(labels: set[str] | list[str]) -> list[str]:
    """Class names in a deterministic order: numerically when all are integers, else by text."""
    names = set(labels)
    if all(_is_integer(name) for name in names):
        return sorted(names, key=int)
    return sorted(names)


def _is_integer(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def _describe(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "missing"
    return f"a {type(value).__name__} ({value!r:.40})"
