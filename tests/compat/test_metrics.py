"""Prometheus metrics on --metrics-port: what a scrape shows after real requests."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from flexgrpc.db.engine import make_engine
from flexgrpc.sim import SimConfig, SimulatorThread
from tests.compat.conftest import (
    OPENAI_MODEL,
    WINDOW,
    new_org,
    open_store,
    server_env,
    start_rest_server,
)

CHAT = {"model": OPENAI_MODEL, "messages": [{"role": "user", "content": "hi"}]}
SUMS = text(
    "select sum(savings_nano_usd), sum(commission_nano_usd), sum(actual_nano_usd) "
    "from usage_records"
)


def scrape(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    reply = httpx.get(url, timeout=10)
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(reply.text)
        for sample in family.samples
    }


def total(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str,
          **labels: str) -> float:  # fmt: skip
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


@dataclass(frozen=True)
class Served:
    base_url: str
    metrics_url: str
    api_key: str
    database_url: str


@pytest.fixture
def served(tmp_path_factory: pytest.TempPathFactory, sim: SimulatorThread) -> Iterator[Served]:
    home = tmp_path_factory.mktemp("metrics")
    env = server_env(home, sim, FLEXGRPC_METRICS_PORT="0")
    org = new_org(open_store(env))
    process, port = start_rest_server(home, env)
    assert process.process.stdout is not None
    line = process.process.stdout.readline().strip()
    assert line.startswith("metrics listening on 127.0.0.1:")
    metrics_url = f"http://127.0.0.1:{line.rsplit(':', 1)[1]}/metrics"
    try:
        yield Served(
            f"http://127.0.0.1:{port}", metrics_url, org.api_key, env["FLEXGRPC_DATABASE_URL"]
        )
    finally:
        process.stop()


def test_a_scrape_counts_requests_money_and_ledger_commits(served: Served) -> None:
    headers = {"authorization": f"Bearer {served.api_key}"}
    with httpx.Client(base_url=served.base_url, timeout=60, headers=headers) as http:
        bodies = [
            {**CHAT, "start_within": WINDOW},  # a flex race the simulator lets flex win
            {**CHAT, "start_within": "default"},
            {**CHAT, "start_within": "00h-00m-01s"},  # invalid_start_within
            {**CHAT, "model": "gpt-5-mini-made-up-name", "start_within": "default"},
        ]
        statuses = [http.post("/v1/chat/completions", json=body).status_code for body in bodies]
    assert statuses[:3] == [200, 200, 400]

    samples = scrape(served.metrics_url)
    requests = "flexgrpc_requests_total"
    assert total(samples, requests, mode="race", outcome="flex_won", served_tier="flex") == 1
    assert total(samples, requests, mode="default", model=OPENAI_MODEL, code="ok") == 1
    assert total(samples, requests, outcome="failed", code="invalid_start_within") == 1
    # A model name the catalog does not know is counted, under "other".
    assert total(samples, requests, model="other", outcome="free_tier") == 1
    assert {dict(ls)["model"] for (n, ls) in samples if n == requests} == {OPENAI_MODEL, "other"}
    assert total(samples, "flexgrpc_flex_attempts_total") == 1
    assert total(samples, "flexgrpc_time_to_start_seconds_count", outcome="flex_won") == 1
    # Every request has a durable record, and the money equals the ledger's to the nano-USD.
    assert total(samples, "flexgrpc_ledger_records_total") == 4
    assert total(samples, "flexgrpc_ledger_commit_seconds_count") >= 1
    with make_engine(served.database_url).connect() as db:
        savings, commission, actual = db.execute(SUMS).one()
    assert savings > 0
    assert total(samples, "flexgrpc_savings_nano_usd_total") == savings
    assert total(samples, "flexgrpc_commission_nano_usd_total") == commission
    assert total(samples, "flexgrpc_cost_nano_usd_total", kind="actual") == actual


def test_requests_in_flight_are_a_gauge_that_returns_to_zero(
    served: Served, sim: SimulatorThread
) -> None:
    """Counted while a request is routed, whether it completes, fails or its caller leaves."""
    sim.config = SimConfig(seed=7).with_tier("standard", token_rate=20.0, output_tokens=40)
    in_flight = "flexgrpc_requests_in_flight"
    assert total(scrape(served.metrics_url), in_flight) == 0
    headers = {"authorization": f"Bearer {served.api_key}"}
    body = {**CHAT, "stream": True, "start_within": "default"}
    with httpx.Client(base_url=served.base_url, timeout=60, headers=headers) as http:
        with http.stream("POST", "/v1/chat/completions", json=body) as reply:
            chunks = reply.iter_raw()
            next(chunks)  # streaming: two seconds of output to come
            assert total(scrape(served.metrics_url), in_flight) == 1
            for _ in chunks:
                pass
        assert total(scrape(served.metrics_url), in_flight) == 0
        with http.stream("POST", "/v1/chat/completions", json=body) as reply:
            chunks = reply.iter_raw()
            next(chunks)
            assert total(scrape(served.metrics_url), in_flight) == 1
        # The client left mid-stream; the server notices and cancels the request.
        deadline = time.monotonic() + 10
        while total(scrape(served.metrics_url), in_flight) != 0:
            assert time.monotonic() < deadline, "the cancelled request was never let go"
            time.sleep(0.05)
        bad = http.post("/v1/chat/completions", json={**CHAT, "start_within": "soon"})
        assert bad.status_code == 400
    assert total(scrape(served.metrics_url), in_flight) == 0


def test_only_get_metrics_is_served(served: Served) -> None:
    metrics_url = served.metrics_url
    assert httpx.get(metrics_url.replace("/metrics", "/other"), timeout=10).status_code == 404
    assert httpx.post(metrics_url, timeout=10).status_code == 405
    head = httpx.head(metrics_url, timeout=10)
    assert head.status_code == 200
    assert head.content == b""
