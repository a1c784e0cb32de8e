"""Real server processes for the benchmarks and the tests: `python -m service`, or any command.

A process listens on 127.0.0.1 on a free port, writes its output into a log file that failures
quote, and is stopped with SIGTERM (SIGKILL after a grace period) whatever happens.

    with harness.service(model_dir, log, device="cpu") as served:
        httpx.post(f"{served.url}/classify", json={"documents": ["a text"]})

`service` settings are the service's own (docs/service.md) without the `COREBERT_` prefix; the
process sees no other `COREBERT_*` variable of this machine, so none changes a result.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
SETTINGS_PREFIX = "COREBERT_"


# Ports handed out by free_port in this process: a server binds its port only once it has
# loaded its model, so until then the same port must not be handed out twice.
_HANDED_OUT: set[int] = set()
_LOWEST_PORT = 20000


def _ephemeral_range() -> tuple[int, int]:
    """The kernel's range for ports it picks itself (bind to 0, outgoing connections)."""
    path = Path("/proc/sys/net/ipv4/ip_local_port_range")
    if path.exists():
        low, high = path.read_text().split()
        return int(low), int(high)
    return 32768, 60999


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now and nothing else will be given.

    The port lies below the kernel's ephemeral range: a port from bind(0) stays free only until
    the server binds it, seconds later, and meanwhile the kernel may give it to any outgoing
    connection (a Prometheus scrape, a health probe). Below that range it picks none itself.
    """
    ephemeral_low, ephemeral_high = _ephemeral_range()
    candidates = [*range(_LOWEST_PORT, ephemeral_low), *range(ephemeral_high + 1, 65536)]
    random.shuffle(candidates)
    for port in candidates:
        if port not in _HANDED_OUT and _bindable(port):
            _HANDED_OUT.add(port)
            return port
    raise RuntimeError(f"no free port on {HOST} outside the ephemeral range")


def log_tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def wait_until(
    condition: Callable[[], bool], timeout_s: float, what: str, log: Path | None = None
) -> None:
    """Poll `condition` every 0.2 s, an HTTP error counting as False; fail with `what` (and the
    log's tail) after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if condition():
                return
        time.sleep(0.2)
    tail = f"\n--- log tail ---\n{log_tail(log)}" if log else ""
    raise TimeoutError(f"timed out after {timeout_s:.0f} s waiting for {what}{tail}")


@contextlib.contextmanager
def running(
    command: Sequence[str],
    log: Path,
    env: Mapping[str, str],
    cwd: Path = ROOT,
    stop_timeout_s: float = 30.0,
) -> Iterator[subprocess.Popen]:
    """Start `command` with stdout and stderr into `log`; on exit, stop it if it still runs
    (SIGTERM, then SIGKILL after `stop_timeout_s`)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            list(command), cwd=cwd, env=dict(env), stdout=log_file, stderr=subprocess.STDOUT
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=stop_timeout_s)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def alive(process: subprocess.Popen, log: Path) -> bool:
    """True while `process` runs; a process that ended raises at once, quoting its log."""
    if process.poll() is not None:
        raise RuntimeError(f"{process.args} exited with {process.returncode}:\n{log_tail(log)}")
    return True


def service_environment(
    model_dir: Path | None = None, port: int | None = None, **settings: str | int | float
) -> dict[str, str]:
    """This process's environment without its `COREBERT_*` variables, plus `model_dir`, the
    service on 127.0.0.1:`port` (when given) and `settings` (`max_batch_documents=8` becomes
    COREBERT_MAX_BATCH_DOCUMENTS=8)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(SETTINGS_PREFIX)}
    if model_dir is not None:
        env[f"{SETTINGS_PREFIX}MODEL_DIR"] = str(model_dir)
    if port is not None:
        env[f"{SETTINGS_PREFIX}HOST"] = HOST
        env[f"{SETTINGS_PREFIX}PORT"] = str(port)
    env.update({f"{SETTINGS_PREFIX}{key.upper()}": str(value) for key, value in settings.items()})
    return env


def wait_for_answer(
    process: subprocess.Popen,
    log: Path,
    url: str,
    timeout_s: float,
    what: str,
    status: int = 200,
) -> None:
    """Wait until GET `url` answers `status` while `process` runs (a process that ends fails at
    once, quoting `log`): how a started server is known to be up."""
    wait_until(
        lambda: alive(process, log) and httpx.get(url, timeout=2).status_code == status,
        timeout_s=timeout_s,
        what=what,
        log=log,
    )


@dataclass(frozen=True)
class RunningService:
    url: str  # http://127.0.0.1:PORT
    process: subprocess.Popen
    log: Path


@contextlib.contextmanager
def service(
    model_dir: Path, log: Path, startup_timeout_s: float = 120.0, **settings: str | int | float
) -> Iterator[RunningService]:
    """`python -m service` on `model_dir` and a free port, with `settings`; yields it once
    /health/ready answers 200, and stops it on exit."""
    port = free_port()
    url = f"http://{HOST}:{port}"
    command = [sys.executable, "-m", "service"]
    with running(command, log, service_environment(model_dir, port, **settings)) as process:
        wait_for_answer(
            process,
            log,
            f"{url}/health/ready",
            startup_timeout_s,
            f"the service to be ready at {url}",
        )
        yield RunningService(url, process, log)
