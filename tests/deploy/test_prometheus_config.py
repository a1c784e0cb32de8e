"""deploy/prometheus/prometheus.yml, the one Prometheus config of the Compose stack, passes
`promtool check config`, agrees with Grafana, and is what the tests' own Prometheus runs."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.deploy.grafana import GRAFANA_DIR
from tests.deploy.prometheus import (
    PROMETHEUS_CONFIG,
    SERVICE_JOB,
    discovery_keys,
    scrape_config_for,
)


def test_promtool_accepts_the_config():
    promtool = shutil.which("promtool") or (
        "/usr/bin/promtool" if Path("/usr/bin/promtool").exists() else None
    )
    if promtool is None:
        pytest.skip("promtool is not installed (Debian package prometheus; .ci/run installs it)")
    result = subprocess.run(
        [promtool, "check", "config", str(PROMETHEUS_CONFIG)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout, result.stdout


def test_grafana_rate_interval_follows_the_scrape_interval():
    """Grafana sizes $__rate_interval from the data source's timeInterval: it must be the
    service job's scrape interval, or rate windows can hold fewer than two samples."""
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    (job,) = [job for job in config["scrape_configs"] if job["job_name"] == SERVICE_JOB]
    interval = job.get("scrape_interval", config["global"]["scrape_interval"])
    (datasource,) = yaml.safe_load(
        (GRAFANA_DIR / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )["datasources"]
    assert datasource["jsonData"]["timeInterval"] == interval


def test_the_tests_prometheus_runs_the_config_with_only_its_targets_replaced():
    """The dashboard and replica tests run deploy/'s config with the service job's Docker DNS
    discovery (no Docker here) swapped for static targets on 127.0.0.1 and shorter intervals;
    nothing else may differ, or they would test another config."""
    service, listen = "127.0.0.1:18000", "127.0.0.1:19090"
    tested = scrape_config_for(service, listen, scrape_interval="1s")
    jobs = {job["job_name"]: job for job in tested["scrape_configs"]}
    for name, job in jobs.items():
        assert discovery_keys(job) == ["static_configs"], (name, job)
    assert jobs[SERVICE_JOB]["static_configs"] == [{"targets": [service]}]
    assert all(
        job["static_configs"] == [{"targets": [listen]}]
        for name, job in jobs.items()
        if name != SERVICE_JOB
    )

    def without_targets_and_intervals(config: dict) -> dict:
        intervals = ("scrape_interval", "evaluation_interval")
        config = {
            **config,
            "global": {k: v for k, v in config["global"].items() if k not in intervals},
        }
        config["scrape_configs"] = [
            {
                key: value
                for key, value in job.items()
                if key not in discovery_keys(job)
                and key not in ("scrape_interval", "scrape_timeout")
            }
            for job in config["scrape_configs"]
        ]
        return config

    deployed = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    assert without_targets_and_intervals(tested) == without_targets_and_intervals(deployed)
