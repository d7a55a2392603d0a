"""Two replicas (two ``flexgrpc serve`` processes with 2 workers each) on one PostgreSQL database,
with the provider simulator upstream and Stripe (localstripe), behave as one service.

The tests run in file order on the same two replicas; the last one kills replica A.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import json
import os
import pathlib
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import httpx
import pytest
from flexinference.v1 import (
    accounts_pb2,
    accounts_pb2_grpc,
    billing_pb2,
    billing_pb2_grpc,
    route_pb2,
    route_pb2_grpc,
)
from google.api import httpbody_pb2

from flexgrpc.accounts.crypto import ProviderKeyCipher, generate_encryption_key
from flexgrpc.accounts.limits import OrganizationLimits
from flexgrpc.accounts.store import AccountStore
from flexgrpc.db.engine import make_engine, make_sessionmaker
from flexgrpc.db.migrate import upgrade
from flexgrpc.ledger.audit import audit
from flexgrpc.ledger.store import LedgerStore
from flexgrpc.sim import SimConfig, SimulatorThread
from tests.billing.localstripe_server import run_localstripe
from tests.conftest import POSTGRES_URL_ENV, fresh_postgres_database
from tests.integration.conftest import Caller, new_caller
from tests.integration.test_ledger import row
from tests.integration.test_route import OPENAI_MODEL, responses
from tests.redisproc import REDIS_URL_ENV, unique_prefix
from tests.richstatus import rich_error
from tests.serverproc import ServerProcess, start_server

pytestmark = pytest.mark.skipif(
    not os.environ.get(POSTGRES_URL_ENV),
    reason=f"{POSTGRES_URL_ENV} is not set: replicas share PostgreSQL, so this test is skipped",
)

#: A bound for what must happen "soon" on a busy 2-core machine; never the assertion itself.
PATIENCE_S = 30.0
OWN = "organizations/-"
STRIPE_KEY = "sk_test_localstripe"


@dataclasses.dataclass
class Replicas:
    a: ServerProcess
    b: ServerProcess
    store: AccountStore
    sessions: Any
    stripe_url: str
    caller: Caller
    operator: Caller
    #: $25 of last month's commission, a card on file: the close charges it.
    paying: Caller
    #: $25 of last month's commission, no card: past due after the close.
    late: Caller
    period: str


def _last_month() -> tuple[str, dt.datetime]:
    first = dt.datetime.now(dt.UTC).replace(day=1, hour=12, minute=0, second=0, microsecond=0)
    inside = first - dt.timedelta(days=3)
    return inside.strftime("%Y-%m"), inside


@pytest.fixture(scope="module")
def replicas(sim: SimulatorThread) -> Iterator[Replicas]:
    base_url = os.environ[POSTGRES_URL_ENV]
    with fresh_postgres_database(base_url) as url, run_localstripe() as stripe_url:
        engine = make_engine(url)
        upgrade(engine)
        sessions = make_sessionmaker(engine)
        secret = generate_encryption_key()
        store = AccountStore(sessions, ProviderKeyCipher.from_setting(secret))
        caller, operator, paying, late = (
            new_caller(store, name) for name in ("Replicated", "Operator", "Pays", "Late")
        )
        for org in (caller, late):
            store.set_provider_key(org.organization_id, "openai", "sk-test-" + "a" * 32)
        period, when = _last_month()
        for n, org in enumerate((paying, late), start=1):
            usage = row(org.organization_id, n, commission=25_000_000_000)
            LedgerStore(sessions).write(
                [dataclasses.replace(usage, create_time=when, complete_time=when)]
            )
        env = {
            "FLEXGRPC_DATABASE_URL": url,
            "FLEXGRPC_ENCRYPTION_KEY": secret,
            "FLEXGRPC_OPENAI_BASE_URL": f"{sim.url}/v1",
            "FLEXGRPC_STRIPE_API_KEY": STRIPE_KEY,
            "FLEXGRPC_STRIPE_API_BASE": stripe_url,
            "FLEXGRPC_BILLING_OPERATOR_ORGANIZATIONS": operator.organization_id,
            "FLEXGRPC_AUTH_CACHE_TTL_S": "1",
            "FLEXGRPC_WORKERS": "2",
            "FLEXGRPC_LOG_LEVEL": "WARNING",
        }
        if redis_url := os.environ.get(REDIS_URL_ENV):
            env |= {"FLEXGRPC_REDIS_URL": redis_url, "FLEXGRPC_REDIS_KEY_PREFIX": unique_prefix()}
        home = pathlib.Path(tempfile.mkdtemp(prefix="flexgrpc-replicas-"))
        a = start_server(home, env, timeout=90, new_session=True)
        try:
            b = start_server(home, env, timeout=90, new_session=True)
            try:
                yield Replicas(
                    a, b, store, sessions, stripe_url, caller, operator, paying, late, period
                )
            finally:
                assert b.stop() == 0
        finally:
            if a.process.poll() is None:
                a.stop()
            _reap_group(a)
            engine.dispose()


def _reap_group(server: ServerProcess) -> None:
    """Whatever is left of a replica's process group (its workers) after its supervisor."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.process.pid, signal.SIGKILL)


