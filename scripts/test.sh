#!/usr/bin/env bash
# Set up the development environment, then run the checks (ruff, mypy over the packages) and the
# whole test suite: what CI runs.
#
# Needs Debian's prometheus package (the dashboard and replica tests), nginx (the replica
# test), and chromium with chromium-driver (the playground page's browser test); installed here
# when missing and running as root (apt), otherwise those tests are skipped with their reason.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${repo_root}"

missing=()
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
# nginx lives in /usr/sbin, outside a non-root PATH.
command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]] || missing+=(nginx)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
if ((${#missing[@]})) && [[ "$(id -u)" == "0" ]] && command -v apt-get >/dev/null; then
    echo "Installing Debian's ${missing[*]} package(s)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
COREBERT_EXTRAS=dev scripts/setup.sh
# shellcheck source=/dev/null
source .venv/bin/activate
ruff check .
ruff format --check .
# mypy (tens of seconds without its cache) runs beside the tests; its verdict is printed first
# if it fails, and pytest's summary stays the last line otherwise.
mypy_log="$(mktemp)"
mypy >"${mypy_log}" 2>&1 &
mypy_pid=$!
tests_status=0
python -m pytest "$@" || tests_status=$?
if ! wait "${mypy_pid}"; then
    cat "${mypy_log}"
    echo "mypy found type errors" >&2
    exit 1
fi
rm -f "${mypy_log}"
exit "${tests_status}"
