"""deploy/k8s/: both overlays rendered by `kubectl kustomize`, every object validated against the
Kubernetes schemas of a pinned version (kubernetes-validate, strict: unknown fields fail), and
the checks no schema makes: the probes ask real routes of the running service, the HPA's metric
is one the service exports (through the prometheus-adapter rule), the containers run the
Dockerfile's commands on its port and user, and the pieces select each other.

The ServiceMonitor is a Prometheus Operator resource, outside the Kubernetes schemas: its fields
are checked here one by one.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import kubernetes_validate
import pytest

from service.config import Settings
from tests.deploy import k8s
from tests.deploy.grafana import DASHBOARD_DIR, panel_queries
from tests.deploy.test_dashboard import exported_families
from tests.deploy.test_dockerfile import DOCKERFILE, arguments, read_stages

# The oldest Kubernetes the manifests are written for (preStop `sleep` is GA from 1.34).
KUBERNETES_VERSION = "1.34.0"
OPERATOR_KINDS = {"ServiceMonitor"}
EXPECTED_KINDS = {
    "Namespace",
    "PersistentVolumeClaim",
    "Job",
    "Deployment",
    "Service",
    "PodDisruptionBudget",
    "HorizontalPodAutoscaler",
    "ServiceMonitor",
    "ConfigMap",
}
COMPOSE_IMAGES = {"cpu": "corebert-api-cpu:0.1.0", "gpu": "corebert-api:0.1.0"}
TRAINER_IMAGE = "corebert-trainer:0.1.0"
GPU_RESOURCE = "nvidia.com/gpu"


@pytest.fixture(scope="module", params=k8s.OVERLAYS)
def overlay(request) -> tuple[str, list[dict]]:
    return request.param, k8s.render(request.param)


@pytest.fixture(scope="module")
def dockerfile() -> dict:
    return read_stages(DOCKERFILE.read_text())


def only(objects: list[dict], kind: str) -> dict:
    (found,) = [o for o in objects if o["kind"] == kind]
    return found


def pod_spec(objects: list[dict], kind: str) -> dict:
    return only(objects, kind)["spec"]["template"]["spec"]


def container(objects: list[dict], kind: str) -> dict:
    (found,) = pod_spec(objects, kind)["containers"]
    return found


def env(container_spec: dict) -> dict[str, str]:
    return {item["name"]: item["value"] for item in container_spec.get("env", [])}


def test_every_object_validates_against_the_kubernetes_schemas(overlay):
    _, objects = overlay
    assert {o["kind"] for o in objects} == EXPECTED_KINDS
    unchecked = []
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            unchecked.append(obj["kind"])
        except kubernetes_validate.ValidationError as error:
            path = ".".join(map(str, error.path))
            pytest.fail(f"{obj['kind']}/{obj['metadata']['name']}: {path}: {error.message}")
    assert set(unchecked) == OPERATOR_KINDS, unchecked


def test_strict_validation_rejects_an_unknown_field(overlay):
    """The validation above would catch a misspelt field: strict mode knows every field."""
    _, objects = overlay
    deployment = json.loads(json.dumps(only(objects, "Deployment")))
    deployment["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_probes_ask_real_routes_of_the_service(overlay, service_url):
    _, objects = overlay
    api = container(objects, "Deployment")
    ports = {port["name"]: port["containerPort"] for port in api["ports"]}
    probes = {name: api[f"{name}Probe"]["httpGet"] for name in ("startup", "readiness", "liveness")}
    assert probes["readiness"]["path"] == probes["startup"]["path"] == "/health/ready"
    assert probes["liveness"]["path"] == "/health/live"
    for name, probe in probes.items():
        assert probe["port"] in ports, (name, probe, ports)
        response = httpx.get(f"{service_url}{probe['path']}", timeout=5)
        assert response.status_code == 200, (name, probe["path"], response.status_code)


def test_containers_match_the_dockerfile(overlay, dockerfile):
    name, objects = overlay
    serve, train = dockerfile["serve"], dockerfile["train"]
    api = container(objects, "Deployment")
    assert api["command"] == json.loads(arguments(serve, "CMD")[-1])
    (exposed,) = arguments(serve, "EXPOSE")
    assert [port["containerPort"] for port in api["ports"]] == [int(exposed)]
    assert env(api)["COREBERT_PORT"] == exposed
    assert api["image"] == COMPOSE_IMAGES[name]
    trainer = container(objects, "Job")
    assert trainer["command"] == json.loads(arguments(train, "CMD")[-1])
    assert trainer["image"] == TRAINER_IMAGE
    uids = {int(uid) for uid in re.findall(r"--uid (\d+)", DOCKERFILE.read_text())}
    for kind in ("Deployment", "Job"):
        assert {pod_spec(objects, kind)["securityContext"]["runAsUser"]} == uids, kind


def test_the_api_serves_the_model_the_job_builds(overlay):
    _, objects = overlay
    (output_dir,) = container(objects, "Job")["command"][1:]
    api = container(objects, "Deployment")
    assert env(api)["COREBERT_MODEL_DIR"] == f"{output_dir}/artifact"
    claims = {
        kind: {
            v["name"]: v["persistentVolumeClaim"]["claimName"]
            for v in pod_spec(objects, kind)["volumes"]
            if "persistentVolumeClaim" in v
        }
        for kind in ("Deployment", "Job")
    }
    assert claims["Deployment"] == claims["Job"] == {"artifacts": "corebert-artifacts"}
    mounts = {m["name"]: m for m in api["volumeMounts"]}
    assert mounts["artifacts"]["readOnly"] is True
    assert output_dir.startswith(mounts["artifacts"]["mountPath"] + "/")
    (wait,) = pod_spec(objects, "Deployment")["initContainers"]
    assert f"{output_dir}/artifact/metadata.json" in " ".join(wait["command"])


@pytest.mark.parametrize("kind", ["Deployment", "Job"])
def test_containers_run_locked_down(overlay, kind):
    _, objects = overlay
    spec = pod_spec(objects, kind)
    assert spec["securityContext"]["runAsNonRoot"] is True
    for item in spec["containers"] + spec.get("initContainers", []):
        security = item["securityContext"]
        assert security["readOnlyRootFilesystem"] is True, item["name"]
        assert security["allowPrivilegeEscalation"] is False, item["name"]
        assert security["capabilities"]["drop"] == ["ALL"], item["name"]
        assert item["resources"]["requests"] and item["resources"]["limits"], item["name"]


def test_shutdown_outlasts_the_drain(overlay):
    """Kubernetes kills the pod after terminationGracePeriodSeconds, counted from the preStop
    pause: the pause and the service's drain must both fit."""
    _, objects = overlay
    spec = pod_spec(objects, "Deployment")
    api = container(objects, "Deployment")
    pause = api["lifecycle"]["preStop"]["sleep"]["seconds"]
    default = Settings.model_fields["shutdown_timeout_s"].default
    drain = float(env(api).get("COREBERT_SHUTDOWN_TIMEOUT_S", default))
    assert spec["terminationGracePeriodSeconds"] > pause + drain


