"""Request and response bodies, and what the OpenAPI document says of each operation.

The published schema is generated from the models that validate (one source): the request
model is built from the settings (`classify_request_model`) so that the limits it enforces are
the configured ones, and the validation is strict (no "2" for an integer, no 1 for a boolean),
so that what the schema refuses is refused.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Annotated, Any, Protocol

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    StrictBool,
    StringConstraints,
    TypeAdapter,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonDict, JsonSchemaValue, SkipJsonSchema
from pydantic_core import CoreSchema, PydanticCustomError

from artifact.explain import DEFAULT_CORE_WORDS, MAX_CORE_WORDS
from artifact.problem import check_threshold
from artifact.truncation import TruncationStrategy
from service.errors import ERRORS, ErrorResponse, ErrorType

REQUEST_ID_HEADER = "x-request-id"
REQUEST_ID_MAX_LENGTH = 128
# At most 128 characters, none of them a control character (C0, DEL, C1).
RequestId = Annotated[
    str,
    StringConstraints(max_length=REQUEST_ID_MAX_LENGTH, pattern=r"^[^\x00-\x1f\x7f-\x9f]*$"),
]
REQUEST_ID_RULE = f"at most {REQUEST_ID_MAX_LENGTH} characters, no control characters"

# A text holds a character that is not white space: Python's white space (`str.isspace`),
# spelt out so that every regex engine reading the schema agrees.
NOT_BLANK = r"[^\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
DOCUMENT_ID_MAX_LENGTH = 256


def _is_json(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _without_default(schema: JsonDict) -> None:
    """For an optional field whose default (none) is not a value it accepts."""
    schema.pop("default", None)


def classify_request_model(
    max_documents: int, max_chars: int, default_truncation: TruncationStrategy = "right"
) -> type[BaseModel]:
    """The body of POST /classify, with these limits on documents and characters, and the
    service's default truncation."""

    class Document(BaseModel):
        """A document: a plain string (its text), or an object whose `id` is echoed in the
        result."""

        model_config = ConfigDict(extra="forbid", strict=True)

        id: Annotated[str, Field(max_length=DOCUMENT_ID_MAX_LENGTH)] | SkipJsonSchema[None] = Field(
            None, json_schema_extra=_without_default
        )
        text: str = Field(min_length=1, max_length=max_chars, pattern=NOT_BLANK)

        @model_validator(mode="before")
        @classmethod
        def _from_string(cls, value: Any) -> Any:
            if isinstance(value, str):
                return {"text": value}
            if not isinstance(value, dict):
                raise PydanticCustomError(
                    "document_type",
                    'a document must be a string or an object {"id": ..., "text": ...}, got {kind}',
                    {"kind": type(value).__name__},
                )
            return value

        @field_validator("id", mode="before")
        @classmethod
        def _id_given_is_a_string(cls, value: Any) -> Any:
            if not isinstance(value, str):  # null too: leaving `id` out is how to give none
                raise PydanticCustomError(
                    "string_type",
                    "id must be a string (leave it out for none), got {kind}",
                    {"kind": "null" if value is None else type(value).__name__},
                )
            return value

        @classmethod
        def __get_pydantic_json_schema__(
            cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
        ) -> JsonSchemaValue:
            """Published as what it accepts: its text alone, or the object."""
            object_schema = handler(core_schema)
            text_schema = handler.resolve_ref_schema(object_schema)["properties"]["text"]
            return {"anyOf": [text_schema, object_schema]}

    class ClassifyRequest(BaseModel):
        model_config = ConfigDict(
            extra="forbid",
            strict=True,
            json_schema_extra={
                "examples": [
                    {
                        "documents": [
                            "Shares rallied after the bank raised its profit forecast.",
                            {"id": "doc-2", "text": "The striker scored twice in the final."},
                        ],
                        "top_k": 2,
                    }
                ]
            },
        )

        documents: list[Document] = Field(
            min_length=1,
            max_length=max_documents,
            description=f"1 to {max_documents} documents of at most {max_chars} characters.",
        )
        top_k: int = Field(
            1,
            ge=1,
            description="Labels returned per document (at most the number of labels). For a "
            "multi-label model: the most probable labels to list in `scores`, which only a "
            "request giving top_k gets.",
        )
        raw_scores: StrictBool = Field(
            False,
            description="true: every score in the results is the label's logit instead of its "
            "softmax probability (the labels keep their order); with chunks, the token-weighted "
            "mean of the windows' logits.",
        )
        truncation: TruncationStrategy = Field(
            default_truncation,
            description="How a document longer than the model is read: right (its start), left "
            "(its end), head_tail (a quarter of the tokens from the start, the rest from the "
            "end), chunks (overlapping windows, each scored like a document; its probabilities "
            "are the windows' averaged, weighted by their tokens). Default: the service's "
            "COREBERT_TRUNCATION.",
        )

        threshold: (
            Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)] | SkipJsonSchema[None]
        ) = Field(
            None,
            json_schema_extra=_without_default,
            description="Multi-label models: one decision threshold (0 to 1) for every label "
            "instead of the model's own (GET /v1/model). A single-label model, which answers "
            "its most probable label, has no threshold and ignores it.",
        )

        explain: StrictBool = Field(
            False,
            description="true: each result also has `core`, the words of the text that decided "
            "(the tokens the model's pruning layers kept and ranked highest), best first.",
        )
        explain_top_k: int = Field(
            DEFAULT_CORE_WORDS,
            ge=1,
            le=MAX_CORE_WORDS,
            description=f"With explain: how many core words per document (1 to {MAX_CORE_WORDS}).",
        )

        @field_validator("threshold", mode="before")
        @classmethod
        def _threshold_in_range(cls, value: Any) -> Any:
            """One error naming the field for anything but a number in [0, 1] (null included:
            leaving `threshold` out is how to give none)."""
            try:
                return check_threshold(value)
            except ValueError:
                raise PydanticCustomError(
                    "threshold_range",
                    "threshold must be a number from 0 to 1 (leave it out for the model's "
                    "own), got {value}",
                    {"value": json.dumps(value) if _is_json(value) else type(value).__name__},
                ) from None

        @field_validator("top_k", "explain_top_k", mode="before")
        @classmethod
        def _whole_number(cls, value: Any) -> Any:
            """JSON Schema counts 2.0 as an integer, so the service does too (never "2" or
            true: those stay refused by the strict type)."""
            if isinstance(value, float) and value.is_integer():
                return int(value)
            return value

    return ClassifyRequest


