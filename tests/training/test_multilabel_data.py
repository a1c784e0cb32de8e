"""Multi-label data: label sets from each file format, the options, and every bad-data case."""

from __future__ import annotations

import pytest

from tests.training.test_files import write_file
from training.__main__ import main
from training.args import DataArguments
from training.data import load_splits
from training.documents import DataError, LabelSetOptions
from training.files import read_documents

LABEL_SETS = [["sport"], ["politics", "sport"], ["tech", "politics"], ["tech"], ["sport", "sport"]]
EXPECTED = [("sport",), ("politics", "sport"), ("politics", "tech"), ("tech",), ("sport",)]


def rows(label_cells: list) -> list[dict]:
    return [{"text": f"document {i}", "label": cell} for i, cell in enumerate(label_cells)]


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_lists_are_read_from_json_lines_and_parquet(tmp_path, suffix):
    path = write_file(tmp_path / f"docs{suffix}", rows(LABEL_SETS))
    documents = read_documents(path, "text", "label", LabelSetOptions())
    assert [d.labels for d in documents] == EXPECTED  # sorted, repeats dropped


@pytest.mark.parametrize("suffix", [".csv", ".tsv"])
def test_joined_strings_are_read_from_csv_and_tsv(tmp_path, suffix):
    path = write_file(tmp_path / f"docs{suffix}", rows([" | ".join(s) for s in LABEL_SETS]))
    documents = read_documents(path, "text", "label", LabelSetOptions())
    assert [d.labels for d in documents] == EXPECTED


def test_the_separator_is_an_option(tmp_path):
    path = write_file(tmp_path / "docs.csv", rows([";".join(s) for s in LABEL_SETS]))
    documents = read_documents(path, "text", "label", LabelSetOptions(separator=";"))
    assert [d.labels for d in documents] == EXPECTED


@pytest.mark.parametrize(
    ("suffix", "labelled", "empty"),
    [(".csv", "sport", ""), (".jsonl", ["sport"], []), (".parquet", ["sport"], [])],
)
def test_a_document_without_labels_needs_allow_empty_labels(tmp_path, suffix, labelled, empty):
    path = write_file(tmp_path / f"docs{suffix}", rows([labelled, empty]))
    with pytest.raises(DataError, match=r"row 2: no label .*--allow-empty-labels"):
        read_documents(path, "text", "label", LabelSetOptions())
    documents = read_documents(path, "text", "label", LabelSetOptions(allow_empty=True))
    assert [d.labels for d in documents] == [("sport",), ()]


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_a_list_without_multi_label_is_an_error_before_training(tmp_path, suffix):
    path = write_file(tmp_path / f"docs{suffix}", rows(LABEL_SETS))
    with pytest.raises(DataError, match=r"row 1: label .* is a list .*needs --multi-label"):
        read_documents(path, "text", "label")


def test_a_label_of_another_type_in_a_set_names_the_row(tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_text('{"text": "a", "label": ["sport"]}\n{"text": "b", "label": {"x": 1}}\n')
    with pytest.raises(DataError, match=r"docs.jsonl: row 2: label .* a list of labels"):
        read_documents(path, "text", "label", LabelSetOptions())


def write_set(tmp_path, name: str, label_cells: list, suffix: str = ".jsonl"):
    cells = label_cells * 6  # enough documents to hold out validation and test
    return str(write_file(tmp_path / f"{name}{suffix}", rows(cells)))


def test_labels_are_the_sorted_union_seen_in_training(tmp_path):
    args = DataArguments(train_file=write_set(tmp_path, "train", LABEL_SETS), multi_label=True)
    splits = load_splits(args)
    assert splits.label_names == ["politics", "sport", "tech"]
    assert splits.multi_label and splits.describe()["multi_label"] is True
    matrix = splits.label_matrix(splits.train)
    assert matrix.shape == (len(splits.train), 3) and set(matrix.sum(axis=1)) == {1, 2}


@pytest.mark.parametrize("split", ["validation", "test"])
def test_a_label_training_never_saw_names_file_row_and_label(tmp_path, split):
    other = write_set(tmp_path, split, [["sport"], ["sport", "weather"]])
    args = DataArguments(
        train_file=write_set(tmp_path, "train", LABEL_SETS),
        multi_label=True,
        **{f"{split}_file": other},
    )
    with pytest.raises(DataError, match=rf"{split}.jsonl: row 2: label 'weather' of the {split}"):
        load_splits(args)


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_multi_label_on_a_single_label_file_is_an_error(tmp_path, suffix):
    path = write_set(tmp_path, "train", ["sport", "tech", "politics"], suffix)
    with pytest.raises(DataError, match="--multi-label, but no training document has more"):
        load_splits(DataArguments(train_file=path, multi_label=True))


def test_joined_labels_without_multi_label_are_an_error(tmp_path):
    path = write_set(tmp_path, "train", ["sport", "tech", "sport|tech"], ".csv")
    with pytest.raises(DataError, match=r"label 'sport\|tech' joins labels .* --multi-label"):
        load_splits(DataArguments(train_file=path))


def test_a_label_holding_the_separator_alone_is_still_a_class(tmp_path):
    path = write_set(tmp_path, "train", ["sport", "tech", "r|d"], ".csv")
    assert load_splits(DataArguments(train_file=path)).label_names == ["r|d", "sport", "tech"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--allow-empty-labels"], "--allow-empty-labels applies to --multi-label data only"),
        (["--threshold", "0.4"], "--threshold applies to --multi-label data only"),
        (["--multi-label", "--threshold", "1.5"], "--threshold must be in [0, 1]"),
        (["--multi-label", "--label-separator", " "], "--label-separator must not be blank"),
    ],
)
def test_option_misuse_is_a_usage_error_before_training(tmp_path, capsys, extra, message):
    argv = ["train", "--train-file", write_set(tmp_path, "train", LABEL_SETS)]
    with pytest.raises(SystemExit) as stopped:
        main([*argv, "--output-dir", str(tmp_path / "run"), *extra])
    assert stopped.value.code == 2
    assert message in capsys.readouterr().err
