"""Service settings: every knob is an environment variable prefixed `COREBERT_`.

`Settings()` is created once, by `create_app` or `python -m service`, and passed down; nothing
else reads the environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from artifact.truncation import DEFAULT_MAX_CHUNKS, TruncationStrategy
from service.logs import LogFormat

Device = Literal["auto", "cuda", "cpu"]
Precision = Literal["auto", "fp32", "int8", "fp16"]
LogLevel = Literal["critical", "error", "warning", "info", "debug"]


class Settings(BaseSettings):
    """Configuration of the classification service (see docs/service.md for the full table)."""

    model_config = SettingsConfigDict(env_prefix="COREBERT_", extra="ignore", frozen=True)

    # Model and runtime.
    model_dir: Path = Field(
        Path("artifacts/default/artifact"),
        description="Artifact directory: model.onnx, tokenizer.json, labels.json, metadata.json.",
    )
    device: Device = Field(
        "auto",
        description="auto: CUDA when usable, else CPU. cuda: ask for CUDA, fall back to CPU with "
        "a warning when it is not usable. cpu: CPU only.",
    )
    precision: Precision = Field(
        "auto",
        description="The artifact's graph to run. auto: fp16 when the session runs on CUDA, "
        "int8 on the CPU, when the artifact has that graph, else fp32. fp32, int8 or fp16: that "
        "graph; the service does not start when the artifact lacks it.",
    )
    max_length: int | None = Field(
        None,
        ge=8,
        description="Truncate documents to this many tokens (with [CLS]/[SEP]); at most and by "
        "default the model's metadata max_length.",
    )
    intra_op_threads: int = Field(
        0, ge=0, description="ONNX Runtime intra-op threads; 0 lets ONNX Runtime decide."
    )

    # Documents longer than the model (artifact.truncation).
    truncation: TruncationStrategy = Field(
        "right",
        description="How a document longer than max_length is read when its request does not "
        "say: right (its start), left (its end), head_tail (a quarter of the tokens from the "
        "start, the rest from the end), chunks (overlapping windows, each scored like a "
        "document; the probabilities are averaged weighted by the windows' tokens).",
    )
    chunk_stride: int | None = Field(
        None,
        ge=1,
        description="chunks: document tokens from one window's start to the next, at most a "
        "window's (max_length - 2); unset: half a window (63 at max_length 128, 255 at 512).",
    )
    max_chunks: int = Field(
        DEFAULT_MAX_CHUNKS,
        ge=1,
        description="chunks: most windows per document; a longer document is cut there and "
        "flagged truncated. Each window takes a place in the queue.",
    )

    # Dynamic batching.
    max_batch_documents: int = Field(
        32, ge=1, description="Most documents in one model batch; 1 turns batching off."
    )
    max_batch_tokens: int = Field(
        16384,
        ge=8,
        description="Most padded tokens (documents x longest sequence) in one model batch.",
    )
    batch_max_wait_s: float = Field(
        0.0,
        ge=0.0,
        description="Longest time the oldest queued document waits for a batch to fill; 0 runs "
        "what is queued as soon as the model is free, and the next batch fills while one runs.",
    )
    max_queue_documents: int = Field(
        1024, ge=1, description="Documents admitted and waiting for a batch; beyond it: 429."
    )

    # Requests.
    max_documents_per_request: int = Field(64, ge=1, description="Most documents in a request.")
    max_document_chars: int = Field(
        100_000, ge=1, description="Longest document text, in characters."
    )
    max_body_bytes: int = Field(
        8 * 1024 * 1024, ge=1024, description="Largest request body, in bytes; beyond it: 413."
    )
    request_timeout_s: float = Field(
        30.0, gt=0.0, description="Longest time a classify request may take; beyond it: 504."
    )
    api_key: SecretStr | None = Field(
        None,
        description="When set, /classify and /v1/model need `Authorization: Bearer <key>` or "
        "`X-API-Key: <key>`.",
    )

    # Process.
    host: str = Field("0.0.0.0", description="Address `python -m service` listens on.")
    port: int = Field(8000, ge=1, le=65535, description="Port `python -m service` listens on.")
    log_level: LogLevel = Field("info", description="Log level of the service and of uvicorn.")
    log_format: LogFormat = Field(
        "text",
        description="text: one readable line per record; json: one JSON object per line (time, "
        "level, logger, request_id, message, fields), for log shippers.",
    )
    otlp_endpoint: str | None = Field(
        None,
        pattern=r"^https?://",
        description="When set, traces go to this OpenTelemetry collector over OTLP/HTTP "
        "(e.g. http://otel-collector:4318; spans are posted to /v1/traces). Unset: no tracing.",
    )
    shutdown_timeout_s: float = Field(
        30.0,
        gt=0.0,
        description="On SIGTERM, how long to wait for queued and running requests to finish.",
    )

    @model_validator(mode="after")
    def _check_limits(self) -> Self:
        if self.max_documents_per_request > self.max_queue_documents:
            raise ValueError(
                f"max_documents_per_request ({self.max_documents_per_request}) exceeds "
                f"max_queue_documents ({self.max_queue_documents}): such a request could never "
                "be queued"
            )
        if self.max_documents_per_request * self.max_chunks > self.max_queue_documents:
            raise ValueError(
                f"max_documents_per_request ({self.max_documents_per_request}) x max_chunks "
                f"({self.max_chunks}) exceeds max_queue_documents ({self.max_queue_documents}): "
                "a request of long documents read in chunks could never be queued"
            )
        if self.max_length is not None and self.max_batch_tokens < self.max_length:
            raise ValueError(
                f"max_batch_tokens ({self.max_batch_tokens}) is below max_length "
                f"({self.max_length}): a full-length document would not fit in a batch"
            )
        return self
