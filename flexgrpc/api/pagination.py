"""Opaque page tokens (AIP-158).

A token carries a cursor and a fingerprint of the request's other arguments. Tokens are
base64url JSON: opaque to callers by contract, not by secrecy (they hold nothing the caller
could not already read). A token used with different arguments, or mangled, is rejected.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
from typing import Any

from flexgrpc.errors import FlexError

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


def _fingerprint(arguments: dict[str, Any]) -> str:
    canonical = json.dumps(arguments, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def encode_token(cursor: list[Any], arguments: dict[str, Any]) -> str:
    """A token for the page after ``cursor``, bound to ``arguments``."""
    payload = {"c": cursor, "f": _fingerprint(arguments)}
    raw = json.dumps(payload, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str, arguments: dict[str, Any]) -> list[Any] | None:
    """The cursor in ``token`` (``None`` for the first page), checked against ``arguments``."""
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        payload = json.loads(raw)
        cursor, fingerprint = payload["c"], payload["f"]
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise FlexError(
            "invalid_argument",
            "page_token is not a token this service issued; pass next_page_token unchanged.",
            field="page_token",
        ) from None
    if not isinstance(cursor, list) or fingerprint != _fingerprint(arguments):
        raise FlexError(
            "invalid_argument",
            "page_token belongs to a request with different arguments; repeat the request that "
            "returned it, changing only page_token (and page_size).",
            field="page_token",
        )
    return cursor


def time_cursor(cursor: list[Any] | None) -> tuple[dt.datetime, str] | None:
    """A decoded ``[iso time, id]`` keyset cursor (``None`` for the first page)."""
    if cursor is None:
        return None
    try:
        return dt.datetime.fromisoformat(str(cursor[0])), str(cursor[1])
    except (IndexError, ValueError):
        raise FlexError(
            "invalid_argument", "page_token is malformed.", field="page_token"
        ) from None
