"""usage_daily: the per-day rollup summaries and billing read, on SQLite and PostgreSQL.

Every summary must equal what the records themselves add up to, whatever the range (whole
days, or days cut at either edge), and a record written twice must count once."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session, sessionmaker

from flexgrpc.accounts.store import AccountStore
from flexgrpc.db.engine import make_engine, make_sessionmaker
from flexgrpc.db.migrate import upgrade
from flexgrpc.domain import RequestRecord
from flexgrpc.ledger.audit import audit
from flexgrpc.ledger.balances import commission_by_organization, commission_earned
from flexgrpc.ledger.queries import RecordFilter, Summary, UsageQueries
from flexgrpc.ledger.store import LedgerStore
from tests.records import flex_record

DAY_ONE = dt.datetime(2026, 11, 3, tzinfo=dt.UTC)


@dataclasses.dataclass
class Setup:
    sessions: sessionmaker[Session]
    store: LedgerStore
    queries: UsageQueries
    org: str
    records: list[RequestRecord]


@pytest.fixture
def setup(database_url: str) -> Iterator[Setup]:
    engine = make_engine(database_url)
    upgrade(engine)
    sessions = make_sessionmaker(engine)
    org = AccountStore(sessions).create_organization("Daily Co").id
    records = []
    for n in range(72):  # every 80 minutes over four days, two models, some won flex races
        record = flex_record(
            org,
            f"req_{n:04d}",
            commission=(n % 5) * 1_000,
            at=DAY_ONE + dt.timedelta(minutes=80 * n),
        )
        model = "gpt-5-mini" if n % 3 else "gpt-5-nano"
        records.append(dataclasses.replace(record, model=model))
    store = LedgerStore(sessions)
    store.write(records)
    yield Setup(sessions, store, UsageQueries(sessions), org, records)
    assert audit(sessions) == []
    engine.dispose()


def reference(
    records: list[RequestRecord], start: dt.datetime, end: dt.datetime, *, by_model: bool,
    by_day: bool,
) -> list[Summary]:  # fmt: skip
    """What the summaries must say: the records summed in Python."""
    picked = [r for r in records if start <= r.create_time < end]

    def group(r: RequestRecord) -> tuple[str, str]:
        return (r.create_day if by_day else "", r.model if by_model else "")

    out = []
    for (day, model), members in itertools.groupby(sorted(picked, key=group), key=group):
        rs = list(members)
        out.append(
            Summary(
                model if by_model else None,
                day if by_day else None,
                len(rs),
                sum(r.raced for r in rs),
                sum(r.outcome.value == "flex_won" for r in rs),
                sum(r.cost.actual_nano_usd or 0 for r in rs),
                sum(r.cost.standard_nano_usd or 0 for r in rs),
                sum(r.cost.savings_nano_usd for r in rs),
                sum(r.cost.commission_nano_usd for r in rs),
            )
        )
    return out or ([Summary(None, None, *[0] * 7)] if not by_model and not by_day else [])


RANGES = [
    (DAY_ONE, DAY_ONE + dt.timedelta(days=4)),  # whole days only
    (DAY_ONE + dt.timedelta(hours=7), DAY_ONE + dt.timedelta(days=3, hours=5)),  # both edges cut
    (DAY_ONE + dt.timedelta(hours=2), DAY_ONE + dt.timedelta(hours=20)),  # within one day
    (DAY_ONE + dt.timedelta(days=1), DAY_ONE + dt.timedelta(days=2, minutes=1)),  # end cut
]


@pytest.mark.parametrize(("start", "end"), RANGES)
@pytest.mark.parametrize(("by_model", "by_day"), list(itertools.product((False, True), repeat=2)))
def test_summaries_equal_the_records_whatever_the_range(
    setup: Setup, start: dt.datetime, end: dt.datetime, by_model: bool, by_day: bool
) -> None:
    f = RecordFilter(organization_id=setup.org, start_time=start, end_time=end)
    found = setup.queries.summarize(f, by_model=by_model, by_day=by_day)
    assert found == reference(setup.records, start, end, by_model=by_model, by_day=by_day)


def test_a_record_written_twice_counts_once(setup: Setup) -> None:
    f = RecordFilter(organization_id=setup.org, start_time=RANGES[0][0], end_time=RANGES[0][1])
    before = setup.queries.summarize(f, by_model=True, by_day=True)
    setup.store.write(setup.records[:10])  # replayed: every insert is skipped as a duplicate
    assert setup.queries.summarize(f, by_model=True, by_day=True) == before


@pytest.mark.parametrize("hours", [0, 30, 61, 200])
def test_commission_before_a_moment_is_the_records_commission(setup: Setup, hours: int) -> None:
    before = DAY_ONE + dt.timedelta(hours=hours)
    expected = sum(r.cost.commission_nano_usd for r in setup.records if r.create_time < before)
    with setup.sessions() as session:
        assert commission_earned(session, setup.org, before=before) == expected
        assert commission_by_organization(session, before=before).get(setup.org, 0) == expected
        everything = sum(r.cost.commission_nano_usd for r in setup.records)
        assert commission_earned(session, setup.org) == everything
