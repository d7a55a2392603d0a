"""The race and the fixed-tier dispatch, in process, against real simulators over HTTP."""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator

import pytest

from flexgrpc.domain import ProviderRoute, RaceOutcome, RetryPolicy, RouteJob
from flexgrpc.providers.openai import ResponsesAdapter
from flexgrpc.providers.upstream import UpstreamClient, UpstreamError
from flexgrpc.routing.flex_policy import LearnedFlexPolicy
from flexgrpc.routing.race import FlexRace, RaceProgress
from flexgrpc.sim import SimConfig, Simulator
from tests.jobs import responses_job


@pytest.fixture
async def sims() -> AsyncIterator[tuple[Simulator, Simulator]]:
    primary, secondary = Simulator(SimConfig(seed=1)), Simulator(SimConfig(seed=2))
    await primary.start()
    await secondary.start()
    yield primary, secondary
    await primary.stop()
    await secondary.stop()


@pytest.fixture
async def race(sims: tuple[Simulator, Simulator]) -> AsyncIterator[FlexRace]:
    """A race whose primary route is the first simulator and whose fallback route the second."""
    primary, secondary = sims
    upstream = UpstreamClient(
        # A second route to the same model: vertex is planned, so the test stands it in.
        {ProviderRoute.OPENAI: f"{primary.url}/v1", ProviderRoute.VERTEX: f"{secondary.url}/v1"},
    )
    yield FlexRace(upstream, rng=random.Random(0), retry_base_s=0.01)
    await upstream.aclose()


def job(
    *,
    window_ms: int | None = None,
    routes: tuple[ProviderRoute, ...] = (ProviderRoute.OPENAI,),
    retry: RetryPolicy | None = None,
) -> RouteJob:
    return responses_job(window_ms=window_ms, routes=routes, retry=retry)


async def test_the_provider_chain_moves_on_after_a_5xx(
    sims: tuple[Simulator, Simulator], race: FlexRace
) -> None:
    primary, secondary = sims
    primary.config = SimConfig(seed=1).with_tier("standard", error_rate=1.0, error_status=503)
    progress = RaceProgress()
    settled = await race.settle(
        job(routes=(ProviderRoute.OPENAI, ProviderRoute.VERTEX)),
        ResponsesAdapter(),
        "sk-test",
        progress,
    )
    await settled.stream.aclose()
    assert settled.outcome is RaceOutcome.FREE_TIER
    assert settled.stream.route is ProviderRoute.VERTEX
    assert [r.outcome for r in primary.records] == ["error"]
    assert [r.outcome for r in secondary.records] != []


async def test_a_429_is_retried_on_the_same_route_and_not_chained(
    sims: tuple[Simulator, Simulator], race: FlexRace
) -> None:
    primary, secondary = sims
    primary.config = SimConfig(seed=1).with_tier("standard", refusal_rate=1.0, refusal_status=429)
    with pytest.raises(UpstreamError) as caught:
        await race.settle(
            job(routes=(ProviderRoute.OPENAI, ProviderRoute.VERTEX), retry=RetryPolicy(count=2)),
            ResponsesAdapter(),
            "sk-test",
            RaceProgress(),
        )
    assert caught.value.status == 429
    assert len(primary.records) == 3  # the first try and two retries
    assert secondary.records == []


async def test_flex_capacity_errors_are_retried_until_the_window_ends(
    sims: tuple[Simulator, Simulator], race: FlexRace
) -> None:
    primary, _ = sims
    primary.config = SimConfig(seed=1).with_tier("flex", refusal_rate=1.0)
    progress = RaceProgress()
    begun = time.monotonic()
    settled = await race.settle(job(window_ms=5_000), ResponsesAdapter(), "sk-test", progress)
    await settled.stream.aclose()
    assert settled.outcome is RaceOutcome.FELL_BACK
    assert progress.flex_attempts > 3
    assert progress.fell_back_at is not None
    # Never past the window (plus the 50 ms budget); fell back because flex could not start.
    assert progress.fell_back_at - begun <= 5.05
    tiers = [r.service_tier for r in primary.records]
    assert tiers[-1] == "default"
    assert set(tiers[:-1]) == {"flex"}


async def test_the_learned_policy_skips_flex_once_recent_races_show_it_cannot_start(
    sims: tuple[Simulator, Simulator],
) -> None:
    primary, _ = sims
    primary.config = SimConfig(seed=1).with_tier("flex", start_delay="fixed:60s")
    upstream = UpstreamClient({ProviderRoute.OPENAI: f"{primary.url}/v1"})
    policy = LearnedFlexPolicy(min_evidence=3, explore=0.0)
    race = FlexRace(upstream, rng=random.Random(0), policy=policy)

    async def run(window_ms: int) -> RaceProgress:
        progress = RaceProgress()
        settled = await race.settle(job(window_ms=window_ms), ResponsesAdapter(), "sk-t", progress)
        await settled.stream.aclose()
        assert settled.outcome is RaceOutcome.FELL_BACK
        return progress

    try:
        for _ in range(3):  # flex never starts within 0.3 s: each race waits it out
            assert (await run(300)).flex_attempts == 1
        flex_seen = [r.service_tier for r in primary.records].count("flex")
        begun = time.monotonic()
        skipped = await run(300)
        assert skipped.flex_attempts == 0
        assert skipped.fell_back_at is not None
        assert skipped.fell_back_at - begun < 0.3  # standard at once, not after the window
        assert [r.service_tier for r in primary.records].count("flex") == flex_seen
        # A longer window than any race has waited is raced: flex might still start in it.
        assert (await run(600)).flex_attempts == 1
    finally:
        await upstream.aclose()
