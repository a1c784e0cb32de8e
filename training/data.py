"""One entry point from `DataArguments` to `DataSplits`: a built-in corpus, local files, or a
`datasets` hub name (which needs a network)."""

from __future__ import annotations

from typing import Any

from training.args import DataArguments
from training.corpora import CORPORA, load_corpus
from training.documents import DataError, Document, make_document
from training.files import read_documents
from training.splits import DataSplits, make_splits

HUB_VALIDATION_SPLITS = ("validation", "valid", "dev")


def load_splits(args: DataArguments, transfer_samples: int = 0) -> DataSplits:
    """Load the documents `args` names and split them, with a transfer set of
    `transfer_samples` documents when asked (training.splits explains how)."""
    if args.dataset in CORPORA:
        corpus = load_corpus(args.dataset)
        train, validation, test = corpus.train, None, corpus.test
        description: dict[str, Any] = {"name": args.dataset, "source": "built-in corpus"}
    elif args.dataset:
        train, validation, test = _load_hub(args)
        description = {"name": args.dataset, "config": args.dataset_config, "source": "hub"}
    elif args.train_file:
        train = _read_file(args.train_file, args)
        validation = _optional_file(args.validation_file, args)
        test = _optional_file(args.test_file, args)
        description = {
            "name": None,
            "source": "files",
            "files": {
                "train": args.train_file,
                "validation": args.validation_file,
                "test": args.test_file,
            },
        }
    else:
        raise DataError("no data: give --dataset NAME or --train-file FILE")
    description |= {"text_column": args.text_column, "label_column": args.label_column}
    if args.multi_label:
        description |= {
            "label_separator": args.label_separator,
            "allow_empty_labels": args.allow_empty_labels,
        }
    return make_splits(
        train,
        validation,
        test,
        validation_fraction=args.validation_fraction,
        test_fraction=args.test_fraction,
        split_seed=args.split_seed,
        max_train_samples=args.max_train_samples,
        max_eval_samples=args.max_eval_samples,
        max_test_samples=args.max_test_samples,
        description=description,
        multi_label=args.multi_label,
        transfer_samples=transfer_samples,
    )


def _read_file(path: str, args: DataArguments) -> list[Document]:
    return read_documents(path, args.text_column, args.label_column, args.label_set_options())


def _optional_file(path: str | None, args: DataArguments) -> list[Document] | None:
    return None if path is None else _read_file(path, args)


def _load_hub(args: DataArguments):
    """train / validation / test of a hub dataset; class ids become their ClassLabel names."""
    import datasets

    try:
        loaded = datasets.load_dataset(args.dataset, args.dataset_config)
    except Exception as error:  # offline, unknown name, gated: all surface as a data problem
        raise DataError(
            f"{args.dataset}: not a built-in corpus ({', '.join(sorted(CORPORA))}) and could not "
            f"be loaded from the hub: {error}"
        ) from error
    if "train" not in loaded:
        raise DataError(f"{args.dataset}: has no train split (splits: {sorted(loaded)})")
    validation_name = next((name for name in HUB_VALIDATION_SPLITS if name in loaded), None)

    def documents(split: str | None) -> list[Document] | None:
        if split is None or split not in loaded:
            return None
        part = loaded[split]
        missing = [c for c in (args.text_column, args.label_column) if c not in part.column_names]
        if missing:
            raise DataError(
                f"{args.dataset}[{split}]: missing columns {missing} (found: {part.column_names})"
            )
        feature = part.features[args.label_column]  # a ClassLabel, or a list of them
        names = getattr(feature, "names", None) or getattr(
            getattr(feature, "feature", None), "names", None
        )

        def label(value):  # ClassLabel ids -> names; -1 (unlabelled) stays and is rejected
            if isinstance(value, list):  # a multi-label row
                return [label(item) for item in value]
            return names[value] if names and isinstance(value, int) and value >= 0 else value

        return [
            make_document(
                text,
                label(value),
                file=f"{args.dataset}[{split}]",
                row=row,
                columns=(args.text_column, args.label_column),
                label_set=args.label_set_options(),
            )
            for row, (text, value) in enumerate(
                zip(part[args.text_column], part[args.label_column], strict=True), start=1
            )
        ]

    return documents("train"), documents(validation_name), documents("test")
