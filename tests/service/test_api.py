"""POST /classify and the other endpoints, over httpx, with the tiny exported model."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import anyio
import numpy as np
import onnxruntime as ort
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tokenizers import Tokenizer

from tests.service.helpers import queue_depth, serve

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

LABELS = ["class_0", "class_1", "class_2"]


class Reference:
    """Softmax of the model's logits for one document alone, straight from ONNX Runtime."""

    def __init__(self, artifact: Path) -> None:
        self.tokenizer = Tokenizer.from_file(str(artifact / "tokenizer.json"))
        self.tokenizer.enable_truncation(64)
        self.session = ort.InferenceSession(
            str(artifact / "model.onnx"), providers=["CPUExecutionProvider"]
        )

    def logits(self, text: str) -> np.ndarray:
        ids = np.array([self.tokenizer.encode(text).ids], dtype=np.int64)
        (logits,) = self.session.run(
            ["logits"], {"input_ids": ids, "attention_mask": np.ones_like(ids)}
        )
        return logits[0]

    def __call__(self, text: str) -> np.ndarray:
        logits = self.logits(text)
        exp = np.exp(logits - logits.max())
        return exp / exp.sum()


@pytest.fixture(scope="module")
def reference(tiny_artifact: Path) -> Reference:
    return Reference(tiny_artifact)


def scores_by_label(result: dict) -> np.ndarray:
    by_label = {entry["label"]: entry["score"] for entry in result["labels"]}
    return np.array([by_label[label] for label in LABELS])


async def wait_until(condition, timeout_s: float = 20.0) -> None:
    with anyio.fail_after(timeout_s):
        while not condition():
            await anyio.sleep(0.005)


def counter_by_label(samples: dict[str, list], family: str, label: str) -> dict[str, float]:
    """{label value: count} of a counter family, e.g. errors by type."""
    return {s.labels[label]: s.value for s in samples[family] if s.name.endswith("_total")}


def metric_samples(text: str) -> dict[str, list]:
    """Prometheus exposition text -> {family name: [samples]}."""
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


async def test_classify_returns_one_result_per_document_in_order(
    settings_for, tiny_classifier, reference
):
    texts = ["the film was brilliant", "market shares fell as the bank cut its profit forecast"]
    body = {"documents": [texts[0], {"id": "doc-7", "text": texts[1]}], "top_k": 2}
    async with serve(settings_for(), tiny_classifier) as client:
        response = await client.post("/classify", json=body)
    assert response.status_code == 200, response.text
    payload = response.json()
    assert payload["model"] == {"name": "tiny-pfc", "version": "0.0.0", "variant": "pfc"}
    first, second = payload["results"]
    assert "id" not in first and second["id"] == "doc-7"
    assert first["num_tokens"] == 6 and first["truncated"] is False
    for result, text in zip(payload["results"], texts, strict=True):
        expected = reference(text)
        assert len(result["labels"]) == 2
        assert result["label"] == result["labels"][0]["label"] == LABELS[int(expected.argmax())]
        assert result["score"] == pytest.approx(float(expected.max()), abs=1e-5)
        assert result["labels"][0]["score"] >= result["labels"][1]["score"]
        for entry in result["labels"]:
            assert entry["score"] == pytest.approx(expected[LABELS.index(entry["label"])], abs=1e-5)


async def test_raw_scores_gives_logits_in_the_order_of_the_probabilities(
    settings_for, tiny_classifier, reference
):
    texts = ["the film was brilliant", "market shares fell as the bank cut its profit forecast"]
    async with serve(settings_for(), tiny_classifier) as client:
        raw = await client.post(
            "/classify", json={"documents": texts, "top_k": 3, "raw_scores": True}
        )
        probabilities = await client.post("/classify", json={"documents": texts, "top_k": 3})
    assert raw.status_code == 200, raw.text
    for raw_result, result, text in zip(
        raw.json()["results"], probabilities.json()["results"], texts, strict=True
    ):
        logits = reference.logits(text)
        assert [e["label"] for e in raw_result["labels"]] == [e["label"] for e in result["labels"]]
        assert raw_result["label"] == result["label"]
        assert raw_result["score"] == pytest.approx(float(logits.max()), abs=1e-4)
        for entry in raw_result["labels"]:
            assert entry["score"] == pytest.approx(logits[LABELS.index(entry["label"])], abs=1e-4)
        assert raw_result["num_tokens"] == result["num_tokens"]


