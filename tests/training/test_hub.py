"""A `datasets` hub name: split detection and ClassLabel names, without a network.

`datasets.load_dataset` is replaced by an in-memory DatasetDict shaped like a hub dataset.
"""

from __future__ import annotations

import datasets
import pytest

from tests.training.conftest import CLASS_NAMES, labelled_rows
from training.args import DataArguments
from training.data import load_splits
from training.documents import DataError


def hub_dataset(split_names: list[str], with_labels: bool = True) -> datasets.DatasetDict:
    features = datasets.Features(
        {"text": datasets.Value("string"), "label": datasets.ClassLabel(names=CLASS_NAMES)}
    )
    parts = {}
    for index, name in enumerate(split_names):
        rows = labelled_rows(30, seed=index)
        labels = [CLASS_NAMES.index(r["label"]) for r in rows]
        if not with_labels and name == "test":
            labels = [-1] * len(rows)  # how hub datasets publish unlabelled test splits
        parts[name] = datasets.Dataset.from_dict(
            {"text": [r["text"] for r in rows], "label": labels}, features=features
        )
    return datasets.DatasetDict(parts)


@pytest.fixture
def hub(monkeypatch):
    calls = []

    def install(dataset: datasets.DatasetDict):
        def load_dataset(name, config=None):
            calls.append((name, config))
            return dataset

        monkeypatch.setattr(datasets, "load_dataset", load_dataset)
        return calls

    return install


def test_uses_the_hub_splits_and_class_label_names(hub):
    calls = hub(hub_dataset(["train", "validation", "test"]))
    splits = load_splits(DataArguments(dataset="someone/news", dataset_config="default"))

    assert calls == [("someone/news", "default")]
    assert splits.sizes() == {"train": 30, "validation": 30, "test": 30}
    assert splits.label_names == CLASS_NAMES
    assert splits.test[0].doc_id == "someone/news[test]:1"
    assert splits.description["source"] == "hub"


def test_holds_out_what_the_hub_dataset_lacks(hub):
    hub(hub_dataset(["train", "test"]))
    splits = load_splits(DataArguments(dataset="someone/news"))
    assert splits.sizes() == {"train": 24, "validation": 6, "test": 30}
    assert splits.description["held_out"] == ["validation"]


def test_unlabelled_test_split_is_refused_by_name(hub):
    hub(hub_dataset(["train", "test"], with_labels=False))
    message = r"someone/news\[test\]: row 1: label '-1' of the test split"
    with pytest.raises(DataError, match=message):
        load_splits(DataArguments(dataset="someone/news"))


def test_missing_column(hub):
    hub(hub_dataset(["train"]))
    with pytest.raises(DataError, match=r"someone/news\[train\]: missing columns \['body'\]"):
        load_splits(DataArguments(dataset="someone/news", text_column="body"))


def test_unreachable_hub_is_a_data_error(monkeypatch):
    def offline(name, config=None):
        raise ConnectionError("no network")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(DataError, match=r"someone/news: not a built-in corpus .* no network"):
        load_splits(DataArguments(dataset="someone/news"))
