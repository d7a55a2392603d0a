"""Opaque page tokens are bound to the request that issued them."""

from __future__ import annotations

import secrets

import pytest

from flexgrpc.api.pagination import (
    MAX_PAGE_SIZE,
    decode_token,
    encode_token,
    offset_cursor,
    page_size,
    set_page_token_secret,
    time_cursor,
)
from flexgrpc.errors import FlexError


def test_round_trip() -> None:
    args = {"parent": "org_1", "model": "gpt-5"}
    token = encode_token(["2026-11-01T00:00:00+00:00", "key_1"], args)
    assert decode_token(token, args) == ["2026-11-01T00:00:00+00:00", "key_1"]
    assert decode_token("", args) is None


@pytest.mark.parametrize("token", ["not-a-token", "e30", "!!!", "eyJjIjogMX0", "a.b", "é.é"])
def test_mangled_tokens_are_invalid_page_token(token: str) -> None:
    with pytest.raises(FlexError) as caught:
        decode_token(token, {})
    assert (caught.value.code, caught.value.field) == ("invalid_page_token", "page_token")


def test_a_token_is_refused_with_other_arguments() -> None:
    token = encode_token([1], {"model": "a"})
    with pytest.raises(FlexError, match="different arguments"):
        decode_token(token, {"model": "b"})


def test_a_token_signed_under_another_secret_is_refused() -> None:
    token = encode_token([1], {"org": "org_1"})
    set_page_token_secret(b"another secret, 32 bytes long..!")
    try:
        with pytest.raises(FlexError) as caught:
            decode_token(token, {"org": "org_1"})
        assert caught.value.code == "invalid_page_token"
        assert decode_token(encode_token([1], {"org": "org_1"}), {"org": "org_1"}) == [1]
    finally:
        set_page_token_secret(secrets.token_bytes(32))


@pytest.mark.parametrize(
    "cursor",
    [["abc"], [None], [-1], [1.5], [True], [1, 2]],
)
def test_a_signed_offset_cursor_of_the_wrong_shape_is_refused(cursor: list[object]) -> None:
    with pytest.raises(FlexError) as caught:
        offset_cursor(cursor)
    assert caught.value.code == "invalid_page_token"


@pytest.mark.parametrize(
    "cursor",
    [["2026-11-01T00:00:00", "k"], ["abc", "k"], [1e300, "k"], [None, None], ["x"]],
)
def test_a_signed_time_cursor_must_be_an_aware_time_and_an_id(cursor: list[object]) -> None:
    with pytest.raises(FlexError) as caught:
        time_cursor(cursor)
    assert caught.value.code == "invalid_page_token"


def test_page_size_defaults_and_caps() -> None:
    assert page_size(0) == 50
    assert page_size(10**6) == MAX_PAGE_SIZE
    with pytest.raises(FlexError):
        page_size(-1)
