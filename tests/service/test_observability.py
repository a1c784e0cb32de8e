"""What a request leaves behind: its timing headers and request id, its log lines, its spans."""

from __future__ import annotations

import asyncio
import http.server
import json
import logging
import re
import sys
import threading
from typing import ClassVar

import anyio
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from service.logs import JsonFormatter, TextFormatter
from service.middleware import milliseconds
from tests.service.helpers import queue_depth, serve, tokenized_requests

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

TIMING_HEADERS = ("x-total-time", "x-tokenization-time", "x-queue-time", "x-inference-time")


async def wait_until(condition, timeout_s: float = 20.0) -> None:
    with anyio.fail_after(timeout_s):
        while not condition():
            await anyio.sleep(0.005)


def milliseconds_of(response, header: str) -> float:
    value = response.headers[header]
    assert re.fullmatch(r"\d+\.\d{3}", value), (header, value)
    return float(value)


def test_milliseconds_round_parts_down_and_totals_up() -> None:
    assert milliseconds(0.0123456) == "12.345"
    assert milliseconds(0.0123456, round_up=True) == "12.346"
    assert milliseconds(0.002) == "2.000"
    assert milliseconds(-1e-9) == "0.000"


async def test_timing_headers_are_present_and_add_up(settings_for, gated_classifier):
    body = {"documents": ["a good game", "the market fell"]}
    async with serve(settings_for(), gated_classifier) as client:
        gated_classifier.gate.clear()
        running = asyncio.create_task(client.post("/classify", json={"documents": ["one"]}))
        await wait_until(lambda: len(gated_classifier.batches) == 1)
        waiting = asyncio.create_task(client.post("/classify", json=body))
        await wait_until(lambda: queue_depth(client) == 2)  # it waits behind the first batch
        gated_classifier.gate.set()
        responses = [await running, await waiting]
    for response in responses:
        assert response.status_code == 200
        total, tokenization, queue, inference = (
            milliseconds_of(response, header) for header in TIMING_HEADERS
        )
        assert tokenization + queue + inference <= total
        assert inference > 0
        tokens = sum(result["num_tokens"] for result in response.json()["results"])
        assert response.headers["x-num-tokens"] == str(tokens)
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])  # generated
    assert responses[0].headers["x-request-id"] != responses[1].headers["x-request-id"]


async def test_a_given_request_id_is_echoed_on_every_answer(settings_for, tiny_classifier):
    headers = {"x-request-id": "checkout-42/retry 1"}
    async with serve(settings_for(max_body_bytes=1024), tiny_classifier) as client:
        ok = await client.post("/classify", json={"documents": ["a game"]}, headers=headers)
        invalid = await client.post("/classify", json={"documents": []}, headers=headers)
        too_large = await client.post(
            "/classify", json={"documents": ["word " * 400]}, headers=headers
        )
        health = await client.get("/health/live", headers=headers)
    for response in (ok, invalid, too_large, health):
        assert response.headers["x-request-id"] == "checkout-42/retry 1"
        assert float(response.headers["x-total-time"]) >= 0
    assert [r.status_code for r in (ok, invalid, too_large, health)] == [200, 422, 413, 200]
    assert "x-queue-time" not in invalid.headers  # timings of the model only when it ran


BAD_REQUEST_IDS = {
    "129 characters": "r" * 129,
    "a control character": "abc\x01def",
    "a tab": "abc\tdef",
    "DEL": "abc\x7f",
}


@pytest.mark.parametrize("case", BAD_REQUEST_IDS, ids=list(BAD_REQUEST_IDS))
async def test_an_invalid_request_id_gets_400_naming_the_header(
    settings_for, tiny_classifier, case
):
    async with serve(settings_for(), tiny_classifier) as client:
        refused = await client.post(
            "/classify",
            json={"documents": ["a game"]},
            headers={"x-request-id": BAD_REQUEST_IDS[case]},
        )
        after = await client.post(
            "/classify", json={"documents": ["a game"]}, headers={"x-request-id": "r" * 128}
        )
        errors = client.app.state.metrics.registry.get_sample_value(
            "corebert_errors_total", {"type": "bad_request"}
        )
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["type"] == "bad_request"
    assert "x-request-id" in error["message"] and "128 characters" in error["message"]
    assert [detail["field"] for detail in error["details"]] == ["x-request-id"]
    assert "no control characters" in error["details"][0]["message"]
    assert re.fullmatch(r"[0-9a-f]{32}", refused.headers["x-request-id"])  # not the bad one
    assert after.status_code == 200 and after.headers["x-request-id"] == "r" * 128
    assert errors == 1


