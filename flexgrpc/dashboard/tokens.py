"""The random tokens of sessions and sign-in links: what the browser holds, and what is stored.

A token is 256 random bits; only its SHA-256 is stored, so a copy of the database opens no
session. (A plain hash is right for uniformly random tokens, as for API keys: there is nothing
to guess offline.)
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Final

#: Longest token accepted from a cookie or a link, so that junk is never hashed at length.
MAX_TOKEN_LENGTH: Final = 64


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def plausible(token: str | None) -> bool:
    return token is not None and 0 < len(token) <= MAX_TOKEN_LENGTH and token.isascii()
