"""`python -m service`: serve with uvicorn, every setting from the COREBERT_ environment."""

from __future__ import annotations

import math

import uvicorn

from service.app import create_app
from service.config import Settings


def main() -> None:
    settings = Settings()
    # On SIGTERM uvicorn stops accepting, waits up to timeout_graceful_shutdown for running
    # requests, then the lifespan drains the queue. No logging configuration of uvicorn's own:
    # its lines go to the service's handler, in COREBERT_LOG_FORMAT, with their request ids.
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        log_config=None,
        timeout_graceful_shutdown=math.ceil(settings.shutdown_timeout_s),
    )


if __name__ == "__main__":
    main()