def service_records(records: list[logging.LogRecord]) -> list[logging.LogRecord]:
    """The service's own lines (not those of the test's HTTP client)."""
    return [record for record in records if record.name.split(".")[0] == "service"]


async def test_every_log_line_of_a_request_carries_its_id(
    settings_for, tiny_artifact, gated_classifier, caplog
):
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tiny_artifact / "tokenizer.json"))
    gated_classifier.fail_on_token = tokenizer.token_to_id("awful")
    caplog.set_level(logging.DEBUG)
    async with serve(settings_for(log_level="debug"), gated_classifier) as client:
        caplog.clear()
        good = await client.post(
            "/classify", json={"documents": ["a good game"]}, headers={"x-request-id": "good-1"}
        )
        good_records = service_records(caplog.records)
        caplog.clear()
        failed = await client.post(
            "/classify", json={"documents": ["an awful film"]}, headers={"x-request-id": "bad-2"}
        )
        failed_records = service_records(caplog.records)
    assert good.status_code == 200 and failed.status_code == 500
    (summary,) = [r for r in good_records if r.getMessage() == "classified 1 documents"]
    assert summary.tokens == 5 and summary.batches == [1]
    assert {r.request_id for r in good_records} == {"good-1"}
    # the batch's own line belongs to every request it held: their ids are its field
    (batch_failure,) = [r for r in failed_records if "the model failed" in r.getMessage()]
    assert batch_failure.request_ids == ["bad-2"]
    assert {r.request_id for r in failed_records if r is not batch_failure} <= {"bad-2"}


def log_record(**extra) -> logging.LogRecord:
    record = logging.LogRecord(
        "service.engine", logging.INFO, __file__, 1, "classified %d documents", (3,), None
    )
    record.__dict__.update(extra)
    return record


def test_json_log_lines_hold_time_level_request_id_message_and_fields() -> None:
    line = JsonFormatter().format(log_record(request_id="r-1", tokens=42, batches=[7]))
    entry = json.loads(line)
    assert "\n" not in line
    assert entry["level"] == "info" and entry["logger"] == "service.engine"
    assert entry["request_id"] == "r-1"
    assert entry["message"] == "classified 3 documents"
    assert entry["fields"] == {"tokens": 42, "batches": [7]}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", entry["time"])
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        failing = log_record(request_id=None, exc_info=sys.exc_info())
    entry = json.loads(JsonFormatter().format(failing))
    assert entry["request_id"] is None and "RuntimeError: boom" in entry["exception"]


def test_text_log_lines_show_the_request_id_and_fields_when_there_are_some() -> None:
    with_id = TextFormatter().format(log_record(request_id="r-1", tokens=42))
    assert with_id.endswith(" INFO service.engine [r-1]: classified 3 documents tokens=42")
    without = TextFormatter().format(log_record(request_id=None))
    assert without.endswith(" INFO service.engine: classified 3 documents")


def traced() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def children(spans: list[ReadableSpan], parent: ReadableSpan) -> dict[str, list[ReadableSpan]]:
    by_name: dict[str, list[ReadableSpan]] = {}
    for span in spans:
        if span.parent is not None and span.parent.span_id == parent.context.span_id:
            by_name.setdefault(span.name, []).append(span)
    return by_name


