"""Documents from CSV/TSV, JSON Lines and Parquet files with configurable columns: labelled,
or unlabelled (a transfer set's, which has a text column only).

Rows are numbered from 1 without the header (CSV, Parquet) or by line (JSON Lines), and each
problem is reported as a `DataError` naming the file, the row and what is wrong.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from training.documents import (
    DataError,
    Document,
    LabelSetOptions,
    make_document,
    make_unlabelled_document,
)

SUFFIXES = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".jsonl": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}


def read_documents(
    path: str | Path,
    text_column: str,
    label_column: str,
    label_set: LabelSetOptions | None = None,
) -> list[Document]:
    """Every row of `path` as a `Document`; the format follows the file's suffix. With
    `label_set` the label column holds label sets (multi-label data)."""
    path = Path(path)
    columns = (text_column, label_column)
    return _nonempty(
        path,
        [
            make_document(
                row.get(text_column),
                row.get(label_column),
                file=str(path),
                row=number,
                columns=columns,
                label_set=label_set,
            )
            for number, row in _rows(path, columns)
        ],
    )


def read_unlabelled_documents(path: str | Path, text_column: str) -> list[Document]:
    """Every row of `path` as a `Document` without a label; only `text_column` is read."""
    path = Path(path)
    return _nonempty(
        path,
        [
            make_unlabelled_document(
                row.get(text_column), file=str(path), row=number, column=text_column
            )
            for number, row in _rows(path, (text_column,))
        ],
    )


def _rows(path: Path, columns: tuple[str, ...]) -> Iterator[tuple[int, dict[str, Any]]]:
    """(row number, {column: cell}) of `path` in its format, after checking it can be read."""
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise DataError(
            f"{path}: unsupported file type {path.suffix!r}; use one of {sorted(SUFFIXES)}"
        )
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    reader = {"csv": _csv_rows, "tsv": _csv_rows, "jsonl": _jsonl_rows, "parquet": _parquet_rows}
    return reader[kind](path, columns)


def _nonempty(path: Path, documents: list[Document]) -> list[Document]:
    if not documents:
        raise DataError(f"{path}: no rows")
    return documents


def _check_columns(path: Path, present: list[str], columns: tuple[str, ...], where: str = ""):
    missing = [column for column in columns if column not in present]
    if missing:
        raise DataError(
            f"{path}: {where}missing column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(map(repr, missing))} (found: {', '.join(map(repr, present)) or 'none'})"
        )


def _csv_rows(path: Path, columns: tuple[str, ...]) -> Iterator[tuple[int, dict[str, Any]]]:
    import pandas as pd

    separator = "\t" if path.suffix.lower() == ".tsv" else ","
    try:
        # Everything as text, empty cells as "": labels "1" and 1 stay one class, and an empty
        # text is reported as empty rather than as a float NaN.
        frame = pd.read_csv(path, sep=separator, dtype=str, keep_default_na=False)
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError, OSError) as error:
        raise DataError(f"{path}: unreadable {path.suffix[1:].upper()} file: {error}") from error
    _check_columns(path, list(frame.columns), columns)
    cells = zip(*(frame[column].tolist() for column in columns), strict=True)
    for index, row in enumerate(cells):
        yield index + 1, dict(zip(columns, row, strict=True))


def _jsonl_rows(path: Path, columns: tuple[str, ...]) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (UnicodeDecodeError, OSError) as error:
        raise DataError(f"{path}: unreadable JSON Lines file: {error}") from error
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise DataError(f"{path}: row {number}: invalid JSON: {error.msg}") from error
        if not isinstance(row, dict):
            kind = type(row).__name__
            raise DataError(f"{path}: row {number}: expected a JSON object, got a {kind}")
        _check_columns(path, list(row), columns, where=f"row {number}: ")
        yield number, row


def _parquet_rows(path: Path, columns: tuple[str, ...]) -> Iterator[tuple[int, dict[str, Any]]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as error:
        raise DataError(f"{path}: unreadable Parquet file: {error}") from error
    _check_columns(path, table.column_names, columns)
    for index, row in enumerate(table.select(list(columns)).to_pylist()):
        yield index + 1, row
