"""Log lines of the service: each carries the id of the request it belongs to, as text (the
default) or as one JSON object per line (`COREBERT_LOG_FORMAT=json`).

The request id lives in a context variable that the request middleware sets for the request's
whole handling; a log-record factory copies it onto every record (`record.request_id`, None
outside a request), so any handler sees it, uvicorn's access lines included. Values given with
`extra=` are the line's fields.
"""

from __future__ import annotations

import json
import logging
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal

LogFormat = Literal["text", "json"]

REQUEST_ID: ContextVar[str | None] = ContextVar("corebert_request_id", default=None)

# What every LogRecord holds; anything else on a record came with `extra=` and is a field.
_RECORD_ATTRIBUTES = frozenset(
    logging.LogRecord("", logging.INFO, "", 0, "", (), None).__dict__
) | {"message", "asctime", "request_id", "color_message", "taskName"}
# uvicorn's access line: `'%s - "%s %s HTTP/%s" %d'` with these arguments.
_ACCESS_ARGUMENTS = ("client", "method", "path", "http_version", "status")


def current_request_id() -> str | None:
    return REQUEST_ID.get()


def install_request_id_factory() -> None:
    """Make every log record carry `request_id` (once per process)."""
    factory = logging.getLogRecordFactory()
    if getattr(factory, "adds_request_id", False):
        return

    def make_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        record.request_id = REQUEST_ID.get()
        return record

    make_record.adds_request_id = True  # type: ignore[attr-defined]  # a marker on a function
    logging.setLogRecordFactory(make_record)


def record_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The values a log call gave with `extra=`; for uvicorn's access lines, the request's
    client, method, path, HTTP version and status."""
    fields = {k: v for k, v in record.__dict__.items() if k not in _RECORD_ATTRIBUTES}
    args = record.args
    if record.name == "uvicorn.access" and isinstance(args, tuple) and len(args) == 5:
        fields.update(zip(_ACCESS_ARGUMENTS, args, strict=True))
    return fields


class TextFormatter(logging.Formatter):
    """`time LEVEL logger [request id]: message key=value ...`: the id and the fields only when
    there are some (an access line's fields are its message already)."""

    def format(self, record: logging.LogRecord) -> str:
        request_id = getattr(record, "request_id", None)
        context = f" [{request_id}]" if request_id else ""
        fields = record_fields(record) if record.name != "uvicorn.access" else {}
        rendered = "".join(f" {key}={value}" for key, value in fields.items())
        line = (
            f"{self.formatTime(record)} {record.levelname} {record.name}{context}: "
            f"{record.getMessage()}{rendered}"
        )
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: `time` (UTC, ISO 8601), `level`, `logger`, `request_id`,
    `message`, `fields`, and `exception` when the line carries a traceback."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "request_id": getattr(record, "request_id", None),
            "message": record.getMessage(),
            "fields": record_fields(record),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


FORMATTERS: dict[LogFormat, type[logging.Formatter]] = {
    "text": TextFormatter,
    "json": JsonFormatter,
}


def configure_logging(level: str, log_format: LogFormat = "text") -> None:
    """Give the `service` and `artifact` loggers a level; when nobody configured logging, a
    handler on the root logger in `log_format` (uvicorn's lines reach it when uvicorn is run
    without a logging configuration of its own, as `python -m service` does)."""
    install_request_id_factory()
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(FORMATTERS[log_format]())
        root.addHandler(handler)
    for name in ("service", "artifact"):
        logging.getLogger(name).setLevel(level.upper())