def channels(target: str, n: int) -> list[grpc.Channel]:
    """``n`` connections of their own (the kernel spreads connections between the workers)."""
    return [
        grpc.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)])
        for _ in range(n)
    ]


def eventually(what: str, check: Callable[[], bool], bound: float = PATIENCE_S) -> float:
    """Poll ``check`` until it holds; how long that took. Fails only past ``bound``."""
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < bound, f"never: {what}"
        time.sleep(0.1)
    return time.monotonic() - start


def flex_answer(channel: grpc.Channel, caller: Caller) -> str:
    """``ok``, or the error's reason, for a billable flex request (a window on a priced model)."""
    try:
        responses(
            route_pb2_grpc.RouteServiceStub(channel), caller,
            model=OPENAI_MODEL, input="hi", start_within="00h-00m-30s",
        )  # fmt: skip
    except grpc.RpcError as error:
        return str(rich_error(error).reason)
    return "ok"


def test_a_key_revoked_through_one_replica_stops_working_on_the_other(
    replicas: Replicas,
) -> None:
    info, secret = replicas.store.create_api_key(replicas.caller.organization_id)
    doomed = Caller(replicas.caller.organization_id, info.id, secret)
    on_b = channels(replicas.b.target, 4)
    get = accounts_pb2.GetOrganizationRequest(name=OWN)

    def status(channel: grpc.Channel) -> grpc.StatusCode:
        try:
            accounts_pb2_grpc.AccountServiceStub(channel).GetOrganization(
                get, metadata=doomed.metadata, timeout=10
            )
        except grpc.RpcError as error:
            return error.code()
        return grpc.StatusCode.OK

    refused = grpc.StatusCode.UNAUTHENTICATED
    assert [status(channel) for channel in on_b] == [grpc.StatusCode.OK] * 4  # cached on B now
    with grpc.insecure_channel(replicas.a.target) as on_a:
        accounts_pb2_grpc.AccountServiceStub(on_a).RevokeApiKey(
            accounts_pb2.RevokeApiKeyRequest(name=f"{OWN}/apiKeys/{info.id}"),
            metadata=replicas.caller.metadata,
        )
    took = eventually(
        "the revoked key is refused on every connection to B",
        lambda: all(status(channel) == refused for channel in on_b),
    )
    print(f"revocation reached replica B after {took:.2f} s (auth cache TTL 1 s)")
    for channel in on_b:
        assert status(channel) == refused
        channel.close()


