"""The 402 gate end to end: an unpaid bill pauses billable flex, and only billable flex."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import pathlib
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from flexinference.v1 import billing_pb2, billing_pb2_grpc, route_pb2, route_pb2_grpc

from flexgrpc.accounts.crypto import ProviderKeyCipher, generate_encryption_key
from flexgrpc.accounts.store import AccountStore
from flexgrpc.db.engine import make_engine, make_sessionmaker
from flexgrpc.db.migrate import upgrade
from flexgrpc.ledger.store import LedgerStore
from flexgrpc.sim import SimulatorThread
from tests.billing.localstripe_server import run_localstripe
from tests.integration.conftest import new_caller
from tests.integration.test_ledger import row
from tests.integration.test_route import OPENAI_MODEL, body, responses
from tests.richstatus import rich_error
from tests.serverproc import start_server


def _last_month() -> tuple[str, dt.datetime]:
    first = dt.datetime.now(dt.UTC).replace(day=1, hour=12, minute=0, second=0, microsecond=0)
    inside = first - dt.timedelta(days=3)
    return inside.strftime("%Y-%m"), inside


@pytest.fixture
def billed_stack(tmp_path: pathlib.Path, sim: SimulatorThread) -> Iterator[dict[str, Any]]:
    """A server that charges through Stripe (localstripe), beside the provider simulator."""
    with run_localstripe() as stripe_url:
        url = f"sqlite:///{tmp_path / 'billing.db'}"
        secret = generate_encryption_key()
        upgrade(url)
        sessions = make_sessionmaker(make_engine(url))
        store = AccountStore(sessions, ProviderKeyCipher.from_setting(secret))
        caller = new_caller(store, "Owes Money Inc")
        store.set_provider_key(caller.organization_id, "openai", "sk-test-" + "a" * 32)
        store.set_provider_key(caller.organization_id, "anthropic", "sk-ant-" + "c" * 32)
        env = {
            "FLEXGRPC_DATABASE_URL": url,
            "FLEXGRPC_ENCRYPTION_KEY": secret,
            "FLEXGRPC_OPENAI_BASE_URL": f"{sim.url}/v1",
            "FLEXGRPC_ANTHROPIC_BASE_URL": f"{sim.url}/v1",
            "FLEXGRPC_STRIPE_API_KEY": "sk_test_localstripe",
            "FLEXGRPC_STRIPE_API_BASE": stripe_url,
            "FLEXGRPC_LOG_LEVEL": "WARNING",
        }
        server = start_server(tmp_path, env)
        try:
            yield {"server": server, "env": env, "caller": caller, "sessions": sessions}
        finally:
            server.stop()


def test_a_past_due_bill_pauses_billable_flex_only(billed_stack: dict[str, Any]) -> None:
    server, caller = billed_stack["server"], billed_stack["caller"]
    period, when = _last_month()
    # $25 of commission last month, and no card on file: the close cannot charge it.
    usage = dataclasses.replace(
        row(caller.organization_id, 1, commission=25_000_000_000),
        create_time=when,
        complete_time=when,
    )
    LedgerStore(billed_stack["sessions"]).write([usage])
    closed = subprocess.run(
        [sys.executable, "-m", "flexgrpc.cli", "billing", "close", "--period", period, "--json"],
        env={**os.environ, **billed_stack["env"]},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert closed.returncode == 0, closed.stderr
    with grpc.insecure_channel(server.target) as channel:
        account = billing_pb2_grpc.BillingServiceStub(channel).GetBillingAccount(
            billing_pb2.GetBillingAccountRequest(name="organizations/-/billingAccount"),
            metadata=caller.metadata,
        )
        assert account.past_due_micro_usd == 25_000_000
        assert account.HasField("past_due_time")
        stub = route_pb2_grpc.RouteServiceStub(channel)
        deadline = time.monotonic() + 6  # the gate trusts its cache for at most 5 s
        while True:
            try:
                responses(stub, caller, model=OPENAI_MODEL, input="hi", start_within="00h-00m-30s")
            except grpc.RpcError as error:
                refused = rich_error(error)
                break
            assert time.monotonic() < deadline, "billable flex was never paused"
            time.sleep(0.5)
        assert (refused.code, refused.reason) == (
            grpc.StatusCode.FAILED_PRECONDITION,
            "payment_required",
        )
        # Everything that is not billable flex keeps working while the bill is unpaid.
        responses(stub, caller, model=OPENAI_MODEL, input="hi", start_within="default")
        responses(stub, caller, model=OPENAI_MODEL, input="hi", start_within="priority")
        call = stub.CreateMessage(
            route_pb2.CreateMessageRequest(
                body=body(
                    model="claude-sonnet-5-5",
                    max_tokens=20,
                    start_within="auto",
                    messages=[{"role": "user", "content": "hi"}],
                )
            ),
            metadata=caller.metadata,
        )
        assert json.loads(b"".join(m.data for m in call))["type"] == "message"
