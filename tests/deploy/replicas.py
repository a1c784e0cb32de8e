"""Several corebert replicas for the deploy tests, and a real Prometheus scraping them all.

Each replica is `python -m service` on its own fixed port of 127.0.0.1, so a test can stop it
(SIGTERM: it drains; SIGKILL: it vanishes) and start it again at the same address, where the
balancer in front of it still sends requests. Processes run through benchmarks/harness.py and
are stopped when the test's ExitStack closes, whatever happened.
"""

from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import Popen

import httpx

from benchmarks import harness

# Small and fast: one ONNX Runtime thread each, fp32 (scores comparable at 1e-5 whatever the
# batch), a drain short enough for a test.
REPLICA_SETTINGS: dict[str, str | int | float] = {
    "device": "cpu",
    "precision": "fp32",
    "intra_op_threads": 1,
    "log_level": "warning",
    "shutdown_timeout_s": 10,
}


@dataclass
class Replica:
    name: str
    port: int
    workdir: Path
    starts: int = 0
    process: Popen | None = field(default=None, repr=False)

    @property
    def address(self) -> str:
        return f"{harness.HOST}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    @property
    def log(self) -> Path:
        return self.workdir / f"{self.name}-{self.starts}.log"


class Replicas:
    """`count` replicas of the service on `model_dir`, started and restarted into `stack`."""

    def __init__(
        self, model_dir: Path, workdir: Path, count: int, stack: contextlib.ExitStack
    ) -> None:
        self.model_dir = model_dir
        self.stack = stack
        self.members = [
            Replica(f"replica-{index}", harness.free_port(), workdir) for index in range(count)
        ]

    def start(self, replica: Replica) -> None:
        """Start `replica` on its port (again, after it ended); does not wait for readiness."""
        if replica.process is not None and replica.process.poll() is None:
            raise RuntimeError(f"{replica.name} still runs (pid {replica.process.pid})")
        replica.starts += 1
        env = harness.service_environment(self.model_dir, replica.port, **REPLICA_SETTINGS)
        command = [sys.executable, "-m", "service"]
        replica.process = self.stack.enter_context(harness.running(command, replica.log, env))

    def wait_ready(self, replica: Replica, timeout_s: float = 120) -> None:
        process = replica.process
        assert process is not None, f"{replica.name} was never started"
        ready = f"{replica.url}/health/ready"
        what = f"{replica.name} to be ready at {replica.url}"
        harness.wait_for_answer(process, replica.log, ready, timeout_s, what)

    def requests_answered(self, replica: Replica) -> float:
        """200 answers of `replica`'s current process, from its own /metrics."""
        text = httpx.get(f"{replica.url}/metrics", timeout=5).text
        line = next(
            line
            for line in text.splitlines()
            if line.startswith('corebert_requests_total{status="200"}')
        )
        return float(line.split()[-1])
