"""Real processes for the deploy tests: the service (`python -m service`) and Prometheus.

Both listen on 127.0.0.1 on a free port, log into a file that failures quote, and are stopped
with SIGTERM (SIGKILL after a grace period) when the context exits.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import httpx
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_CONFIG = REPO_ROOT / "deploy" / "prometheus" / "prometheus.yml"
SERVICE_JOB = "corebert"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def log_tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def wait_until(
    condition: Callable[[], bool], timeout_s: float, what: str, log: Path | None = None
) -> None:
    """Poll `condition` every 0.2 s; fail with `what` (and the log's tail) after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if condition():
                return
        time.sleep(0.2)
    tail = f"\n--- log tail ---\n{log_tail(log)}" if log else ""
    raise TimeoutError(f"timed out after {timeout_s:.0f} s waiting for {what}{tail}")


@contextlib.contextmanager
def running(command: list[str], log: Path, env: Mapping[str, str], cwd: Path) -> Iterator:
    """Start `command` with output into `log`; stop it (SIGTERM, then SIGKILL) on exit."""
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            command, cwd=cwd, env=dict(env), stdout=log_file, stderr=subprocess.STDOUT
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def service_environment(model_dir: Path | None, port: int) -> dict[str, str]:
    """This process's environment with the service on 127.0.0.1:`port`, on the CPU with one
    thread; with `model_dir` None, COREBERT_MODEL_DIR is unset."""
    env = {
        **os.environ,
        "COREBERT_HOST": "127.0.0.1",
        "COREBERT_PORT": str(port),
        "COREBERT_DEVICE": "cpu",
        "COREBERT_INTRA_OP_THREADS": "1",
        "COREBERT_LOG_LEVEL": "warning",
    }
    env.pop("COREBERT_MODEL_DIR", None)
    if model_dir is not None:
        env["COREBERT_MODEL_DIR"] = str(model_dir)
    return env


def is_ready(url: str) -> bool:
    return httpx.get(f"{url}/health/ready", timeout=2).status_code == 200


@contextlib.contextmanager
def service(model_dir: Path, workdir: Path) -> Iterator[str]:
    """`python -m service` on `model_dir`; yields its base URL once it reports ready."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = workdir / "service.log"
    command = [sys.executable, "-m", "service"]
    with running(command, log, service_environment(model_dir, port), REPO_ROOT) as process:
        wait_until(
            lambda: _alive(process, log) and is_ready(url),
            timeout_s=120,
            what=f"the service to be ready at {url}",
            log=log,
        )
        yield url


def _alive(process: subprocess.Popen, log: Path) -> bool:
    """True while `process` runs; a process that ended fails at once, quoting its log."""
    if process.poll() is not None:
        raise RuntimeError(f"{process.args} exited with {process.returncode}:\n{log_tail(log)}")
    return True


def scrape_config_for(target: str, listen_address: str, scrape_interval: str = "1s") -> dict:
    """deploy/prometheus/prometheus.yml with the service job pointed at `target`, the
    self-scrape job at `listen_address`, and every interval shortened for a test."""
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    config["global"]["scrape_interval"] = scrape_interval
    config["global"]["evaluation_interval"] = scrape_interval
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    if SERVICE_JOB not in jobs:
        raise KeyError(f"no scrape job {SERVICE_JOB!r} in {PROMETHEUS_CONFIG}: {sorted(jobs)}")
    for name, job in jobs.items():
        job["scrape_interval"] = scrape_interval
        job["scrape_timeout"] = scrape_interval
        address = target if name == SERVICE_JOB else listen_address
        job["static_configs"] = [{"targets": [address]}]
    return config


@contextlib.contextmanager
def prometheus(binary: str, scrape_target: str, workdir: Path) -> Iterator[str]:
    """A real Prometheus on 127.0.0.1 scraping `scrape_target`; yields its base URL."""
    port = free_port()
    address = f"127.0.0.1:{port}"
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
    with running(command, log, os.environ, workdir) as process:
        wait_until(
            lambda: (
                _alive(process, log) and httpx.get(f"{url}/-/ready", timeout=2).status_code == 200
            ),
            timeout_s=60,
            what=f"Prometheus to be ready at {url}",
            log=log,
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


def finite_values(result: list[dict]) -> list[float]:
    values = [float(sample["value"][1]) for sample in result]
    return [value for value in values if math.isfinite(value)]