async def test_top_k_is_capped_at_the_number_of_labels(settings_for, tiny_classifier):
    async with serve(settings_for(), tiny_classifier) as client:
        response = await client.post("/classify", json={"documents": ["a game"], "top_k": 10})
    assert response.status_code == 200
    (result,) = response.json()["results"]
    assert sorted(entry["label"] for entry in result["labels"]) == LABELS
    assert sum(entry["score"] for entry in result["labels"]) == pytest.approx(1.0, abs=1e-5)


async def test_over_length_documents_are_truncated_and_flagged(
    settings_for, tiny_classifier, reference
):
    text = "the striker scored in the final match of the season " * 20
    async with serve(settings_for(), tiny_classifier) as client:
        response = await client.post("/classify", json={"documents": [text]})
    assert response.status_code == 200
    (result,) = response.json()["results"]
    assert result["truncated"] is True and result["num_tokens"] == 64
    expected = reference(text)  # truncated the same way
    assert result["score"] == pytest.approx(float(expected.max()), abs=1e-5)


async def test_health_model_and_docs_endpoints(settings_for, tiny_artifact):
    metadata = json.loads((tiny_artifact / "metadata.json").read_text())
    async with serve(settings_for()) as client:
        live = await client.get("/health/live")
        ready = await client.get("/health/ready")
        model = await client.get("/v1/model")
        docs = await client.get("/docs")
        openapi = await client.get("/openapi.json")
        live_metrics = metric_samples((await client.get("/metrics")).text)
        await client.app.state.engine.stop()  # what the lifespan does on SIGTERM
        not_ready = await client.get("/health/ready")
        refused = await client.post("/classify", json={"documents": ["a game"]})
        stopped_metrics = metric_samples((await client.get("/metrics")).text)
    assert live.status_code == 200 and live.json() == {"status": "alive"}
    assert ready.status_code == 200 and ready.json() == {"status": "ready"}
    assert not_ready.status_code == 503 and not_ready.json() == {"status": "not ready"}
    assert live_metrics["corebert_ready"][0].value == 1
    assert stopped_metrics["corebert_ready"][0].value == 0
    assert refused.status_code == 503 and refused.json()["error"]["type"] == "not_ready"
    info = model.json()
    assert info["labels"] == LABELS and info["variant"] == "pfc"
    assert info["provider"] == "CPUExecutionProvider"
    assert info["precision"] == "fp32"  # auto, and the artifact has no int8 graph
    assert info["metrics"] == metadata["metrics"] and info["max_length"] == 64
    assert info["metadata"]["parity"] == metadata["parity"]
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    paths = openapi.json()["paths"]
    assert {"/classify", "/health/live", "/health/ready", "/v1/model"} <= set(paths)


async def test_a_model_trained_with_a_warning_says_so_at_start_and_in_model_info(
    tiny_artifact, settings_for, tmp_path, caplog
):
    import shutil

    artifact = shutil.copytree(tiny_artifact, tmp_path / "artifact")
    metadata = json.loads((artifact / "metadata.json").read_text())
    warning = "degenerate model: 100% of the test documents get 'sport'"
    (artifact / "metadata.json").write_text(json.dumps({**metadata, "warnings": [warning]}))
    async with serve(settings_for().model_copy(update={"model_dir": artifact})) as client:
        info = (await client.get("/v1/model")).json()
    assert info["warnings"] == [warning]
    assert f"trained with a warning: {warning}" in caplog.text
    async with serve(settings_for()) as client:
        assert (await client.get("/v1/model")).json()["warnings"] == []


async def test_cuda_requested_without_a_gpu_serves_on_cpu(settings_for, caplog):
    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this machine has the CUDA provider")
    async with serve(settings_for(device="cuda")) as client:
        info = (await client.get("/v1/model")).json()
        metrics = metric_samples((await client.get("/metrics")).text)
        response = await client.post("/classify", json={"documents": ["a game"]})
    assert response.status_code == 200
    assert info["provider"] == "CPUExecutionProvider"
    assert "device=cuda was requested" in caplog.text
    (model_info,) = metrics["corebert_model_info"]
    assert model_info.labels["provider"] == "CPUExecutionProvider"
    assert "corebert_gpu_memory_used_bytes" not in metrics


