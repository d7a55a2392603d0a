"""The flex race (SPEC §3), and the plain dispatch of fixed tiers.

Given window W from receipt: stream the request to flex; commit to flex if it starts within W;
on a capacity error or 5xx retry flex with jittered backoff while W lasts; when W is spent,
cancel the flex attempt (closing its connection stops the provider's work) and dispatch the
standard tier at once. A non-capacity 4xx from flex goes back to the caller. Nothing reaches
the caller before this settles, so there is never a tier switch after the first byte.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flexgrpc import tracing
from flexgrpc.domain import (
    Backoff,
    FallbackReason,
    ProviderRoute,
    RaceOutcome,
    RetryPolicy,
    RouteJob,
    UpstreamTier,
    upstream_tier_for,
)
from flexgrpc.providers.adapter import Adapter
from flexgrpc.providers.upstream import UpstreamClient, UpstreamError, UpstreamStream
from flexgrpc.routing.flex_policy import FlexPolicy


@dataclass
class RaceProgress:
    """What the race has done so far; readable even when it fails or is cancelled."""

    flex_attempts: int = 0
    #: Re-sends of the settled tier under the caller's ``retry`` policy (the
    #: ``x-flexinference-retries`` header); flex attempts and a switch to the next route in the
    #: chain are not retries.
    retries: int = 0
    route: ProviderRoute | None = None
    tier: UpstreamTier | None = None
    fell_back_at: float | None = None
    fallback_reason: FallbackReason | None = None
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Settlement:
    stream: UpstreamStream
    outcome: RaceOutcome
    time_to_start_s: float


@dataclass(frozen=True)
class FlexRetrySchedule:
    """Backoff between flex attempts inside the window (full jitter, capped)."""

    base_s: float = 0.25
    cap_s: float = 2.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        return rng.uniform(0, min(self.cap_s, self.base_s * 2 ** (attempt - 1)))


def retry_delay(
    policy: RetryPolicy, attempt: int, rng: random.Random, base_s: float = 0.5
) -> float:
    """Delay before retry ``attempt`` (1-based) of the settled tier under ``policy``."""
    linear = policy.backoff is Backoff.LINEAR
    delay = base_s * attempt if linear else base_s * 2 ** (attempt - 1)
    return rng.uniform(delay / 2, delay) if policy.jitter else delay


def _race_attributes(
    job: RouteJob, settlement: Settlement, progress: RaceProgress
) -> dict[str, str | int]:
    asked = job.start_within
    return {
        "flexgrpc.start_within": asked.tier.value if asked.tier else f"{asked.window_ms}ms",
        "flexgrpc.outcome": settlement.outcome.value,
        "flexgrpc.flex_attempts": progress.flex_attempts,
        "flexgrpc.upstream_tier": progress.tier.value if progress.tier else "",
        "flexgrpc.fallback_reason": progress.fallback_reason.value
        if progress.fallback_reason
        else "",
    }


class FlexRace:
    def __init__(
        self,
        upstream: UpstreamClient,
        *,
        flex_retry: FlexRetrySchedule = FlexRetrySchedule(),
        retry_base_s: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        policy: FlexPolicy | None = None,
    ) -> None:
        self._upstream = upstream
        self._policy = policy
        self._flex_retry = flex_retry
        self._retry_base_s = retry_base_s
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not security
        self._background: set[asyncio.Future[Any]] = set()

    def _keep(self, future: asyncio.Future[Any]) -> None:
        self._background.add(future)  # a reference until it is done, so it is not collected
        future.add_done_callback(self._background.discard)

    def _cancel_later(self, attempt: asyncio.Future[UpstreamStream]) -> None:
        """Cancel ``attempt`` without waiting; if it started meanwhile, close its stream."""

        def settle(done: asyncio.Future[UpstreamStream]) -> None:
            if not done.cancelled() and done.exception() is None:
                self._keep(asyncio.ensure_future(done.result().aclose()))

        self._keep(attempt)
        attempt.add_done_callback(settle)
        attempt.cancel()

    async def settle(
        self,
        job: RouteJob,
        adapter: Adapter,
        api_key: str,
        progress: RaceProgress,
        *,
        skip_race: FallbackReason | None = None,
    ) -> Settlement:
        """Run the race (or the fixed-tier dispatch) until an answer has started.

        With ``skip_race`` a race goes to standard at once, for that reason.
        """
        with tracing.span("race") as span:
            settlement = await self._settle(job, adapter, api_key, progress, skip_race)
            if span is not None:
                span.set_attributes(_race_attributes(job, settlement, progress))
            return settlement

    async def _settle(
        self,
        job: RouteJob,
        adapter: Adapter,
        api_key: str,
        progress: RaceProgress,
        skip_race: FallbackReason | None,
    ) -> Settlement:
        if job.start_within.tier is not None:
            # No start to detect on a fixed tier: a non-streamed request goes as one (see
            # flexgrpc.providers.reading).
            stream = await self._dispatch(
                job, adapter, api_key, self._fixed_tier(job), progress, whole=not job.stream
            )
            return self._settled(job, stream, RaceOutcome.FREE_TIER)
        assert job.start_within.window_ms is not None
        if skip_race is None and self._policy is not None and not self._policy.should_race(job):
            # Recent races say flex cannot start within this window: standard at once.
            skip_race = FallbackReason.FLEX_POLICY
        if skip_race is not None:
            progress.fell_back_at = self._clock()
            progress.fallback_reason = skip_race
            with tracing.span("race.fallback", {"flexgrpc.fallback_reason": skip_race.value}):
                stream = await self._dispatch(
                    job, adapter, api_key, UpstreamTier.STANDARD, progress
                )
            return self._settled(job, stream, RaceOutcome.FELL_BACK)
        deadline = job.received_at + job.start_within.window_ms / 1000
        flex = await self._flex(job, adapter, api_key, deadline, progress)
        if flex is not None:
            return self._settled(job, flex, RaceOutcome.FLEX_WON)
        progress.fell_back_at = self._clock()
        progress.fallback_reason = FallbackReason.WINDOW_SPENT
        with tracing.span("race.fallback"):
            stream = await self._dispatch(job, adapter, api_key, UpstreamTier.STANDARD, progress)
        return self._settled(job, stream, RaceOutcome.FELL_BACK)

    @staticmethod
    def _fixed_tier(job: RouteJob) -> UpstreamTier:
        assert job.start_within.tier is not None
        tier = upstream_tier_for(job.provider, job.start_within.tier)
        if tier is None:  # validation refuses a tier the provider lacks before this point
            raise ValueError(f"{job.provider.value} has no {job.start_within.tier.value} tier")
        return tier

    def _settled(self, job: RouteJob, stream: UpstreamStream, outcome: RaceOutcome) -> Settlement:
        started = stream.started_at if stream.started_at is not None else self._clock()
        return Settlement(stream, outcome, max(0.0, started - job.received_at))

    async def _flex(
        self,
        job: RouteJob,
        adapter: Adapter,
        api_key: str,
        deadline: float,
        progress: RaceProgress,
    ) -> UpstreamStream | None:
        """Flex attempts until one starts (returned) or the window is spent (``None``)."""
        route = job.routes[0]  # only the primary route may run flex
        try:
            while (remaining := deadline - self._clock()) > 0:
                progress.flex_attempts += 1
                progress.route, progress.tier = route, UpstreamTier.FLEX
                attempt = asyncio.ensure_future(
                    self._started(adapter, job, api_key, route, progress.flex_attempts)
                )
                try:
                    done, _ = await asyncio.wait({attempt}, timeout=remaining)
                except BaseException:
                    attempt.cancel()  # the caller went away: stop the flex attempt too
                    raise
                if not done:
                    # The window is spent. Tear the attempt down in the background (cancelling
                    # it closes its connection, so the provider stops work) and let the standard
                    # tier be dispatched first: SPEC §3.6 counts from the deadline.
                    self._cancel_later(attempt)
                    break
                try:
                    stream = attempt.result()
                except UpstreamError as error:
                    if error.is_client_error:
                        raise
                    progress.errors.append(error.reason)
                    delay = self._flex_retry.delay(progress.flex_attempts, self._rng)
                    hinted = error.retry_after_s()
                    if hinted is not None:
                        delay = max(delay, hinted)
                    if self._clock() + delay >= deadline:
                        break
                    await asyncio.sleep(delay)
                else:
                    started = stream.started_at if stream.started_at is not None else self._clock()
                    self._observe(job, started, started=True)
                    return stream
        except UpstreamError:
            raise  # the request itself is wrong: it says nothing about flex capacity
        except BaseException:
            self._observe(job, self._clock(), started=False)  # waited this long, in vain
            raise
        self._observe(job, max(deadline, self._clock()), started=False)
        return None

    def _observe(self, job: RouteJob, at: float, *, started: bool) -> None:
        if self._policy is not None:
            self._policy.observe(job, at - job.received_at, started)

    async def _started(
        self, adapter: Adapter, job: RouteJob, api_key: str, route: ProviderRoute, number: int
    ) -> UpstreamStream:
        """One flex attempt: open the stream and wait for the start; close it on any failure."""
        with tracing.span("race.flex_attempt", {"flexgrpc.attempt": number}):
            stream = await self._upstream.open(adapter, job, UpstreamTier.FLEX, api_key, route)
            try:
                await stream.wait_for_start()
            except BaseException:
                await stream.aclose()
                raise
            return stream

    async def _dispatch(
        self,
        job: RouteJob,
        adapter: Adapter,
        api_key: str,
        tier: UpstreamTier,
        progress: RaceProgress,
        *,
        whole: bool = False,
    ) -> UpstreamStream:
        """A fixed tier: each route in order, with the caller's retries, until one starts
        (``whole``: until one has answered a non-streamed request)."""
        tries = 1 + (job.retry.count if job.retry else 0)
        last: UpstreamError | None = None
        for route in job.routes:
            progress.route, progress.tier = route, tier
            for attempt in range(1, tries + 1):
                stream: UpstreamStream | None = None
                try:
                    stream = await self._upstream.open(
                        adapter, job, tier, api_key, route, stream=not whole
                    )
                    await stream.wait_for_start()
                    return stream
                except UpstreamError as error:
                    if stream is not None:
                        await stream.aclose()
                    last = error
                    progress.errors.append(error.reason)
                    if error.is_client_error:
                        raise
                    if attempt < tries and error.retryable and job.retry is not None:
                        delay = retry_delay(job.retry, attempt, self._rng, self._retry_base_s)
                        hinted = error.retry_after_s()
                        await asyncio.sleep(max(delay, hinted or 0.0))
                        progress.retries += 1
                        continue
                    break
                except BaseException:
                    if stream is not None:
                        await stream.aclose()
                    raise
            if last is not None and not last.switch_route:
                break  # a 429 is about this route's quota; another route would not help it
        assert last is not None
        raise last
