"""Debian's nginx in front of corebert replicas on 127.0.0.1, configured from deploy/nginx/.

The server block (`conf.d/corebert.conf`) is used as it is, its `listen 8000` moved to a free
port on 127.0.0.1. The upstream group (`conf.d/upstream.conf`) keeps its balancing, failure and
keep-alive settings; its one `server api:8000 resolve ...` line becomes one line per replica
with the same parameters, and its `resolver` (Docker's DNS) goes: Debian 12's nginx 1.22 has no
`resolve`, and there is no Docker here. A small main file holds what the official image's
nginx.conf holds: pid, error log, temporary files, here under the test's directory. The access
log goes to a file of its own instead of /dev/stdout: nginx opens that path anew, and over a
regular file (the test's log) the new descriptor would write from the file's start.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from benchmarks import harness

CONF_DIR = harness.ROOT / "deploy" / "nginx" / "conf.d"
SERVER_CONFIG = CONF_DIR / "corebert.conf"
UPSTREAM_CONFIG = CONF_DIR / "upstream.conf"
NGINX_BINARY = "/usr/sbin/nginx"
LISTEN = re.compile(r"^(\s*)listen 8000;$", re.MULTILINE)
ACCESS_LOG = re.compile(r"^(\s*)access_log /dev/stdout corebert;$", re.MULTILINE)
COMPOSE_SERVER = re.compile(r"^(\s*)server api:8000 resolve([^;]*);$", re.MULTILINE)
RESOLVER = re.compile(r"^resolver [^;]*;\n", re.MULTILINE)


def binary() -> str:
    """Debian's nginx; skips the test when it is not installed."""
    found = shutil.which("nginx") or (NGINX_BINARY if Path(NGINX_BINARY).exists() else None)
    if found is None:
        pytest.skip(f"{NGINX_BINARY} is missing: install Debian's nginx (scripts/test.sh does)")
    return found


def replace_once(pattern: re.Pattern[str], replacement: str, text: str, where: Path) -> str:
    """`pattern` replaced in `text`; it must match exactly once (else the file changed shape)."""
    result, count = pattern.subn(lambda _: replacement, text)
    if count != 1:
        raise ValueError(f"{where}: expected one match of {pattern.pattern!r}, found {count}")
    return result


def upstream_for(replicas: Sequence[str]) -> str:
    """upstream.conf with its Compose server line turned into one line per replica address."""
    text = UPSTREAM_CONFIG.read_text()
    (indent, parameters) = COMPOSE_SERVER.search(text).groups()  # type: ignore[union-attr]
    servers = "\n".join(f"{indent}server {address}{parameters};" for address in replicas)
    text = replace_once(COMPOSE_SERVER, servers, text, UPSTREAM_CONFIG)
    return replace_once(RESOLVER, "", text, UPSTREAM_CONFIG)


def server_for(address: str, access_log: Path) -> str:
    """corebert.conf listening on `address` instead of port 8000, logging into `access_log`."""
    text = SERVER_CONFIG.read_text()
    for pattern, directive in (
        (LISTEN, f"listen {address};"),
        (ACCESS_LOG, f"access_log {access_log} corebert;"),
    ):
        indent = pattern.search(text)[1]  # type: ignore[index]
        text = replace_once(pattern, f"{indent}{directive}", text, SERVER_CONFIG)
    return text


def main_config(workdir: Path) -> str:
    # As root, workers would run as `nobody`, which cannot use the test's temporary directory.
    user = "user root;\n" if os.geteuid() == 0 else ""
    temp_paths = "\n".join(
        f"    {kind}_temp_path {workdir / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return (
        f"{user}worker_processes 1;\npid {workdir / 'nginx.pid'};\nerror_log stderr warn;\n"
        "events { worker_connections 512; }\n"
        f"http {{\n{temp_paths}\n    include {workdir / 'upstream.conf'};\n"
        f"    include {workdir / 'corebert.conf'};\n}}\n"
    )


@contextlib.contextmanager
def serve(replicas: Sequence[str], workdir: Path) -> Iterator[tuple[str, Path]]:
    """nginx on 127.0.0.1 balancing over `replicas` (host:port); yields its base URL and its
    access log (corebert.conf's JSON lines, one per request)."""
    address = f"{harness.HOST}:{harness.free_port()}"
    access_log = workdir / "nginx-access.log"
    (workdir / "upstream.conf").write_text(upstream_for(replicas))
    (workdir / "corebert.conf").write_text(server_for(address, access_log))
    (workdir / "nginx.conf").write_text(main_config(workdir))
    log = workdir / "nginx.log"
    command = [binary(), "-e", "stderr", "-c", str(workdir / "nginx.conf"), "-g", "daemon off;"]
    url = f"http://{address}"
    with harness.running(command, log, os.environ, cwd=workdir) as process:
        # nginx answers /metrics itself: a 404 means it is up, whatever the replicas do.
        harness.wait_for_answer(
            process, log, f"{url}/metrics", 30, f"nginx to listen at {url}", status=404
        )
        yield url, access_log


def access_log_entries(access_log: Path) -> dict[str, dict]:
    """The lines of nginx's access log, by request id."""
    lines = access_log.read_text().splitlines()
    return {entry["request_id"]: entry for entry in map(json.loads, lines)}


def final_upstream(entry: dict) -> str:
    """The replica that answered: the last one tried (`upstream` lists them all)."""
    return entry["upstream"].split(",")[-1].strip()