def test_overlays_pick_the_device(overlay):
    name, objects = overlay
    api = container(objects, "Deployment")
    limits = api["resources"]["limits"]
    if name == "gpu":
        assert env(api)["COREBERT_DEVICE"] == "cuda"
        assert limits[GPU_RESOURCE] == 1
    else:
        assert env(api)["COREBERT_DEVICE"] == "cpu"
        assert GPU_RESOURCE not in limits
        requested = api["resources"]["requests"]["cpu"]
        assert env(api)["COREBERT_INTRA_OP_THREADS"] == requested == limits["cpu"]


def test_service_pdb_and_monitor_select_the_api_pods(overlay):
    _, objects = overlay
    deployment = only(objects, "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    service = only(objects, "Service")

    def selects(selector: dict) -> bool:
        return selector.items() <= pod_labels.items()

    assert selects(deployment["spec"]["selector"]["matchLabels"])
    assert selects(service["spec"]["selector"])
    assert selects(only(objects, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"])
    (port,) = service["spec"]["ports"]
    assert port["targetPort"] == "http"
    monitor = only(objects, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["namespace"] == service["metadata"]["namespace"]
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == port["name"] and endpoint["path"] == "/metrics"
    # The job label is the Service's part-of label: the dashboard's default job.
    assert service["metadata"]["labels"][monitor["spec"]["jobLabel"]] == "corebert"


def test_hpa_scales_the_deployment_fast_up_slow_down(overlay):
    _, objects = overlay
    hpa = only(objects, "HorizontalPodAutoscaler")["spec"]
    assert hpa["scaleTargetRef"]["name"] == only(objects, "Deployment")["metadata"]["name"]
    assert hpa["minReplicas"] >= 2 and hpa["maxReplicas"] > hpa["minReplicas"]
    up, down = hpa["behavior"]["scaleUp"], hpa["behavior"]["scaleDown"]
    assert up["stabilizationWindowSeconds"] == 0
    assert down["stabilizationWindowSeconds"] >= 300
    most_down = max(p["value"] for p in down["policies"] if p["type"] == "Pods")
    assert most_down == 1 and all(p["type"] == "Pods" for p in down["policies"])


def test_hpa_metric_is_one_the_service_exports(service_url):
    """HPA metric -> the adapter rule that serves it -> a series of the service's /metrics, with
    the pod labels the ServiceMonitor's scrape adds."""
    rule = k8s.adapter_rule(k8s.hpa_metric_name())
    exported = exported_families(httpx.get(f"{service_url}/metrics", timeout=10).text)
    assert k8s.adapter_series(rule) in exported, (rule, sorted(exported))
    overrides = rule["resources"]["overrides"]
    assert overrides == {"namespace": {"resource": "namespace"}, "pod": {"resource": "pod"}}
    for template in ("<<.Series>>", "<<.LabelMatchers>>", "<<.GroupBy>>"):
        assert template in rule["metricsQuery"], template


def test_dashboard_shows_the_autoscaling_metric_as_the_adapter_computes_it():
    rule = k8s.adapter_rule(k8s.hpa_metric_name())
    expected = k8s.adapter_query(rule, 'job="$job", instance=~"$instance"', "instance")
    (path,) = sorted(DASHBOARD_DIR.glob("*.json"))
    panels = [q for q in panel_queries(path) if "autoscaling" in q.panel.lower()]
    assert [q.expr for q in panels] == [expected]


def test_dashboard_configmap_is_the_dashboard_file(overlay):
    _, objects = overlay
    (config_map,) = [o for o in objects if o["kind"] == "ConfigMap"]
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    files = {path.name: path for path in DASHBOARD_DIR.glob("*.json")}
    assert set(config_map["data"]) == set(files)
    for name, text in config_map["data"].items():
        assert text == Path(files[name]).read_text(), name
