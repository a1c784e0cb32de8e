"""Settings come from COREBERT_ environment variables and refuse inconsistent limits."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from service.config import Settings


def test_settings_read_the_corebert_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COREBERT_MODEL_DIR", "/models/bbc")
    monkeypatch.setenv("COREBERT_DEVICE", "cuda")
    monkeypatch.setenv("COREBERT_MAX_BATCH_DOCUMENTS", "7")
    monkeypatch.setenv("COREBERT_BATCH_MAX_WAIT_S", "0.02")
    monkeypatch.setenv("COREBERT_API_KEY", "s3cret")
    monkeypatch.setenv("COREBERT_PORT", "9100")
    settings = Settings()
    assert settings.model_dir == Path("/models/bbc")
    assert settings.device == "cuda"
    assert settings.max_batch_documents == 7
    assert settings.batch_max_wait_s == 0.02
    assert settings.api_key is not None and settings.api_key.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings)
    assert settings.port == 9100


def test_settings_reject_an_unknown_device(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COREBERT_DEVICE", "tpu")
    with pytest.raises(ValidationError, match="device"):
        Settings()


def test_settings_reject_a_request_larger_than_the_queue() -> None:
    with pytest.raises(ValidationError, match="could never be queued"):
        Settings(max_documents_per_request=65, max_queue_documents=64)


def test_settings_reject_a_token_budget_below_max_length() -> None:
    with pytest.raises(ValidationError, match="would not fit in a batch"):
        Settings(max_length=512, max_batch_tokens=256)


def test_truncation_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COREBERT_TRUNCATION", "head_tail")
    monkeypatch.setenv("COREBERT_CHUNK_STRIDE", "20")
    monkeypatch.setenv("COREBERT_MAX_CHUNKS", "4")
    settings = Settings()
    assert (settings.truncation, settings.chunk_stride, settings.max_chunks) == ("head_tail", 20, 4)
    monkeypatch.delenv("COREBERT_CHUNK_STRIDE")
    monkeypatch.delenv("COREBERT_MAX_CHUNKS")
    assert (Settings().chunk_stride, Settings().max_chunks) == (None, 16)  # half a window; 16


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("COREBERT_TRUNCATION", "middle"),
        ("COREBERT_CHUNK_STRIDE", "0"),
        ("COREBERT_MAX_CHUNKS", "0"),
    ],
)
def test_settings_reject_bad_truncation_values(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError, match=variable.removeprefix("COREBERT_").lower()):
        Settings()


def test_settings_reject_chunked_requests_larger_than_the_queue() -> None:
    Settings(max_documents_per_request=64, max_chunks=16, max_queue_documents=1024)  # defaults
    with pytest.raises(ValidationError, match=r"x max_chunks \(17\) exceeds max_queue_documents"):
        Settings(max_documents_per_request=64, max_chunks=17, max_queue_documents=1024)
