"""The `nginx` service of docker-compose.yml: the balancer in front of `docker compose up
--scale api=3`.

The stack is resolved by `docker compose config` on a GPU host and on a CPU host (as
tests/deploy/test_compose.py resolves it), and the balancer's pieces are checked against each
other and against deploy/nginx/: nginx publishes the port its server block listens on, its
upstream names the api service on the service's port and follows the replicas through Docker's
DNS, and it starts once an api replica is healthy. tests/deploy/test_compose.py checks the rest
of the front: the api publishes no host port, Prometheus finds every replica.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.deploy.nginx import SERVER_CONFIG, UPSTREAM_CONFIG
from tests.deploy.test_compose import CPU_FILES, GPU_FILES, mounts, resolved

# nginx learnt to re-resolve upstream names (`server ... resolve`) in 1.27.3.
NGINX_RESOLVE_SINCE = (1, 27, 3)
# Docker's embedded DNS server, which resolves service names to one address per replica.
DOCKER_DNS = "127.0.0.11"


@pytest.fixture(scope="module", params=["gpu", "cpu"])
def stack(request, tmp_path_factory) -> dict:
    """The stack on a GPU host or a CPU host."""
    files = GPU_FILES if request.param == "gpu" else CPU_FILES
    return resolved(files, tmp_path_factory.mktemp("compose-home"))


def test_nginx_publishes_its_listener_and_balances_over_the_api_service(stack):
    nginx, api = stack["services"]["nginx"], stack["services"]["api"]
    api_port = api["environment"]["COREBERT_PORT"]
    listen = re.search(r"^\s*listen (\d+);$", SERVER_CONFIG.read_text(), re.M)
    assert listen, f"{SERVER_CONFIG}: no `listen PORT;`"
    assert [p["target"] for p in nginx["ports"]] == [int(listen[1])]
    assert re.search(rf"^\s*server api:{api_port} resolve\b", UPSTREAM_CONFIG.read_text(), re.M)
    conf_d = mounts(nginx)["/etc/nginx/conf.d"]
    assert Path(conf_d["source"]) == SERVER_CONFIG.parent and conf_d["read_only"] is True


def test_nginx_follows_the_replicas_through_docker_dns():
    """`resolve` needs a resolver: Docker's, asked again often enough to see replicas come
    and go."""
    resolver = re.search(r"^resolver (\S+)([^;]*);$", UPSTREAM_CONFIG.read_text(), re.M)
    assert resolver, f"{UPSTREAM_CONFIG}: no resolver"
    assert resolver[1] == DOCKER_DNS and re.search(r"\bvalid=\d+s\b", resolver[2]), resolver[0]


def test_nginx_starts_after_a_healthy_api_and_checks_readiness(stack):
    nginx = stack["services"]["nginx"]
    assert nginx["depends_on"]["api"]["condition"] == "service_healthy"
    assert "/health/ready" in " ".join(nginx["healthcheck"]["test"])
    assert nginx.get("restart") == "unless-stopped"


def test_nginx_image_is_pinned_and_can_resolve_replicas(stack):
    image = stack["services"]["nginx"]["image"]
    name, _, tag = image.partition(":")
    version = re.match(r"(\d+)\.(\d+)\.(\d+)", tag)
    assert name == "nginx" and version, image
    assert tuple(map(int, version.groups())) >= NGINX_RESOLVE_SINCE, image
