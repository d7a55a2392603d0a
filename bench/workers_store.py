"""Several workers on one store: do requests fail ("database is locked") or records go missing?

    .venv/bin/python bench/workers_store.py                       # SQLite, 1, 2 and 4 workers
    .venv/bin/python bench/workers_store.py --database postgresql # FLEXGRPC_TEST_POSTGRES_URL

For each worker count, a fresh database and ``flexgrpc serve --workers N`` against the
simulator; 64 callers over 16 connections send non-streamed fixed-tier requests (the most
record commits per second the server can make) for ``--seconds``; then every answer the
callers received is looked up in the ledger. Prints answers, req/s, failures by status and
message, answers without a record, and how often the server logged "database is locked".
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import pathlib
import sys
import tempfile
import time
from collections.abc import Iterator

import grpc
from flexinference.v1 import route_pb2, route_pb2_grpc
from google.api import httpbody_pb2

sys.path.insert(0, __file__.rsplit("/bench/", 1)[0])

from flexgrpc.accounts.crypto import ProviderKeyCipher, generate_encryption_key
from flexgrpc.accounts.store import AccountStore
from flexgrpc.db.engine import make_engine, make_sessionmaker
from flexgrpc.db.migrate import upgrade
from flexgrpc.ledger.store import LedgerStore
from flexgrpc.sim import SimConfig, run_in_thread
from tests.conftest import POSTGRES_URL_ENV, fresh_postgres_database
from tests.integration.conftest import Caller, new_caller
from tests.serverproc import start_server


@contextlib.contextmanager
def database(kind: str, home: pathlib.Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{home / 'workers.db'}"
        return
    base = os.environ.get(POSTGRES_URL_ENV)
    if not base:
        sys.exit(f"{POSTGRES_URL_ENV} is not set")
    with fresh_postgres_database(base) as url:
        yield url


async def load(
    target: str, caller: Caller, seconds: float, concurrency: int
) -> tuple[set[str], collections.Counter[str]]:
    answered: set[str] = set()
    failures: collections.Counter[str] = collections.Counter()
    options = [("grpc.use_local_subchannel_pool", 1)]
    channels = [grpc.aio.insecure_channel(target, options=options) for _ in range(16)]
    stubs = [route_pb2_grpc.RouteServiceStub(channel) for channel in channels]
    stop_at = time.monotonic() + seconds

    async def one_caller(k: int) -> None:
        n = 0
        while time.monotonic() < stop_at:
            n += 1
            payload = {"model": "gpt-5-mini", "input": f"{k} {n}", "start_within": "default"}
            call = stubs[k % len(stubs)].CreateResponse(
                route_pb2.CreateResponseRequest(
                    body=httpbody_pb2.HttpBody(
                        content_type="application/json", data=json.dumps(payload).encode()
                    )
                ),
                metadata=caller.metadata,
                timeout=30,
            )
            try:
                _ = [message async for message in call]
                answered.add(str(dict(await call.initial_metadata())["x-flexinference-request-id"]))
            except grpc.RpcError as error:
                failures[f"{error.code().name}: {(error.details() or '')[:60]}"] += 1

    await asyncio.gather(*(one_caller(k) for k in range(concurrency)))
    for channel in channels:
        await channel.close()
    return answered, failures


def run(kind: str, workers: int, seconds: float, concurrency: int) -> str:
    home = pathlib.Path(tempfile.mkdtemp(prefix="flexgrpc-workers-"))
    with database(kind, home) as url, run_in_thread(SimConfig(seed=1)) as sim:
        secret = generate_encryption_key()
        engine = make_engine(url)
        upgrade(engine)
        sessions = make_sessionmaker(engine)
        store = AccountStore(sessions, ProviderKeyCipher.from_setting(secret))
        caller = new_caller(store, "Load")
        store.set_provider_key(caller.organization_id, "openai", "sk-test-" + "a" * 32)
        env = {
            "FLEXGRPC_DATABASE_URL": url,
            "FLEXGRPC_ENCRYPTION_KEY": secret,
            "FLEXGRPC_OPENAI_BASE_URL": f"{sim.url}/v1",
            "FLEXGRPC_LOG_LEVEL": "WARNING",
            "FLEXGRPC_WORKERS": str(workers),
        }
        server = start_server(home, env, timeout=120)
        started = time.monotonic()
        answered, failures = asyncio.run(load(server.target, caller, seconds, concurrency))
        elapsed = time.monotonic() - started
        server.stop()
        ledger = LedgerStore(sessions)
        missing = sum(not ledger.has_record(request_id) for request_id in answered)
        locked = server.logs().count("database is locked")
        engine.dispose()
    return (
        f"| {kind} | {workers} | {len(answered):,} | {len(answered) / elapsed:,.0f} | "
        f"{sum(failures.values())} {dict(failures) or ''} | {missing} | {locked} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--workers", default="1,2,4", help="comma-separated worker counts")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    print("| store | workers | answers | req/s | failed | no record | 'database is locked' |")
    print("|---|---|---|---|---|---|---|")
    for workers in (int(n) for n in args.workers.split(",")):
        print(run(args.database, workers, args.seconds, args.concurrency), flush=True)


if __name__ == "__main__":
    main()
