"""The limiters a server enforces organizations' limits with: in memory, or through Redis."""

from __future__ import annotations

from dataclasses import dataclass, field

from redis.asyncio import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from flexgrpc.accounts.race_slots import MemoryRaceSlots, RaceSlots, RedisRaceSlots
from flexgrpc.accounts.rate_limiter import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from flexgrpc.accounts.shared_limits import LimitEvents, OnRedisError, ignore_event
from flexgrpc.config import Settings


@dataclass(frozen=True)
class Limiters:
    rate: RateLimiter = field(default_factory=MemoryRateLimiter)
    race_slots: RaceSlots = field(default_factory=MemoryRaceSlots)
    #: The Redis client both use, closed with the server; ``None`` in memory.
    redis: Redis | None = None

    async def aclose(self) -> None:
        if self.redis is not None:
            await self.redis.aclose()


def redis_client(url: str, timeout_s: float) -> Redis:
    """The limiters' Redis client: a request never waits for retries (redis-py retries three
    times with backoff by default), the failure policy decides at once."""
    return Redis.from_url(
        url,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=Retry(NoBackoff(), 0),
    )


def build_limiters(settings: Settings, on_event: LimitEvents = ignore_event) -> Limiters:
    """In memory without ``redis_url``; otherwise shared through that Redis."""
    if settings.redis_url is None:
        return Limiters(MemoryRateLimiter(on_event=on_event), MemoryRaceSlots(on_event))
    client = redis_client(settings.redis_url, settings.redis_timeout_s)
    policy = OnRedisError(settings.limits_on_redis_error)
    prefix = settings.redis_key_prefix
    return Limiters(
        RedisRateLimiter(client, prefix=prefix, on_redis_error=policy, on_event=on_event),
        RedisRaceSlots(client, prefix=prefix, on_redis_error=policy, on_event=on_event),
        client,
    )
