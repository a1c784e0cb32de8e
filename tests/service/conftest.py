"""Shared fixtures: one tiny exported artifact per session, loaded once, and settings for it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from artifact.card import load_artifact
from service.config import Settings
from service.runtime import OnnxBackend
from tests.artifacts import make_tiny_artifact
from tests.service.helpers import GatedClassifier, IsolatedSettings


@pytest.fixture(scope="session")
def tiny_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised tiny pfc model (5 layers, combining at 5, max_length 64)."""
    return make_tiny_artifact(tmp_path_factory.mktemp("artifacts") / "tiny-pfc")


@pytest.fixture(scope="session")
def precision_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same tiny model with its int8 and fp16 graphs beside model.onnx, all three recorded
    in metadata.json's precisions."""
    return make_tiny_artifact(
        tmp_path_factory.mktemp("artifacts") / "tiny-pfc-precisions", lower_precisions=True
    )


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def settings_for(tiny_artifact: Path) -> Callable[..., Settings]:
    """Settings for the tiny artifact, with overrides."""

    def make(**overrides) -> Settings:
        return IsolatedSettings(model_dir=tiny_artifact, **overrides)

    return make


@pytest.fixture(scope="session")
def tiny_classifier(tiny_artifact: Path) -> OnnxBackend:
    """The tiny artifact loaded once; apps given it skip loading (tests of loading do not)."""
    return OnnxBackend(load_artifact(tiny_artifact), device="cpu")


@pytest.fixture
def gated_classifier(tiny_classifier: OnnxBackend) -> Iterator[GatedClassifier]:
    classifier = GatedClassifier(tiny_classifier)
    yield classifier
    classifier.gate.set()  # never leave a worker thread blocked
