"""The ledger on SQLite and PostgreSQL: durable, idempotent, append-only, balanced, audited."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import sqlite3
import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from flexgrpc.accounts.store import AccountStore
from flexgrpc.db.engine import make_engine, make_sessionmaker
from flexgrpc.db.migrate import upgrade
from flexgrpc.db.models import UsageRecord
from flexgrpc.domain import RequestRecord
from flexgrpc.ledger.audit import audit
from flexgrpc.ledger.records import COMMISSION_REVENUE, RECEIVABLE
from flexgrpc.ledger.store import LedgerStore
from flexgrpc.ledger.writer import RecordWriter
from tests.records import flex_record, with_cost


@dataclasses.dataclass
class Ledger:
    sessions: sessionmaker[Session]
    store: LedgerStore
    organization_id: str


@pytest.fixture
def ledger(database_url: str) -> Iterator[Ledger]:
    engine = make_engine(database_url)
    upgrade(engine)
    sessions = make_sessionmaker(engine)
    org = AccountStore(sessions).create_organization("Ledger Co")
    yield Ledger(sessions, LedgerStore(sessions), org.id)
    # Every ledger test ends with the auditor's verdict.
    assert audit(sessions) == []
    engine.dispose()


def row(org: str, n: int, commission: int = 0, savings: int | None = None) -> RequestRecord:
    return flex_record(org, f"req_{n:06d}", commission=commission, savings=savings)


def test_commissions_post_balanced_entries_and_balances_are_sums(ledger: Ledger) -> None:
    rows = [row(ledger.organization_id, n, commission=n * 1000) for n in range(10)]
    ledger.store.write(rows)
    assert ledger.store.count_records(ledger.organization_id) == 10
    assert ledger.store.balance(ledger.organization_id) == sum(
        r.cost.commission_nano_usd for r in rows
    )
    assert ledger.store.balance(ledger.organization_id, COMMISSION_REVENUE) == -45_000


def test_a_replay_writes_nothing_twice(ledger: Ledger) -> None:
    rows = [row(ledger.organization_id, n, commission=7) for n in range(5)]
    ledger.store.write(rows)
    ledger.store.write(rows)
    ledger.store.write(rows[:2])
    assert ledger.store.count_records() == 5
    assert ledger.store.balance(ledger.organization_id) == 35


@pytest.mark.parametrize("table", ["usage_records", "ledger_entries"])
@pytest.mark.parametrize(
    "statement", ["UPDATE {t} SET organization_id = organization_id", "DELETE FROM {t}"]
)
def test_history_cannot_be_rewritten(ledger: Ledger, table: str, statement: str) -> None:
    ledger.store.write([row(ledger.organization_id, 1, commission=5)])
    with pytest.raises(sa.exc.DatabaseError, match="append-only"), ledger.sessions.begin() as s:
        s.execute(sa.text(statement.format(t=table)))
    assert ledger.store.count_records() == 1
    assert ledger.store.balance(ledger.organization_id) == 5


def test_the_auditor_finds_an_unbalanced_or_orphan_entry(ledger: Ledger) -> None:
    ledger.store.write([row(ledger.organization_id, 1, commission=5)])
    with ledger.sessions.begin() as s:
        s.execute(
            sa.text(
                "INSERT INTO ledger_entries (transaction_id, organization_id, account, "
                "amount_nano_usd, create_time) VALUES ('commission:req_ghost', :org, "
                "'receivable', 9, :now)"
            ),
            {"org": ledger.organization_id, "now": dt.datetime.now(dt.UTC)},
        )
    problems = audit(ledger.sessions)
    assert "transaction commission:req_ghost sums to 9, not 0" in problems
    assert "transaction commission:req_ghost has no usage record" in problems
    # Entries cannot be removed, so the correction is a compensating entry, as in any ledger.
    with ledger.sessions.begin() as s:
        s.execute(
            sa.text(
                "INSERT INTO ledger_entries (transaction_id, organization_id, account, "
                "amount_nano_usd, create_time) VALUES ('commission:req_ghost', :org, "
                "'commission_revenue', -9, :now)"
            ),
            {"org": ledger.organization_id, "now": dt.datetime.now(dt.UTC)},
        )
    assert audit(ledger.sessions) == ["transaction commission:req_ghost has no usage record"]
    # Make the fixture's closing audit pass: give the ghost transaction its record.
    ghost = flex_record(ledger.organization_id, "req_ghost", commission=9)
    ledger.store.write([with_cost(ghost, actual_nano_usd=45, standard_nano_usd=90)])


def test_concurrent_records_share_transactions(ledger: Ledger) -> None:
    async def scenario() -> RecordWriter:
        writer = RecordWriter(ledger.store)
        writer.start()
        rows = [row(ledger.organization_id, n, commission=n % 3) for n in range(600)]
        await asyncio.gather(*(writer.record(r) for r in rows))
        await writer.stop()
        return writer

    writer = asyncio.run(scenario())
    assert writer.written == 600
    assert writer.batches < 600  # group commit: many records per transaction
    assert ledger.store.count_records() == 600
    assert ledger.store.balance(ledger.organization_id, RECEIVABLE) == sum(
        n % 3 for n in range(600)
    )


def test_a_record_that_cannot_be_stored_fails_alone(ledger: Ledger) -> None:
    """A record the database refuses (here: its organization does not exist) raises for its own
    request; the records that shared its group commit are still stored."""

    async def scenario() -> list[BaseException | None]:
        writer = RecordWriter(ledger.store)
        writer.start()
        rows = [row(ledger.organization_id, n, commission=n % 2) for n in range(40)]
        rows[17] = dataclasses.replace(rows[17], organization_id="org_missing")
        results = await asyncio.gather(*(writer.record(r) for r in rows), return_exceptions=True)
        # The writer keeps working after a failure.
        await writer.record(row(ledger.organization_id, 99))
        await writer.stop()
        return results

    results = asyncio.run(scenario())
    assert [i for i, r in enumerate(results) if r is not None] == [17]
    # The driver's own IntegrityError (sqlite3's or psycopg's ForeignKeyViolation).
    assert "IntegrityError" in [c.__name__ for c in type(results[17]).__mro__]
    assert ledger.store.count_records() == 40
    assert not ledger.store.has_record(row(ledger.organization_id, 17).request_id)
    assert ledger.store.balance(ledger.organization_id) == sum(n % 2 for n in range(40)) - 1


def test_stop_writes_what_is_queued_then_refuses_new_records(ledger: Ledger) -> None:
    async def scenario() -> None:
        writer = RecordWriter(ledger.store)
        writer.start()
        pending = [
            asyncio.create_task(writer.record(row(ledger.organization_id, n))) for n in range(50)
        ]
        await asyncio.sleep(0)  # every task has queued its record
        await writer.stop()
        # Each record is stored by now; its caller resumes in the loop's next round.
        assert await asyncio.wait_for(asyncio.gather(*pending), 1) == [None] * 50
        with pytest.raises(RuntimeError, match="not running"):
            await writer.record(row(ledger.organization_id, 50))

    asyncio.run(scenario())
    assert ledger.store.count_records() == 50


def test_a_cancelled_caller_still_gets_its_record_stored(ledger: Ledger) -> None:
    async def scenario() -> None:
        writer = RecordWriter(ledger.store)
        writer.start()
        task = asyncio.create_task(writer.record(row(ledger.organization_id, 1)))
        await asyncio.sleep(0)
        task.cancel()
        await writer.stop()

    asyncio.run(scenario())
    assert ledger.store.has_record(row(ledger.organization_id, 1).request_id)


def test_the_writer_survives_the_database_dropping_its_connection(
    ledger: Ledger, database_url: str
) -> None:
    """The writer keeps one connection across transactions; when the database ends it (a
    restart, an administrator), the next record is still stored, on a fresh connection."""
    if not database_url.startswith("postgresql"):
        pytest.skip("needs PostgreSQL: only a server can end a client's connection")
    engine = ledger.sessions.kw["bind"]

    async def scenario() -> None:
        writer = RecordWriter(ledger.store)
        writer.start()
        await writer.record(row(ledger.organization_id, 1))
        with engine.connect() as admin:
            ended = admin.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                    "AND application_name = 'flexgrpc' AND state = 'idle'"
                )
            ).all()
        assert ended  # the writer's kept connection was among them
        await writer.record(row(ledger.organization_id, 2, commission=3))
        await writer.stop()
        assert writer.written == 2

    asyncio.run(scenario())
    assert ledger.store.count_records() == 2
    assert ledger.store.balance(ledger.organization_id) == 3


def test_a_records_prices_read_back_as_written(ledger: Ledger) -> None:
    """Prices are stored as sorted JSON text, whatever they hold: decimals as strings, text
    beyond ASCII, integers beyond 64 bits (which take the standard encoder's path)."""
    prices = [
        {"standard": {"input": "0.25", "output": "2"}, "source": "https://example.com/prices ✓"},
        {"catalog": "override.json", "note": 2**70},
    ]
    rows = [with_cost(row(ledger.organization_id, n), prices=p) for n, p in enumerate(prices)]
    ledger.store.write(rows)
    with ledger.sessions() as session:
        stored = dict(session.execute(sa.select(UsageRecord.request_id, UsageRecord.prices)).all())
    for r in rows:
        # The commission reason is kept with the prices it was decided on.
        written = {**r.cost.prices, "commission_reason": r.cost.reason.value}
        assert json.loads(stored[r.request_id]) == written
        assert stored[r.request_id] == json.dumps(written, sort_keys=True, separators=(",", ":"),
                                                  ensure_ascii=False)  # fmt: skip


def test_a_lone_request_commits_its_record_without_the_thread_on_sqlite(ledger: Ledger) -> None:
    """Alone in the server, a record is committed on the loop (SQLite; PostgreSQL always uses
    the thread); among others, it joins the group commit."""
    alone = True

    async def scenario() -> RecordWriter:
        writer = RecordWriter(ledger.store, alone=lambda: alone)
        writer.start()
        for n in range(3):
            await writer.record(row(ledger.organization_id, n, commission=1))
        nonlocal alone
        alone = False
        await asyncio.gather(*(writer.record(row(ledger.organization_id, n)) for n in range(3, 9)))
        await writer.stop()
        return writer

    writer = asyncio.run(scenario())
    sqlite = ledger.store.local
    assert writer.inline_batches == (3 if sqlite else 0)
    assert writer.written == 9
    assert ledger.store.count_records() == 9
    assert ledger.store.balance(ledger.organization_id) == 3


def test_a_lone_record_waits_for_a_lock_held_elsewhere_without_blocking_the_loop(
    ledger: Ledger, database_url: str
) -> None:
    """Another connection (another process, say) holds SQLite's write lock: the record waits
    for it on the writer thread, and the event loop keeps running meanwhile."""
    if not ledger.store.local:
        pytest.skip("SQLite only: PostgreSQL never commits on the loop")
    holder = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")

    async def scenario() -> tuple[RecordWriter, float]:
        writer = RecordWriter(ledger.store, alone=lambda: True)
        writer.start()
        stored = asyncio.create_task(writer.record(row(ledger.organization_id, 1)))
        longest_gap, last = 0.0, time.monotonic()
        for _ in range(30):  # 0.3 s of a loop that must keep turning
            await asyncio.sleep(0.01)
            now = time.monotonic()
            longest_gap, last = max(longest_gap, now - last), now
        assert not stored.done()  # still waiting for the lock
        holder.execute("COMMIT")
        await asyncio.wait_for(stored, 10)
        await writer.stop()
        return writer, longest_gap

    try:
        writer, longest_gap = asyncio.run(scenario())
    finally:
        holder.close()
    assert longest_gap < 1.0  # a blocked loop would have stalled for the busy timeout (5 s)
    assert writer.inline_batches == 0
    assert ledger.store.has_record(row(ledger.organization_id, 1).request_id)
