"""Request and response bodies.

The request model is built from the settings (`classify_request_model`) so that the limits it
enforces are the configured ones and show in the OpenAPI docs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Protocol

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

REQUEST_ID_HEADER = "x-request-id"
REQUEST_ID_MAX_LENGTH = 128
# At most 128 characters, none of them a control character (C0, DEL, C1).
RequestId = Annotated[
    str,
    StringConstraints(max_length=REQUEST_ID_MAX_LENGTH, pattern=r"^[^\x00-\x1f\x7f-\x9f]*$"),
]
REQUEST_ID_RULE = f"at most {REQUEST_ID_MAX_LENGTH} characters, no control characters"


def classify_request_model(max_documents: int, max_chars: int) -> type[BaseModel]:
    """The body of POST /classify, with these limits on documents and characters."""

    class Document(BaseModel):
        """A document: a plain string, or an object whose `id` is echoed in the result."""

        model_config = ConfigDict(extra="forbid")

        id: str | None = Field(None, max_length=256)
        text: str = Field(min_length=1, max_length=max_chars)

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

        @field_validator("text")
        @classmethod
        def _not_blank(cls, text: str) -> str:
            if not text.strip():
                raise PydanticCustomError("blank_text", "text is empty or whitespace only")
            return text

    text_schema = {"type": "string", "minLength": 1, "maxLength": max_chars}
    document_schema = WithJsonSchema(
        {
            "anyOf": [
                text_schema,
                {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string", "maxLength": 256},
                        "text": text_schema,
                    },
                    "required": ["text"],
                    "additionalProperties": False,
                },
            ]
        }
    )

    class ClassifyRequest(BaseModel):
        model_config = ConfigDict(
            extra="forbid",
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

        documents: list[Annotated[Document, document_schema]] = Field(
            min_length=1,
            max_length=max_documents,
            description=f"1 to {max_documents} documents of at most {max_chars} characters.",
        )
        top_k: int = Field(
            1, ge=1, description="Labels returned per document (at most the number of labels)."
        )
        raw_scores: StrictBool = Field(
            False,
            description="true: every score in the results is the label's logit instead of its "
            "softmax probability (the labels keep their order).",
        )

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


class LabelScore(BaseModel):
    label: str
    score: float = Field(description="Softmax probability, or the logit with raw_scores.")


class DocumentResult(BaseModel):
    id: str | None = Field(None, description="The document's id, when the request gave one.")
    label: str = Field(description="The most probable label.")
    score: float = Field(description="Probability of `label`, or its logit with raw_scores.")
    labels: list[LabelScore] = Field(description="The top_k labels, best first.")
    num_tokens: int = Field(description="Tokens the model read, [CLS] and [SEP] included.")
    truncated: bool = Field(description="True when the text was cut to the model's max_length.")


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
    labels: list[str]
    max_length: int = Field(description="Tokens per document after truncation.")
    metrics: dict[str, Any] = Field(description="Test-split metrics from metadata.json.")
    warnings: list[str] = Field(
        description="Quality warnings recorded at training (a degenerate model); empty if none."
    )
    metadata: dict[str, Any] = Field(description="The artifact's metadata.json.")


class Health(BaseModel):
    status: str
