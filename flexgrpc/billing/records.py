"""What billing hands to its callers: immutable views of accounts, invoices and attempts, plus
the locking helpers every billing transaction shares.

Lock order, everywhere: the organization's ``billing_accounts`` row first, then its invoices.
One order means two transactions on PostgreSQL can wait for each other but never deadlock.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from flexgrpc.db.inserts import insert_ignoring_conflicts
from flexgrpc.db.models import BillingAccount, Invoice, PaymentAttempt

Clock = Callable[[], dt.datetime]

#: 1 cent in the ledger's nano-USD.
NANO_PER_CENT: Final = 10_000_000
#: The unpaid balance is charged once it reaches $20.00 (SPEC §6).
CHARGE_THRESHOLD_NANO: Final = 2_000 * NANO_PER_CENT


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def new_id(kind: str) -> str:
    # Random, not derived from the organization and period: a key reused across two databases
    # pointed at one Stripe account (a staging reset) must never match an older charge.
    return f"{kind}_{secrets.token_hex(8)}"


def lock_account(session: Session, organization_id: str, now: dt.datetime) -> BillingAccount:
    """The organization's billing account, created if missing, locked until the transaction ends.

    SQLite has no row locks; there the write transaction (BEGIN IMMEDIATE) already serialises.
    """
    insert_ignoring_conflicts(
        session,
        BillingAccount,
        [{"organization_id": organization_id, "create_time": now, "update_time": now}],
    )
    return session.scalars(
        select(BillingAccount)
        .where(BillingAccount.organization_id == organization_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def lock_invoice(session: Session, invoice_id: str) -> Invoice:
    return session.scalars(
        select(Invoice)
        .where(Invoice.id == invoice_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


@dataclass(frozen=True, slots=True)
class CardInfo:
    brand: str
    last4: str
    exp_month: int
    exp_year: int


@dataclass(frozen=True, slots=True)
class AccountSummary:
    organization_id: str
    #: Commission not yet in any invoice (the open period's, plus late records).
    accrued_nano_usd: int
    #: Unpaid from closed periods: the last carry-forward plus every unpaid amount due.
    carried_nano_usd: int
    past_due_nano_usd: int
    past_due_since: dt.datetime | None
    card: CardInfo | None
    has_customer: bool


@dataclass(frozen=True, slots=True)
class InvoiceInfo:
    id: str
    organization_id: str
    period: str
    commission_nano_usd: int
    carried_in_nano_usd: int
    amount_due_nano_usd: int
    carried_out_nano_usd: int
    state: str
    create_time: dt.datetime
    paid_time: dt.datetime | None
    past_due_time: dt.datetime | None
    next_retry_time: dt.datetime | None

    @classmethod
    def of(cls, row: Invoice) -> InvoiceInfo:
        return cls(
            id=row.id,
            organization_id=row.organization_id,
            period=row.period,
            commission_nano_usd=row.commission_nano_usd,
            carried_in_nano_usd=row.carried_in_nano_usd,
            amount_due_nano_usd=row.amount_due_nano_usd,
            carried_out_nano_usd=row.carried_out_nano_usd,
            state=row.state,
            create_time=row.create_time,
            paid_time=row.paid_time,
            past_due_time=row.past_due_time,
            next_retry_time=row.next_retry_time,
        )


@dataclass(frozen=True, slots=True)
class AttemptInfo:
    id: str
    invoice_id: str
    organization_id: str
    period: str
    sequence: int
    amount_nano_usd: int
    state: str
    payment_intent_id: str | None
    failure_code: str
    failure_message: str
    card: CardInfo | None
    create_time: dt.datetime
    update_time: dt.datetime

    @classmethod
    def of(cls, row: PaymentAttempt, period: str) -> AttemptInfo:
        card = None
        if row.card_last4 is not None:
            card = CardInfo(
                row.card_brand or "",
                row.card_last4,
                row.card_exp_month or 0,
                row.card_exp_year or 0,
            )
        return cls(
            id=row.id,
            invoice_id=row.invoice_id,
            organization_id=row.organization_id,
            period=period,
            sequence=row.sequence,
            amount_nano_usd=row.amount_nano_usd,
            state=row.state,
            payment_intent_id=row.payment_intent_id,
            failure_code=row.failure_code,
            failure_message=row.failure_message,
            card=card,
            create_time=row.create_time,
            update_time=row.update_time,
        )
