"""Shared fixtures of the deploy tests: a tiny model artifact and the service serving it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.artifacts import make_tiny_artifact
from tests.deploy import processes


@pytest.fixture(scope="session")
def tiny_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A complete artifact (tiny random pfc model), made once per session."""
    return make_tiny_artifact(tmp_path_factory.mktemp("deploy-model") / "artifact")


@pytest.fixture(scope="session")
def service_url(tiny_artifact: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`python -m service` on the tiny artifact, on 127.0.0.1; its base URL once ready."""
    with processes.service(tiny_artifact, tmp_path_factory.mktemp("deploy-service")) as url:
        yield url
