"""Organization limits through the real server: the request rate and flex race slots, answered in
the caller surface's envelope (REST) and as rich gRPC statuses; shared by replicas through real
Redis; and what happens when that Redis goes away."""

from __future__ import annotations

import json
import pathlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import grpc
import httpx
import pytest
from flexinference.v1 import (
    accounts_pb2,
    accounts_pb2_grpc,
    route_pb2,
    route_pb2_grpc,
    types_pb2,
)
from google.api import httpbody_pb2
from google.protobuf import field_mask_pb2

from flexgrpc.accounts.limits import UNLIMITED, OnExceed, OrganizationLimits
from flexgrpc.accounts.store import AccountStore
from flexgrpc.sim import SimConfig, SimulatorThread
from tests.compat.conftest import (
    CLAUDE_MODEL,
    GEMINI_MODEL,
    OPENAI_MODEL,
    WINDOW,
    Org,
    new_org,
    open_store,
    server_env,
    start_rest_server,
)
from tests.redisproc import (
    PrivateRedis,
    free_port,
    private_redis,
    shared_redis_url,
    unique_prefix,
)
from tests.richstatus import rich_error
from tests.serverproc import ServerProcess

__all__ = ["private_redis"]  # the fixture, used by name

CHAT = {"model": OPENAI_MODEL, "messages": [{"role": "user", "content": "hi"}]}
MESSAGE = {"model": CLAUDE_MODEL, "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}
INTERACTION = {"model": GEMINI_MODEL, "input": "hi"}
#: Two requests at once, then one a minute: the third of a test's quick requests is refused.
TWO_THEN_ONE_A_MINUTE = OrganizationLimits(requests_per_minute=1, request_burst=2)
#: The shortest window: a race the simulator holds (flex never starts) ends after it.
SHORT_WINDOW = "00h-00m-05s"


@dataclass
class Served:
    process: ServerProcess
    url: str
    store: AccountStore
    operator: Org
    env: dict[str, str]

    def org(self, limits: OrganizationLimits = UNLIMITED) -> Org:
        org = new_org(self.store)
        self.store.set_limits(org.organization_id, limits)
        return org

    def http(self, org: Org) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, timeout=60, headers={"authorization": f"Bearer {org.api_key}"}
        )


def _serve(home: pathlib.Path, sim: SimulatorThread, **extra: str) -> Iterator[Served]:
    env = server_env(home, sim, **extra)
    store = open_store(env)
    operator = new_org(store, "Operator")
    env["FLEXGRPC_BILLING_OPERATOR_ORGANIZATIONS"] = operator.organization_id
    process, port = start_rest_server(home, env)
    try:
        yield Served(process, f"http://127.0.0.1:{port}", store, operator, env)
    finally:
        process.stop()


@pytest.fixture(scope="module")
def memory(tmp_path_factory: pytest.TempPathFactory, sim: SimulatorThread) -> Iterator[Served]:
    """One server, limits kept in its memory."""
    yield from _serve(tmp_path_factory.mktemp("limits"), sim)


def _held_flex(sim: SimulatorThread) -> None:
    """Flex never starts: a race holds its slot for its whole window."""
    sim.config = SimConfig(seed=7).with_tier("flex", start_delay="fixed:60s")


def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 20
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.01)


class Background:
    """A request sent from a thread (a race that holds its slot while the test goes on)."""

    def __init__(self, send: Callable[[], httpx.Response]) -> None:
        self.response: httpx.Response | None = None
        self._thread = threading.Thread(target=self._run, args=(send,))
        self._thread.start()

    def _run(self, send: Callable[[], httpx.Response]) -> None:
        self.response = send()

    def join(self) -> httpx.Response:
        self._thread.join(60)
        assert self.response is not None
        return self.response


def _race_in_background(served: Served, org: Org, sim: SimulatorThread) -> Background:
    seen = len(sim.records)

    def send() -> httpx.Response:
        with served.http(org) as http:
            return http.post("/v1/chat/completions", json={**CHAT, "start_within": SHORT_WINDOW})

    race = Background(send)
    _until(lambda: len(sim.records) > seen, "the race reached the provider")
    return race


# --- the request rate -----------------------------------------------------------------------


