"""Ledger throughput: usage records per second sustained with the durability guarantee on.

Producers call ``RecordWriter.record`` (which returns only once the row is committed: WAL +
synchronous=FULL on SQLite, a committed transaction on PostgreSQL), as concurrent requests
would. Prints records/s, the mean batch (records per transaction) and per-record wait p50/p99,
for SQLite and, when FLEXGRPC_TEST_POSTGRES_URL is set, PostgreSQL.

    .venv/bin/python bench/ledger_throughput.py [--seconds 10] [--producers 256] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import os
import sys
import tempfile
import time
import uuid

sys.path.insert(0, __file__.rsplit("/bench/", 1)[0])

from bench.harness import percentile
from flexgrpc.accounts.store import AccountStore
from flexgrpc.db.engine import make_engine, make_sessionmaker
from flexgrpc.db.migrate import upgrade
from flexgrpc.domain import RequestRecord, TokenCounts
from flexgrpc.ledger.audit import audit
from flexgrpc.ledger.store import LedgerStore
from flexgrpc.ledger.writer import RecordWriter
from tests.conftest import fresh_postgres_database
from tests.records import flex_record


def template(org: str) -> RequestRecord:
    now = dt.datetime.now(dt.UTC)
    record = flex_record(
        org,
        "",
        commission=82_500,
        savings=412_500,
        actual=412_500,
        standard=825_000,
        at=now,
        prices={"actual": {"input_micro_usd_per_mtok": 125_000}},
        tokens=TokenCounts(uncached_input=900, cached_input=100, output=400, reasoning=128),
    )
    return dataclasses.replace(record, api_key_id="key_bench", time_to_start_ms=1200)


async def run_one(url: str, seconds: float, producers: int) -> None:
    engine = make_engine(url)
    upgrade(engine)
    sessions = make_sessionmaker(engine)
    org = AccountStore(sessions).create_organization("bench").id
    writer = RecordWriter(LedgerStore(sessions))
    writer.start()
    base = template(org)
    waits: list[float] = []
    stop_at = time.perf_counter() + seconds

    async def producer() -> None:
        while time.perf_counter() < stop_at:
            row = dataclasses.replace(base, request_id=f"req_{uuid.uuid4().hex}")
            started = time.perf_counter()
            await writer.record(row)
            waits.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(producer() for _ in range(producers)))
    elapsed = time.perf_counter() - started
    await writer.stop()
    problems = audit(sessions)
    print(
        f"  {engine.dialect.name:<10} {writer.written / elapsed:9.0f} records/s   "
        f"{writer.written / max(writer.batches, 1):6.1f} records/transaction   "
        f"wait p50 {percentile(waits, 50):6.2f} ms  p99 {percentile(waits, 99):6.2f} ms   "
        f"n={writer.written}  auditor: {'ok' if not problems else problems[:3]}"
    )
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--producers", type=int, default=256, help="concurrent requests")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.seconds = 3.0
    print(f"{args.producers} concurrent producers, {args.seconds:.0f} s per database")
    with tempfile.TemporaryDirectory() as home:
        asyncio.run(run_one(f"sqlite:///{home}/ledger.db", args.seconds, args.producers))
    base = os.environ.get("FLEXGRPC_TEST_POSTGRES_URL")
    if base:
        with fresh_postgres_database(base) as url:
            asyncio.run(run_one(url, args.seconds, args.producers))
    else:
        print("  postgresql: skipped (FLEXGRPC_TEST_POSTGRES_URL is not set)")


if __name__ == "__main__":
    main()
