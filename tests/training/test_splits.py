"""Seeded, recorded splits and the label checks, through `load_splits` on local files."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.training.conftest import labelled_rows, write_csv
from training.args import DataArguments
from training.data import load_splits
from training.documents import DataError


@pytest.fixture
def train_csv(tmp_path):
    return write_csv(tmp_path / "train.csv", labelled_rows(100, seed=3))


def test_holds_out_test_then_validation_stratified(train_csv):
    splits = load_splits(DataArguments(train_file=str(train_csv)))

    assert splits.sizes() == {"train": 64, "validation": 16, "test": 20}
    assert splits.label_names == ["politics", "sport", "tech"]
    ids = splits.document_ids()
    assert len(set(ids["train"]) | set(ids["validation"]) | set(ids["test"])) == 100
    assert set(Counter(d.label for d in splits.test)) == set(splits.label_names)
    assert splits.description["held_out"] == ["test", "validation"]


def test_split_is_stable_across_runs_and_follows_the_split_seed(train_csv):
    first = load_splits(DataArguments(train_file=str(train_csv)))
    again = load_splits(DataArguments(train_file=str(train_csv)))
    other = load_splits(DataArguments(train_file=str(train_csv), split_seed=7))

    assert first.document_ids() == again.document_ids()
    assert first.fingerprint() == again.fingerprint()
    assert other.document_ids()["test"] != first.document_ids()["test"]
    assert other.fingerprint() != first.fingerprint()


def test_test_split_does_not_depend_on_validation_or_subsets(train_csv):
    base = load_splits(DataArguments(train_file=str(train_csv)))
    varied = load_splits(
        DataArguments(train_file=str(train_csv), validation_fraction=0.3, max_train_samples=20)
    )
    assert varied.document_ids()["test"] == base.document_ids()["test"]
    assert varied.sizes()["train"] == 20


def test_record_lists_every_document_of_every_split(train_csv):
    splits = load_splits(DataArguments(train_file=str(train_csv), max_test_samples=9))
    record = splits.record()

    assert record["sizes"] == {"train": 64, "validation": 16, "test": 9}
    assert record["documents"]["test"] == [f"{train_csv}:{d.row}" for d in splits.test]
    assert record["split_seed"] == 42
    assert record["files"]["train"] == str(train_csv)
    assert record["split_fingerprint"] == splits.fingerprint()


def test_given_validation_and_test_files_are_used_as_they_are(tmp_path, train_csv):
    validation = write_csv(tmp_path / "validation.csv", labelled_rows(9, seed=4))
    test = write_csv(tmp_path / "test.csv", labelled_rows(12, seed=5))
    splits = load_splits(
        DataArguments(
            train_file=str(train_csv), validation_file=str(validation), test_file=str(test)
        )
    )
    assert splits.sizes() == {"train": 100, "validation": 9, "test": 12}
    assert splits.description["held_out"] == []


def test_integer_labels_sort_numerically(tmp_path):
    rows = [{"text": f"text number {i}", "label": str(i % 11)} for i in range(110)]
    splits = load_splits(DataArguments(train_file=str(write_csv(tmp_path / "n.csv", rows))))
    assert splits.label_names == [str(i) for i in range(11)]


@pytest.mark.parametrize("split", ["validation", "test"])
def test_unknown_label_in_validation_or_test_names_file_and_row(tmp_path, train_csv, split):
    rows = labelled_rows(6, seed=6)
    rows[4]["label"] = "weather"
    path = write_csv(tmp_path / f"{split}.csv", rows)
    args = DataArguments(train_file=str(train_csv), **{f"{split}_file": str(path)})
    with pytest.raises(
        DataError,
        match=rf"{split}.csv: row 5: label 'weather' of the {split} split does not occur in the "
        r"training data \(known: politics, sport, tech\)",
    ):
        load_splits(args)


def test_single_class_is_refused(tmp_path):
    rows = [{"text": f"only sport here {i}", "label": "sport"} for i in range(20)]
    path = write_csv(tmp_path / "one.csv", rows)
    with pytest.raises(
        DataError, match=r"one.csv: the training data has a single class \('sport'\)"
    ):
        load_splits(DataArguments(train_file=str(path)))


def test_too_few_documents_to_hold_out(tmp_path):
    path = write_csv(tmp_path / "two.csv", labelled_rows(2))
    with pytest.raises(DataError, match=r"two.csv: cannot hold out 20% of 2 documents"):
        load_splits(DataArguments(train_file=str(path)))


def test_no_source_is_an_error():
    with pytest.raises(DataError, match="no data"):
        load_splits(DataArguments())


def test_conflicting_and_invalid_options():
    with pytest.raises(ValueError, match="--dataset or --train-file"):
        DataArguments(dataset="bbc", train_file="x.csv")
    with pytest.raises(ValueError, match="--validation-fraction must be in"):
        DataArguments(dataset="bbc", validation_fraction=1.5)
    with pytest.raises(ValueError, match="--max-train-samples must be >= 1"):
        DataArguments(dataset="bbc", max_train_samples=0)
