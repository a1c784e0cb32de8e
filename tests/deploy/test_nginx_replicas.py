"""Three corebert replicas behind Debian's nginx, configured from deploy/nginx/, on 127.0.0.1.

One scenario runs once per module (the `scenario` fixture) and the tests below assert on what
it recorded:

1. every request body is first sent to a lone replica, for reference answers;
2. a bounded load through nginx reaches every replica, and a real Prometheus, scraping each
   replica with the service job from deploy/prometheus/, sees each under its own `instance`;
3. under load, one replica is stopped with SIGTERM (it drains and exits cleanly) and another
   killed with SIGKILL; the third carries everything after;
4. the killed replica starts again on its port and takes requests once ready.

Every load is bounded by a request count and a deadline; nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from benchmarks import harness
from tests.artifacts import tiny_documents
from tests.deploy import k8s, nginx, prometheus
from tests.deploy.grafana import dashboard_paths, load_dashboard, panel_queries, substitute
from tests.deploy.replicas import Replica, Replicas
from tests.deploy.test_dashboard_queries import prometheus_binary

NUM_LABELS = 3
DISTINCT_REQUESTS = 24
CLIENTS = 6
ALL_UP_REQUESTS = 30
FAILURE_REQUESTS = 60
SIGTERM_AFTER, SIGKILL_AFTER = 10, 25  # requests answered in the failure phase
SURVIVOR_REQUESTS = 15
RETURN_DEADLINE_S, RETURN_MAX_REQUESTS = 20.0, 400
LOAD_DEADLINE_S = 60.0
UP_DEADLINE_S = 15.0  # fifteen 1 s scrapes: a scrape that fails under load is followed by more
SCORE_TOLERANCE = 1e-5  # fp32, any batch (docs/contracts.md: padding independence)
REPLICA_PANELS_ROW = "Replicas"


@dataclass(frozen=True)
class Answer:
    request_id: str
    body: int  # index into the request bodies
    status: int
    json: dict | None


@dataclass
class Scenario:
    replicas: Replicas
    nginx_access_log: Path
    prometheus_url: str
    reference: list[dict]
    phases: dict[str, list[Answer]] = field(default_factory=dict)
    drained_exit: int | None = None
    returned_after_s: float | None = None
    # Unix times (Prometheus's clock): every scrape after `drained_gone_at` finds the drained
    # replica gone; the killed one is gone from `killed_at` until it is ready again (it is
    # restarted at `restarted_at`).
    drained_gone_at: float = math.nan
    killed_at: float = math.nan
    restarted_at: float = math.nan

    @property
    def drained(self) -> Replica:
        return self.replicas.members[0]

    @property
    def killed(self) -> Replica:
        return self.replicas.members[1]

    @property
    def survivor(self) -> Replica:
        return self.replicas.members[2]

    def served_by(self, phase: str) -> list[str]:
        """The replica (host:port) that answered each request of `phase`, from nginx's log."""
        entries = nginx.access_log_entries(self.nginx_access_log)
        return [nginx.final_upstream(entries[a.request_id]) for a in self.phases[phase]]


def request_bodies() -> list[dict]:
    texts, _ = tiny_documents(2 * DISTINCT_REQUESTS, num_labels=NUM_LABELS, seed=11)
    bodies, start = [], 0
    for index in range(DISTINCT_REQUESTS):
        size = 1 + index % 3
        bodies.append({"documents": texts[start : start + size], "top_k": NUM_LABELS})
        start += size
    return bodies


