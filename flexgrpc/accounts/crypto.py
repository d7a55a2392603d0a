"""Encryption at rest for organizations' provider keys (SPEC §8): AES-256-GCM.

GCM is authenticated: a ciphertext that was altered, or decrypted under the wrong key, fails
loudly instead of producing garbage. Each ciphertext is also bound to its owner through the
associated data ``"{organization_id}:{provider}"``, so a row copied to another organization (or
relabelled as another provider's key) does not decrypt.

Nonces are 12 random bytes per encryption. Random nonces are safe for up to about 2**32
encryptions under one key (NIST SP 800-38D); an installation stores a handful of provider keys
per organization, many orders of magnitude below that.
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass, field
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_KEY_BYTES: Final = 32  # AES-256
NONCE_BYTES: Final = 12  # GCM's standard nonce size
_GENERATE_HINT: Final = (
    'generate one with: python -c "import base64, secrets; '
    'print(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())"'
)


class ProviderKeyDecryptionError(Exception):
    """A stored provider key did not decrypt: wrong encryption key, altered or moved row."""


@dataclass(frozen=True, slots=True)
class EncryptedProviderKey:
    """What is stored for a provider key. Neither field is secret, but neither is for display."""

    ciphertext: bytes = field(repr=False)
    nonce: bytes = field(repr=False)


def generate_encryption_key() -> str:
    """A new random encryption key, in the form ``FLEXGRPC_ENCRYPTION_KEY`` takes."""
    return base64.urlsafe_b64encode(os.urandom(_KEY_BYTES)).decode("ascii")


def _associated_data(organization_id: str, provider: str) -> bytes:
    return f"{organization_id}:{provider}".encode()


class ProviderKeyCipher:
    """Encrypts and decrypts provider keys with one AES-256-GCM key."""

    __slots__ = ("_aead",)

    def __init__(self, key: bytes) -> None:
        if len(key) != _KEY_BYTES:
            raise ValueError(f"the encryption key must be {_KEY_BYTES} bytes, got {len(key)}")
        self._aead = AESGCM(key)

    @classmethod
    def from_setting(cls, value: str) -> ProviderKeyCipher:
        """The cipher for a ``FLEXGRPC_ENCRYPTION_KEY`` value: urlsafe base64 of 32 bytes.

        Error messages describe what is wrong without repeating the value, which is a secret.
        """
        text = value.strip()
        # Accept the key with or without its trailing "=" padding.
        padded = text + "=" * (-len(text) % 4)
        try:
            # altchars maps "-_" (urlsafe) onto "+/"; validate rejects any other character
            # instead of silently skipping it as urlsafe_b64decode would.
            key = base64.b64decode(padded.encode("ascii"), altchars=b"-_", validate=True)
        except (UnicodeEncodeError, binascii.Error):
            raise ValueError(
                f"FLEXGRPC_ENCRYPTION_KEY is not valid urlsafe base64; {_GENERATE_HINT}"
            ) from None
        if len(key) != _KEY_BYTES:
            raise ValueError(
                f"FLEXGRPC_ENCRYPTION_KEY must decode to {_KEY_BYTES} bytes, got {len(key)}; "
                f"{_GENERATE_HINT}"
            )
        return cls(key)

    def encrypt(self, secret: str, *, organization_id: str, provider: str) -> EncryptedProviderKey:
        nonce = os.urandom(NONCE_BYTES)
        ciphertext = self._aead.encrypt(
            nonce, secret.encode("utf-8"), _associated_data(organization_id, provider)
        )
        return EncryptedProviderKey(ciphertext=ciphertext, nonce=nonce)

    def decrypt(
        self, encrypted: EncryptedProviderKey, *, organization_id: str, provider: str
    ) -> str:
        """The plaintext key; raises ``ProviderKeyDecryptionError`` if it cannot be trusted."""
        if len(encrypted.nonce) != NONCE_BYTES:
            raise ProviderKeyDecryptionError("stored nonce has the wrong length")
        try:
            plaintext = self._aead.decrypt(
                encrypted.nonce,
                encrypted.ciphertext,
                _associated_data(organization_id, provider),
            )
        except InvalidTag:
            raise ProviderKeyDecryptionError(
                "authentication failed: wrong encryption key, or the row was altered or moved"
            ) from None
        try:
            return plaintext.decode("utf-8")
        except UnicodeDecodeError:
            raise ProviderKeyDecryptionError("decrypted key is not UTF-8") from None

    def __repr__(self) -> str:
        return "ProviderKeyCipher(key=<redacted>)"
