"""A client that leaves is noticed at once, recorded, and no more work is done for it."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from flexgrpc.sim import Outcome, RequestRecord, SimConfig, Simulator
from tests.sim.surfaces import SURFACES

NOTICED_WITHIN = 0.2


async def _ended(sim: Simulator) -> RequestRecord:
    for _ in range(200):
        record = sim.records[-1]
        if record.outcome is not None:
            return record
        await asyncio.sleep(0.01)
    raise AssertionError("the simulator never finished the request")


@pytest.mark.parametrize("name", sorted(SURFACES))
async def test_disconnect_during_the_start_delay_is_recorded_at_once(
    sim: Simulator, client: httpx.AsyncClient, name: str
) -> None:
    sim.config = (
        SimConfig()
        .with_tier("auto", start_delay="fixed:10s")
        .with_tier("standard", start_delay="fixed:10s")
    )
    surface = SURFACES[name]
    async with client.stream(
        "POST", surface.path, json=surface.body(stream=True), headers=surface.headers
    ) as response:
        assert response.status_code == 200
        if name != "chat_completions":  # chat has no acknowledgement before the start
            await anext(response.aiter_bytes())
        closed_at = time.time()
    # Leaving the block closes the half-read response, and with it the connection.

    record = await _ended(sim)
    assert record.outcome is Outcome.CLIENT_DISCONNECTED
    assert record.disconnect_time is not None
    assert record.end_time is not None
    assert record.disconnect_time - closed_at < NOTICED_WITHIN
    assert record.end_time - closed_at < NOTICED_WITHIN
    assert record.first_output_time is None  # the start never came


async def test_disconnect_while_a_non_streamed_answer_is_pending(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    sim.config = SimConfig().with_tier("flex", start_delay="fixed:10s")
    surface = SURFACES["responses"]
    with pytest.raises(httpx.ReadTimeout):
        await client.post(
            surface.path, json=surface.body(tier="flex"), headers=surface.headers, timeout=0.3
        )
    closed_at = time.time()

    record = await _ended(sim)
    assert record.outcome is Outcome.CLIENT_DISCONNECTED
    assert record.disconnect_time is not None
    assert record.disconnect_time - closed_at < NOTICED_WITHIN
    assert record.status is None  # nothing was ever answered


async def test_disconnect_while_waiting_to_refuse(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    sim.config = SimConfig().with_tier("flex", refusal_rate=1.0, refusal_delay="fixed:10s")
    surface = SURFACES["interactions"]
    with pytest.raises(httpx.ReadTimeout):
        await client.post(
            surface.path, json=surface.body(tier="flex"), headers=surface.headers, timeout=0.3
        )
    closed_at = time.time()

    record = await _ended(sim)
    assert record.outcome is Outcome.CLIENT_DISCONNECTED
    assert record.disconnect_time is not None
    assert record.disconnect_time - closed_at < NOTICED_WITHIN


@pytest.mark.parametrize("name", sorted(SURFACES))
async def test_disconnect_mid_stream_stops_the_stream(
    sim: Simulator, client: httpx.AsyncClient, name: str
) -> None:
    # 200 tokens at 20 per second: ten seconds of streaming if nobody stopped it.
    sim.config = SimConfig().with_tier("standard", token_rate=20, output_tokens=200)
    surface = SURFACES[name]
    received = b""
    async with client.stream(
        "POST", surface.path, json=surface.body(stream=True), headers=surface.headers
    ) as response:
        async for chunk in response.aiter_bytes():
            received += chunk
            if received.count(b"delta") + received.count(b'"content":"') >= 4:
                break
        closed_at = time.time()

    record = await _ended(sim)
    assert record.outcome is Outcome.CLIENT_DISCONNECTED
    assert record.first_output_time is not None
    assert record.disconnect_time is not None
    assert record.end_time is not None
    assert record.disconnect_time - closed_at < NOTICED_WITHIN
    assert record.end_time - closed_at < NOTICED_WITHIN


async def test_a_completed_stream_is_not_mistaken_for_a_disconnect(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    sim.config = SimConfig().with_tier("auto", start_delay="fixed:50ms", token_rate=200)
    surface = SURFACES["responses"]
    async with client.stream(
        "POST", surface.path, json=surface.body(stream=True), headers=surface.headers
    ) as response:
        await response.aread()
    record = await _ended(sim)
    assert record.outcome is Outcome.COMPLETED
    assert record.disconnect_time is None


async def test_stopping_the_simulator_ends_open_streams_promptly() -> None:
    simulator = Simulator(SimConfig().with_tier("auto", start_delay="fixed:30s"))
    await simulator.start()
    surface = SURFACES["responses"]
    async with httpx.AsyncClient(base_url=simulator.url) as http:

        async def wait_forever() -> None:
            async with http.stream(
                "POST", surface.path, json=surface.body(stream=True), headers=surface.headers
            ) as response:
                await response.aread()

        waiters = [asyncio.create_task(wait_forever()) for _ in range(20)]
        for _ in range(500):
            if len(simulator.records) == 20:
                break
            await asyncio.sleep(0.01)
        started = time.monotonic()
        await simulator.stop()
        assert time.monotonic() - started < 2
        results = await asyncio.gather(*waiters, return_exceptions=True)

    assert all(isinstance(result, httpx.HTTPError) for result in results)
    assert {record.outcome for record in simulator.records} == {Outcome.SERVER_STOPPED}
