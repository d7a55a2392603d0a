"""What the limiters do when the Redis that shares them across processes cannot be reached.

Failing *open* lets the request through (the limit is briefly not enforced); failing *closed*
treats it as over the limit. Either way the failure is counted (``on_event``, the
``flexgrpc_limit_redis_errors_total`` metric) and logged at most once per ``LOG_EVERY_S``, with
how many failures the quiet spell hid: a Redis outage under load would otherwise write a line
per request.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Callable
from typing import Final

from redis.exceptions import RedisError

log = logging.getLogger("flexgrpc.limits")

#: Told of each refusal and each Redis failure: (limit, event), e.g. ("rate", "refused"),
#: ("rate", "redis_error_open"). Metrics count them.
LimitEvents = Callable[[str, str], None]

#: What a Redis call of a limiter may raise when Redis is away, slow or confused.
REDIS_FAILURES: Final = (RedisError, OSError, asyncio.TimeoutError)


def ignore_event(limit: str, event: str) -> None:
    """No metrics."""


class OnRedisError(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class RedisFailures:
    """Counts and logs (rate-limited) a limiter's Redis failures, and says what to do."""

    LOG_EVERY_S: Final = 10.0

    def __init__(
        self,
        limit: str,
        policy: OnRedisError,
        on_event: LimitEvents = ignore_event,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limit = limit
        self.policy = policy
        self._on_event = on_event
        self._clock = clock
        self._logged_at: float | None = None
        self._hidden = 0

    def failed(self, error: BaseException) -> bool:
        """Record ``error``; ``True`` when the request may proceed (fail open)."""
        self._on_event(self._limit, f"redis_error_{self.policy.value}")
        now = self._clock()
        if self._logged_at is not None and now - self._logged_at < self.LOG_EVERY_S:
            self._hidden += 1
        else:
            log.error(
                "the %s limit cannot reach Redis (%s: %s); failing %s%s",
                self._limit,
                type(error).__name__,
                str(error)[:200],
                self.policy.value,
                f" ({self._hidden} more failures since the last line)" if self._hidden else "",
                extra={"limit": self._limit, "on_redis_error": self.policy.value},
            )
            self._logged_at, self._hidden = now, 0
        return self.policy is OnRedisError.OPEN