def test_an_organizations_rate_limit_holds_across_both_replicas(replicas: Replicas) -> None:
    if not os.environ.get(REDIS_URL_ENV):
        pytest.skip(f"{REDIS_URL_ENV} is not set: replicas share a rate limit through Redis")
    limited = new_caller(replicas.store, "Limited")
    replicas.store.set_provider_key(limited.organization_id, "openai", "sk-test-" + "b" * 32)
    replicas.store.set_limits(
        limited.organization_id, OrganizationLimits(requests_per_minute=1, request_burst=2)
    )

    def answer(target: str) -> grpc.StatusCode:
        with grpc.insecure_channel(target) as channel:
            try:
                responses(
                    route_pb2_grpc.RouteServiceStub(channel), limited,
                    model=OPENAI_MODEL, input="hi", start_within="default",
                )  # fmt: skip
            except grpc.RpcError as error:
                return error.code()
        return grpc.StatusCode.OK

    # A burst of two, then one a minute: whichever replica a request reaches, the third and
    # fourth are over the one budget the organization has.
    targets = (replicas.a.target, replicas.b.target, replicas.a.target, replicas.b.target)
    over = grpc.StatusCode.RESOURCE_EXHAUSTED
    assert [answer(target) for target in targets] == [grpc.StatusCode.OK] * 2 + [over] * 2


def _payment_intents(stripe_url: str) -> list[dict[str, Any]]:
    answer = httpx.get(
        f"{stripe_url}/v1/payment_intents",
        params={"limit": 100},
        headers={"authorization": f"Bearer {STRIPE_KEY}"},
    )
    answer.raise_for_status()
    return list(answer.json()["data"])


def test_closing_the_month_on_both_replicas_at_once_makes_one_invoice_and_one_charge(
    replicas: Replicas,
) -> None:
    with grpc.insecure_channel(replicas.a.target) as on_a:
        billing_pb2_grpc.BillingServiceStub(on_a).AttachPaymentMethod(
            billing_pb2.AttachPaymentMethodRequest(
                billing_account=f"{OWN}/billingAccount", payment_method_id="pm_card_visa"
            ),
            metadata=replicas.paying.metadata,
        )
    reports: list[Any] = []
    start = threading.Barrier(2)

    def close(target: str) -> None:
        with grpc.insecure_channel(target) as channel:
            stub = billing_pb2_grpc.BillingServiceStub(channel)
            start.wait()
            reports.append(
                stub.ClosePeriod(
                    billing_pb2.ClosePeriodRequest(period=replicas.period),
                    metadata=replicas.operator.metadata,
                    timeout=60,
                )
            )

    closers = [threading.Thread(target=close, args=(r.target,)) for r in (replicas.a, replicas.b)]
    for thread in closers:
        thread.start()
    for thread in closers:
        thread.join(60)
    assert len(reports) == 2
    assert sum(r.invoices_created for r in reports) == 2  # one per organization, across both
    assert sum(r.charges_succeeded for r in reports) <= 1
    with grpc.insecure_channel(replicas.b.target) as on_b:
        stub = billing_pb2_grpc.BillingServiceStub(on_b)
        (invoice,) = stub.ListInvoices(
            billing_pb2.ListInvoicesRequest(parent=OWN), metadata=replicas.paying.metadata
        ).invoices
        (late_invoice,) = stub.ListInvoices(
            billing_pb2.ListInvoicesRequest(parent=OWN), metadata=replicas.late.metadata
        ).invoices
    assert invoice.amount_due_micro_usd == 25_000_000
    assert late_invoice.amount_due_micro_usd == 25_000_000
    charges = _payment_intents(replicas.stripe_url)
    assert [(pi["amount"], pi["status"]) for pi in charges] == [(2500, "succeeded")]


def test_a_payment_gate_lifted_through_one_replica_lifts_on_the_other(replicas: Replicas) -> None:
    late = replicas.late
    on_b = channels(replicas.b.target, 3)
    eventually(
        "the late organization's billable flex is paused on B",
        lambda: all(flex_answer(channel, late) == "payment_required" for channel in on_b),
    )
    with grpc.insecure_channel(replicas.a.target) as on_a:
        account = billing_pb2_grpc.BillingServiceStub(on_a).AttachPaymentMethod(
            billing_pb2.AttachPaymentMethodRequest(
                billing_account=f"{OWN}/billingAccount", payment_method_id="pm_card_visa"
            ),
            metadata=late.metadata,
        )
    assert account.past_due_micro_usd == 0  # the new card paid the balance at once
    took = eventually(
        "billable flex resumes on every connection to B",
        lambda: all(flex_answer(channel, late) == "ok" for channel in on_b),
    )
    print(f"the lifted gate reached replica B after {took:.2f} s (gate cache TTL 2 s)")
    for channel in on_b:
        channel.close()