BAD_BODIES = {
    "empty list": ({"documents": []}, "documents", None),
    "too many documents": ({"documents": ["a"] * 5}, "documents", None),
    "empty text": ({"documents": ["fine", ""]}, "documents[1].text", 1),
    "whitespace text": ({"documents": ["fine", "ok", " \n\t "]}, "documents[2].text", 2),
    "blank text in an object": ({"documents": [{"id": "x", "text": "  "}]}, "documents[0].text", 0),
    "non-string document": ({"documents": ["fine", 42]}, "documents[1]", 1),
    "non-string text": ({"documents": [{"text": ["a"]}]}, "documents[0].text", 0),
    "unknown top-level field": ({"documents": ["a"], "lang": "en"}, "lang", None),
    "unknown document field": (
        {"documents": [{"text": "a", "lang": "en"}]},
        "documents[0].lang",
        0,
    ),
    "text over the character limit": ({"documents": ["a", "x" * 51]}, "documents[1].text", 1),
    "missing documents": ({"top_k": 1}, "documents", None),
    "top_k below one": ({"documents": ["a"], "top_k": 0}, "top_k", None),
    "raw_scores a word": ({"documents": ["a"], "raw_scores": "yes"}, "raw_scores", None),
    "raw_scores a string": ({"documents": ["a"], "raw_scores": "true"}, "raw_scores", None),
    "raw_scores a number": ({"documents": ["a"], "raw_scores": 1}, "raw_scores", None),
    "raw_scores null": ({"documents": ["a"], "raw_scores": None}, "raw_scores", None),
    "a null id": ({"documents": ["fine", {"id": None, "text": "0"}]}, "documents[1].id", 1),
    "a numeric id": ({"documents": [{"id": 7, "text": "0"}]}, "documents[0].id", 0),
    "top_k a string": ({"documents": ["a"], "top_k": "2"}, "top_k", None),
    "top_k a boolean": ({"documents": ["a"], "top_k": True}, "top_k", None),
    "top_k a fraction": ({"documents": ["a"], "top_k": 1.5}, "top_k", None),
    "text of separators only": ({"documents": ["\x1c\u2028\xa0"]}, "documents[0].text", 0),
    "truncation unknown": ({"documents": ["a"], "truncation": "middle"}, "truncation", None),
    "truncation in capitals": ({"documents": ["a"], "truncation": "Chunks"}, "truncation", None),
    "truncation a number": ({"documents": ["a"], "truncation": 1}, "truncation", None),
    "truncation null": ({"documents": ["a"], "truncation": None}, "truncation", None),
}


@pytest.mark.parametrize("case", BAD_BODIES, ids=list(BAD_BODIES))
async def test_bad_input_gets_422_naming_field_and_document(settings_for, tiny_classifier, case):
    body, field, index = BAD_BODIES[case]
    settings = settings_for(max_documents_per_request=4, max_document_chars=50)
    async with serve(settings, tiny_classifier) as client:
        response = await client.post("/classify", json=body)
        after = await client.post("/classify", json={"documents": ["the next one"]})
        metrics = metric_samples((await client.get("/metrics")).text)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["type"] == "validation"
    assert field in error["message"]
    assert any(d["field"] == field and d["document_index"] == index for d in error["details"])
    assert after.status_code == 200
    errors = counter_by_label(metrics, "corebert_errors", "type")
    assert errors["validation"] == 1
    if field == "raw_scores":  # the allowed values
        assert "raw_scores: Input should be true or false" in error["message"]
    if field == "truncation":
        allowed = "truncation: Input should be 'right', 'left', 'head_tail' or 'chunks'"
        assert allowed in error["message"]
    if any(d["type"] == "string_pattern_mismatch" for d in error["details"]):
        assert f"{field}: text is empty or whitespace only" in error["message"]


async def test_a_whole_number_top_k_is_an_integer(settings_for, tiny_classifier):
    """JSON Schema's integer: 2.0 is one, as the published schema promises."""
    async with serve(settings_for(), tiny_classifier) as client:
        response = await client.post("/classify", json={"documents": ["a game"], "top_k": 2.0})
    assert response.status_code == 200
    assert len(response.json()["results"][0]["labels"]) == 2


