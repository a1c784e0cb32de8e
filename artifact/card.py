"""Reading an artifact directory: all four files present, `labels.json` and `metadata.json`
checked and parsed into a typed `ModelCard`, the tokenizer loaded.

Every reader (the service, training's evaluation, the benchmarks) goes through `load_artifact`,
so a broken artifact fails the same way everywhere: an `ArtifactError` that names the file and,
for a bad value, the field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from tokenizers import Tokenizer

from artifact.files import (
    EXPLAIN_FILE,
    LABELS_FILE,
    METADATA_FILE,
    MODEL_FILE,
    PRECISION_FILES,
    TOKENIZER_FILE,
    missing_files,
)
from artifact.problem import PROBLEM_TYPES, SINGLE_LABEL, LabelRule

# Fields every reader relies on; the other keys of docs/contracts.md are carried in `metadata`.
REQUIRED_FIELDS = ("name", "version", "variant", "max_length", "num_layers")


class ArtifactError(RuntimeError):
    """The artifact directory is missing, incomplete or inconsistent."""


@dataclass(frozen=True)
class ModelCard:
    """What a reader needs to know about the model, read from labels.json and metadata.json."""

    name: str
    version: str
    variant: str
    labels: tuple[str, ...]  # index = class id of the logits
    max_length: int  # tokens per document, [CLS] and [SEP] included
    num_layers: int
    combine_layer: int | None  # 1-based; None for the variants that do not combine
    metadata: dict[str, Any] = field(repr=False)  # the whole metadata.json
    problem_type: str = SINGLE_LABEL  # or multi_label_classification (artifact.problem)
    thresholds: tuple[float, ...] | None = None  # multi-label: per label, in `labels` order

    @property
    def label_rule(self) -> LabelRule:
        """How this model's logits become probabilities and labels."""
        return LabelRule(self.problem_type, self.thresholds)

    @property
    def metrics(self) -> dict[str, Any]:
        """Test-split metrics recorded at export."""
        return dict(self.metadata.get("metrics") or {})

    @property
    def precisions(self) -> dict[str, dict[str, Any]]:
        """What training recorded per precision (`file` null where it left one out); an artifact
        written before precisions existed has its fp32 graph only."""
        return dict(self.metadata.get("precisions") or {"fp32": {"file": MODEL_FILE}})

    def available_precisions(self) -> list[str]:
        """The precisions whose graph the artifact holds, in `PRECISION_FILES` order."""
        recorded = self.precisions
        return [p for p in PRECISION_FILES if (recorded.get(p) or {}).get("file")]

    @property
    def warnings(self) -> list[str]:
        """Quality warnings training recorded (a degenerate model, say); empty when none."""
        return list(self.metadata.get("warnings") or [])

    @property
    def dataset(self) -> dict[str, Any]:
        """How the training data was read and split, to re-create the test split."""
        return dict(self.metadata.get("dataset") or {})


@dataclass(frozen=True)
class Artifact:
    """A complete artifact directory, with its tokenizer loaded and its metadata parsed."""

    directory: Path
    card: ModelCard
    tokenizer: Tokenizer

    @property
    def model_path(self) -> Path:
        return self.directory / MODEL_FILE

    @property
    def explain_path(self) -> Path | None:
        """The explain graph, or None for an artifact written before there was one."""
        path = self.directory / EXPLAIN_FILE
        return path if path.is_file() else None

    def model_path_for(self, precision: str) -> Path:
        """The graph at `precision`; an error naming the ones the artifact has otherwise."""
        available = self.card.available_precisions()
        if precision not in available:
            recorded = self.card.precisions.get(precision) or {}
            why = f" ({recorded['reason']})" if recorded.get("reason") else ""
            raise ArtifactError(
                f"artifact {str(self.directory)!r} has no {precision} graph{why}; it has "
                f"{', '.join(available)}"
            )
        path = self.directory / PRECISION_FILES[precision]
        if not path.is_file():
            raise ArtifactError(f"{path} is listed in metadata.json's precisions but missing")
        return path


def load_artifact(directory: str | Path) -> Artifact:
    """Check that all four files exist, then read labels, metadata and tokenizer."""
    directory = Path(directory)
    return Artifact(
        directory=directory,
        card=load_card(directory),
        tokenizer=read_tokenizer(directory / TOKENIZER_FILE),
    )


def load_card(directory: str | Path) -> ModelCard:
    """The card of a complete artifact directory, without loading its tokenizer or graph."""
    directory = Path(directory)
    missing = missing_files(directory)
    if missing:
        raise ArtifactError(
            f"artifact directory {str(directory)!r} is incomplete: missing {', '.join(missing)}"
        )
    labels = read_labels(directory / LABELS_FILE)
    path = directory / METADATA_FILE
    return card_from_metadata(read_metadata(path), labels, path)


