"""docker-compose.replicas.yml: nginx in front of `docker compose up --scale api=3`.

The override is resolved by `docker compose config` over the GPU stack and over the CPU stack
(as tests/deploy/test_compose.py resolves the stack itself), and its pieces are checked against
each other: the replicas free the host port that nginx publishes, nginx's upstream names the
api service on its port, and Prometheus finds the replicas through Docker's DNS with a config
that differs from deploy/prometheus/prometheus.yml in that one respect.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.deploy.nginx import SERVER_CONFIG, UPSTREAM_CONFIG
from tests.deploy.prometheus import PROMETHEUS_CONFIG, SERVICE_JOB
from tests.deploy.test_compose import CPU_FILES, GPU_FILES, REPO_ROOT, mounts, resolved

OVERRIDE = "docker-compose.replicas.yml"
REPLICAS_CONFIG = REPO_ROOT / "deploy" / "prometheus" / "replicas.yml"
# nginx learnt to re-resolve upstream names (`server ... resolve`) in 1.27.3.
NGINX_RESOLVE_SINCE = (1, 27, 3)


@pytest.fixture(scope="module", params=["gpu", "cpu"])
def stacks(request, tmp_path_factory) -> tuple[dict, dict]:
    """(the stack, the stack with replicas) on a GPU host or a CPU host."""
    files = GPU_FILES if request.param == "gpu" else CPU_FILES
    home = tmp_path_factory.mktemp("compose-home")
    return resolved(files, home), resolved([*files, OVERRIDE], home)


def test_replicas_add_nginx_and_change_nothing_else_but_the_front(stacks):
    stack, replicated = stacks
    assert set(replicated["services"]) == set(stack["services"]) | {"nginx"}
    for name in ("trainer", "grafana"):
        assert replicated["services"][name] == stack["services"][name], name
    api, single = replicated["services"]["api"], stack["services"]["api"]
    assert not api.get("ports"), "replicas cannot share a host port"
    assert "container_name" not in api, "a fixed container name cannot be scaled"
    assert {k: v for k, v in api.items() if k != "ports"} == {
        k: v for k, v in single.items() if k != "ports"
    }


def test_nginx_publishes_the_api_port_and_balances_over_the_api_service(stacks):
    stack, replicated = stacks
    nginx = replicated["services"]["nginx"]
    api_port = stack["services"]["api"]["environment"]["COREBERT_PORT"]
    published = [(p["target"], p["published"]) for p in stack["services"]["api"]["ports"]]
    assert [(p["target"], p["published"]) for p in nginx["ports"]] == published
    assert re.search(rf"^\s*listen {published[0][0]};$", SERVER_CONFIG.read_text(), re.M)
    assert re.search(rf"^\s*server api:{api_port} resolve\b", UPSTREAM_CONFIG.read_text(), re.M)
    conf_d = mounts(nginx)["/etc/nginx/conf.d"]
    assert Path(conf_d["source"]) == SERVER_CONFIG.parent and conf_d["read_only"] is True
    assert nginx["depends_on"]["api"]["condition"] == "service_healthy"
    assert "/health/ready" in " ".join(nginx["healthcheck"]["test"])


def test_nginx_image_is_pinned_and_can_resolve_replicas(stacks):
    _, replicated = stacks
    image = replicated["services"]["nginx"]["image"]
    name, _, tag = image.partition(":")
    version = re.match(r"(\d+)\.(\d+)\.(\d+)", tag)
    assert name == "nginx" and version, image
    assert tuple(map(int, version.groups())) >= NGINX_RESOLVE_SINCE, image


def test_prometheus_finds_every_replica_through_docker_dns(stacks):
    stack, replicated = stacks
    prometheus = replicated["services"]["prometheus"]
    config_mount = mounts(prometheus)["/etc/prometheus/prometheus.yml"]
    assert Path(config_mount["source"]) == REPLICAS_CONFIG
    (job,) = [
        job
        for job in yaml.safe_load(REPLICAS_CONFIG.read_text())["scrape_configs"]
        if job["job_name"] == SERVICE_JOB
    ]
    (dns,) = job["dns_sd_configs"]
    api_port = stack["services"]["api"]["environment"]["COREBERT_PORT"]
    assert dns["names"] == ["api"] and dns["type"] == "A" and str(dns["port"]) == api_port


def test_replicas_config_is_the_prometheus_config_but_for_discovery():
    """One place per fact: replicas.yml is prometheus.yml with the service job's static target
    swapped for DNS discovery, nothing else."""
    single = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    replicas = yaml.safe_load(REPLICAS_CONFIG.read_text())
    for config in (single, replicas):
        for job in config["scrape_configs"]:
            if job["job_name"] == SERVICE_JOB:
                job.pop("static_configs", None)
                job.pop("dns_sd_configs", None)
    assert replicas == single


def test_promtool_accepts_the_replicas_config():
    promtool = shutil.which("promtool") or (
        "/usr/bin/promtool" if Path("/usr/bin/promtool").exists() else None
    )
    if promtool is None:
        pytest.skip("promtool is not installed (Debian package prometheus; scripts/test.sh)")
    result = subprocess.run(
        [promtool, "check", "config", str(REPLICAS_CONFIG)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