class DocumentFields(Protocol):
    """A document of a validated `classify_request_model` body."""

    @property
    def id(self) -> str | None: ...

    @property
    def text(self) -> str: ...


class ClassifyRequestFields(Protocol):
    """What a validated `classify_request_model` body holds: that class is built at run time,
    so the type checker reads its fields from here."""

    @property
    def documents(self) -> Sequence[DocumentFields]: ...

    @property
    def top_k(self) -> int: ...

    @property
    def raw_scores(self) -> bool: ...

    @property
    def truncation(self) -> TruncationStrategy: ...

    @property
    def threshold(self) -> float | None: ...

    @property
    def explain(self) -> bool: ...

    @property
    def explain_top_k(self) -> int: ...

    @property
    def model_fields_set(self) -> set[str]: ...


class LabelScore(BaseModel):
    label: str
    score: float = Field(
        description="Probability (softmax; a multi-label model's: sigmoid), or the logit with "
        "raw_scores."
    )


class CoreWordResult(BaseModel):
    """A word of the submitted text that decided, and what the model did with it."""

    text: str = Field(description="The word: the submitted text from `start` to `end`.")
    start: int = Field(description="Character offset of the word's start in the text.")
    end: int = Field(description="Character offset just past the word's end.")
    score: float = Field(
        description="Its importance in the last pruning layer that scored it, relative to the "
        "word that layer ranked first: 1.0 for the document's most important word."
    )
    kept_layers: int = Field(
        description="Pruning layers it stayed a key/value of (all of them when never pruned)."
    )
    group: int = Field(
        description="The combination token it was folded into; -1 for a model without combining."
    )


class DocumentResult(BaseModel):
    # Left out of the answer when not set (the route answers with `exclude_unset`).
    id: str | SkipJsonSchema[None] = Field(
        None,
        json_schema_extra=_without_default,
        description="The document's id, when the request gave one.",
    )
    label: str | None = Field(
        description="The most probable label; for a multi-label model the best label it "
        "gives, null when it gives none."
    )
    score: float | None = Field(
        description="Probability of `label`, or its logit with raw_scores; null with `label`."
    )
    labels: list[LabelScore] = Field(
        description="The top_k labels, best first; for a multi-label model every label whose "
        "probability is at or above its threshold, best first (possibly none)."
    )
    scores: list[LabelScore] | SkipJsonSchema[None] = Field(
        None,
        json_schema_extra=_without_default,
        description="Multi-label models, when the request gives top_k: the top_k most "
        "probable labels, best first, given or not.",
    )
    core: list[CoreWordResult] | SkipJsonSchema[None] = Field(
        None,
        json_schema_extra=_without_default,
        description="With explain: the explain_top_k words of the text with the highest "
        "importance, highest first; word pieces merged into words; with chunks, over all "
        "windows.",
    )
    num_tokens: int = Field(
        description="Tokens the model read, [CLS] and [SEP] included (of every window, with "
        "chunks)."
    )
    num_chunks: int = Field(description="Windows the model read the text in: 1 unless chunks.")
    truncated: bool = Field(
        description="True when some of the text was not read: cut to the model's max_length, "
        "or, with chunks, past the last of COREBERT_MAX_CHUNKS windows."
    )


