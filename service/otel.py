"""OpenTelemetry tracing (the `tracing` extra): imported only when tracing is on.

The FastAPI instrumentation makes each request's server span; the engine and the batcher
report what they timed (`service.tracing.Tracing`), and the spans are written from those times
after the fact, so the model thread never touches the tracer. Spans go to an OTLP/HTTP
collector (`otlp_provider`), or to whatever provider `create_app` is given (tests use the SDK's
in-memory exporter).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Link, SpanContext, Status, StatusCode

from service.types import BatchRun, RequestOrigin, RequestTimings

TRACER_NAME = "corebert"
UNTRACED_URLS = "/health/,/metrics"  # probes and scrapes: no spans


def otlp_endpoint_for_traces(endpoint: str) -> str:
    """A collector's OTLP/HTTP address -> the URL spans are posted to."""
    endpoint = endpoint.rstrip("/")
    return endpoint if endpoint.endswith("/v1/traces") else f"{endpoint}/v1/traces"


def otlp_provider(endpoint: str, service_version: str) -> TracerProvider:
    """A tracer provider that batches spans to the collector at `endpoint`."""
    resource = Resource.create({"service.name": "corebert", "service.version": service_version})
    provider = TracerProvider(resource=resource)
    exporter = OTLPSpanExporter(endpoint=otlp_endpoint_for_traces(endpoint))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


class OtelTracing:
    """`Tracing` over an OpenTelemetry tracer provider."""

    def __init__(self, provider: trace.TracerProvider, owns_provider: bool) -> None:
        self._provider = provider
        self._owns_provider = owns_provider
        self._tracer = provider.get_tracer(TRACER_NAME)
        # perf_counter seconds -> nanoseconds since the epoch, as spans are stamped
        self._epoch_offset_ns = time.time_ns() - time.perf_counter_ns()

    def instrument(self, app: FastAPI) -> None:
        """A server span per request (not for health checks and scrapes)."""
        FastAPIInstrumentor.instrument_app(
            app,
            tracer_provider=self._provider,
            excluded_urls=UNTRACED_URLS,
            exclude_spans=["receive", "send"],
        )

    def current_context(self) -> object | None:
        context = trace.get_current_span().get_span_context()
        return context if context.is_valid else None

    def annotate_request(self, request_id: str) -> None:
        trace.get_current_span().set_attribute("corebert.request_id", request_id)

    def record_batch(
        self, batch: BatchRun, served: Sequence[RequestOrigin], error: BaseException | None
    ) -> object | None:
        requests = {
            origin.trace_context.span_id: origin.trace_context
            for origin in served
            if isinstance(origin.trace_context, SpanContext)
        }
        span = self._tracer.start_span(
            "corebert.batch",
            context=trace.set_span_in_context(trace.INVALID_SPAN),  # a root: it serves many
            attributes={
                "corebert.batch.number": batch.number,
                "corebert.batch.documents": batch.documents,
                "corebert.batch.padded_tokens": batch.padded_tokens,
                "corebert.batch.requests": len(requests),
            },
            links=[Link(context) for context in requests.values()],
            start_time=self._nanoseconds(batch.started),
        )
        if error is not None:
            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
        span.end(end_time=self._nanoseconds(batch.finished))
        return span.get_span_context()

    def record_request(self, timings: RequestTimings) -> None:
        """Children of the running request's span, from its timings."""
        self._span("corebert.tokenize", timings.tokenize_started, timings.tokenize_finished)
        if not timings.batches:
            return
        self._span("corebert.queue", timings.queued, timings.batches[0].started)
        for batch in timings.batches:
            link = batch.trace_context
            self._span(
                "corebert.inference",
                batch.started,
                batch.finished,
                attributes={
                    "corebert.batch.number": batch.number,
                    "corebert.batch.documents": batch.documents,
                },
                links=[Link(link)] if isinstance(link, SpanContext) else [],
            )

    def shutdown(self) -> None:
        """Flush and stop the provider built here; one given by the caller is the caller's."""
        if self._owns_provider and isinstance(self._provider, TracerProvider):
            self._provider.shutdown()

    def _span(
        self,
        name: str,
        started: float,
        finished: float,
        attributes: dict[str, int] | None = None,
        links: Sequence[Link] = (),
    ) -> None:
        span = self._tracer.start_span(
            name, attributes=attributes, links=links, start_time=self._nanoseconds(started)
        )
        span.end(end_time=self._nanoseconds(finished))

    def _nanoseconds(self, perf_counter_s: float) -> int:
        return round(perf_counter_s * 1e9) + self._epoch_offset_ns
