"""The failed-authentication limiter, on a controlled clock."""

from __future__ import annotations

import pytest

from flexgrpc.api.auth import FailedAuthLimiter, client_address
from flexgrpc.errors import FlexError


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("peer", "address"),
    [
        ("ipv4:127.0.0.1:5555", "127.0.0.1"),
        ("ipv6:[::1]:5555", "::1"),
        ("unix:/tmp/sock", "unix:/tmp/sock"),
    ],
)
def test_client_address(peer: str, address: str) -> None:
    assert client_address(peer) == address


def test_limit_applies_per_address_and_resets_after_the_window() -> None:
    clock = Clock()
    limiter = FailedAuthLimiter(2, clock)
    for _ in range(2):
        limiter.check("a")
        limiter.record_failure("a")
    with pytest.raises(FlexError) as caught:
        limiter.check("a")
    assert caught.value.code == "rate_limit_exceeded"
    assert caught.value.retry_after_s == 60
    limiter.check("b")  # another address is unaffected
    clock.now += 45
    with pytest.raises(FlexError) as caught:
        limiter.check("a")
    assert caught.value.retry_after_s == 15
    clock.now += 15
    limiter.check("a")