class Load:
    """`count` requests through nginx from `CLIENTS` threads, cycling over the bodies; counts
    the answers so that the scenario can act at a given point of the run."""

    def __init__(self, client: httpx.Client, bodies: list[dict], phase: str, count: int) -> None:
        self.client, self.bodies, self.phase = client, bodies, phase
        self.answered = 0
        self.lock = threading.Lock()
        self.pool = ThreadPoolExecutor(max_workers=CLIENTS)
        self.futures = [self.pool.submit(self.send, index) for index in range(count)]

    def send(self, index: int) -> Answer:
        request_id = f"{self.phase}-{index}"
        body = index % len(self.bodies)
        response = self.client.post(
            "/classify", json=self.bodies[body], headers={"x-request-id": request_id}
        )
        with self.lock:
            self.answered += 1
        json_body = response.json() if response.status_code == 200 else None
        return Answer(request_id, body, response.status_code, json_body)

    def wait_answered(self, count: int) -> None:
        harness.wait_until(
            lambda: self.answered >= count, LOAD_DEADLINE_S, f"{count} answers ({self.phase})"
        )

    def results(self) -> list[Answer]:
        try:
            return [future.result(timeout=LOAD_DEADLINE_S) for future in self.futures]
        finally:
            self.pool.shutdown(cancel_futures=True)


def wait_for_prometheus(url: str, condition: Callable[[list[dict]], bool], expr: str) -> None:
    harness.wait_until(
        lambda: condition(prometheus.instant_query(url, expr)),
        timeout_s=30,
        what=f"Prometheus: {expr}",
    )


def instances(result: list[dict]) -> set[str]:
    return {sample["metric"].get("instance", "") for sample in result}


def answered_per_instance(prometheus_url: str, replicas: list[Replica]) -> None:
    """Wait until Prometheus has scraped a 200 answer from each replica's own series."""
    expected = {replica.address for replica in replicas}
    expr = f'corebert_requests_total{{job="{prometheus.SERVICE_JOB}", status="200"}} > 0'
    wait_for_prometheus(prometheus_url, lambda r: expected <= instances(r), expr)


def run_failures(scenario: Scenario, client: httpx.Client, bodies: list[dict]) -> None:
    """Phase 3: SIGTERM one replica, SIGKILL another, while the load runs."""
    load = Load(client, bodies, "failures", FAILURE_REQUESTS)
    load.wait_answered(SIGTERM_AFTER)
    drained = scenario.drained.process
    assert drained is not None
    drained.send_signal(signal.SIGTERM)
    load.wait_answered(SIGKILL_AFTER)
    killed = scenario.killed.process
    assert killed is not None
    scenario.killed_at = time.time()
    killed.kill()
    scenario.phases["failures"] = load.results()
    scenario.drained_exit = drained.wait(timeout=30)
    scenario.drained_gone_at = time.time()
    killed.wait(timeout=10)


def run_return(scenario: Scenario, client: httpx.Client, bodies: list[dict]) -> None:
    """Phase 4: restart the killed replica and send requests until it has answered one."""
    replicas, killed = scenario.replicas, scenario.killed
    scenario.restarted_at = time.time()
    replicas.start(killed)
    replicas.wait_ready(killed)
    ready_at = time.monotonic()
    answers = []
    for index in range(RETURN_MAX_REQUESTS):
        body = index % len(bodies)
        request_id = f"return-{index}"
        response = client.post("/classify", json=bodies[body], headers={"x-request-id": request_id})
        json_body = response.json() if response.status_code == 200 else None
        answers.append(Answer(request_id, body, response.status_code, json_body))
        if replicas.requests_answered(killed) > 0:
            scenario.returned_after_s = time.monotonic() - ready_at
            break
        if time.monotonic() - ready_at > RETURN_DEADLINE_S:
            break
        time.sleep(0.05)
    scenario.phases["return"] = answers