async def test_a_body_that_is_not_utf8_gets_400(settings_for, tiny_classifier):
    async with serve(settings_for(), tiny_classifier) as client:
        response = await client.post(
            "/classify",
            content=b'{"documents": ["caf\xe9"]}',
            headers={"content-type": "application/json"},
        )
        after = await client.post("/classify", json={"documents": ["the next one"]})
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "bad_request"
    assert after.status_code == 200


async def test_unknown_paths_and_methods_get_the_error_body(settings_for, tiny_classifier):
    async with serve(settings_for(), tiny_classifier) as client:
        missing = await client.get("/nowhere")
        wrong_method = await client.delete("/classify")
        metrics = metric_samples((await client.get("/metrics")).text)
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found"
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["type"] == "method_not_allowed"
    assert wrong_method.headers["allow"] == "POST"
    errors = counter_by_label(metrics, "corebert_errors", "type")
    assert errors["not_found"] == 1 and errors["method_not_allowed"] == 1


async def test_malformed_json_gets_422(settings_for, tiny_classifier):
    async with serve(settings_for(), tiny_classifier) as client:
        response = await client.post(
            "/classify", content=b'{"documents": [', headers={"content-type": "application/json"}
        )
        after = await client.post("/classify", json={"documents": ["the next one"]})
    assert response.status_code == 422 and response.json()["error"]["type"] == "validation"
    assert after.status_code == 200


async def test_body_over_the_size_limit_gets_413(settings_for, tiny_classifier):
    big = {"documents": ["word " * 400]}  # about 2 KB of JSON

    async def chunks():
        payload = json.dumps(big).encode()
        for start in range(0, len(payload), 256):
            yield payload[start : start + 256]

    async with serve(settings_for(max_body_bytes=1024), tiny_classifier) as client:
        declared = await client.post("/classify", json=big)
        streamed = await client.post(  # no Content-Length: counted while reading
            "/classify", content=chunks(), headers={"content-type": "application/json"}
        )
        after = await client.post("/classify", json={"documents": ["the next one"]})
        metrics = metric_samples((await client.get("/metrics")).text)
    for response in (declared, streamed):
        assert response.status_code == 413
        assert response.json()["error"]["type"] == "payload_too_large"
        assert "1024 bytes" in response.json()["error"]["message"]
    assert after.status_code == 200
    requests_by_status = counter_by_label(metrics, "corebert_requests", "status")
    assert {status: n for status, n in requests_by_status.items() if n} == {"413": 2, "200": 1}
    assert counter_by_label(metrics, "corebert_errors", "type")["payload_too_large"] == 2


async def test_api_key_is_required_when_configured(settings_for, tiny_classifier):
    body = {"documents": ["a game"]}
    async with serve(settings_for(api_key="s3cret"), tiny_classifier) as client:
        missing = await client.post("/classify", json=body)
        wrong = await client.post("/classify", json=body, headers={"X-API-Key": "nope"})
        wrong_bearer = await client.get("/v1/model", headers={"Authorization": "Bearer nope"})
        bearer = await client.post(
            "/classify", json=body, headers={"Authorization": "Bearer s3cret"}
        )
        header = await client.get("/v1/model", headers={"X-API-Key": "s3cret"})
        open_endpoints = [await client.get(path) for path in ("/health/ready", "/metrics")]
    for response in (missing, wrong, wrong_bearer):
        assert response.status_code == 401
        assert response.json()["error"]["type"] == "unauthorized"
        assert response.headers["www-authenticate"] == "Bearer"
    assert "missing API key" in missing.json()["error"]["message"]
    assert bearer.status_code == 200 and header.status_code == 200
    assert all(response.status_code == 200 for response in open_endpoints)


async def test_queue_full_gets_429_with_retry_after(settings_for, gated_classifier):
    settings = settings_for(
        max_batch_documents=1, max_queue_documents=3, max_documents_per_request=3, max_chunks=1
    )
    async with serve(settings, gated_classifier) as client:
        gated_classifier.gate.clear()
        running = asyncio.create_task(client.post("/classify", json={"documents": ["one"]}))
        await wait_until(lambda: len(gated_classifier.batches) == 1)
        queued = asyncio.create_task(client.post("/classify", json={"documents": ["a", "b", "c"]}))
        await wait_until(lambda: queue_depth(client) == 3)
        refused = await client.post("/classify", json={"documents": ["four"]})
        gated_classifier.gate.set()
        assert (await running).status_code == 200 and (await queued).status_code == 200
        after = await client.post("/classify", json={"documents": ["five"]})
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "1"
    assert refused.json()["error"]["type"] == "queue_full"
    assert after.status_code == 200


