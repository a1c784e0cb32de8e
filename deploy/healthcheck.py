"""Container health check: exit 0 when the local service answers `GET /health/ready` with 200.

Standard library only, so the serving image needs neither curl nor wget. The port comes from
`COREBERT_PORT` (default 8000), like the service's own setting.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

TIMEOUT_S = 4.0


def readiness_url() -> str:
    port = os.environ.get("COREBERT_PORT", "8000")
    return f"http://127.0.0.1:{port}/health/ready"


def main() -> int:
    url = readiness_url()
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    except (urllib.error.URLError, OSError) as error:
        print(f"not ready: {url}: {error}", file=sys.stderr)
        return 1
    if status != 200:
        print(f"not ready: {url} answered {status}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