class ModelRef(BaseModel):
    name: str
    version: str
    variant: str


class ClassifyResponse(BaseModel):
    results: list[DocumentResult] = Field(description="One result per document, in order.")
    model: ModelRef


class ModelInfo(BaseModel):
    name: str
    version: str
    variant: str
    provider: str = Field(description="ONNX Runtime execution provider in use.")
    precision: str = Field(description="The artifact's graph being run: fp32, int8 or fp16.")
    labels: list[str]
    problem_type: str = Field(
        description="single_label_classification (softmax, one label per document) or "
        "multi_label_classification (a sigmoid per label, every label at or above its "
        "threshold)."
    )
    thresholds: dict[str, float] | None = Field(
        description="Multi-label: each label's decision threshold; null for single-label."
    )
    max_length: int = Field(description="Tokens per document after truncation.")
    metrics: dict[str, Any] = Field(description="Test-split metrics from metadata.json.")
    warnings: list[str] = Field(
        description="Quality warnings recorded at training (a degenerate model); empty if none."
    )
    metadata: dict[str, Any] = Field(description="The artifact's metadata.json.")


class Health(BaseModel):
    status: str


# The OpenAPI document: response headers, error answers, and what every operation shares.


def _header(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"description": description, "schema": schema or {"type": "string"}}


MILLISECONDS = {"type": "string", "pattern": r"^\d+\.\d{3}$"}
EVERY_ANSWER_HEADERS = {
    "x-request-id": _header(
        "The request's x-request-id, or a new id when it had none.",
        TypeAdapter(RequestId).json_schema(),
    ),
    "x-total-time": _header("Milliseconds from receiving the request to answering.", MILLISECONDS),
}
CLASSIFY_HEADERS = {
    "x-tokenization-time": _header("Milliseconds tokenizing the documents.", MILLISECONDS),
    "x-queue-time": _header(
        "Milliseconds the documents waited in the queue while none of them ran.", MILLISECONDS
    ),
    "x-inference-time": _header(
        "Milliseconds of the model batches that ran the documents.", MILLISECONDS
    ),
    "x-num-tokens": _header(
        "Tokens the model read for the request.", {"type": "string", "pattern": r"^\d+$"}
    ),
}
ERROR_HEADERS: dict[ErrorType, dict[str, Any]] = {
    "unauthorized": {"WWW-Authenticate": _header("`Bearer`.")},
    "queue_full": {"Retry-After": _header("Seconds to wait: `1`.")},
    "payload_too_large": {"Connection": _header("`close`.")},
}


def error_responses(*error_types: ErrorType) -> dict[int | str, dict[str, Any]]:
    """OpenAPI responses of these error types: the error body, when each is answered, and the
    headers it comes with (types sharing a status share its entry)."""
    responses: dict[int | str, dict[str, Any]] = {}
    for error_type in error_types:
        kind = ERRORS[error_type]
        entry = responses.setdefault(kind.status, {"model": ErrorResponse, "description": ""})
        meaning = f"`{error_type}`: {kind.when}."
        entry["description"] = f"{entry['description']} {meaning}".strip()
        if error_type in ERROR_HEADERS:
            entry.setdefault("headers", {}).update(ERROR_HEADERS[error_type])
    return responses


def document_request_context(openapi: dict[str, Any]) -> dict[str, Any]:
    """Every operation takes an optional `x-request-id` header, and every answer has
    `x-request-id` and `x-total-time` (the request middleware's work, for all routes)."""
    parameter = {
        "name": REQUEST_ID_HEADER,
        "in": "header",
        "required": False,
        "description": f"An id for the request ({REQUEST_ID_RULE}), echoed in the answer and "
        "put on its log lines and span; generated when left out. An invalid one gets 400.",
        "schema": TypeAdapter(RequestId).json_schema(),
    }
    for operations in openapi.get("paths", {}).values():
        for operation in operations.values():
            operation.setdefault("parameters", []).append(parameter)
            for response in operation.get("responses", {}).values():
                response.setdefault("headers", {}).update(EVERY_ANSWER_HEADERS)
    return openapi