async def test_a_request_over_its_timeout_gets_504_and_its_documents_never_run(
    settings_for, gated_classifier
):
    async with serve(
        settings_for(request_timeout_s=0.3, max_batch_documents=1), gated_classifier
    ) as client:
        gated_classifier.gate.clear()
        stuck = asyncio.create_task(client.post("/classify", json={"documents": ["one"]}))
        await wait_until(lambda: len(gated_classifier.batches) == 1)
        queued = await client.post("/classify", json={"documents": ["the game"]})
        gated_classifier.gate.set()
        after = await client.post("/classify", json={"documents": ["the good game"]})
        metrics = metric_samples((await client.get("/metrics")).text)
    for response in (await stuck, queued):
        assert response.status_code == 504
        assert response.json()["error"]["type"] == "timeout"
    assert after.status_code == 200
    assert [len(batch[0]) for batch in gated_classifier.batches] == [3, 5]  # "the game" never ran
    errors = counter_by_label(metrics, "corebert_errors", "type")
    assert errors["timeout"] == 2
    (dropped,) = [s for s in metrics["corebert_dropped_documents"] if s.name.endswith("total")]
    assert dropped.value == 1


async def test_a_failing_batch_fails_only_its_requests(
    settings_for, tiny_artifact, gated_classifier
):
    tokenizer = Tokenizer.from_file(str(tiny_artifact / "tokenizer.json"))
    gated_classifier.fail_on_token = tokenizer.token_to_id("awful")
    async with serve(settings_for(max_batch_documents=1), gated_classifier) as client:
        responses = await asyncio.gather(
            *(
                client.post("/classify", json={"documents": [text]})
                for text in ("a good game", "an awful film", "the best team")
            )
        )
        after = await client.post("/classify", json={"documents": ["a great movie"]})
    statuses = [response.status_code for response in responses]
    assert statuses == [200, 500, 200]
    error = responses[1].json()["error"]
    assert error["type"] == "inference" and "injected failure" in error["message"]
    assert after.status_code == 200


async def test_a_client_that_leaves_has_its_documents_dropped(settings_for, gated_classifier):
    settings = settings_for(max_batch_documents=1)
    async with serve(settings, gated_classifier) as client:
        app = client.app
        gated_classifier.gate.clear()
        running = asyncio.create_task(client.post("/classify", json={"documents": ["one"]}))
        await wait_until(lambda: len(gated_classifier.batches) == 1)
        gone = asyncio.Event()
        sent: list[dict] = []
        leaving = asyncio.create_task(raw_post(app, b'{"documents": ["the game"]}', gone, sent))
        await wait_until(lambda: queue_depth(client) == 1)
        gone.set()
        await leaving
        gated_classifier.gate.set()
        assert (await running).status_code == 200
        after = await client.post("/classify", json={"documents": ["the good game"]})
        metrics = metric_samples((await client.get("/metrics")).text)
    assert sent[0]["status"] == 499
    assert after.status_code == 200
    assert [len(batch[0]) for batch in gated_classifier.batches] == [3, 5]
    errors = counter_by_label(metrics, "corebert_errors", "type")
    assert errors["client_disconnected"] == 1


async def raw_post(app, body: bytes, gone: asyncio.Event, sent: list[dict]) -> None:
    """POST /classify at the ASGI level; the client disconnects once `gone` is set."""
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict:
        if messages:
            return messages.pop(0)
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/classify",
        "raw_path": b"/classify",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("corebert", 80),
    }
    await app(scope, receive, send)