def test_over_its_rate_each_surface_answers_429_in_its_own_envelope(memory: Served) -> None:
    org = memory.org(TWO_THEN_ONE_A_MINUTE)
    with memory.http(org) as http:
        assert http.post(
            "/v1/chat/completions", json={**CHAT, "start_within": "default"}
        ).is_success
        assert http.post("/v1/messages", json={**MESSAGE, "start_within": "default"}).is_success
        chat = http.post("/v1/chat/completions", json={**CHAT, "start_within": "default"})
        message = http.post("/v1/messages", json={**MESSAGE, "start_within": "default"})
        interaction = http.post("/v1/interactions", json={**INTERACTION, "start_within": "default"})
        records = http.get("/v1/organizations/-/usageRecords").json()
    for refused in (chat, message, interaction):
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert chat.json()["error"]["code"] == "rate_limit_exceeded"
    assert chat.json()["error"]["type"] == "rate_limit_error"
    assert message.json()["type"] == "error"
    assert message.json()["error"]["type"] == "rate_limit_error"
    assert interaction.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert "1 requests per minute" in chat.json()["error"]["message"]
    # A refusal at the door leaves no record: only the two answered requests have one.
    assert len(records["usageRecords"]) == 2


def test_over_its_rate_a_grpc_caller_gets_resource_exhausted_with_retry_info(
    memory: Served,
) -> None:
    org = memory.org(TWO_THEN_ONE_A_MINUTE)
    metadata = (("authorization", f"Bearer {org.api_key}"),)
    request = route_pb2.CreateChatCompletionRequest(
        body=httpbody_pb2.HttpBody(
            content_type="application/json",
            data=json.dumps({**CHAT, "start_within": "default"}).encode(),
        )
    )
    with grpc.insecure_channel(memory.process.target) as channel:
        stub = route_pb2_grpc.RouteServiceStub(channel)
        for _ in range(2):
            list(stub.CreateChatCompletion(request, metadata=metadata, timeout=30))
        with pytest.raises(grpc.RpcError) as caught:
            list(stub.CreateChatCompletion(request, metadata=metadata, timeout=30))
        typed = route_pb2.RouteRequest(
            model=OPENAI_MODEL,
            surface=types_pb2.SURFACE_RESPONSES,
            body=httpbody_pb2.HttpBody(content_type="application/json", data=b'{"input": "hi"}'),
            routing=types_pb2.RoutingControls(tier=types_pb2.START_TIER_DEFAULT),
        )
        with pytest.raises(grpc.RpcError) as typed_caught:
            stub.Route(typed, metadata=metadata, timeout=30)
    assert rich_error(typed_caught.value).reason == "rate_limit_exceeded"
    error = rich_error(caught.value)
    assert error.code is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert error.reason == "rate_limit_exceeded"
    assert error.infos[0].metadata["requests_per_minute"] == "1"
    (retry,) = error.retry
    assert 1 <= retry.retry_delay.seconds <= 60
    assert error.trailers["retry-after"] == str(retry.retry_delay.seconds)


def test_one_organization_over_its_rate_does_not_slow_another(memory: Served) -> None:
    limited, other = memory.org(TWO_THEN_ONE_A_MINUTE), memory.org()
    body = {**CHAT, "start_within": "default"}
    with memory.http(limited) as http:
        statuses = [http.post("/v1/chat/completions", json=body).status_code for _ in range(3)]
    with memory.http(other) as http:
        others = [http.post("/v1/chat/completions", json=body).status_code for _ in range(5)]
    assert statuses == [200, 200, 429]
    assert others == [200] * 5


# --- flex race slots ------------------------------------------------------------------------


def test_a_race_beyond_the_slots_is_refused_and_fixed_tiers_are_not(
    memory: Served, sim: SimulatorThread
) -> None:
    org = memory.org(OrganizationLimits(flex_race_slots=1))
    _held_flex(sim)
    holder = _race_in_background(memory, org, sim)
    with memory.http(org) as http:
        refused = http.post("/v1/chat/completions", json={**CHAT, "start_within": WINDOW})
        fixed = http.post("/v1/chat/completions", json={**CHAT, "start_within": "default"})
        assert holder.join().status_code == 200  # it fell back after its window
        sim.config = SimConfig(seed=7)
        after = http.post("/v1/chat/completions", json={**CHAT, "start_within": WINDOW})
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "1"
    assert refused.json()["error"]["code"] == "flex_race_slots_exhausted"
    assert "1 flex races at once" in refused.json()["error"]["message"]
    assert fixed.status_code == 200
    # The slot came back when the race settled.
    assert after.status_code == 200
    assert after.headers["x-flexinference-tier"] == "flex"