async def _load(target: str, caller: Caller, until: asyncio.Event) -> tuple[dict[str, float], int]:
    """Eight callers over four connections, streamed and not, raced and not, until ``until``;
    the request ids of the answers that arrived whole (with when), and how many calls failed."""
    complete: dict[str, float] = {}
    failures = 0
    options = [("grpc.use_local_subchannel_pool", 1)]
    connections = [grpc.aio.insecure_channel(target, options=options) for _ in range(4)]

    async def one(stub: route_pb2_grpc.RouteServiceStub, n: int) -> None:
        nonlocal failures
        stream = n % 2 == 0
        payload = {"model": OPENAI_MODEL, "input": f"req {n}", "stream": stream,
                   "start_within": "00h-00m-30s" if n % 3 else "default"}  # fmt: skip
        call = stub.CreateResponse(
            route_pb2.CreateResponseRequest(
                body=httpbody_pb2.HttpBody(
                    content_type="application/json", data=json.dumps(payload).encode()
                )
            ),
            metadata=caller.metadata,
            timeout=30,
        )
        try:
            body = b"".join([m.data async for m in call])
            request_id = dict(await call.initial_metadata())["x-flexinference-request-id"]
        except grpc.RpcError:
            failures += 1
            return
        if (b"response.completed" if stream else b'"status": "completed"') in body:
            complete[str(request_id)] = time.monotonic()

    async def caller_loop(k: int) -> None:
        stub = route_pb2_grpc.RouteServiceStub(connections[k % len(connections)])
        n = k
        while not until.is_set():
            await one(stub, n)
            n += 8

    await asyncio.gather(*(caller_loop(k) for k in range(8)))
    for connection in connections:
        await connection.close()
    return complete, failures


def test_sigkill_of_one_replica_under_load_loses_no_record_and_the_other_keeps_answering(
    replicas: Replicas, sim: SimulatorThread
) -> None:
    sim.config = SimConfig(seed=3).with_tier(
        "flex", start_delay="uniform:50ms-400ms", token_rate=400
    )

    killed_at = 0.0

    async def scenario() -> tuple[tuple[dict[str, float], int], tuple[dict[str, float], int]]:
        nonlocal killed_at
        stop_a, stop_b = asyncio.Event(), asyncio.Event()
        load_a = asyncio.create_task(_load(replicas.a.target, replicas.caller, stop_a))
        load_b = asyncio.create_task(_load(replicas.b.target, replicas.caller, stop_b))
        await asyncio.sleep(3.0)
        # The whole replica at once, supervisor and workers: no drain, no flush, no goodbye.
        os.killpg(replicas.a.process.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        stop_a.set()
        await asyncio.sleep(3.0)
        stop_b.set()
        return await load_a, await load_b

    (complete_a, failures_a), (complete_b, failures_b) = asyncio.run(scenario())
    replicas.a.process.wait(PATIENCE_S)
    assert len(complete_a) > 10, "replica A delivered answers before it was killed"
    assert failures_a > 0, "some of replica A's requests were in flight when it died"
    assert failures_b == 0
    assert sum(at > killed_at for at in complete_b.values()) > 10, "B answered after the kill"
    ledger = LedgerStore(replicas.sessions)
    delivered = [*complete_a, *complete_b]
    assert [rid for rid in delivered if not ledger.has_record(rid)] == []
    # B still answers after the load, on new connections.
    for channel in channels(replicas.b.target, 2):
        with channel:
            _, metadata, _ = responses(
                route_pb2_grpc.RouteServiceStub(channel), replicas.caller,
                model=OPENAI_MODEL, input="after", start_within="default",
            )  # fmt: skip
            assert ledger.has_record(metadata["x-flexinference-request-id"])
    assert audit(replicas.sessions) == []
