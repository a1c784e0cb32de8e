"""Every PromQL expression of every provisioned dashboard, run through a real Prometheus.

Debian's `prometheus` scrapes the service (`python -m service` on a tiny artifact) with the
scrape config from deploy/, its discovery of the Compose replicas swapped for the test service
as a static target and its interval cut to 1 s. A bounded load, valid and invalid requests,
moves every series; then each panel query, its Grafana variables replaced by concrete values,
must return at least one finite sample.
"""

from __future__ import annotations

import math
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from benchmarks import harness
from tests.artifacts import tiny_documents
from tests.deploy import prometheus
from tests.deploy.grafana import (
    dashboard_paths,
    label_values_as_promql,
    load_dashboard,
    panel_queries,
    substitute,
    variable_queries,
    variable_values,
)

PROMETHEUS_BINARY = "/usr/bin/prometheus"
VALID_REQUESTS = 32
MAX_DOCUMENTS_PER_REQUEST = 4
# Bodies that fail validation (422): each must show up in corebert_errors_total{type=...}.
INVALID_BODIES = (
    (b'{"documents": "one text, not a list"}', "application/json"),
    (b'{"texts": ["wrong field name"]}', "application/json"),
    (b'{"documents": ["unterminated"', "application/json"),
)
QUERY_DEADLINE_S = 30.0


@dataclass(frozen=True)
class Load:
    started: float  # time.time() when the first request left
    documents: int
    invalid_requests: int


def prometheus_binary() -> str:
    found = shutil.which("prometheus") or (
        PROMETHEUS_BINARY if Path(PROMETHEUS_BINARY).exists() else None
    )
    if found is None:
        pytest.skip(
            f"{PROMETHEUS_BINARY} is missing: install Debian's prometheus package "
            "(.ci/run installs it)"
        )
    return found


def scalar(prometheus_url: str, expr: str) -> float:
    """The single value of `expr`, NaN when it has none."""
    result = prometheus.instant_query(prometheus_url, expr)
    return float(result[0]["value"][1]) if result else math.nan


@pytest.fixture(scope="module")
def prometheus_url(service_url, tmp_path_factory) -> Iterator[str]:
    binary = prometheus_binary()
    workdir = tmp_path_factory.mktemp("deploy-prometheus")
    target = service_url.removeprefix("http://")
    with prometheus.serve(binary, target, workdir) as url:
        # One scrape before the load: counters start from a known sample.
        harness.wait_until(
            lambda: scalar(url, f'up{{job="{prometheus.SERVICE_JOB}"}}') == 1,
            timeout_s=30,
            what="the first successful scrape of the service",
            log=workdir / "prometheus.log",
        )
        yield url


def classify_requests() -> list[list[str]]:
    texts, _ = tiny_documents(
        VALID_REQUESTS * MAX_DOCUMENTS_PER_REQUEST, num_labels=3, seed=7, max_words=120
    )
    requests, start = [], 0
    for index in range(VALID_REQUESTS):
        size = 1 + index % MAX_DOCUMENTS_PER_REQUEST
        requests.append(texts[start : start + size])
        start += size
    return requests


def wait_for_scrape(prometheus_url: str, documents: int, invalid_requests: int) -> None:
    """Until Prometheus holds a sample counting at least this many documents and errors."""
    job = prometheus.SERVICE_JOB
    harness.wait_until(
        lambda: (
            scalar(prometheus_url, f'sum(corebert_documents_total{{job="{job}"}})') >= documents
            and scalar(prometheus_url, f'sum(corebert_errors_total{{job="{job}"}})')
            >= invalid_requests
        ),
        timeout_s=30,
        what=f"a scrape counting {documents} documents and {invalid_requests} errors",
    )


@pytest.fixture(scope="module")
def load(service_url, prometheus_url) -> Load:
    """32 classify requests of 1-4 documents from 4 threads and 3 invalid ones, in two phases
    with a scrape between them, as steady traffic would be: a labelled series born in the first
    phase (`corebert_requests_total{status="200"}`) has a sample before the second phase's
    increase, so rate() sees it. Returns once Prometheus has scraped all of it."""
    batches = classify_requests()
    phases = [
        (batches[: len(batches) // 2], INVALID_BODIES[:1]),
        (batches[len(batches) // 2 :], INVALID_BODIES[1:]),
    ]
    started, documents, invalid = time.time(), 0, 0
    with httpx.Client(base_url=service_url, timeout=30) as client:

        def classify(documents: list[str]) -> int:
            return client.post("/classify", json={"documents": documents}).status_code

        for phase_batches, phase_invalid in phases:
            with ThreadPoolExecutor(max_workers=4) as pool:
                statuses = list(pool.map(classify, phase_batches))
            assert statuses == [200] * len(phase_batches), statuses
            for body, content_type in phase_invalid:
                response = client.post(
                    "/classify", content=body, headers={"content-type": content_type}
                )
                assert response.status_code == 422, (body, response.status_code, response.text)
            documents += sum(len(batch) for batch in phase_batches)
            invalid += len(phase_invalid)
            wait_for_scrape(prometheus_url, documents, invalid)
    return Load(started, documents, invalid)


def grafana_values(dashboard: dict, load: Load) -> dict[str, str]:
    """Concrete values for the dashboard's variables and Grafana's interval macros. The rate
    window spans the whole load plus a margin, so every rate has samples before and after."""
    window = f"{math.ceil(time.time() - load.started) + 30}s"
    return {
        **variable_values(dashboard, prometheus.SERVICE_JOB),
        "__rate_interval": window,
        "__range": window,
        "__interval": "1s",
    }


def query_until_finite(prometheus_url: str, dashboard: dict, expr: str, load: Load) -> list:
    """Evaluate `expr` now, retrying while it returns no finite sample (a series born during
    the load needs two scrapes before rate() sees it)."""
    deadline = time.monotonic() + QUERY_DEADLINE_S
    while True:
        result = prometheus.instant_query(
            prometheus_url, substitute(expr, grafana_values(dashboard, load))
        )
        if prometheus.finite_values(result) or time.monotonic() > deadline:
            return result
        time.sleep(0.5)


@pytest.mark.parametrize("path", dashboard_paths(), ids=lambda p: p.name)
def test_every_panel_query_returns_data(path, prometheus_url, load):
    dashboard = load_dashboard(path)
    failures = []
    for query in panel_queries(path):
        result = query_until_finite(prometheus_url, dashboard, query.expr, load)
        if not prometheus.finite_values(result):
            failures.append(f"{query}\n    -> {result}")
    assert not failures, "queries without data:\n" + "\n".join(failures)


@pytest.mark.parametrize("path", dashboard_paths(), ids=lambda p: p.name)
def test_template_variables_find_the_service(path, prometheus_url, load):
    dashboard = load_dashboard(path)
    values = grafana_values(dashboard, load)
    for name, query in variable_queries(dashboard):
        expr, label = label_values_as_promql(substitute(query, values))
        found = {
            sample["metric"].get(label) for sample in prometheus.instant_query(prometheus_url, expr)
        }
        expected = prometheus.SERVICE_JOB if name == "job" else None
        assert found - {None}, f"${name}: {query} finds no {label}"
        if expected:
            assert expected in found, (name, found)


def test_errors_panel_shows_the_invalid_requests(prometheus_url, load):
    job = prometheus.SERVICE_JOB
    validation = scalar(
        prometheus_url, f'sum(corebert_errors_total{{job="{job}", type="validation"}})'
    )
    assert validation == load.invalid_requests
    documents = scalar(prometheus_url, f'sum(corebert_documents_total{{job="{job}"}})')
    assert documents == load.documents