def test_a_race_beyond_the_slots_degrades_to_standard_at_once_without_commission(
    memory: Served, sim: SimulatorThread
) -> None:
    org = memory.org(OrganizationLimits(flex_race_slots=1, on_exceed=OnExceed.DEGRADE_TO_STANDARD))
    _held_flex(sim)
    holder = _race_in_background(memory, org, sim)
    with memory.http(org) as http:
        degraded = http.post("/v1/chat/completions", json={**CHAT, "start_within": WINDOW})
        # Served while the holder still races: at once, not after a window.
        assert holder.response is None
        holder.join()
        records = http.get("/v1/organizations/-/usageRecords").json()["usageRecords"]
    assert degraded.status_code == 200
    assert degraded.headers["x-flexinference-tier"] == "standard"
    assert degraded.headers["x-flexinference-commission"] == "0"
    assert degraded.json()["service_tier"] == "default"
    request_id = degraded.headers["x-flexinference-request-id"]
    (record,) = [r for r in records if r["requestId"] == request_id]
    assert record["fallbackReason"] == "flex_race_slots"
    assert record["outcome"] == "RACE_OUTCOME_FELL_BACK"
    assert "flexAttempts" not in record  # 0: flex was never asked
    assert record["cost"].get("commissionMicroUsd", "0") == "0"
    (held,) = [r for r in records if r["requestId"] != request_id]
    assert held["fallbackReason"] == "window_spent"
    upstream_tiers = [r.service_tier for r in sim.records]
    assert upstream_tiers.count("flex") == 1  # only the holder's


# --- who may change which limit ---------------------------------------------------------------


def test_an_organization_chooses_what_its_excess_races_get_but_not_its_limits(
    memory: Served,
) -> None:
    org = memory.org(OrganizationLimits(requests_per_minute=600, flex_race_slots=4))
    with memory.http(org) as http:
        shown = http.get("/v1/organizations/-").json()["limits"]
        changed = http.patch(
            "/v1/organizations/-",
            params={"updateMask": "limits.flexRaceSlotsOnExceed"},
            json={"limits": {"flexRaceSlotsOnExceed": "degrade_to_standard"}},
        )
        raised = http.patch(
            "/v1/organizations/-",
            params={"updateMask": "limits.requestsPerMinute"},
            json={"limits": {"requestsPerMinute": 100000}},
        )
        wrong = http.patch(
            "/v1/organizations/-",
            params={"updateMask": "limits.flexRaceSlotsOnExceed"},
            json={"limits": {"flexRaceSlotsOnExceed": "queue"}},
        )
    assert shown == {
        "requestsPerMinute": 600,
        "flexRaceSlots": 4,
        "flexRaceSlotsOnExceed": "refuse",
    }
    assert changed.status_code == 200
    assert changed.json()["limits"]["flexRaceSlotsOnExceed"] == "degrade_to_standard"
    assert raised.status_code == 403
    assert raised.json()["error"]["status"] == "PERMISSION_DENIED"
    assert "operator" in raised.json()["error"]["message"]
    assert wrong.status_code == 400
    stored = memory.store.get_organization(org.organization_id)
    assert stored is not None
    assert stored.limits == OrganizationLimits(
        requests_per_minute=600, flex_race_slots=4, on_exceed=OnExceed.DEGRADE_TO_STANDARD
    )


def test_an_operator_sets_any_organizations_limits_over_grpc(memory: Served) -> None:
    org = memory.org()
    metadata = (("authorization", f"Bearer {memory.operator.api_key}"),)
    with grpc.insecure_channel(memory.process.target) as channel:
        stub = accounts_pb2_grpc.AccountServiceStub(channel)
        updated = stub.UpdateOrganization(
            accounts_pb2.UpdateOrganizationRequest(
                organization=accounts_pb2.Organization(
                    name=f"organizations/{org.organization_id}",
                    limits=accounts_pb2.OrganizationLimits(
                        requests_per_minute=120, request_burst=10, flex_race_slots=3
                    ),
                ),
                update_mask=field_mask_pb2.FieldMask(paths=["limits"]),
            ),
            metadata=metadata,
            timeout=10,
        )
    assert updated.name == f"organizations/{org.organization_id}"
    assert updated.limits == accounts_pb2.OrganizationLimits(
        requests_per_minute=120,
        request_burst=10,
        flex_race_slots=3,
        flex_race_slots_on_exceed="refuse",
    )


