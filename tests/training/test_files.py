"""Reading labelled documents from CSV, TSV, JSON Lines and Parquet, and every bad-file case."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.training.conftest import labelled_rows, write_csv
from training.documents import DataError
from training.files import read_documents


def write_file(path, rows, columns=None):
    """Write `rows` (dicts) in the format of `path`'s suffix."""
    columns = columns or list(rows[0])
    if path.suffix == ".csv":
        return write_csv(path, rows, columns)
    if path.suffix == ".tsv":
        lines = ["\t".join(columns)] + ["\t".join(str(r[c]) for c in columns) for r in rows]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    elif path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    else:
        pq.write_table(pa.Table.from_pylist(rows), path)
    return path


FORMATS = [".csv", ".tsv", ".jsonl", ".parquet"]


@pytest.mark.parametrize("suffix", FORMATS)
def test_reads_every_format_with_custom_columns(tmp_path, suffix):
    rows = [{"body": r["text"], "topic": r["label"], "extra": 1} for r in labelled_rows(7)]
    path = write_file(tmp_path / f"docs{suffix}", rows)

    documents = read_documents(path, "body", "topic")

    assert [d.text for d in documents] == [r["body"] for r in rows]
    assert [d.label for d in documents] == [r["topic"] for r in rows]
    assert [d.row for d in documents] == list(range(1, 8))
    assert documents[0].file == str(path)


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_integer_labels_become_class_names(tmp_path, suffix):
    rows = [{"text": f"document {i}", "label": i % 2} for i in range(4)]
    documents = read_documents(write_file(tmp_path / f"ints{suffix}", rows), "text", "label")
    assert [d.label for d in documents] == ["0", "1", "0", "1"]


def test_json_integer_and_string_labels_are_one_class(tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_text(
        '{"text": "a", "label": 1}\n{"text": "b", "label": "1"}\n{"text": "c", "label": 2.0}\n',
        encoding="utf-8",
    )
    assert [d.label for d in read_documents(path, "text", "label")] == ["1", "1", "2"]


@pytest.mark.parametrize("suffix", FORMATS)
def test_missing_column_names_the_file_and_the_column(tmp_path, suffix):
    path = write_file(tmp_path / f"docs{suffix}", [{"text": "hello", "category": "a"}])
    with pytest.raises(DataError, match=r"docs.*missing column 'label'.*found: 'text', 'category'"):
        read_documents(path, "text", "label")


@pytest.mark.parametrize("suffix", FORMATS)
def test_empty_text_names_the_row(tmp_path, suffix):
    rows = [
        {"text": "fine", "label": "a"},
        {"text": "ok", "label": "b"},
        {"text": "  ", "label": "a"},
    ]
    path = write_file(tmp_path / f"docs{suffix}", rows)
    with pytest.raises(DataError, match=rf"docs\{suffix}: row 3: empty text in column 'text'"):
        read_documents(path, "text", "label")


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_missing_label_names_the_row(tmp_path, suffix):
    rows = [{"text": "fine", "label": "a"}, {"text": "no label", "label": None}]
    if suffix == ".csv":
        rows[1]["label"] = ""
    path = write_file(tmp_path / f"docs{suffix}", rows)
    with pytest.raises(DataError, match=r"row 2: missing label in column 'label'"):
        read_documents(path, "text", "label")


def test_non_string_text_names_the_row(tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_text('{"text": "ok", "label": "a"}\n{"text": 42, "label": "b"}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"docs.jsonl: row 2: text in column 'text' is a int"):
        read_documents(path, "text", "label")


def test_invalid_json_line_names_the_line(tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_text('{"text": "ok", "label": "a"}\n\n{"text": "broken", \n', encoding="utf-8")
    with pytest.raises(DataError, match=r"docs.jsonl: row 3: invalid JSON"):
        read_documents(path, "text", "label")


def test_json_line_that_is_not_an_object(tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_text('["text", "label"]\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"row 1: expected a JSON object, got a list"):
        read_documents(path, "text", "label")


def test_undecodable_csv_is_unreadable(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("text,label\ncaf\xe9 \xa3 prices,a\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin1.csv: unreadable CSV file"):
        read_documents(path, "text", "label")


def test_corrupt_parquet_is_unreadable(tmp_path):
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1 this is not a parquet file")
    with pytest.raises(DataError, match=r"broken.parquet: unreadable Parquet file"):
        read_documents(path, "text", "label")


def test_ragged_csv_is_unreadable(tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_text("text,label\nfine,a\ntoo,many,fields,here\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"ragged.csv: unreadable CSV file"):
        read_documents(path, "text", "label")


def test_missing_file_and_unknown_suffix(tmp_path):
    with pytest.raises(DataError, match=r"nothing.csv: no such file"):
        read_documents(tmp_path / "nothing.csv", "text", "label")
    (tmp_path / "docs.xlsx").write_bytes(b"")
    with pytest.raises(DataError, match=r"docs.xlsx: unsupported file type '.xlsx'"):
        read_documents(tmp_path / "docs.xlsx", "text", "label")


def test_file_without_rows(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("text,label\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"empty.csv: no rows"):
        read_documents(path, "text", "label")
