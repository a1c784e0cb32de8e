"""Reading a model artifact directory (docs/contracts.md): the files and what they describe."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tokenizers import Tokenizer

ARTIFACT_FILES = ("model.onnx", "tokenizer.json", "labels.json", "metadata.json")


class ArtifactError(RuntimeError):
    """The artifact directory is missing, incomplete or inconsistent."""


@dataclass(frozen=True)
class ModelCard:
    """What the service reports about the model it serves, read from metadata.json."""

    name: str
    version: str
    variant: str
    labels: tuple[str, ...]
    max_length: int
    num_layers: int
    combine_layer: int | None
    metadata: dict[str, Any] = field(repr=False)

    @property
    def metrics(self) -> dict[str, Any]:
        return dict(self.metadata.get("metrics") or {})


@dataclass(frozen=True)
class Artifact:
    """A complete artifact directory, with its tokenizer loaded and its metadata parsed."""

    directory: Path
    card: ModelCard
    tokenizer: Tokenizer

    @property
    def model_path(self) -> Path:
        return self.directory / "model.onnx"


def load_artifact(directory: Path) -> Artifact:
    """Check that all four files exist, then read labels, metadata and tokenizer."""
    directory = Path(directory)
    missing = [name for name in ARTIFACT_FILES if not (directory / name).is_file()]
    if missing:
        raise ArtifactError(
            f"artifact directory {str(directory)!r} is incomplete: missing {', '.join(missing)}"
        )
    labels = _read_json(directory / "labels.json")
    if not isinstance(labels, list) or not labels or not all(isinstance(x, str) for x in labels):
        raise ArtifactError(f"labels.json must be a non-empty list of strings, got {labels!r}")
    metadata = _read_json(directory / "metadata.json")
    if not isinstance(metadata, dict):
        raise ArtifactError(f"metadata.json must be an object, got {type(metadata).__name__}")
    card = _card_from_metadata(metadata, tuple(labels))
    tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
    return Artifact(directory=directory, card=card, tokenizer=tokenizer)


def _card_from_metadata(metadata: dict[str, Any], labels: tuple[str, ...]) -> ModelCard:
    required = ("name", "version", "variant", "max_length", "num_layers")
    missing = [key for key in required if key not in metadata]
    if missing:
        raise ArtifactError(f"metadata.json lacks {', '.join(missing)}")
    max_length = metadata["max_length"]
    if not isinstance(max_length, int) or max_length < 3:
        raise ArtifactError(f"metadata max_length must be an int >= 3, got {max_length!r}")
    return ModelCard(
        name=str(metadata["name"]),
        version=str(metadata["version"]),
        variant=str(metadata["variant"]),
        labels=labels,
        max_length=max_length,
        num_layers=int(metadata["num_layers"]),
        combine_layer=metadata.get("combine_layer"),
        metadata=metadata,
    )


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ArtifactError(f"{path} is not valid JSON: {error}") from error
