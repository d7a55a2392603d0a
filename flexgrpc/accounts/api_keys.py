"""flexgrpc API keys: ``flex_live_`` + 24 lowercase hex (96 random bits) + 6 lowercase hex checksum.

The checksum is the first 3 bytes of SHA-256 over ``"flex_live_" + <the 24 random hex>``. It
lets anyone holding a token (the server, a client library, a secret scanner) tell a mistyped,
truncated or mangled key from a real one offline, before any database lookup, so garbage is
rejected cheaply and never reaches the database. It is not a secret and adds no security: anyone
can compute it. A random string passes the 24-bit check with probability 1 in 16.7 million.

Only ``hash_api_key(token)`` is stored. A plain SHA-256 is the right tool here, unlike for
passwords: slow, salted hashes (bcrypt, argon2) exist to stop offline guessing of *low-entropy*
secrets, but a 96-bit uniformly random token cannot be guessed from its hash (2**96 SHA-256
evaluations). A deterministic, unsalted hash is also what lets every request find its key with
one indexed lookup instead of trying a slow hash against every row.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from typing import Final

API_KEY_PREFIX: Final = "flex_live_"
_RANDOM_BYTES: Final = 12  # 96 bits
_RANDOM_HEX: Final = _RANDOM_BYTES * 2
_CHECKSUM_HEX: Final = 6  # 3 bytes of SHA-256
API_KEY_LENGTH: Final = len(API_KEY_PREFIX) + _RANDOM_HEX + _CHECKSUM_HEX  # 40

# Explicit character classes, not \d or [[:xdigit:]]: only ASCII lowercase hex is valid.
_API_KEY_SHAPE: Final = re.compile(
    rf"{API_KEY_PREFIX}[0-9a-f]{{{_RANDOM_HEX}}}[0-9a-f]{{{_CHECKSUM_HEX}}}"
)
#: Random hex characters shown in a key's display prefix: enough to recognise a key in a list.
_DISPLAY_HEX: Final = 4


def _checksum(random_hex: str) -> str:
    digest = hashlib.sha256((API_KEY_PREFIX + random_hex).encode("ascii")).digest()
    return digest[: _CHECKSUM_HEX // 2].hex()


def generate_api_key() -> str:
    """A new API key (``flex_live_`` + 24 random hex + 6 hex checksum). Show it once."""
    random_hex = secrets.token_hex(_RANDOM_BYTES)
    return API_KEY_PREFIX + random_hex + _checksum(random_hex)


def check_api_key_format(token: str) -> bool:
    """Whether ``token`` has the API key's exact shape and a matching checksum.

    Says nothing about whether the key exists or is revoked: that takes the database.
    """
    # Length first, so arbitrarily long input costs nothing.
    if len(token) != API_KEY_LENGTH or _API_KEY_SHAPE.fullmatch(token) is None:
        return False
    random_end = len(API_KEY_PREFIX) + _RANDOM_HEX
    given = token[random_end:]
    # The checksum is public, but a constant-time compare costs nothing and keeps this function
    # free of timing questions.
    return hmac.compare_digest(given, _checksum(token[len(API_KEY_PREFIX) : random_end]))


def hash_api_key(token: str) -> str:
    """The SHA-256 (hex) of ``token``, as stored and looked up (see the module docstring)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def display_prefix(token: str) -> str:
    """What a listing shows for a key, e.g. ``flex_live_ab12…`` (16 of its 96 random bits)."""
    if not token.startswith(API_KEY_PREFIX):
        raise ValueError("not a flexgrpc API key")
    return token[: len(API_KEY_PREFIX) + _DISPLAY_HEX] + "…"
