"""deploy/prometheus/prometheus.yml passes `promtool check config` and agrees with Grafana."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.deploy.grafana import GRAFANA_DIR
from tests.deploy.prometheus import PROMETHEUS_CONFIG, SERVICE_JOB


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
