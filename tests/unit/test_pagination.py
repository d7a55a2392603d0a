"""Opaque page tokens are bound to the request that issued them."""

from __future__ import annotations

import pytest

from flexgrpc.api.pagination import MAX_PAGE_SIZE, decode_token, encode_token, page_size
from flexgrpc.errors import FlexError


def test_round_trip() -> None:
    args = {"parent": "org_1", "model": "gpt-5"}
    token = encode_token(["2026-11-01T00:00:00+00:00", "key_1"], args)
    assert decode_token(token, args) == ["2026-11-01T00:00:00+00:00", "key_1"]
    assert decode_token("", args) is None


@pytest.mark.parametrize("token", ["not-a-token", "e30", "!!!", "eyJjIjogMX0"])
def test_mangled_tokens_are_invalid_argument(token: str) -> None:
    with pytest.raises(FlexError) as caught:
        decode_token(token, {})
    assert (caught.value.code, caught.value.field) == ("invalid_argument", "page_token")


def test_a_token_is_refused_with_other_arguments() -> None:
    token = encode_token([1], {"model": "a"})
    with pytest.raises(FlexError, match="different arguments"):
        decode_token(token, {"model": "b"})


def test_page_size_defaults_and_caps() -> None:
    assert page_size(0) == 50
    assert page_size(10**6) == MAX_PAGE_SIZE
    with pytest.raises(FlexError):
        page_size(-1)
