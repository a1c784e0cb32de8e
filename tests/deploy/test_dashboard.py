"""The provisioned Grafana dashboards, read as files: layout, data source, the panels the
project promises, and metric names checked against what the running service exports."""

from __future__ import annotations

import itertools
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.deploy.grafana import (
    GRAFANA_DIR,
    dashboard_paths,
    iter_panels,
    load_dashboard,
    metric_families,
    panel_queries,
)

GPU_ONLY_METRICS = {"corebert_gpu_memory_used_bytes", "corebert_gpu_memory_total_bytes"}
GPU_FALLBACK = "or on() vector(0)"
# What the dashboard must show, as words its panel titles carry.
REQUIRED_TOPICS = (
    "request rate",
    "latency",
    "queue wait vs inference",
    "batch size",
    "documents/s",
    "tokens/s",
    "errors by type",
    "queue depth",
    "kept key/value ratio",
    "process memory",
    "gpu memory",
)

PATHS = dashboard_paths()


@pytest.fixture(scope="module")
def datasource_uid() -> str:
    (datasource,) = yaml.safe_load(
        (GRAFANA_DIR / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )["datasources"]
    return datasource["uid"]


def data_panels(path: Path) -> list[dict]:
    return [p for p in iter_panels(load_dashboard(path)) if p.get("type") != "row"]


def test_there_is_a_dashboard():
    assert [path.name for path in PATHS] == ["corebert.json"]


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
def test_panels_are_titled_described_and_queried(path):
    dashboard = load_dashboard(path)
    assert dashboard["uid"] and dashboard["title"]
    ids = [panel["id"] for panel in iter_panels(dashboard)]
    assert len(ids) == len(set(ids)), f"duplicate panel ids: {ids}"
    for panel in data_panels(path):
        assert panel.get("title") and panel.get("description"), panel.get("title")
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert ref_ids and len(ref_ids) == len(set(ref_ids)), panel["title"]
        assert all(target.get("expr") for target in panel["targets"]), panel["title"]


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
def test_panels_use_the_provisioned_data_source(path, datasource_uid):
    dashboard = load_dashboard(path)
    for panel in data_panels(path):
        assert panel["datasource"]["uid"] == datasource_uid, panel["title"]
        for target in panel["targets"]:
            assert target.get("datasource", panel["datasource"])["uid"] == datasource_uid
    for variable in dashboard["templating"]["list"]:
        assert variable["datasource"]["uid"] == datasource_uid, variable["name"]


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
def test_panels_fit_the_grid_without_overlapping(path):
    boxes = []
    for panel in iter_panels(load_dashboard(path)):
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel.get("title")
        assert grid["h"] > 0 and grid["w"] > 0, panel.get("title")
        boxes.append((panel.get("title"), grid))
    for (title_a, a), (title_b, b) in itertools.combinations(boxes, 2):
        overlap_x = a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"]
        overlap_y = a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"]
        assert not (overlap_x and overlap_y), f"{title_a!r} overlaps {title_b!r}"


def test_dashboard_shows_every_promised_view():
    titles = " | ".join(panel["title"].lower() for path in PATHS for panel in data_panels(path))
    missing = [topic for topic in REQUIRED_TOPICS if topic not in titles]
    assert not missing, f"no panel for {missing}; titles: {titles}"
    latency = " ".join(q.expr for path in PATHS for q in panel_queries(path))
    for quantile in ("0.5", "0.95", "0.99"):
        assert f"histogram_quantile({quantile}, sum by (le) (rate(corebert_request_duration" in (
            latency
        ), quantile


def test_gpu_panels_still_answer_on_a_cpu_host():
    for path in PATHS:
        panels = {panel["title"]: panel for panel in data_panels(path)}
        for query in panel_queries(path):
            if metric_families(query.expr) & GPU_ONLY_METRICS:
                assert query.expr.rstrip().endswith(GPU_FALLBACK), str(query)
                description = panels[query.panel]["description"]
                assert "CPU" in description and GPU_FALLBACK in description, query.panel


def exported_families(metrics_text: str) -> set[str]:
    """corebert_* families of a /metrics page, counters with their `_total` name. The
    `<name>_created` gauges that prometheus-client adds beside counters and histograms (their
    creation timestamps) are left out: no panel has a use for them."""
    parsed = list(text_string_to_metric_families(metrics_text))
    timestamped = {f.name for f in parsed if f.type in {"counter", "histogram", "summary"}}
    families = set()
    for family in parsed:
        if family.name.endswith("_created") and family.name.removesuffix("_created") in (
            timestamped
        ):
            continue
        name = family.name + "_total" if family.type == "counter" else family.name
        if name.startswith("corebert_"):
            families.add(name)
    return families


def test_dashboard_reads_exactly_what_the_service_exports(service_url):
    exported = exported_families(httpx.get(f"{service_url}/metrics", timeout=10).text)
    shown = set().union(*(metric_families(q.expr) for p in PATHS for q in panel_queries(p)))
    assert shown - exported - GPU_ONLY_METRICS == set(), "panels read metrics nobody exports"
    assert exported - shown == set(), "exported metrics without a panel"
