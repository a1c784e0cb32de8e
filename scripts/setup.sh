#!/usr/bin/env bash
# Create (or update) .venv with corebert and what it needs. Idempotent: a second run only
# checks that everything is installed.
#
#   COREBERT_EXTRAS   comma-separated extras of pyproject.toml (default: dev = train,serve,tests)
#   COREBERT_PYTHON   the interpreter that creates .venv (default: python3.11, else python3)
#
# torch is pinned to the CPU build 2.13.0 and installed first, so no extra pulls a CUDA build.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${repo_root}"
extras="${COREBERT_EXTRAS:-dev}"
python_bin="${COREBERT_PYTHON:-$(command -v python3.11 || command -v python3)}"

if [[ ! -x .venv/bin/python ]]; then
    echo "Creating .venv with ${python_bin}"
    "${python_bin}" -m venv .venv
fi
# shellcheck source=/dev/null
source .venv/bin/activate
export PIP_DISABLE_PIP_VERSION_CHECK=1

if [[ ",${extras}," == *",train,"* || ",${extras}," == *",dev,"* || ",${extras}," == *",model,"* ]]; then
    python -m pip install --quiet "torch==2.13.0"
fi
python -m pip install --quiet -e ".[${extras}]"
python -m pip install --quiet --no-deps -r requirements-data.txt
echo "corebert environment ready in .venv (extras: ${extras})"
