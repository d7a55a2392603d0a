"""Each organization's request rate (SPEC §8): a token bucket per organization.

The bucket holds up to ``burst`` requests and refills at ``requests_per_minute``; a request
takes one, or is refused with the time until one is back. ``MemoryRateLimiter`` keeps the
buckets in this process; ``RedisRateLimiter`` keeps them in Redis so that every worker and
replica draws from the same bucket, in one round trip per request (a Lua script by EVALSHA,
which reads the clock, refills, takes and sets the key's expiry atomically on the server).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Final, Protocol

from redis.asyncio import Redis

from flexgrpc.accounts.limits import OrganizationLimits
from flexgrpc.accounts.shared_limits import (
    REDIS_FAILURES,
    LimitEvents,
    OnRedisError,
    RedisFailures,
    ignore_event,
)
from flexgrpc.errors import FlexError


def rate_limited(limits: OrganizationLimits, wait_s: float) -> FlexError:
    retry_after = max(1, math.ceil(wait_s))
    return FlexError(
        "rate_limit_exceeded",
        f"This organization may send {limits.requests_per_minute} requests per minute (bursts "
        f"of {limits.burst}); retry after {retry_after} s, or ask an operator for a higher "
        "limit.",
        retry_after_s=retry_after,
        metadata={
            "requests_per_minute": str(limits.requests_per_minute),
            "burst": str(limits.burst),
        },
    )


class RateLimiter(Protocol):
    async def admit(self, organization_id: str, limits: OrganizationLimits) -> None:
        """Take one request from the organization's bucket, or raise ``rate_limit_exceeded``."""


class NoRateLimiter:
    """Every request admitted (what the bench compares against)."""

    async def admit(self, organization_id: str, limits: OrganizationLimits) -> None:
        return None


class MemoryRateLimiter:
    """Buckets in this process: exact for one process, per process for several."""

    #: Every this many new buckets, the full ones are forgotten (so memory follows the
    #: organizations active lately, not every one ever seen).
    _SWEEP_EVERY: Final = 10_000

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, on_event: LimitEvents = ignore_event
    ) -> None:
        self._clock = clock
        self._on_event = on_event
        #: organization id -> [tokens, time of the last refill, when it will be full again]
        self._buckets: dict[str, list[float]] = {}
        self._admitted = 0

    async def admit(self, organization_id: str, limits: OrganizationLimits) -> None:
        if not limits.rate_limited:
            return
        wait_s = self.take(organization_id, limits)
        if wait_s > 0:
            self._on_event("rate", "refused")
            raise rate_limited(limits, wait_s)

    def take(self, organization_id: str, limits: OrganizationLimits) -> float:
        """0 when a token was taken, else the seconds until one is back."""
        now = self._clock()
        per_s = limits.requests_per_minute / 60
        capacity = float(limits.burst)
        bucket = self._buckets.get(organization_id)
        if bucket is None:
            self._admitted += 1
            if self._admitted % self._SWEEP_EVERY == 0:
                self._sweep(now)
            self._buckets[organization_id] = [capacity - 1, now, now + 1 / per_s]
            return 0.0
        tokens = min(capacity, bucket[0] + (now - bucket[1]) * per_s)
        bucket[1] = now
        if tokens >= 1:
            tokens -= 1
            wait_s = 0.0
        else:
            wait_s = (1 - tokens) / per_s
        bucket[0] = tokens
        bucket[2] = now + (capacity - tokens) / per_s
        return wait_s

    def _sweep(self, now: float) -> None:
        # A bucket that is full again is the same as no bucket: forgetting it changes nothing.
        full = [org for org, (_, _, full_at) in self._buckets.items() if now >= full_at]
        for org in full:
            del self._buckets[org]


#: KEYS[1] the bucket; ARGV capacity, refill per second. Returns 0 (taken) or the wait in ms.
#: Redis's own clock, so replicas whose clocks disagree still share one bucket.
_TAKE: Final = """
local capacity = tonumber(ARGV[1])
local per_s = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'n', 't')
local tokens = tonumber(state[1])
if tokens == nil then
  tokens = capacity
else
  tokens = math.min(capacity, tokens + math.max(0, now - tonumber(state[2])) * per_s)
end
local wait_ms = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait_ms = math.ceil((1 - tokens) / per_s * 1000)
end
redis.call('HSET', KEYS[1], 'n', tostring(tokens), 't', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / per_s * 1000) + 1000)
return wait_ms
"""


class RedisRateLimiter:
    """Buckets in Redis, shared by every process that uses the same Redis and prefix."""

    def __init__(
        self,
        client: Redis,
        *,
        prefix: str = "flexgrpc:",
        on_redis_error: OnRedisError = OnRedisError.OPEN,
        on_event: LimitEvents = ignore_event,
    ) -> None:
        self._prefix = prefix + "rate:"
        self._on_event = on_event
        # redis-py's Script sends EVALSHA, and loads the script only when Redis lacks it.
        self._take = client.register_script(_TAKE)
        self.failures = RedisFailures("rate", on_redis_error, on_event)

    async def admit(self, organization_id: str, limits: OrganizationLimits) -> None:
        if not limits.rate_limited:
            return
        per_s = limits.requests_per_minute / 60
        try:
            wait_ms = await self._take(
                keys=[self._prefix + organization_id], args=[limits.burst, repr(per_s)]
            )
        except REDIS_FAILURES as error:
            if self.failures.failed(error):
                return
            raise FlexError(
                "unavailable",
                "The rate limit cannot be checked right now (its shared store is unreachable), "
                "and this server refuses requests until it can; retry shortly.",
                retry_after_s=1,
            ) from error
        if int(wait_ms) > 0:
            self._on_event("rate", "refused")
            raise rate_limited(limits, int(wait_ms) / 1000)
