"""A real Prometheus for the deploy tests, scraping the service with the config from deploy/.

It runs through the shared process harness (benchmarks/harness.py): 127.0.0.1, a free port, a
log file that failures quote, stopped with SIGTERM whatever happens.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

import httpx
import yaml

from benchmarks import harness

PROMETHEUS_CONFIG = harness.ROOT / "deploy" / "prometheus" / "prometheus.yml"
SERVICE_JOB = "corebert"


class Sample(NamedTuple):
    time: float  # Unix seconds
    value: float


def discovery_keys(job: dict) -> list[str]:
    """The keys of `job` that say where its targets are: `static_configs` and every
    `*_sd_configs` (the service job's `dns_sd_configs` in the Compose stack)."""
    return [key for key in job if key == "static_configs" or key.endswith("_sd_configs")]


def scrape_config_for(
    target: str | Sequence[str], listen_address: str, scrape_interval: str = "1s"
) -> dict:
    """deploy/prometheus/prometheus.yml with the service job pointed at `target` (its Docker DNS
    discovery of the Compose stack's replicas swapped for those static targets: one address, or
    several replicas), the self-scrape job at `listen_address`, and every interval shortened for
    a test."""
    targets = [target] if isinstance(target, str) else list(target)
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    config["global"]["scrape_interval"] = scrape_interval
    config["global"]["evaluation_interval"] = scrape_interval
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    if SERVICE_JOB not in jobs:
        raise KeyError(f"no scrape job {SERVICE_JOB!r} in {PROMETHEUS_CONFIG}: {sorted(jobs)}")
    for name, job in jobs.items():
        job["scrape_interval"] = scrape_interval
        job["scrape_timeout"] = scrape_interval
        addresses = targets if name == SERVICE_JOB else [listen_address]
        for key in discovery_keys(job):
            del job[key]
        job["static_configs"] = [{"targets": addresses}]
    return config


@contextlib.contextmanager
def serve(binary: str, scrape_target: str | Sequence[str], workdir: Path) -> Iterator[str]:
    """A real Prometheus on 127.0.0.1 scraping `scrape_target` (one address, or every replica's);
    yields its base URL."""
    address = f"{harness.HOST}:{harness.free_port()}"
    config_path = workdir / "prometheus.yml"
    config_path.write_text(yaml.safe_dump(scrape_config_for(scrape_target, address)))
    log = workdir / "prometheus.log"
    command = [
        binary,
        f"--config.file={config_path}",
        f"--storage.tsdb.path={workdir / 'tsdb'}",
        f"--web.listen-address={address}",
        "--log.level=warn",
    ]
    url = f"http://{address}"
    with harness.running(command, log, os.environ, cwd=workdir) as process:
        harness.wait_for_answer(
            process, log, f"{url}/-/ready", 60, f"Prometheus to be ready at {url}"
        )
        yield url


def instant_query(prometheus_url: str, expr: str) -> list[dict]:
    """The result vector of `expr` evaluated now; raises on a PromQL error."""
    response = httpx.post(f"{prometheus_url}/api/v1/query", data={"query": expr}, timeout=10)
    body = response.json()
    if body.get("status") != "success":
        raise ValueError(f"{expr!r}: {body.get('errorType')}: {body.get('error')}")
    if body["data"]["resultType"] != "vector":
        raise ValueError(f"{expr!r}: expected an instant vector, got {body['data']['resultType']}")
    return body["data"]["result"]


def samples(prometheus_url: str, selector: str, window: str = "5m") -> dict[str, list[Sample]]:
    """Every sample of `selector` scraped in the last `window`, oldest first, per `instance`; a
    sample's time is Unix seconds (the scrape's start), comparable with `time.time()`."""
    expr = f"{selector}[{window}]"
    response = httpx.post(f"{prometheus_url}/api/v1/query", data={"query": expr}, timeout=10)
    body = response.json()
    if body.get("status") != "success":
        raise ValueError(f"{expr!r}: {body.get('errorType')}: {body.get('error')}")
    return {
        series["metric"].get("instance", ""): [
            Sample(float(t), float(v)) for t, v in series["values"]
        ]
        for series in body["data"]["result"]
    }


def finite_values(result: list[dict]) -> list[float]:
    values = [float(sample["value"][1]) for sample in result]
    return [value for value in values if math.isfinite(value)]
