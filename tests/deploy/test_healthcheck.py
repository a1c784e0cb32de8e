"""deploy/healthcheck.py, the containers' HEALTHCHECK: 0 only when /health/ready answers 200."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from benchmarks.harness import free_port

HEALTHCHECK = Path(__file__).resolve().parents[2] / "deploy" / "healthcheck.py"


def run_healthcheck(port: int) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(HEALTHCHECK)],
        env={**os.environ, "COREBERT_PORT": str(port)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


class NotReadyHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(503 if self.path == "/health/ready" else 404)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def not_ready_port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), NotReadyHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_ready_service_is_healthy(service_url):
    result = run_healthcheck(urlsplit(service_url).port)
    assert result.returncode == 0, result.stderr


def test_service_answering_503_is_unhealthy(not_ready_port):
    result = run_healthcheck(not_ready_port)
    assert result.returncode == 1
    assert "503" in result.stderr


def test_nothing_listening_is_unhealthy():
    result = run_healthcheck(free_port())
    assert result.returncode == 1
    assert "not ready" in result.stderr
