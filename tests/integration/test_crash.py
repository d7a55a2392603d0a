"""Crash safety: SIGKILL the server mid-load; every answer a client fully received is recorded.

The long form of this test is bench/crash_recovery.py.
"""

from __future__ import annotations

import asyncio
import json
import pathlib
import signal
from typing import Any

import grpc
from flexinference.v1 import route_pb2, route_pb2_grpc
from google.api import httpbody_pb2

from flexgrpc.accounts.crypto import ProviderKeyCipher, generate_encryption_key
from flexgrpc.accounts.store import AccountStore
from flexgrpc.db.engine import make_engine, make_sessionmaker
from flexgrpc.db.migrate import upgrade
from flexgrpc.ledger.audit import audit
from flexgrpc.ledger.store import LedgerStore
from flexgrpc.sim import SimConfig, SimulatorThread
from tests.integration.conftest import new_caller
from tests.serverproc import start_server


async def load(target: str, metadata: Any, seconds: float) -> tuple[set[str], int]:
    """Mixed streamed and unary requests until the server dies; ids of complete answers."""
    complete: set[str] = set()
    failures = 0

    async def one(stub: route_pb2_grpc.RouteServiceStub, n: int) -> None:
        nonlocal failures
        stream = n % 2 == 0
        payload = {"model": "gpt-5-mini", "input": f"req {n}", "stream": stream,
                   "start_within": "00h-00m-30s" if n % 3 else "default"}  # fmt: skip
        call = stub.CreateResponse(
            route_pb2.CreateResponseRequest(
                body=httpbody_pb2.HttpBody(
                    content_type="application/json", data=json.dumps(payload).encode()
                )
            ),
            metadata=metadata,
            timeout=30,
        )
        try:
            chunks = [m.data async for m in call]
            request_id = dict(await call.initial_metadata())["x-flexinference-request-id"]
        except grpc.RpcError:
            failures += 1
            return
        body = b"".join(chunks)
        finished = b"response.completed" in body if stream else b'"status": "completed"' in body
        if finished:
            complete.add(str(request_id))

    async with grpc.aio.insecure_channel(target) as channel:
        stub = route_pb2_grpc.RouteServiceStub(channel)
        loop = asyncio.get_running_loop()
        stop_at = loop.time() + seconds
        n = 0
        tasks: set[asyncio.Task[None]] = set()
        while loop.time() < stop_at:
            for _ in range(8):
                n += 1
                task = asyncio.create_task(one(stub, n))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            await asyncio.sleep(0.02)
        await asyncio.gather(*tasks, return_exceptions=True)
    return complete, failures


def test_sigkill_mid_load_loses_no_record_of_a_delivered_answer(
    tmp_path: pathlib.Path, sim: SimulatorThread
) -> None:
    # Answers take a little while (start delay, token pacing) so many are in flight at the kill.
    sim.config = SimConfig(seed=3).with_tier(
        "flex", start_delay="uniform:50ms-400ms", token_rate=400
    )
    url = f"sqlite:///{tmp_path / 'crash.db'}"
    secret = generate_encryption_key()
    upgrade(url)
    sessions = make_sessionmaker(make_engine(url))
    store = AccountStore(sessions, ProviderKeyCipher.from_setting(secret))
    caller = new_caller(store, "Crash Co")
    store.set_provider_key(caller.organization_id, "openai", "sk-test-" + "a" * 32)
    env = {
        "FLEXGRPC_DATABASE_URL": url,
        "FLEXGRPC_ENCRYPTION_KEY": secret,
        "FLEXGRPC_OPENAI_BASE_URL": f"{sim.url}/v1",
        "FLEXGRPC_LOG_LEVEL": "WARNING",
    }
    server = start_server(tmp_path, env)

    async def scenario() -> tuple[set[str], int]:
        loading = asyncio.create_task(load(server.target, caller.metadata, seconds=4.0))
        await asyncio.sleep(2.0)
        server.process.send_signal(signal.SIGKILL)  # no drain, no flush, no goodbye
        return await loading

    complete, failures = asyncio.run(scenario())
    server.process.wait(10)
    assert len(complete) > 20, "the load delivered answers before the kill"
    assert failures > 0, "some requests were in flight when the server died"

    restarted = start_server(tmp_path, env)  # recovery: migrations and the ledger reopen
    try:
        ledger = LedgerStore(sessions)
        missing = [rid for rid in complete if not ledger.has_record(rid)]
        assert missing == []
        assert audit(sessions) == []
    finally:
        restarted.stop()
