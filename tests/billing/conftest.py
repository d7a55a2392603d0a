"""Fixtures for billing tests: a migrated database (SQLite and PostgreSQL), a settable clock,
organizations with commission on given dates, and the scripted gateway."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from flexgrpc.accounts.store import AccountStore
from flexgrpc.billing.accounts import BillingAccounts
from flexgrpc.billing.close import PeriodCloser
from flexgrpc.billing.gateway import PaymentGateway
from flexgrpc.billing.payments import Payments
from flexgrpc.db.engine import make_engine, make_sessionmaker
from flexgrpc.db.migrate import upgrade
from flexgrpc.db.models import Invoice, PaymentAttempt
from flexgrpc.domain import RequestRecord, TokenCounts
from flexgrpc.ledger.audit import audit
from flexgrpc.ledger.records import CLEARING
from flexgrpc.ledger.store import LedgerStore
from tests.billing.scripted import ScriptedGateway, card_for
from tests.records import flex_record, with_cost

CENT = 10_000_000  # nano-USD
RETRY_SCHEDULE = (dt.timedelta(days=1), dt.timedelta(days=3))
_request_ids = itertools.count(1)


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)  # type: ignore[misc]


@dataclass
class Clock:
    now: dt.datetime = field(default_factory=lambda: utc(2026, 2, 1, 0, 5))

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


def usage_row(org: str, commission_nano: int, at: dt.datetime) -> RequestRecord:
    n = next(_request_ids)
    record = flex_record(
        org,
        f"req_{n:08d}_{org[-6:]}",
        commission=commission_nano,
        at=at,
        prices={},
        tokens=TokenCounts(uncached_input=10, output=40),
    )
    return with_cost(
        record, actual_nano_usd=commission_nano * 4, standard_nano_usd=commission_nano * 9
    )


@dataclass
class Billing:
    engine: Engine
    sessions: sessionmaker[Session]
    clock: Clock
    gateway: ScriptedGateway
    payments: Payments
    closer: PeriodCloser
    accounts: BillingAccounts
    ledger: LedgerStore

    def organization(self, name: str = "Acme", card: str | None = "pm_ok_4242") -> str:
        org = AccountStore(self.sessions).create_organization(name).id
        if card is not None:
            self.accounts.attach_card(org, card)
        return org

    def commission(self, org: str, nano: int, at: dt.datetime) -> None:
        self.ledger.write([usage_row(org, nano, at)])

    def invoices(self, org: str) -> list[Invoice]:
        with self.sessions() as session:
            return list(
                session.scalars(
                    select(Invoice).where(Invoice.organization_id == org).order_by(Invoice.period)
                )
            )

    def attempts(self, org: str | None = None) -> list[PaymentAttempt]:
        query = select(PaymentAttempt).order_by(PaymentAttempt.create_time, PaymentAttempt.sequence)
        if org is not None:
            query = query.where(PaymentAttempt.organization_id == org)
        with self.sessions() as session:
            return list(session.scalars(query))

    def cleared(self, org: str) -> int:
        return self.ledger.balance(org, CLEARING)

    def receivable(self, org: str) -> int:
        return self.ledger.balance(org)

    def card(self, org: str, payment_method_id: str) -> None:
        self.accounts.use_card(org, card_for(payment_method_id), self.clock())


def build(
    sessions: sessionmaker[Session], clock: Clock, gateway: PaymentGateway | None
) -> tuple[Payments, PeriodCloser, BillingAccounts]:
    payments = Payments(
        sessions,
        gateway,
        clock=clock,
        retry_schedule=RETRY_SCHEDULE,
        in_flight_timeout=dt.timedelta(minutes=5),
    )
    return (
        payments,
        PeriodCloser(sessions, payments, clock=clock),
        BillingAccounts(sessions, payments, clock=clock),
    )


@pytest.fixture
def billing(database_url: str) -> Iterator[Billing]:
    engine = make_engine(database_url)
    upgrade(engine)
    sessions = make_sessionmaker(engine)
    clock = Clock()
    gateway = ScriptedGateway()
    payments, closer, accounts = build(sessions, clock, gateway)
    yield Billing(
        engine, sessions, clock, gateway, payments, closer, accounts, LedgerStore(sessions)
    )
    # Every billing test ends with the ledger auditor's verdict.
    assert audit(sessions) == []
    engine.dispose()
