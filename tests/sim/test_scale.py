"""Many waiting streams at once cost little: a scaled-down version of the 5,000 x 30 s target
(the full one is a benchmark, not a test)."""

from __future__ import annotations

import asyncio
import time

import httpx

from flexgrpc.sim import Outcome, SimConfig, Simulator
from tests.sim.surfaces import SURFACES

STREAMS = 400


async def test_hundreds_of_delayed_streams_wait_together() -> None:
    config = SimConfig(default_output_tokens=5).with_tier("flex", start_delay="fixed:1s")
    surface = SURFACES["responses"]
    limits = httpx.Limits(max_connections=STREAMS, max_keepalive_connections=0)
    async with (
        Simulator(config) as sim,
        httpx.AsyncClient(base_url=sim.url, limits=limits, timeout=30) as http,
    ):

        async def one() -> int:
            async with http.stream(
                "POST",
                surface.path,
                json=surface.body(stream=True, tier="flex"),
                headers=surface.headers,
            ) as response:
                body = await response.aread()
            return body.count(b"event: response.completed")

        started = time.monotonic()
        completed = await asyncio.gather(*(one() for _ in range(STREAMS)))
        elapsed = time.monotonic() - started

        assert sum(completed) == STREAMS
        # They waited side by side: about one delay in all, not one per stream.
        assert elapsed < 10
        assert {record.outcome for record in sim.records} == {Outcome.COMPLETED}
        assert len(sim.records) == STREAMS
