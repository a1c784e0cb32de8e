#!/usr/bin/env bash
# Set up corebert and serve the default model on http://localhost:8000.
#
# On a fresh machine with Python 3.11: creates .venv with scripts/setup.sh, builds the default
# model on the first run (deploy/build-default-model.sh: MiniLM + BBC News, a few minutes on a
# CPU, with progress bars), then starts `python -m service`. Later runs reuse both.
#
# Environment (all optional):
#   COREBERT_MODEL_DIR   serve this artifact directory instead; nothing is built
#   COREBERT_EXTRAS      extras for scripts/setup.sh (default: train,serve)
#   COREBERT_SKIP_SETUP  1 = use .venv as it is, without running scripts/setup.sh
#   COREBERT_PORT, COREBERT_HOST, ... every service setting (docs/service.md) passes through.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${repo_root}"

if [[ "${COREBERT_SKIP_SETUP:-0}" != "1" ]]; then
    COREBERT_EXTRAS="${COREBERT_EXTRAS:-train,serve}" scripts/setup.sh
fi
# shellcheck source=/dev/null
source .venv/bin/activate

if [[ -z "${COREBERT_MODEL_DIR:-}" ]]; then
    deploy/build-default-model.sh artifacts/default
    export COREBERT_MODEL_DIR="${repo_root}/artifacts/default/artifact"
fi

echo "Serving ${COREBERT_MODEL_DIR} on http://${COREBERT_HOST:-0.0.0.0}:${COREBERT_PORT:-8000}"
exec python -m service