# --- shared through Redis ---------------------------------------------------------------------


@dataclass
class Replicas:
    one: Served
    two: Served


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory, sim: SimulatorThread) -> Iterator[Replicas]:
    """Two servers on one database and one Redis, as two replicas behind a balancer."""
    home = tmp_path_factory.mktemp("replicas")
    shared = {
        "FLEXGRPC_REDIS_URL": shared_redis_url(),
        "FLEXGRPC_REDIS_KEY_PREFIX": unique_prefix(),
    }
    first = _serve(home, sim, **shared)
    one = next(first)
    env = {**one.env}
    process, port = start_rest_server(home, env)
    two = Served(process, f"http://127.0.0.1:{port}", one.store, one.operator, env)
    try:
        yield Replicas(one, two)
    finally:
        process.stop()
        first.close()


def test_replicas_share_an_organizations_rate_through_redis(replicas: Replicas) -> None:
    org = replicas.one.org(TWO_THEN_ONE_A_MINUTE)
    body = {**CHAT, "start_within": "default"}
    statuses = []
    for served in (replicas.one, replicas.two, replicas.one, replicas.two):
        with served.http(org) as http:
            statuses.append(http.post("/v1/chat/completions", json=body).status_code)
    assert statuses == [200, 200, 429, 429]


def test_replicas_share_an_organizations_race_slots_through_redis(
    replicas: Replicas, sim: SimulatorThread
) -> None:
    org = replicas.one.org(OrganizationLimits(flex_race_slots=1))
    _held_flex(sim)
    holder = _race_in_background(replicas.one, org, sim)
    with replicas.two.http(org) as http:
        refused = http.post("/v1/chat/completions", json={**CHAT, "start_within": WINDOW})
    holder.join()
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "flex_race_slots_exhausted"


# --- Redis going away -------------------------------------------------------------------------


def test_with_redis_gone_a_closed_limit_refuses_with_503_and_unlimited_orgs_carry_on(
    tmp_path: pathlib.Path, sim: SimulatorThread, private_redis: PrivateRedis
) -> None:
    served_iter = _serve(
        tmp_path,
        sim,
        FLEXGRPC_REDIS_URL=private_redis.url,
        FLEXGRPC_LIMITS_ON_REDIS_ERROR="closed",
    )
    served = next(served_iter)
    try:
        limited = served.org(OrganizationLimits(requests_per_minute=600, request_burst=100))
        unlimited = served.org()
        body = {**CHAT, "start_within": "default"}
        with served.http(limited) as http:
            before = http.post("/v1/chat/completions", json=body)
            private_redis.stop()
            after = http.post("/v1/chat/completions", json=body)
        with served.http(unlimited) as http:
            carried_on = http.post("/v1/chat/completions", json=body)
    finally:
        served_iter.close()
    assert before.status_code == 200
    assert after.status_code == 503
    assert after.json()["error"]["code"] == "unavailable"
    assert after.headers["retry-after"] == "1"
    assert carried_on.status_code == 200
    assert "cannot reach Redis" in served.process.logs()
    assert "failing closed" in served.process.logs()


def test_with_redis_away_an_open_limit_lets_requests_through_and_counts_it(
    tmp_path: pathlib.Path, sim: SimulatorThread
) -> None:
    served_iter = _serve(
        tmp_path,
        sim,
        FLEXGRPC_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
        FLEXGRPC_LIMITS_ON_REDIS_ERROR="open",
        FLEXGRPC_METRICS_PORT="0",
    )
    served = next(served_iter)
    try:
        stdout = served.process.process.stdout
        assert stdout is not None
        metrics_url = f"http://127.0.0.1:{stdout.readline().strip().rsplit(':', 1)[1]}/metrics"
        org = served.org(TWO_THEN_ONE_A_MINUTE)
        body = {**CHAT, "start_within": "default"}
        with served.http(org) as http:
            statuses = [http.post("/v1/chat/completions", json=body).status_code for _ in range(3)]
        scraped = httpx.get(metrics_url, timeout=10).text
    finally:
        served_iter.close()
    assert statuses == [200, 200, 200]  # over the burst, but nothing could be checked
    line = 'flexgrpc_limit_events_total{event="redis_error_open",limit="rate"} 3.0'
    assert line in scraped
    assert "failing open" in served.process.logs()
