"""The service as a process: no torch and no tracing packages on the serving path, `python -m
service`, its log lines, SIGTERM, a start-up error."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from benchmarks import harness

pytestmark = pytest.mark.timeout(180)

SERVE_AND_LIST_MODULES = """
import asyncio, json, sys
import httpx
from service.app import create_app
from service.config import Settings

# What tracing would import: the SDK, the exporter and the instrumentation (FastAPI itself
# imports the OpenTelemetry API, `opentelemetry.trace` and `opentelemetry.context`).
TRACING_PACKAGES = ("opentelemetry.sdk", "opentelemetry.exporter", "opentelemetry.instrumentation",
                    "opentelemetry.proto")

async def main():
    app = create_app(Settings())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://corebert") as client:
            response = await client.post("/classify", json={"documents": ["a good game"]})
    heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "transformers"))
    tracing = sorted(
        m for m in sys.modules
        if m.startswith(TRACING_PACKAGES) or m == "service.otel"
    )
    print(json.dumps({"status": response.status_code, "heavy_modules": heavy,
                      "tracing_modules": tracing}))

asyncio.run(main())
"""


def queue_depth(base_url: str) -> float:
    text = httpx.get(f"{base_url}/metrics", timeout=5).text
    (family,) = [
        f for f in text_string_to_metric_families(text) if f.name == "corebert_queue_depth"
    ]
    return family.samples[0].value


@pytest.fixture(scope="module")
def serving_report(tiny_artifact: Path) -> dict:
    """What a fresh interpreter imported to serve one request with the default settings."""
    completed = subprocess.run(
        [sys.executable, "-c", SERVE_AND_LIST_MODULES],
        cwd=harness.ROOT,
        env=harness.service_environment(tiny_artifact),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])


def test_serving_imports_neither_torch_nor_transformers(serving_report: dict) -> None:
    assert serving_report["status"] == 200
    assert serving_report["heavy_modules"] == []


def test_with_tracing_off_nothing_of_the_tracing_packages_is_imported(
    serving_report: dict,
) -> None:
    assert serving_report["status"] == 200
    assert serving_report["tracing_modules"] == []


def test_json_logs_are_one_object_per_line_with_the_request_id(
    tiny_artifact: Path, tmp_path: Path
) -> None:
    with harness.service(
        tiny_artifact,
        tmp_path / "service.log",
        startup_timeout_s=60,
        log_format="json",
        log_level="debug",
    ) as served:
        response = httpx.post(
            f"{served.url}/classify",
            json={"documents": ["a good game"]},
            headers={"x-request-id": "json-logs-1"},
            timeout=30,
        )
    assert response.status_code == 200
    entries = [json.loads(line) for line in served.log.read_text().splitlines()]
    assert all(
        set(entry) >= {"time", "level", "logger", "request_id", "message", "fields"}
        for entry in entries
    )
    of_request = [entry for entry in entries if entry["request_id"] == "json-logs-1"]
    (access,) = [entry for entry in of_request if entry["logger"] == "uvicorn.access"]
    assert access["fields"]["path"] == "/classify" and access["fields"]["status"] == 200
    (summary,) = [entry for entry in of_request if entry["logger"] == "service.engine"]
    assert summary["message"] == "classified 1 documents"
    assert summary["fields"]["tokens"] == 5 and summary["level"] == "debug"
    assert any("Application startup complete" in entry["message"] for entry in entries)


def test_python_m_service_serves_and_drains_the_queue_on_sigterm(
    tiny_artifact: Path, tmp_path: Path
) -> None:
    with harness.service(
        tiny_artifact,
        tmp_path / "service.log",
        startup_timeout_s=60,
        batch_max_wait_s=1.5,  # queued documents wait long enough to be caught by SIGTERM
        max_batch_documents=64,
    ) as served:
        base_url, process = served.url, served.process
        texts = [f"the game {word}" for word in ("was", "is", "has", "and", "of", "for")]
        with ThreadPoolExecutor(len(texts)) as pool:
            futures = [
                pool.submit(
                    httpx.post, f"{base_url}/classify", json={"documents": [text]}, timeout=30
                )
                for text in texts
            ]
            deadline = time.monotonic() + 20
            while queue_depth(base_url) < len(texts) and time.monotonic() < deadline:
                time.sleep(0.02)
            assert queue_depth(base_url) == len(texts)
            process.send_signal(signal.SIGTERM)
            responses = [future.result() for future in futures]
        process.wait(timeout=60)
    output = served.log.read_text()
    assert [response.status_code for response in responses] == [200] * len(texts)
    assert [response.json()["results"][0]["num_tokens"] for response in responses] == [5] * 6
    # uvicorn re-raises the signal once shut down cleanly: the exit status says "SIGTERM".
    assert process.returncode in (0, -signal.SIGTERM), output
    assert "Application shutdown complete" in output
    assert "CPUExecutionProvider" in output
    assert "shutting down" in output


def test_a_precision_the_artifact_lacks_stops_python_m_service(tiny_artifact: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "service"],
        cwd=harness.ROOT,
        env=harness.service_environment(tiny_artifact, port=harness.free_port(), precision="int8"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode != 0, output
    has = f"cannot start: artifact {str(tiny_artifact)!r} has no int8 graph; it has fp32"
    assert has in output
    assert "Application startup complete" not in output
