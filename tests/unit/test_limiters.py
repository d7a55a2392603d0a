"""The limiters by themselves: the token bucket (fake clock), race slots, and both through real
Redis (the shared one under a prefix of the test's own, or a private one that goes away)."""

from __future__ import annotations

import pytest

from flexgrpc.accounts.limiters import redis_client
from flexgrpc.accounts.limits import OrganizationLimits
from flexgrpc.accounts.race_slots import LEASE_MARGIN_S, MemoryRaceSlots, RedisRaceSlots
from flexgrpc.accounts.rate_limiter import MemoryRateLimiter, RedisRateLimiter
from flexgrpc.accounts.shared_limits import OnRedisError
from flexgrpc.errors import FlexError
from tests.redisproc import (
    PrivateRedis,
    free_port,
    private_redis,
    shared_redis_url,
    unique_prefix,
)

__all__ = ["private_redis"]  # the fixture, used by name

SIXTY_A_MINUTE_BURST_3 = OrganizationLimits(requests_per_minute=60, request_burst=3)
ONE_SLOT = OrganizationLimits(flex_race_slots=1)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def _refusal(limiter: MemoryRateLimiter | RedisRateLimiter, org: str) -> FlexError:
    with pytest.raises(FlexError) as caught:
        await limiter.admit(org, SIXTY_A_MINUTE_BURST_3)
    return caught.value


async def test_a_burst_is_admitted_then_the_bucket_refills_at_the_rate() -> None:
    clock = Clock()
    limiter = MemoryRateLimiter(clock)
    for _ in range(3):
        await limiter.admit("org_a", SIXTY_A_MINUTE_BURST_3)
    refused = await _refusal(limiter, "org_a")
    assert refused.code == "rate_limit_exceeded"
    assert refused.retry_after_s == 1  # one a second
    assert "60 requests per minute" in refused.message
    clock.now += 1.0
    await limiter.admit("org_a", SIXTY_A_MINUTE_BURST_3)
    await _refusal(limiter, "org_a")
    clock.now += 3600
    for _ in range(3):  # full again, never fuller than the burst
        await limiter.admit("org_a", SIXTY_A_MINUTE_BURST_3)
    await _refusal(limiter, "org_a")


async def test_organizations_have_buckets_of_their_own_and_unlimited_is_never_refused() -> None:
    limiter = MemoryRateLimiter(Clock())
    for _ in range(3):
        await limiter.admit("org_a", SIXTY_A_MINUTE_BURST_3)
    await _refusal(limiter, "org_a")
    await limiter.admit("org_b", SIXTY_A_MINUTE_BURST_3)
    for _ in range(1000):
        await limiter.admit("org_a", OrganizationLimits())


def test_the_burst_defaults_to_a_minute_of_requests() -> None:
    assert OrganizationLimits(requests_per_minute=120).burst == 120
    assert OrganizationLimits(requests_per_minute=120, request_burst=5).burst == 5


async def test_memory_race_slots_cap_running_races_and_come_back_on_release() -> None:
    slots = MemoryRaceSlots()
    first = await slots.acquire("org_a", "req_1", ONE_SLOT, 30_000)
    assert first is not None
    assert await slots.acquire("org_a", "req_2", ONE_SLOT, 30_000) is None
    assert await slots.acquire("org_b", "req_3", ONE_SLOT, 30_000) is not None
    await slots.release(first)
    assert slots.running("org_a") == 0
    assert await slots.acquire("org_a", "req_4", ONE_SLOT, 30_000) is not None


# --- through Redis ----------------------------------------------------------------------------


async def test_two_redis_limiters_share_one_bucket() -> None:
    url, prefix = shared_redis_url(), unique_prefix()
    one, two = redis_client(url, 1.0), redis_client(url, 1.0)
    try:
        first = RedisRateLimiter(one, prefix=prefix)
        second = RedisRateLimiter(two, prefix=prefix)
        await first.admit("org_a", SIXTY_A_MINUTE_BURST_3)
        await second.admit("org_a", SIXTY_A_MINUTE_BURST_3)
        await first.admit("org_a", SIXTY_A_MINUTE_BURST_3)
        refused = await _refusal(second, "org_a")
        assert refused.code == "rate_limit_exceeded"
        assert refused.retry_after_s == 1
        await second.admit("org_b", SIXTY_A_MINUTE_BURST_3)
        # The bucket expires once it would be full again: nothing is left behind for good.
        ttl_ms = await one.pttl(f"{prefix}rate:org_a")
        assert 0 < ttl_ms <= 4000
    finally:
        await one.aclose()
        await two.aclose()


