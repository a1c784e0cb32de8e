"""A labelled document, where it came from, and the one error type for bad data.

Every loader turns its rows into `Document`s through `make_document`, so every bad-data error
names the file, the row and the problem the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


class DataError(ValueError):
    """Input data that cannot be used; the message names the file, the row and the problem."""


@dataclass(frozen=True)
class Document:
    """One labelled text. `file` and `row` (1-based, header not counted) locate it in its source."""

    text: str
    label: str
    file: str
    row: int

    @property
    def doc_id(self) -> str:
        """Stable identifier, recorded in `split.json` so a split can be checked and repeated."""
        return f"{self.file}:{self.row}"


def make_document(text: Any, label: Any, *, file: str, row: int, columns=("text", "label")):
    """Validate one row and build its `Document`.

    Labels may be strings or integers (`1`, `"1"` and `1.0` are the same class, named `"1"`).
    """
    text_column, label_column = columns
    if not isinstance(text, str):
        raise DataError(
            f"{file}: row {row}: text in column {text_column!r} is {_describe(text)}, not a string"
        )
    if not text.strip():
        raise DataError(f"{file}: row {row}: empty text in column {text_column!r}")
    return Document(
        text=text,
        label=label_name(label, file=file, row=row, column=label_column),
        file=file,
        row=row,
    )


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
