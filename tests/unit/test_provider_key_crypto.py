"""Provider keys are encrypted at rest with AES-256-GCM, bound to their organization (SPEC §8)."""

from __future__ import annotations

import base64
import dataclasses

import pytest

from flexgrpc.accounts.crypto import (
    EncryptedProviderKey,
    ProviderKeyCipher,
    ProviderKeyDecryptionError,
    generate_encryption_key,
)

SECRET = "sk-proj-Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MA"


@pytest.fixture
def cipher() -> ProviderKeyCipher:
    return ProviderKeyCipher.from_setting(generate_encryption_key())


def test_round_trip(cipher: ProviderKeyCipher) -> None:
    encrypted = cipher.encrypt(SECRET, organization_id="org_1", provider="openai")
    assert SECRET.encode() not in encrypted.ciphertext
    assert len(encrypted.nonce) == 12
    assert cipher.decrypt(encrypted, organization_id="org_1", provider="openai") == SECRET


def test_each_encryption_uses_a_fresh_nonce(cipher: ProviderKeyCipher) -> None:
    first = cipher.encrypt(SECRET, organization_id="org_1", provider="openai")
    second = cipher.encrypt(SECRET, organization_id="org_1", provider="openai")
    assert first.nonce != second.nonce
    assert first.ciphertext != second.ciphertext


def test_wrong_key_fails(cipher: ProviderKeyCipher) -> None:
    encrypted = cipher.encrypt(SECRET, organization_id="org_1", provider="openai")
    other = ProviderKeyCipher.from_setting(generate_encryption_key())
    with pytest.raises(ProviderKeyDecryptionError):
        other.decrypt(encrypted, organization_id="org_1", provider="openai")


@pytest.mark.parametrize(
    ("organization_id", "provider"),
    [("org_2", "openai"), ("org_1", "gemini"), ("openai", "org_1"), ("org_1:openai", "")],
)
def test_ciphertext_is_bound_to_its_organization_and_provider(
    cipher: ProviderKeyCipher, organization_id: str, provider: str
) -> None:
    encrypted = cipher.encrypt(SECRET, organization_id="org_1", provider="openai")
    with pytest.raises(ProviderKeyDecryptionError):
        cipher.decrypt(encrypted, organization_id=organization_id, provider=provider)


def test_altered_ciphertext_fails(cipher: ProviderKeyCipher) -> None:
    encrypted = cipher.encrypt(SECRET, organization_id="org_1", provider="openai")
    flipped = bytes([encrypted.ciphertext[0] ^ 1]) + encrypted.ciphertext[1:]
    with pytest.raises(ProviderKeyDecryptionError):
        cipher.decrypt(
            dataclasses.replace(encrypted, ciphertext=flipped),
            organization_id="org_1",
            provider="openai",
        )


def test_bad_nonce_fails_as_a_decryption_error(cipher: ProviderKeyCipher) -> None:
    encrypted = cipher.encrypt(SECRET, organization_id="org_1", provider="openai")
    with pytest.raises(ProviderKeyDecryptionError):
        cipher.decrypt(
            EncryptedProviderKey(ciphertext=encrypted.ciphertext, nonce=b"short"),
            organization_id="org_1",
            provider="openai",
        )


def test_setting_without_padding_or_with_whitespace_is_accepted() -> None:
    setting = generate_encryption_key()
    encrypted = ProviderKeyCipher.from_setting(setting).encrypt(
        SECRET, organization_id="org_1", provider="openai"
    )
    for variant in (setting.rstrip("="), f"  {setting}\n"):
        again = ProviderKeyCipher.from_setting(variant)
        assert again.decrypt(encrypted, organization_id="org_1", provider="openai") == SECRET


@pytest.mark.parametrize(
    "setting",
    [
        pytest.param("", id="empty"),
        pytest.param("c2VjcmV0LXRvby1zaG9ydA", id="too-short"),
        pytest.param(base64.urlsafe_b64encode(b"k" * 48).decode(), id="too-long"),
        pytest.param("not*base64!secret-value-xyz", id="not-base64"),
        pytest.param("sécret-vàlue-with-accents-0123456789", id="non-ascii"),
        pytest.param(generate_encryption_key()[:-2] + "$$", id="bad-character"),
    ],
)
def test_bad_setting_is_a_value_error_that_does_not_echo_the_value(setting: str) -> None:
    with pytest.raises(ValueError, match="FLEXGRPC_ENCRYPTION_KEY") as caught:
        ProviderKeyCipher.from_setting(setting)
    message = str(caught.value)
    if setting:
        assert setting not in message
        assert setting.rstrip("=") not in message
    assert "32 bytes" in message or "base64" in message
    # Not hidden in a chained exception either.
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__ or caught.value.__context__ is None


def test_cipher_repr_hides_the_key() -> None:
    setting = generate_encryption_key()
    cipher = ProviderKeyCipher.from_setting(setting)
    raw = base64.urlsafe_b64decode(setting)
    assert setting not in repr(cipher)
    assert raw.hex() not in repr(cipher)
    assert "redacted" in repr(cipher)


def test_encrypted_key_repr_shows_no_bytes(cipher: ProviderKeyCipher) -> None:
    encrypted = cipher.encrypt(SECRET, organization_id="org_1", provider="openai")
    assert repr(encrypted) == "EncryptedProviderKey()"
