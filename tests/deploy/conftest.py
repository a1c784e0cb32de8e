"""Shared fixtures of the deploy tests: a tiny model artifact and the service serving it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks import harness
from tests.artifacts import make_tiny_artifact


@pytest.fixture(scope="session")
def tiny_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A complete artifact (tiny random pfc model), made once per session."""
    return make_tiny_artifact(tmp_path_factory.mktemp("deploy-model") / "artifact")


@pytest.fixture(scope="session")
def service_url(tiny_artifact: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`python -m service` on the tiny artifact, on 127.0.0.1, the CPU and one thread; its base
    URL once ready."""
    log = tmp_path_factory.mktemp("deploy-service") / "service.log"
    with harness.service(
        tiny_artifact, log, device="cpu", intra_op_threads=1, log_level="warning"
    ) as served:
        yield served.url