async def test_a_redis_checked_request_is_one_round_trip(private_redis: PrivateRedis) -> None:
    client = redis_client(private_redis.url, 1.0)
    try:
        limiter = RedisRateLimiter(client, prefix=unique_prefix())
        await limiter.admit("org_a", SIXTY_A_MINUTE_BURST_3)  # loads the script once
        private_redis.client().config_resetstat()
        await limiter.admit("org_a", SIXTY_A_MINUTE_BURST_3)
        await limiter.admit("org_a", SIXTY_A_MINUTE_BURST_3)
        await _refusal(limiter, "org_a")  # a refusal costs the same one round trip
        stats = private_redis.client().info("commandstats")
        calls = {name.removeprefix("cmdstat_"): value["calls"] for name, value in stats.items()}
        # One EVALSHA per request; the rest are the commands the script runs inside Redis.
        assert calls.pop("evalsha") == 3
        calls.pop("info", None)  # these very questions
        calls.pop("hello", None)  # redis-py 8 opens each connection with HELLO
        calls.pop("config|resetstat", None)
        assert calls == {"time": 3, "hmget": 3, "hset": 3, "pexpire": 3}
    finally:
        await client.aclose()


async def test_redis_race_slots_are_leases_that_a_dead_process_cannot_leak() -> None:
    url, prefix = shared_redis_url(), unique_prefix()
    client = redis_client(url, 1.0)
    try:
        slots = RedisRaceSlots(client, prefix=prefix)
        two = OrganizationLimits(flex_race_slots=2)
        held = await slots.acquire("org_a", "req_1", two, 30_000)
        assert held is not None
        assert await slots.acquire("org_a", "req_2", two, 30_000) is not None
        assert await slots.acquire("org_a", "req_3", two, 30_000) is None
        await slots.release(held)
        assert await slots.running("org_a") == 1
        assert await slots.acquire("org_a", "req_4", two, 30_000) is not None
        # Each lease ends at the window plus the margin.
        now_s, now_us = await client.time()
        expiry_ms = await client.zscore(f"{prefix}races:org_a", "req_4")
        lease_ms = expiry_ms - (now_s * 1000 + now_us // 1000)
        assert 30_000 < lease_ms <= 30_000 + LEASE_MARGIN_S * 1000
        # A process that died mid-race left a lease that has expired: it holds no slot.
        key = f"{prefix}races:org_b"
        await client.zadd(key, {"req_of_a_dead_process": 1})
        assert await slots.acquire("org_b", "req_5", ONE_SLOT, 30_000) is not None
        assert await client.zrange(key, 0, -1) == [b"req_5"]
    finally:
        await client.aclose()


async def test_with_redis_away_the_limits_fail_open_or_closed_as_configured() -> None:
    events: list[tuple[str, str]] = []
    away = redis_client(f"redis://127.0.0.1:{free_port()}/0", 0.25)
    try:
        opened = RedisRateLimiter(
            away, on_redis_error=OnRedisError.OPEN, on_event=lambda *e: events.append(e)
        )
        for _ in range(5):  # over the burst: nothing is enforced
            await opened.admit("org_a", SIXTY_A_MINUTE_BURST_3)
        closed = RedisRateLimiter(away, on_redis_error=OnRedisError.CLOSED)
        with pytest.raises(FlexError) as caught:
            await closed.admit("org_a", SIXTY_A_MINUTE_BURST_3)
        assert caught.value.code == "unavailable"
        assert caught.value.retry_after_s == 1
        assert await closed.admit("org_a", OrganizationLimits()) is None  # unlimited: no call
        open_slots = RedisRaceSlots(away, on_redis_error=OnRedisError.OPEN)
        lease = await open_slots.acquire("org_a", "req_1", ONE_SLOT, 30_000)
        assert lease is not None
        await open_slots.release(lease)
        closed_slots = RedisRaceSlots(away, on_redis_error=OnRedisError.CLOSED)
        assert await closed_slots.acquire("org_a", "req_2", ONE_SLOT, 30_000) is None
    finally:
        await away.aclose()
    assert events == [("rate", "redis_error_open")] * 5


async def test_a_failure_is_logged_once_per_spell_not_once_per_request(
    caplog: pytest.LogCaptureFixture,
) -> None:
    away = redis_client(f"redis://127.0.0.1:{free_port()}/0", 0.25)
    try:
        limiter = RedisRateLimiter(away, on_redis_error=OnRedisError.OPEN)
        with caplog.at_level("ERROR", logger="flexgrpc.limits"):
            for _ in range(20):
                await limiter.admit("org_a", SIXTY_A_MINUTE_BURST_3)
    finally:
        await away.aclose()
    lines = [r for r in caplog.records if r.name == "flexgrpc.limits"]
    assert len(lines) == 1
    assert "cannot reach Redis" in lines[0].getMessage()
    assert "failing open" in lines[0].getMessage()
