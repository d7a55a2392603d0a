"""Structured (JSON lines) logging, with a last-line-of-defence filter that masks secrets.

Code never logs secrets on purpose; the filter exists so that a mistake (an exception message
that echoes a header, say) still cannot put an API key or provider key into the logs.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sys
from collections.abc import Mapping
from typing import Any

import orjson

#: Shapes of secrets this service handles: its own API keys and the providers' keys.
_SECRET_PATTERNS = re.compile(
    r"flex_live_[0-9a-zA-Z]{4,}"  # flexgrpc API keys (any length: a typo is still a secret)
    r"|sk-ant-[0-9A-Za-z_\-]{8,}"  # Anthropic
    r"|sk-[0-9A-Za-z_\-]{16,}"  # OpenAI
    r"|AIza[0-9A-Za-z_\-]{20,}"  # Google
    r"|Bearer\s+\S+",
)

_STANDARD_ATTRS = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message"}


def redact(text: str) -> str:
    """``text`` with anything shaped like a secret replaced by ``[REDACTED]``."""
    return _SECRET_PATTERNS.sub("[REDACTED]", text)


class RedactingFilter(logging.Filter):
    """Masks secret-shaped substrings in the message, its arguments and extra fields."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD_ATTRS and isinstance(value, str):
                setattr(record, key, redact(value))
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and any ``extra=`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                payload[key] = value
        if record.exc_text:
            payload["exception"] = record.exc_text
        try:
            # orjson: the access log writes one line per request, and json.dumps was most of
            # that line's cost.
            return orjson.dumps(payload, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
        except TypeError:  # what orjson refuses (an integer beyond 64 bits)
            return json.dumps(payload, default=str)


class FieldsFilter(logging.Filter):
    """Adds the same fields to every line (a worker's index, say)."""

    def __init__(self, fields: Mapping[str, object]) -> None:
        super().__init__()
        self._fields = dict(fields)

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in self._fields.items():
            setattr(record, key, value)
        return True


def configure(
    level: str = "INFO", fmt: str = "json", fields: Mapping[str, object] | None = None
) -> None:
    """Route the root logger to stderr through the redacting filter; ``fields`` go on every
    line."""
    handler = logging.StreamHandler(sys.stderr)
    if fields:
        handler.addFilter(FieldsFilter(fields))
    handler.addFilter(RedactingFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # HTTP clients' per-request INFO lines would double the routing outcome's own line.
    for chatty in ("httpx", "httpcore", "aiohttp"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
