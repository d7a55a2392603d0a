"""The API key format: ``flex_live_`` + 24 random hex + 6 hex checksum (SPEC §2)."""

from __future__ import annotations

import hashlib
import re
import secrets

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flexgrpc.accounts.api_keys import (
    API_KEY_LENGTH,
    check_api_key_format,
    display_prefix,
    generate_api_key,
    hash_api_key,
)

KEY_SHAPE = re.compile(r"flex_live_[0-9a-f]{24}[0-9a-f]{6}")
HEX = "0123456789abcdef"


def test_generated_key_has_the_documented_shape_and_checksum() -> None:
    key = generate_api_key()
    assert KEY_SHAPE.fullmatch(key)
    assert len(key) == API_KEY_LENGTH == 40
    assert key == documented_key(bytes.fromhex(key[10:34]))
    assert check_api_key_format(key)


def test_generated_keys_are_distinct() -> None:
    keys = {generate_api_key() for _ in range(1000)}
    assert len(keys) == 1000


def documented_key(random_bytes: bytes) -> str:
    """The key for ``random_bytes``, built by the rule the module documents."""
    body = random_bytes.hex()
    return f"flex_live_{body}" + hashlib.sha256(f"flex_live_{body}".encode()).digest()[:3].hex()


@given(st.binary(min_size=12, max_size=12))
def test_every_key_built_by_the_documented_rule_validates(random_bytes: bytes) -> None:
    assert check_api_key_format(documented_key(random_bytes))


def test_every_generated_key_validates() -> None:
    assert all(check_api_key_format(generate_api_key()) for _ in range(5000))


@given(position=st.integers(0, API_KEY_LENGTH - 1), replacement=st.characters())
def test_any_one_character_change_fails_the_check(position: int, replacement: str) -> None:
    key = generate_api_key()
    if key[position] == replacement:
        replacement = "0" if replacement != "0" else "1"
    typo = key[:position] + replacement + key[position + 1 :]
    assert not check_api_key_format(typo)


@given(cut=st.integers(0, API_KEY_LENGTH - 1))
def test_truncated_key_fails_the_check(cut: int) -> None:
    assert not check_api_key_format(generate_api_key()[:cut])


def test_extended_key_fails_the_check() -> None:
    key = generate_api_key()
    assert not check_api_key_format(key + "0")
    assert not check_api_key_format(key + "\n")
    assert not check_api_key_format(" " + key)


def test_upper_case_key_fails_the_check() -> None:
    key = generate_api_key()
    upper_hex = key[:10] + key[10:].upper()
    assert upper_hex != key  # 30 hex digits are never all numeric in practice
    assert not check_api_key_format(upper_hex)
    assert not check_api_key_format(key.upper())


@pytest.mark.parametrize(
    "prefix", ["flex_test_", "flex-live_", "flexlive__", "FLEX_LIVE_", "sk-live___"]
)
def test_wrong_prefix_fails_the_check(prefix: str) -> None:
    key = generate_api_key()
    assert not check_api_key_format(prefix + key[10:])


def test_unicode_digits_do_not_pass_as_hex() -> None:
    key = generate_api_key()
    arabic_indic_zero = "\u0660"
    assert not check_api_key_format(key[:10] + arabic_indic_zero + key[11:])


@given(st.text(max_size=80))
def test_arbitrary_text_is_rejected(text: str) -> None:
    assert not check_api_key_format(text)


@given(st.text(alphabet=HEX, min_size=30, max_size=30))
def test_well_shaped_random_tokens_are_rejected(body: str) -> None:
    # A random body passes with probability 2**-24 per example: essentially never.
    assert not check_api_key_format("flex_live_" + body)


def test_random_well_shaped_tokens_pass_at_the_checksum_rate() -> None:
    passing = sum(check_api_key_format("flex_live_" + secrets.token_hex(15)) for _ in range(20_000))
    # Expected 20_000 / 2**24 ≈ 0.001.
    assert passing <= 1


def test_hash_is_sha256_hex_of_the_whole_key() -> None:
    key = generate_api_key()
    assert hash_api_key(key) == hashlib.sha256(key.encode()).hexdigest()
    assert re.fullmatch(r"[0-9a-f]{64}", hash_api_key(key))


def test_display_prefix_shows_only_the_start_of_the_key() -> None:
    key = generate_api_key()
    shown = display_prefix(key)
    assert shown == key[:14] + "…"
    assert key[14:] not in shown


def test_display_prefix_refuses_something_that_is_not_a_key() -> None:
    with pytest.raises(ValueError, match="not a flexgrpc API key"):
        display_prefix("sk-proj-abc")
