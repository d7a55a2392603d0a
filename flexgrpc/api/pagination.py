"""Opaque, authenticated page tokens (AIP-158).

A token carries a keyset cursor and is signed (HMAC-SHA256) under the server's page-token
secret together with the request's other arguments, the caller's organization among them. So a
token is a capability the server issued: one that was altered, forged, or sent with different
arguments (another organization, another filter) fails verification, and every failure is one
error, ``invalid_page_token``. Nothing in the cursor is trusted before its signature is.

The secret comes from ``FLEXGRPC_PAGE_TOKEN_SECRET``; without it, each process draws one at
start, and its tokens do not outlive it or work on another worker or replica.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import secrets
from typing import Any, Final

from flexgrpc.errors import FlexError

_CONTEXT: Final = b"flexgrpc page token v1\x00"
_secret: bytes = secrets.token_bytes(32)


def set_page_token_secret(secret: bytes) -> None:
    """Sign and verify tokens under ``secret`` from now on (the server does it at start)."""
    global _secret
    if len(secret) < 16:
        raise ValueError("the page-token secret must be at least 16 bytes")
    _secret = secret


def _invalid(problem: str) -> FlexError:
    return FlexError(
        "invalid_page_token",
        f"page_token {problem}: pass next_page_token unchanged, with the same arguments as "
        "the request that returned it (only page_size may change), or leave it empty for "
        "the first page.",
        field="page_token",
    )


DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000


def page_size(requested: int, default: int = DEFAULT_PAGE_SIZE) -> int:
    """The effective page size: ``default`` for 0, capped at ``MAX_PAGE_SIZE``."""
    if requested < 0:
        raise FlexError(
            "invalid_argument",
            f"page_size must be 0 (the default, {default}) or positive, got {requested}.",
            field="page_size",
        )
    return min(requested or default, MAX_PAGE_SIZE)


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str).encode()


def _mac(payload: bytes, arguments: dict[str, Any]) -> bytes:
    message = _CONTEXT + _canonical(arguments) + b"\x00" + payload
    return hmac.new(_secret, message, hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode_token(cursor: list[Any], arguments: dict[str, Any]) -> str:
    """A token for the page after ``cursor``, bound to ``arguments`` (which name the
    organization)."""
    payload = json.dumps(cursor, separators=(",", ":"), default=str).encode()
    return f"{_b64(payload)}.{_b64(_mac(payload, arguments))}"


def decode_token(token: str, arguments: dict[str, Any]) -> list[Any] | None:
    """The cursor in ``token`` (``None`` for the first page), verified against ``arguments``."""
    if not token:
        return None
    body, dot, signature = token.partition(".")
    try:
        if not dot or not token.isascii():
            raise ValueError
        payload, mac = _unb64(body), _unb64(signature)
    except (binascii.Error, ValueError):
        raise _invalid("is not a token this service issued") from None
    if not hmac.compare_digest(mac, _mac(payload, arguments)):
        raise _invalid(
            "does not verify: it was altered, was issued by another server, or belongs to a "
            "request with different arguments"
        )
    try:
        cursor = json.loads(payload)
    except ValueError:
        cursor = None
    if not isinstance(cursor, list) or not cursor:
        raise _invalid("is malformed")
    return cursor


def time_cursor(cursor: list[Any] | None) -> tuple[dt.datetime, str] | None:
    """A decoded ``[iso time, id]`` keyset cursor (``None`` for the first page)."""
    if cursor is None:
        return None
    try:
        when, key = cursor
        after = dt.datetime.fromisoformat(when)
    except (TypeError, ValueError):
        raise _invalid("is malformed") from None
    if after.tzinfo is None or not isinstance(key, str):
        raise _invalid("is malformed")
    return after, key


def offset_cursor(cursor: list[Any] | None) -> int:
    """A decoded ``[offset]`` cursor (0 for the first page)."""
    if cursor is None:
        return 0
    offset = cursor[0]
    if len(cursor) != 1 or type(offset) is not int or offset < 0:
        raise _invalid("is malformed")
    return offset