def read_labels(path: Path) -> tuple[str, ...]:
    labels = _read_json(path)
    if not isinstance(labels, list) or not labels or not all(isinstance(x, str) for x in labels):
        raise ArtifactError(f"{path} must hold a non-empty list of strings, got {labels!r}")
    return tuple(labels)


def read_metadata(path: Path) -> dict[str, Any]:
    metadata = _read_json(path)
    if not isinstance(metadata, dict):
        raise ArtifactError(f"{path} must hold a JSON object, got {type(metadata).__name__}")
    return metadata


def read_tokenizer(path: Path) -> Tokenizer:
    try:
        return Tokenizer.from_file(str(path))
    except Exception as error:  # tokenizers raises plain Exceptions for a bad file
        raise ArtifactError(f"{path} is not a tokenizers.Tokenizer file: {error}") from error


def card_from_metadata(
    metadata: dict[str, Any], labels: tuple[str, ...], path: str | Path = METADATA_FILE
) -> ModelCard:
    """Check the fields readers rely on (present, of the contract's type) and build the card."""
    missing = [key for key in REQUIRED_FIELDS if key not in metadata]
    if missing:
        raise ArtifactError(f"{path} lacks the field(s) {', '.join(map(repr, missing))}")
    for key in ("name", "version", "variant"):
        _expect(path, key, metadata[key], _is_text(metadata[key]), "a non-empty string")
    max_length, num_layers = metadata["max_length"], metadata["num_layers"]
    _expect(path, "max_length", max_length, _is_int(max_length) and max_length >= 3, "an int >= 3")
    _expect(path, "num_layers", num_layers, _is_int(num_layers) and num_layers >= 1, "an int >= 1")
    combine_layer = metadata.get("combine_layer")
    _expect(
        path,
        "combine_layer",
        combine_layer,
        combine_layer is None or (_is_int(combine_layer) and 1 <= combine_layer <= num_layers),
        f"null or an int in 1..{num_layers}",
    )
    for key in ("metrics", "dataset"):
        value = metadata.get(key)
        _expect(path, key, value, value is None or isinstance(value, dict), "an object")
    precisions = metadata.get("precisions")
    _expect(
        path,
        "precisions",
        precisions,
        precisions is None
        or (isinstance(precisions, dict) and set(precisions) <= set(PRECISION_FILES)),
        f"an object keyed by {', '.join(PRECISION_FILES)}",
    )
    warnings = metadata.get("warnings")
    _expect(
        path,
        "warnings",
        warnings,
        warnings is None or (isinstance(warnings, list) and all(map(_is_text, warnings))),
        "a list of strings",
    )
    problem_type, thresholds = _label_rule_fields(path, metadata, labels)
    return ModelCard(
        name=metadata["name"],
        version=metadata["version"],
        variant=metadata["variant"],
        labels=labels,
        max_length=max_length,
        num_layers=num_layers,
        combine_layer=combine_layer,
        metadata=metadata,
        problem_type=problem_type,
        thresholds=thresholds,
    )


def _label_rule_fields(
    path: str | Path, metadata: dict[str, Any], labels: tuple[str, ...]
) -> tuple[str, tuple[float, ...] | None]:
    """`problem_type` (single-label when absent) and, for a multi-label model, `thresholds`:
    an object giving every label of labels.json a number in [0, 1], and no other key."""
    problem_type = metadata.get("problem_type") or SINGLE_LABEL
    known = problem_type in PROBLEM_TYPES
    _expect(path, "problem_type", problem_type, known, f"one of {', '.join(PROBLEM_TYPES)}")
    thresholds = metadata.get("thresholds")
    if problem_type == SINGLE_LABEL:
        _expect(path, "thresholds", thresholds, thresholds is None, "null for a single-label model")
        return problem_type, None
    _expect(
        path,
        "thresholds",
        thresholds,
        isinstance(thresholds, dict)
        and set(thresholds) == set(labels)
        and all(_is_number(v) and 0.0 <= v <= 1.0 for v in thresholds.values()),
        "an object giving each label of labels.json a number in [0, 1]",
    )
    by_label = cast(dict[str, float], thresholds)  # checked just above
    return problem_type, tuple(float(by_label[label]) for label in labels)


def _expect(path: str | Path, key: str, value: Any, ok: bool, expected: str) -> None:
    if not ok:
        raise ArtifactError(f"{path}: field {key!r} must be {expected}, got {value!r}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and bool(value)


def _read_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ArtifactError(f"{path} cannot be read as UTF-8 text: {error}") from error
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ArtifactError(f"{path} is not valid JSON: {error}") from error
