"""Reading the provisioned Grafana dashboards: panels, their PromQL, template variables."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
GRAFANA_DIR = REPO_ROOT / "deploy" / "grafana"
DASHBOARD_DIR = GRAFANA_DIR / "dashboards"

# $name, ${name}, ${name:format} and the deprecated [[name]].
VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")
METRIC_NAME = re.compile(r"\bcorebert_[a-z0-9_]+\b")
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
LABEL_VALUES = re.compile(r"^\s*label_values\((?:(?P<selector>.+),\s*)?(?P<label>\w+)\s*\)\s*$")


@dataclass(frozen=True)
class PanelQuery:
    dashboard: str
    panel: str
    ref_id: str
    expr: str

    def __str__(self) -> str:
        return f"{self.dashboard} / {self.panel} / {self.ref_id}: {self.expr}"


def dashboard_paths() -> list[Path]:
    return sorted(DASHBOARD_DIR.rglob("*.json"))


def load_dashboard(path: Path) -> dict:
    return json.loads(path.read_text())


def iter_panels(dashboard: Mapping) -> Iterator[dict]:
    """Every panel, rows included, with the panels of collapsed rows."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from iter_panels(panel)


def panel_queries(path: Path) -> list[PanelQuery]:
    dashboard = load_dashboard(path)
    return [
        PanelQuery(dashboard["title"], panel.get("title", ""), target["refId"], target["expr"])
        for panel in iter_panels(dashboard)
        for target in panel.get("targets", [])
        if target.get("expr")
    ]


def metric_families(expr: str) -> set[str]:
    """corebert_* metric families an expression reads (`_bucket`/`_sum`/`_count` stripped)."""
    families = set()
    for name in METRIC_NAME.findall(expr):
        for suffix in HISTOGRAM_SUFFIXES:
            if name.endswith(suffix):
                name = name.removesuffix(suffix)
                break
        families.add(name)
    return families


def variable_values(dashboard: Mapping, job: str) -> dict[str, str]:
    """What each template variable stands for in the tests: `job` is the scrape job, a variable
    that includes "All" takes its regex `allValue`, any other its current value."""
    values = {}
    for variable in dashboard.get("templating", {}).get("list", []):
        name = variable["name"]
        if name == "job":
            values[name] = job
        elif variable.get("includeAll"):
            values[name] = variable.get("allValue") or ".*"
        else:
            values[name] = str(variable.get("current", {}).get("value", ""))
    return values


def substitute(expr: str, values: Mapping[str, str]) -> str:
    """Replace every Grafana variable in `expr`; an unknown one raises KeyError naming it."""

    def replace(match: re.Match[str]) -> str:
        name = next(group for group in match.groups() if group)
        if name not in values:
            raise KeyError(f"no value for Grafana variable ${name} in {expr!r}")
        return values[name]

    return VARIABLE.sub(replace, expr)


def variable_queries(dashboard: Mapping) -> list[tuple[str, str]]:
    """(name, query) of the template variables backed by a Prometheus query."""
    queries = []
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") != "query":
            continue
        query = variable.get("query")
        text = query.get("query") if isinstance(query, Mapping) else query
        queries.append((variable["name"], text))
    return queries


def label_values_as_promql(query: str) -> tuple[str, str]:
    """`label_values(selector, label)` -> (`group by (label) (selector)`, label)."""
    match = LABEL_VALUES.match(query)
    if match is None:
        raise ValueError(f"not a label_values(...) query: {query!r}")
    selector, label = match["selector"], match["label"]
    if selector is None:
        raise ValueError(f"label_values without a metric reads every series: {query!r}")
    return f"group by ({label}) ({selector})", label
