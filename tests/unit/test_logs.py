"""Secrets are masked in logs even when code passes them by mistake."""

from __future__ import annotations

import io
import json
import logging

import pytest

from flexgrpc import logs

SECRETS = [
    "flex_live_0123456789abcdef01234567abcdef",
    "sk-proj-abcdefghijklmnopqrstuvwxyz0123",
    "sk-ant-api03-abcdefghijklmnop",
    "AIzaSyA1234567890abcdefghijklmnopq",
]


@pytest.mark.parametrize("secret", SECRETS)
def test_redact_masks_every_secret_shape(secret: str) -> None:
    assert secret not in logs.redact(f"header was {secret}!")


def test_the_handler_masks_message_args_extras_and_tracebacks() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(logs.RedactingFilter())
    handler.setFormatter(logs.JsonFormatter())
    logger = logging.getLogger("test.redaction")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("auth %s", "Bearer " + SECRETS[0], extra={"key": SECRETS[1]})
        try:
            raise RuntimeError(f"upstream rejected {SECRETS[2]}")
        except RuntimeError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    output = stream.getvalue()
    for secret in SECRETS[:3]:
        assert secret not in output
    first, second = (json.loads(line) for line in output.splitlines())
    assert first["message"] == "auth [REDACTED]"
    assert first["key"] == "[REDACTED]"
    assert "RuntimeError" in second["exception"]


def test_json_lines_carry_any_extra_value() -> None:
    """Values orjson formats natively, those it formats through ``str``, and an integer too
    large for it (the standard encoder then writes the line) all come out as JSON."""
    import datetime as dt
    import enum

    class Colour(enum.Enum):
        RED = "red"

    formatter = logs.JsonFormatter()

    def line(**extra: object) -> dict[str, object]:
        record = logging.LogRecord("t", logging.INFO, __file__, 1, "m", None, None)
        record.__dict__.update(extra)
        return dict(json.loads(formatter.format(record)))

    when = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)
    assert line(at=when, colour=Colour.RED, keys={1: "a"}) | {"time": ""} == {
        "time": "", "level": "INFO", "logger": "t", "message": "m",
        "at": "2026-11-29T12:00:00+00:00", "colour": "red", "keys": {"1": "a"},
    }  # fmt: skip
    assert line(big=2**70, other=object)["big"] == 2**70
