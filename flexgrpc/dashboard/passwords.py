"""Password hashing for dashboard accounts: argon2id through argon2-cffi (RFC 9106 defaults)."""

from __future__ import annotations

from typing import Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from flexgrpc.errors import FlexError

MIN_LENGTH: Final = 10
MAX_LENGTH: Final = 256

_HASHER: Final = PasswordHasher()
#: Verified against when the address is unknown, so that a sign-in takes as long either way.
_ABSENT: Final = _HASHER.hash("no account has this password")


def check_new_password(password: str) -> None:
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise FlexError(
            "invalid_argument",
            f"The password must be {MIN_LENGTH} to {MAX_LENGTH} characters long; a few "
            "unrelated words make a good one.",
            field="password",
        )


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored`` (``None``: no such account, still as slow)."""
    try:
        return _HASHER.verify(stored or _ABSENT, password[:MAX_LENGTH]) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    """Whether ``stored`` was made with older parameters than today's defaults."""
    return _HASHER.check_needs_rehash(stored)
