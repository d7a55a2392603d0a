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