async def test_spans_of_requests_and_of_the_batch_they_shared(settings_for, gated_classifier):
    provider, exporter = traced()
    async with serve(settings_for(), gated_classifier, tracer_provider=provider) as client:
        gated_classifier.gate.clear()
        first = asyncio.create_task(
            client.post("/classify", json={"documents": ["one"]}, headers={"x-request-id": "r0"})
        )
        await wait_until(lambda: len(gated_classifier.batches) == 1)
        shared = [
            asyncio.create_task(
                client.post(
                    "/classify",
                    json={"documents": [text, "and another"]},
                    headers={"x-request-id": request_id},
                )
            )
            for request_id, text in (("r1", "a good game"), ("r2", "the best team"))
        ]
        await wait_until(lambda: queue_depth(client) == 4 and tokenized_requests(client) == 3)
        gated_classifier.gate.set()
        assert [(await task).status_code for task in (first, *shared)] == [200, 200, 200]
        await client.get("/health/ready")  # probes are not traced
    spans = list(exporter.get_finished_spans())
    servers = {
        span.attributes["corebert.request_id"]: span
        for span in spans
        if span.kind == SpanKind.SERVER
    }
    assert set(servers) == {"r0", "r1", "r2"}
    batches = {
        span.attributes["corebert.batch.number"]: span
        for span in spans
        if span.name == "corebert.batch"
    }
    assert set(batches) == {1, 2}
    assert all(batch.parent is None for batch in batches.values())  # each a trace of its own
    linked = {
        number: {link.context.span_id for link in batch.links} for number, batch in batches.items()
    }
    assert linked == {
        1: {servers["r0"].context.span_id},
        2: {servers["r1"].context.span_id, servers["r2"].context.span_id},
    }
    assert batches[2].attributes["corebert.batch.documents"] == 4
    for request_id, number in (("r0", 1), ("r1", 2), ("r2", 2)):
        own = children(spans, servers[request_id])
        assert sorted(own) == ["corebert.inference", "corebert.queue", "corebert.tokenize"]
        (tokenize,), (queue,), (inference,) = (
            own["corebert.tokenize"],
            own["corebert.queue"],
            own["corebert.inference"],
        )
        assert tokenize.end_time <= queue.start_time
        assert queue.end_time == inference.start_time
        assert inference.attributes["corebert.batch.number"] == number
        (link,) = inference.links
        assert link.context.span_id == batches[number].context.span_id
        assert (inference.start_time, inference.end_time) == (
            batches[number].start_time,
            batches[number].end_time,
        )


async def test_a_failing_batch_span_says_so(settings_for, tiny_artifact, gated_classifier):
    from opentelemetry.trace import StatusCode
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tiny_artifact / "tokenizer.json"))
    gated_classifier.fail_on_token = tokenizer.token_to_id("awful")
    provider, exporter = traced()
    async with serve(settings_for(), gated_classifier, tracer_provider=provider) as client:
        response = await client.post("/classify", json={"documents": ["an awful film"]})
    assert response.status_code == 500
    (batch,) = [span for span in exporter.get_finished_spans() if span.name == "corebert.batch"]
    assert batch.status.status_code == StatusCode.ERROR
    assert "injected failure" in batch.status.description


class FakeCollector(http.server.BaseHTTPRequestHandler):
    """An OTLP/HTTP collector on 127.0.0.1 that keeps what it is sent."""

    received: ClassVar[list[tuple[str, str, bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        self.received.append((self.path, self.headers["content-type"], body))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args) -> None:  # quiet
        return None


async def test_spans_go_to_the_otlp_endpoint(settings_for, tiny_classifier):
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    FakeCollector.received = []
    collector = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeCollector)
    thread = threading.Thread(target=collector.serve_forever, daemon=True)
    thread.start()
    try:
        endpoint = f"http://127.0.0.1:{collector.server_address[1]}"
        async with serve(settings_for(otlp_endpoint=endpoint), tiny_classifier) as client:
            response = await client.post("/classify", json={"documents": ["a good game"]})
        # leaving `serve` ran the lifespan's shutdown, which flushes the spans
    finally:
        collector.shutdown()
        thread.join()
    assert response.status_code == 200
    assert {(path, kind) for path, kind, _ in FakeCollector.received} == {
        ("/v1/traces", "application/x-protobuf")
    }
    names, services = set(), set()
    for _, _, body in FakeCollector.received:
        export = ExportTraceServiceRequest.FromString(body)
        for resource_spans in export.resource_spans:
            attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            services.add(attributes["service.name"])
            names |= {span.name for scope in resource_spans.scope_spans for span in scope.spans}
    assert services == {"corebert"}
    assert {"POST /classify", "corebert.tokenize", "corebert.queue"} <= names
    assert {"corebert.inference", "corebert.batch"} <= names


def test_tracing_without_its_packages_fails_at_start_naming_the_extra(
    settings_for, monkeypatch
) -> None:
    from service.app import create_app

    monkeypatch.setitem(sys.modules, "service.otel", None)  # as if the extra were missing
    with pytest.raises(RuntimeError, match=r"COREBERT_OTLP_ENDPOINT is set .*corebert\[tracing\]"):
        create_app(settings_for(otlp_endpoint="http://127.0.0.1:4318"))
