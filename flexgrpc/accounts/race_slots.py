"""Flex race slots (SPEC §8): a cap on an organization's flex races running at once.

A race holds a slot from its start until it settles (flex started, or the standard tier was
dispatched); the answer that follows holds none. ``MemoryRaceSlots`` counts in this process;
``RedisRaceSlots`` keeps each organization's running races in a Redis sorted set of leases
(member = request id, score = when the lease expires), so every worker and replica counts
the same races. A lease lasts the race's window plus ``LEASE_MARGIN_S``, so a process that dies
mid-race frees its slots by then instead of leaking them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
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

log = logging.getLogger("flexgrpc.limits")

#: Beyond the window: the standard dispatch after a spent window (connect, first byte).
LEASE_MARGIN_S: Final = 60.0


@dataclass(frozen=True, slots=True)
class Lease:
    organization_id: str
    request_id: str


class RaceSlots(Protocol):
    async def acquire(
        self, organization_id: str, request_id: str, limits: OrganizationLimits, window_ms: int
    ) -> Lease | None:
        """A slot for this race, or ``None`` when the organization's slots are all taken."""

    async def release(self, lease: Lease) -> None:
        """Give the slot back (never raises)."""


class MemoryRaceSlots:
    def __init__(self, on_event: LimitEvents = ignore_event) -> None:
        self._on_event = on_event
        self._running: dict[str, int] = {}

    def running(self, organization_id: str) -> int:
        return self._running.get(organization_id, 0)

    async def acquire(
        self, organization_id: str, request_id: str, limits: OrganizationLimits, window_ms: int
    ) -> Lease | None:
        running = self._running.get(organization_id, 0)
        if running >= limits.flex_race_slots:
            self._on_event("flex_race_slots", "refused")
            return None
        self._running[organization_id] = running + 1
        return Lease(organization_id, request_id)

    async def release(self, lease: Lease) -> None:
        left = self._running.get(lease.organization_id, 0) - 1
        if left > 0:
            self._running[lease.organization_id] = left
        else:
            self._running.pop(lease.organization_id, None)


#: KEYS[1] the organization's leases; ARGV slots, request id, lease ms. 1 = acquired, 0 = full.
_ACQUIRE: Final = """
local clock = redis.call('TIME')
local now_ms = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_ms)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  return 0
end
local lease_ms = tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], now_ms + lease_ms, ARGV[2])
redis.call('PEXPIRE', KEYS[1], lease_ms)
return 1
"""


class RedisRaceSlots:
    def __init__(
        self,
        client: Redis,
        *,
        prefix: str = "flexgrpc:",
        on_redis_error: OnRedisError = OnRedisError.OPEN,
        on_event: LimitEvents = ignore_event,
    ) -> None:
        self._client = client
        self._prefix = prefix + "races:"
        self._on_event = on_event
        self._acquire = client.register_script(_ACQUIRE)
        self.failures = RedisFailures("flex_race_slots", on_redis_error, on_event)

    async def running(self, organization_id: str) -> int:
        return int(await self._client.zcard(self._prefix + organization_id))

    async def acquire(
        self, organization_id: str, request_id: str, limits: OrganizationLimits, window_ms: int
    ) -> Lease | None:
        lease_ms = window_ms + round(LEASE_MARGIN_S * 1000)
        key = self._prefix + organization_id
        try:
            got = await self._acquire(
                keys=[key], args=[limits.flex_race_slots, request_id, lease_ms]
            )
        except REDIS_FAILURES as error:
            # Open: the race runs, unleased (there is nothing in Redis to give back).
            if self.failures.failed(error):
                return Lease(organization_id, "")
            return None
        if int(got) != 1:
            self._on_event("flex_race_slots", "refused")
            return None
        return Lease(organization_id, request_id)

    async def release(self, lease: Lease) -> None:
        if not lease.request_id:
            return
        try:
            await self._client.zrem(self._prefix + lease.organization_id, lease.request_id)
        except REDIS_FAILURES as error:
            # The lease expires on its own; the slot comes back then.
            self.failures.failed(error)
