"""scripts/serve.sh (the README's first command) and deploy/build-default-model.sh.

The serve test runs the real script in a copy of the repository layout whose default model is
already built (a tiny artifact) and whose setup is skipped (COREBERT_SKIP_SETUP=1, the venv of
this test run): it must reuse the model, start `python -m service` on it, and classify.
scripts/setup.sh and the default training run themselves take minutes and are not run here;
the training CLI is checked to accept the default run's options.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from benchmarks import harness
from benchmarks.default_recipe import default_training_argv
from tests.artifacts import tiny_label_names

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVE = REPO_ROOT / "scripts" / "serve.sh"
BUILD_DEFAULT = REPO_ROOT / "deploy" / "build-default-model.sh"


@pytest.fixture
def repository_with_default_model(tmp_path: Path, tiny_artifact: Path) -> Path:
    """scripts/, deploy/ and .venv laid out like a checkout, the default model already built."""
    venv = Path(sys.prefix)
    if not (venv / "bin" / "activate").exists():
        pytest.skip(f"the tests do not run in a virtual environment ({venv})")
    root = tmp_path / "corebert"
    (root / "scripts").mkdir(parents=True)
    (root / "deploy").mkdir()
    shutil.copy2(SERVE, root / "scripts" / SERVE.name)
    shutil.copy2(BUILD_DEFAULT, root / "deploy" / BUILD_DEFAULT.name)
    (root / ".venv").symlink_to(venv)
    shutil.copytree(tiny_artifact, root / "artifacts" / "default" / "artifact")
    return root


def test_serve_reuses_the_default_model_and_classifies(repository_with_default_model, tmp_path):
    root = repository_with_default_model
    port = harness.free_port()
    url = f"http://{harness.HOST}:{port}"
    env = harness.service_environment(
        port=port, device="cpu", intra_op_threads=1, log_level="warning", skip_setup=1
    )
    log = tmp_path / "serve.log"
    command = ["bash", str(root / "scripts" / "serve.sh")]
    with harness.running(command, log, env, cwd=tmp_path) as process:
        harness.wait_for_answer(
            process, log, f"{url}/health/ready", 120, f"scripts/serve.sh to serve on {url}"
        )
        response = httpx.post(
            f"{url}/classify", json={"documents": ["the bank raised its profit", "a film"]}
        )
    # uvicorn drains and then re-raises SIGTERM: -SIGTERM is a clean stop, -SIGKILL is not.
    assert process.returncode in (0, -signal.SIGTERM), harness.log_tail(log)
    assert response.status_code == 200, response.text
    output = log.read_text()
    assert "Reusing the default model in artifacts/default/artifact" in output, output
    served = root / "artifacts" / "default" / "artifact"
    assert f"Serving {served}" in output, output
    results = response.json()["results"]
    assert len(results) == 2
    assert all(result["label"] in tiny_label_names(3) for result in results), results


def test_build_default_model_keeps_a_complete_artifact(tmp_path, tiny_artifact):
    output_dir = tmp_path / "default"
    shutil.copytree(tiny_artifact, output_dir / "artifact")
    before = sorted((p.name, p.stat().st_mtime_ns) for p in (output_dir / "artifact").iterdir())
    result = subprocess.run(
        ["bash", str(BUILD_DEFAULT), str(output_dir)],
        env={**os.environ, "PATH": "/usr/bin:/bin"},  # outside the venv no training could run
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Reusing the default model" in result.stdout
    after = sorted((p.name, p.stat().st_mtime_ns) for p in (output_dir / "artifact").iterdir())
    assert after == before


def test_default_training_command_parses(tmp_path):
    """The training CLI accepts the default run's options and reads them as meant."""
    from training.__main__ import TRAIN_GROUPS, parse
    from training.corpora import CORPORA

    argv = default_training_argv(tmp_path / "default")
    _, (model_args, data_args, recipe, _), _ = parse(TRAIN_GROUPS, argv, "train", "")
    assert model_args.variant == "pfc" and model_args.paper_combine_layer == 7
    assert data_args.dataset == "bbc" and "bbc" in CORPORA
    assert recipe.max_length == 128
    assert recipe.epochs == 2 and recipe.learning_rate == 1e-4
    assert recipe.output_dir == str(tmp_path / "default")


def test_options_after_the_output_directory_are_appended_and_win():
    """benchmarks/default_model.py trains `bert` with the default's recipe this way."""
    from training.__main__ import TRAIN_GROUPS, parse

    argv = [*default_training_argv(Path("run")), "--variant", "bert", "--prune-queries", "false"]
    _, (model_args, _, recipe, _), _ = parse(TRAIN_GROUPS, argv, "train", "")
    assert model_args.variant == "bert" and not model_args.prune_queries
    assert recipe.max_length == 128  # the rest is the default's
    script = BUILD_DEFAULT.read_text()
    assert script.rstrip().endswith('"${@:2}"')
