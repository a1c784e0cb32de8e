"""The service keeps its published API contract: schemathesis, with all its checks, against a
running `python -m service` on the tiny model, generating valid and invalid requests from the
OpenAPI document the service publishes. Zero failures allowed.

Bounded and reproducible: a fixed seed and at most `MAX_EXAMPLES` generated cases per operation
in the fuzzing phase (the examples and coverage phases derive theirs from the schema). The
schemathesis command line is the runner: its pytest plugin does not run under this pytest.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from benchmarks import harness
from service.schemas import NOT_BLANK, classify_request_model
from tests.service.helpers import serve

pytestmark = pytest.mark.timeout(600)

MAX_EXAMPLES = 40
SEED = 15
API_KEY = "contract-key"


def schemathesis_run(base_url: str, workdir: Path, *extra: str) -> subprocess.CompletedProcess:
    command = [
        *(sys.executable, "-m", "schemathesis.cli", "run", f"{base_url}/openapi.json"),
        *("--checks", "all", "--mode", "all", "--phases", "examples,coverage,fuzzing"),
        *("--max-examples", str(MAX_EXAMPLES), "--seed", str(SEED), "--workers", "1"),
        *("--generation-database", "none", "--request-timeout", "30", "--no-color"),
        *extra,
    ]
    return subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=540)


@pytest.mark.parametrize("with_api_key", [False, True], ids=["default", "api-key"])
def test_the_running_service_keeps_its_published_contract(
    tiny_artifact: Path, tmp_path: Path, with_api_key: bool
) -> None:
    settings = {"api_key": API_KEY} if with_api_key else {}
    auth = ("-H", f"Authorization: Bearer {API_KEY}") if with_api_key else ()
    with harness.service(
        tiny_artifact, tmp_path / "service.log", startup_timeout_s=60, **settings
    ) as served:
        completed = schemathesis_run(served.url, tmp_path, *auth)
    report = completed.stdout + completed.stderr
    assert completed.returncode == 0, report
    generated = re.search(r"(\d+) generated, (\d+) passed", report)
    assert generated is not None, report
    assert int(generated[1]) >= 100 and generated[1] == generated[2], report  # it did test
    for phase in ("Examples", "Coverage", "Fuzzing"):
        assert f"✅ {phase}" in report, report


STATUSES = {
    ("post", "/classify"): {"200", "400", "413", "422", "429", "500", "503", "504"},
    ("get", "/health/live"): {"200", "400", "500"},
    ("get", "/health/ready"): {"200", "400", "500", "503"},
    ("get", "/v1/model"): {"200", "400", "500"},
}
GUARDED = {("post", "/classify"), ("get", "/v1/model")}


@pytest.mark.anyio
@pytest.mark.parametrize("with_api_key", [False, True], ids=["default", "api-key"])
async def test_every_operation_documents_each_status_it_can_answer(
    settings_for, tiny_classifier, with_api_key: bool
) -> None:
    settings = settings_for(api_key=API_KEY) if with_api_key else settings_for()
    async with serve(settings, tiny_classifier) as client:
        document = (await client.get("/openapi.json")).json()
    operations = {
        (method, path): operation
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    }
    assert set(operations) == set(STATUSES)
    for key, operation in operations.items():
        expected = STATUSES[key] | ({"401"} if with_api_key and key in GUARDED else set())
        responses = operation["responses"]
        assert set(responses) == expected, key
        for status, response in responses.items():
            assert {"x-request-id", "x-total-time"} <= set(response["headers"]), (key, status)
            schema = response["content"]["application/json"]["schema"]
            not_errors = {"200", "503"} if key == ("get", "/health/ready") else {"200"}
            if status not in not_errors:
                assert schema == {"$ref": "#/components/schemas/ErrorResponse"}, (key, status)
        (parameter,) = [p for p in operation["parameters"] if p["name"] == "x-request-id"]
        assert parameter["in"] == "header" and parameter["schema"]["maxLength"] == 128
    classify = operations[("post", "/classify")]["responses"]
    assert {"x-queue-time", "x-inference-time", "x-num-tokens"} <= set(classify["200"]["headers"])
    assert "Retry-After" in classify["429"]["headers"]
    assert "`inference`" in classify["500"]["description"]


@pytest.mark.anyio
async def test_the_published_request_schema_is_the_validating_models(
    settings_for, tiny_classifier
) -> None:
    settings = settings_for(max_documents_per_request=7, max_document_chars=99)
    async with serve(settings, tiny_classifier) as client:
        schemas = (await client.get("/openapi.json")).json()["components"]["schemas"]
    request = schemas["ClassifyRequest"]
    assert request["additionalProperties"] is False
    assert request["properties"]["documents"]["maxItems"] == 7
    assert request["properties"]["raw_scores"]["type"] == "boolean"
    truncation = request["properties"]["truncation"]
    assert truncation["enum"] == ["right", "left", "head_tail", "chunks"]
    assert truncation["default"] == "right" and truncation["type"] == "string"
    result = schemas["DocumentResult"]
    assert {"num_chunks", "num_tokens", "truncated"} <= set(result["required"])
    assert result["properties"]["num_chunks"]["type"] == "integer"
    assert request["properties"]["top_k"] == {**request["properties"]["top_k"], "type": "integer"}
    text, document = schemas["Document"]["anyOf"]
    assert text == {**document["properties"]["text"]}
    assert text["maxLength"] == 99 and text["pattern"] == NOT_BLANK
    assert document["properties"]["id"] == {"type": "string", "maxLength": 256, "title": "Id"}
    assert document["required"] == ["text"] and document["additionalProperties"] is False


def test_a_blank_text_is_blank_to_python_and_to_the_published_pattern() -> None:
    """NOT_BLANK spells out Python's white space, so the service (pydantic's regex), the schema's
    readers (any regex engine) and `str.isspace` agree on which texts are blank."""
    whitespace = [chr(c) for c in range(0x110000) if chr(c).isspace()]
    pattern = re.compile(NOT_BLANK)
    unmatched = {chr(c) for c in range(0x110000) if not pattern.match(chr(c))}
    assert unmatched == set(whitespace)
    model = classify_request_model(4, 50)
    with pytest.raises(ValidationError, match="should match pattern"):
        model.model_validate({"documents": ["".join(whitespace)[:50]]})
    for character in whitespace:
        with pytest.raises(ValidationError):
            model.model_validate({"documents": [character]})
    model.model_validate({"documents": ["\u200b", "\x00", " x "]})  # not white space to either