async def test_64_concurrent_requests_are_batched_correct_and_in_order(
    settings_for, reference, gated_classifier
):
    words = "the game was a great match for the team and the best player of the season".split()
    word_counts = [1 + i % 60 for i in range(64)]  # every word is one token of the vocabulary
    texts = [
        " ".join(words[(i + j) % len(words)] for j in range(n)) for i, n in enumerate(word_counts)
    ]
    async with serve(settings_for(max_batch_documents=16), gated_classifier) as client:
        gated_classifier.gate.clear()
        requests = [
            asyncio.create_task(
                client.post(
                    "/classify", json={"documents": [{"id": f"d{i}", "text": text}], "top_k": 3}
                )
            )
            for i, text in enumerate(texts)
        ]
        await wait_until(lambda: len(gated_classifier.batches) >= 1 and queue_depth(client) >= 32)
        gated_classifier.gate.set()
        responses = await asyncio.gather(*requests)
        metrics = metric_samples((await client.get("/metrics")).text)
    for i, (response, text) in enumerate(zip(responses, texts, strict=True)):
        assert response.status_code == 200, response.text
        (result,) = response.json()["results"]
        assert result["id"] == f"d{i}"
        assert result["num_tokens"] == word_counts[i] + 2  # [CLS] ... [SEP]
        np.testing.assert_allclose(scores_by_label(result), reference(text), atol=1e-5)
    batch_sizes = {
        s.labels.get("le"): s.value
        for s in metrics["corebert_batch_size_documents"]
        if s.name.endswith("bucket")
    }
    assert batch_sizes["1.0"] < batch_sizes["+Inf"]  # some batches held more than one document
    assert max(len(batch) for batch in gated_classifier.batches) > 1


EXPECTED_FAMILIES = {
    # family name (prometheus_client drops _total from counters) -> label names
    "corebert_request_duration_seconds": set(),
    "corebert_queue_wait_seconds": set(),
    "corebert_tokenization_duration_seconds": set(),
    "corebert_inference_duration_seconds": set(),
    "corebert_batch_size_documents": set(),
    "corebert_batch_size_tokens": set(),
    "corebert_document_length_tokens": set(),
    "corebert_kept_kv_ratio": set(),
    "corebert_requests": {"status"},
    "corebert_documents": {"label"},
    "corebert_tokens": set(),
    "corebert_padding_tokens": set(),
    "corebert_truncated_documents": set(),
    "corebert_dropped_documents": set(),
    "corebert_errors": {"type"},
    "corebert_queue_depth": set(),
    "corebert_requests_in_flight": set(),
    "corebert_process_resident_memory_bytes": set(),
    "corebert_ready": set(),
    "corebert_model_info": {"name", "version", "variant", "provider", "precision"},
}


async def test_metrics_have_the_agreed_names_and_labels_after_traffic(
    settings_for, tiny_classifier
):
    async with serve(settings_for(), tiny_classifier) as client:
        await client.post("/classify", json={"documents": ["a good game", "the market " * 50]})
        await client.post("/classify", json={"documents": []})
        response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    families = metric_samples(response.text)
    for name, label_names in EXPECTED_FAMILIES.items():
        assert name in families, name
        assert all(set(s.labels) - {"le"} == label_names for s in families[name]), name
    values = {
        (s.name, tuple(sorted(s.labels.items()))): s.value for f in families.values() for s in f
    }
    assert values[("corebert_requests_total", (("status", "200"),))] == 1
    assert values[("corebert_requests_total", (("status", "422"),))] == 1
    assert values[("corebert_errors_total", (("type", "validation"),))] == 1
    for error_type in ("queue_full", "timeout", "inference", "unauthorized", "payload_too_large"):
        assert values[("corebert_errors_total", (("type", error_type),))] == 0
    assert sum(values[("corebert_documents_total", (("label", label),))] for label in LABELS) == 2
    assert values[("corebert_truncated_documents_total", ())] == 1
    assert values[("corebert_tokens_total", ())] == 5 + 64  # [CLS] a good game [SEP]; cut
    assert values[("corebert_document_length_tokens_count", ())] == 2
    assert values[("corebert_kept_kv_ratio_count", ())] == 2
    assert 0 < values[("corebert_kept_kv_ratio_sum", ())] < 2  # the pfc model prunes
    assert values[("corebert_process_resident_memory_bytes", ())] > 10_000_000
    assert values[("corebert_ready", ())] == 1
    assert values[("corebert_requests_in_flight", ())] == 0
    assert values[("corebert_queue_depth", ())] == 0
    info = (
        "corebert_model_info",
        (
            ("name", "tiny-pfc"),
            ("precision", "fp32"),
            ("provider", "CPUExecutionProvider"),
            ("variant", "pfc"),
            ("version", "0.0.0"),
        ),
    )
    assert values[info] == 1