@pytest.fixture(scope="module")
def scenario(tiny_artifact: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    prometheus_path = prometheus_binary()  # both skip the test when they are missing
    nginx.binary()
    workdir = tmp_path_factory.mktemp("nginx-replicas")
    bodies = request_bodies()
    with contextlib.ExitStack() as stack:
        replicas = Replicas(tiny_artifact, workdir, 3, stack)
        for replica in replicas.members:
            replicas.start(replica)
        addresses = [replica.address for replica in replicas.members]
        prometheus_url = stack.enter_context(prometheus.serve(prometheus_path, addresses, workdir))
        nginx_url, nginx_access_log = stack.enter_context(nginx.serve(addresses, workdir))
        for replica in replicas.members:
            replicas.wait_ready(replica)
        lone = replicas.members[2]
        reference = [httpx.post(f"{lone.url}/classify", json=b).json() for b in bodies]
        scenario = Scenario(replicas, nginx_access_log, prometheus_url, reference)
        client = stack.enter_context(httpx.Client(base_url=nginx_url, timeout=30))

        scenario.phases["all_up"] = Load(client, bodies, "all_up", ALL_UP_REQUESTS).results()
        answered_per_instance(prometheus_url, replicas.members)
        run_failures(scenario, client, bodies)
        scenario.phases["survivor"] = Load(client, bodies, "survivor", SURVIVOR_REQUESTS).results()
        run_return(scenario, client, bodies)
        answered_per_instance(prometheus_url, [scenario.killed, scenario.survivor])
        yield scenario


def mismatches(scenario: Scenario, answers: list[Answer]) -> list[str]:
    """Answers that are not 200 with the lone replica's labels and scores."""
    found = []
    for answer in answers:
        if answer.status != 200 or answer.json is None:
            found.append(f"{answer.request_id}: HTTP {answer.status}")
            continue
        expected = scenario.reference[answer.body]["results"]
        for got, want in zip(answer.json["results"], expected, strict=True):
            scores = {entry["label"]: entry["score"] for entry in got["labels"]}
            wanted = {entry["label"]: entry["score"] for entry in want["labels"]}
            close = scores.keys() == wanted.keys() and all(
                abs(scores[label] - wanted[label]) <= SCORE_TOLERANCE for label in wanted
            )
            if got["label"] != want["label"] or not close:
                found.append(f"{answer.request_id}: {got['labels']} != {want['labels']}")
    return found


def test_every_request_is_answered_like_a_lone_replica_answers_it(scenario):
    for phase, answers in scenario.phases.items():
        assert answers, phase
        assert not mismatches(scenario, answers), (phase, mismatches(scenario, answers)[:5])


def test_the_load_reaches_every_replica(scenario):
    served = set(scenario.served_by("all_up"))
    assert served == {replica.address for replica in scenario.replicas.members}, served


def test_sigterm_drains_and_exits_cleanly(scenario):
    # uvicorn re-raises SIGTERM once drained: -SIGTERM is a clean stop, as 0 is.
    assert scenario.drained_exit in (0, -signal.SIGTERM), harness.log_tail(scenario.drained.log)


def test_requests_to_a_dropped_replica_are_retried_on_another(scenario):
    """Some request met a replica that was gone or going (refused, reset) and nginx retried it:
    its log lists two replicas, the last one answering."""
    entries = nginx.access_log_entries(scenario.nginx_access_log)
    retried = [
        entries[answer.request_id]
        for phase in ("failures", "survivor")
        for answer in scenario.phases[phase]
        if "," in entries[answer.request_id]["upstream"]
    ]
    assert retried, "no request was retried on another replica"
    assert all(entry["status"] == 200 for entry in retried), retried


def test_the_survivor_carries_the_load(scenario):
    assert set(scenario.served_by("survivor")) == {scenario.survivor.address}


def test_the_killed_replica_takes_traffic_again_once_ready(scenario):
    assert scenario.returned_after_s is not None, (
        f"{scenario.killed.name} answered nothing within {RETURN_DEADLINE_S} s of being ready"
    )
    assert scenario.killed.address in scenario.served_by("return")


def test_prometheus_sees_each_replica_go_and_come_back(scenario):
    """Prometheus's `up` samples, placed by their scrape times: the drained replica is down in
    every scrape since it exited, the killed one is down in some scrape after the kill and up in
    the latest, and the survivor is up in the latest. The latest scrape of
    a live replica may have failed under load (1 s timeout), so the test waits for a later one."""
    drained, killed, survivor = (
        scenario.drained.address,
        scenario.killed.address,
        scenario.survivor.address,
    )
    selector = f'up{{job="{prometheus.SERVICE_JOB}"}}'
    history: dict[str, list[prometheus.Sample]] = {}

    def seen() -> bool:
        history.update(prometheus.samples(scenario.prometheus_url, selector))
        gone = values_between(history.get(drained, []), scenario.drained_gone_at, math.inf)
        # Restarting takes a moment, loading the model longer: the killed replica is down from
        # the kill until it is ready again, which a 1 s scrape interval catches.
        killed_since = values_between(history.get(killed, []), scenario.killed_at, math.inf)
        survivor_now = [sample.value for sample in history.get(survivor, [])][-1:]
        return (
            bool(gone)
            and set(gone) == {0.0}
            and 0.0 in killed_since
            and killed_since[-1:] == [1.0]
            and survivor_now == [1.0]
        )

    try:
        harness.wait_until(seen, UP_DEADLINE_S, "Prometheus to see the replicas go and come back")
    except TimeoutError:
        roles = {drained: "drained", killed: "killed", survivor: "survivor"}
        pytest.fail(
            f"after {UP_DEADLINE_S:.0f} s, `up` per replica (s since the kill = value); "
            f"drained gone at +{scenario.drained_gone_at - scenario.killed_at:.1f} s, "
            f"killed restarted at +{scenario.restarted_at - scenario.killed_at:.1f} s:\n"
            + "\n".join(
                f"{roles.get(instance, instance)}: "
                + " ".join(f"{t - scenario.killed_at:+.1f}={v:g}" for t, v in samples[-30:])
                for instance, samples in history.items()
            )
        )


def values_between(samples: list[prometheus.Sample], start: float, end: float) -> list[float]:
    """The values of the samples scraped at or after `start` and before `end`, oldest first."""
    return [sample.value for sample in samples if start <= sample.time < end]


def test_per_replica_panels_split_by_replica(scenario):
    """The dashboard's per-replica row gives one series per replica."""
    (path,) = dashboard_paths()
    dashboard = load_dashboard(path)
    values = {"job": prometheus.SERVICE_JOB, "instance": ".+", "__rate_interval": "5m"}
    queries = [q for q in panel_queries(path) if q.panel in replica_panel_titles(dashboard)]
    assert queries, f"no panels in the {REPLICA_PANELS_ROW!r} row"
    live = {scenario.killed.address, scenario.survivor.address}
    everyone = live | {scenario.drained.address}
    for query in queries:
        found = instances(
            prometheus.instant_query(scenario.prometheus_url, substitute(query.expr, values))
        )
        assert live <= found <= everyone, (str(query), found)


def replica_panel_titles(dashboard: dict) -> set[str]:
    """Titles of the panels under the per-replica row (up to the next row)."""
    titles, inside = set(), False
    for panel in dashboard["panels"]:
        if panel.get("type") == "row":
            inside = panel.get("title") == REPLICA_PANELS_ROW
            titles.update(p["title"] for p in panel.get("panels", []) if inside)
        elif inside:
            titles.add(panel["title"])
    return titles


def test_the_autoscaling_metric_has_one_value_per_replica(scenario):
    """The query prometheus-adapter runs for the HPA's metric (deploy/k8s), grouped by replica
    here as by pod in a cluster, gives each live replica its own value."""
    rule = k8s.adapter_rule(k8s.hpa_metric_name())
    expr = k8s.adapter_query(rule, f'job="{prometheus.SERVICE_JOB}"', "instance")
    found = instances(prometheus.instant_query(scenario.prometheus_url, expr))
    assert {scenario.killed.address, scenario.survivor.address} <= found, (expr, found)
