"""What the service reports to a tracer, and the tracer used when tracing is off.

Tracing is on when `COREBERT_OTLP_ENDPOINT` is set (or `create_app` is given a tracer
provider); `service.otel` then implements `Tracing` with OpenTelemetry. When it is off the
service uses `NoTracing`, and nothing of the OpenTelemetry SDK, exporter or instrumentation is
imported: this module imports none of it.

The spans, all recorded from `RequestTimings` and `BatchRun` (one clock for the headers and the
traces): each request's span gets children `corebert.tokenize`, `corebert.queue` and one
`corebert.inference` per model batch that ran its documents; each batch is a
`corebert.batch` span of its own that links the requests it served.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from fastapi import FastAPI

from service.types import BatchRun, RequestOrigin, RequestTimings

if TYPE_CHECKING:  # the API's type only; nothing of OpenTelemetry is imported to run this
    from opentelemetry.trace import TracerProvider


class Tracing(Protocol):
    def current_context(self) -> object | None:
        """The running request's trace context, to carry through the queue."""
        ...

    def annotate_request(self, request_id: str) -> None:
        """Put the request id on the running request's span."""
        ...

    def record_batch(
        self, batch: BatchRun, served: Sequence[RequestOrigin], error: BaseException | None
    ) -> object | None:
        """Record a batch that has run; returns its trace context (for the requests' spans)."""
        ...

    def record_request(self, timings: RequestTimings) -> None:
        """Record the running request's tokenization, queue wait and batches."""
        ...

    def shutdown(self) -> None:
        """Flush and stop what this tracer started."""
        ...


class NoTracing:
    """Tracing off: every call does nothing."""

    def current_context(self) -> object | None:
        return None

    def annotate_request(self, request_id: str) -> None:
        return None

    def record_batch(
        self, batch: BatchRun, served: Sequence[RequestOrigin], error: BaseException | None
    ) -> object | None:
        return None

    def record_request(self, timings: RequestTimings) -> None:
        return None

    def shutdown(self) -> None:
        return None


def start_tracing(
    app: FastAPI, otlp_endpoint: str | None, tracer_provider: TracerProvider | None = None
) -> Tracing:
    """OpenTelemetry tracing of `app` when a tracer provider or an OTLP endpoint is given
    (importing `service.otel` only then), else `NoTracing`."""
    if tracer_provider is None and otlp_endpoint is None:
        return NoTracing()
    try:
        from service.otel import OtelTracing, otlp_provider  # the tracing extra, only when on
    except ImportError as error:
        raise RuntimeError(
            f"COREBERT_OTLP_ENDPOINT is set ({otlp_endpoint}) but the tracing packages are not "
            f"installed: pip install 'corebert[tracing]' ({error})"
        ) from error

    if tracer_provider is not None:
        tracing = OtelTracing(tracer_provider, owns_provider=False)
    elif otlp_endpoint is not None:
        tracing = OtelTracing(otlp_provider(otlp_endpoint, app.version), owns_provider=True)
    tracing.instrument(app)
    return tracing
