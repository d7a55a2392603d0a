"""The control routes (/_sim/...) and the background-thread runner for sync tests."""

from __future__ import annotations

import httpx
import pytest

from flexgrpc.sim import Outcome, SimConfig, Simulator, run_in_thread
from tests.sim.surfaces import SURFACES


async def test_requests_route_lists_records_without_keys(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    surface = SURFACES["messages"]
    for _ in range(3):
        await client.post(surface.path, json=surface.body(), headers=surface.headers)

    listed = (await client.get("/_sim/requests")).json()
    assert [r["id"] for r in listed] == [1, 2, 3]
    assert listed[0]["provider"] == "anthropic"
    assert listed[0]["outcome"] == "completed"
    assert listed[0]["api_key_present"] is True
    assert "sk-ant-test" not in str(listed)
    later = (await client.get("/_sim/requests", params={"since": 2})).json()
    assert [r["id"] for r in later] == [3]
    assert (await client.get("/_sim/requests", params={"since": "x"})).status_code == 400


async def test_reset_forgets_records_and_restarts_numbering(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    surface = SURFACES["responses"]
    first = await client.post(surface.path, json=surface.body(), headers=surface.headers)
    assert (await client.post("/_sim/reset")).status_code == 200
    assert (await client.get("/_sim/requests")).json() == []
    again = await client.post(surface.path, json=surface.body(), headers=surface.headers)
    assert again.headers["x-sim-request-id"] == "1"
    assert again.json()["id"] == first.json()["id"]  # same request number, same draws


async def test_config_round_trips_and_takes_effect(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    config = (
        SimConfig(seed=3, time_scale=0.5, cached_share=0.0)
        .with_tier("flex", refusal_rate=1.0, start_delay="exp:2s", retry_after=3)
        .with_tier("priority", provider="gemini", serve_tier_instead="standard")
    )
    put = await client.put("/_sim/config", json=config.to_dict())
    assert put.status_code == 200
    got = (await client.get("/_sim/config")).json()
    assert got == config.to_dict()
    assert SimConfig.from_dict(got) == config
    assert sim.config == config

    surface = SURFACES["interactions"]
    refused = await client.post(
        surface.path, json=surface.body(tier="flex"), headers=surface.headers
    )
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "3"
    served = await client.post(
        surface.path, json=surface.body(tier="priority"), headers=surface.headers
    )
    assert served.json()["service_tier"] == "standard"


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ({"tiers": {"flex": {"start_delay": "soon"}}}, "invalid delay spec"),
        ({"tiers": {"flex": {"refusal_rate": 2}}}, "refusal_rate"),
        ({"tiers": {"turbo": {}}}, "unknown tier"),
        ({"providers": {"mistral": {}}}, "unknown provider"),
        ({"seeed": 1}, "unknown configuration field"),
        ([], "JSON object"),
    ],
)
async def test_a_bad_config_is_refused_with_the_reason(
    sim: Simulator, client: httpx.AsyncClient, document: object, reason: str
) -> None:
    before = sim.config
    response = await client.put("/_sim/config", json=document)
    assert response.status_code == 400
    assert reason in response.json()["error"]
    assert sim.config == before


async def test_unknown_routes_and_methods(client: httpx.AsyncClient) -> None:
    assert (await client.get("/_sim/health")).json() == {"status": "ok"}
    assert (await client.get("/_sim/nope")).status_code == 404
    assert (await client.post("/v1/embeddings", json={})).status_code == 404
    assert (await client.get("/v1/responses")).status_code == 405


def test_run_in_thread_serves_sync_clients() -> None:
    with run_in_thread(SimConfig(seed=1)) as simulator:
        surface = SURFACES["chat_completions"]
        with httpx.Client(base_url=simulator.url) as http:
            ok = http.post(surface.path, json=surface.body(tier="flex"), headers=surface.headers)
            assert ok.status_code == 200
            assert ok.json()["service_tier"] == "flex"

            simulator.config = simulator.config.with_tier("flex", refusal_rate=1.0)
            refused = http.post(
                surface.path, json=surface.body(tier="flex"), headers=surface.headers
            )
            assert refused.status_code == 429
        assert [r.outcome for r in simulator.records] == [Outcome.COMPLETED, Outcome.REFUSED]
        simulator.reset()
        assert simulator.records == []
    simulator.stop()  # a second stop is harmless
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{simulator.url}/_sim/health")


def test_run_in_thread_reports_a_port_it_cannot_bind() -> None:
    with run_in_thread() as first, pytest.raises(OSError, match="could not listen"):
        run_in_thread(port=first.port)


async def test_simulator_refuses_to_start_twice(sim: Simulator) -> None:
    with pytest.raises(RuntimeError, match="already running"):
        await sim.start()
    with pytest.raises(TypeError):
        sim.config = {"seed": 1}  # type: ignore[assignment]
