"""A hand-written artifact directory (no export, no torch) for the loader, and one tiny exported
artifact per session for the runner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.factories import make_tiny_tokenizer

LABELS = ["class_0", "class_1", "class_2"]
METADATA = {
    "name": "hand-made",
    "version": "1.0",
    "variant": "pfc",
    "max_length": 64,
    "num_layers": 5,
    "combine_layer": 5,
    "metrics": {"accuracy": 0.5},
    "dataset": {"name": "generated"},
}


def write_files(directory: Path, metadata: dict | None = None) -> Path:
    """The four files, `model.onnx` a placeholder: the loader reads the other three."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "model.onnx").write_bytes(b"not read by the loader")
    make_tiny_tokenizer().save(str(directory / "tokenizer.json"))
    (directory / "labels.json").write_text(json.dumps(LABELS))
    (directory / "metadata.json").write_text(json.dumps(METADATA if metadata is None else metadata))
    return directory


@pytest.fixture
def hand_made(tmp_path: Path) -> Path:
    return write_files(tmp_path / "artifact")


@pytest.fixture(scope="session")
def tiny_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised tiny pfc model (5 layers, combining at 5, max_length 64)."""
    from tests.artifacts import make_tiny_artifact

    return make_tiny_artifact(tmp_path_factory.mktemp("artifacts") / "tiny-pfc")
