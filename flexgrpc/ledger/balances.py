"""What billing asks of the ledger, inside billing's own transactions: how much commission an
organization's requests have earned, and posting a payment against its receivable.

Billing never reads or writes the ledger's tables itself: the ledger owns ``usage_records`` and
``ledger_entries``, and these functions are its API for them. Each takes the caller's
``Session``, so that what billing decides (an invoice, a payment) and what the ledger records
commit together.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from flexgrpc.db.inserts import insert_ignoring_conflicts
from flexgrpc.db.models import LedgerEntry, UsageDaily, UsageRecord
from flexgrpc.ledger.days import split_days
from flexgrpc.ledger.records import CLEARING, RECEIVABLE, payment_transaction


def commission_earned(
    session: Session, organization_id: str, *, before: dt.datetime | None = None
) -> int:
    """The commission (nano-USD) of the organization's requests received before ``before``
    (all of them when ``None``)."""
    return commission_by_organization(session, before=before, only=organization_id).get(
        organization_id, 0
    )


def commission_by_organization(
    session: Session, *, before: dt.datetime | None, only: str | None = None
) -> dict[str, int]:
    """Each organization's commission (nano-USD) on requests received before ``before``:
    whole days from ``usage_daily``, the day ``before`` falls in from the records."""
    split = split_days(None, before)
    assert split is not None  # unbounded below: there are always whole days to read
    days = select(UsageDaily.organization_id, func.sum(UsageDaily.commission_nano_usd))
    if split.end_day is not None:
        days = days.where(UsageDaily.create_day < split.end_day)
    if only is not None:
        days = days.where(UsageDaily.organization_id == only)
    totals: dict[str, int] = {}
    for organization, total in session.execute(days.group_by(UsageDaily.organization_id)):
        totals[organization] = int(total or 0)
    for start, end in split.edges:
        records = select(UsageRecord.organization_id, func.sum(UsageRecord.commission_nano_usd))
        if start is not None:
            records = records.where(UsageRecord.create_time >= start)
        if end is not None:
            records = records.where(UsageRecord.create_time < end)
        if only is not None:
            records = records.where(UsageRecord.organization_id == only)
        for organization, total in session.execute(records.group_by(UsageRecord.organization_id)):
            totals[organization] = totals.get(organization, 0) + int(total or 0)
    return totals


def post_payment(
    session: Session,
    organization_id: str,
    payment_intent_id: str,
    amount_nano: int,
    now: dt.datetime,
) -> bool:
    """Debit clearing, credit the receivable; once per PaymentIntent. True if posted now."""
    transaction = payment_transaction(payment_intent_id)
    legs = [
        {
            "transaction_id": transaction,
            "organization_id": organization_id,
            "account": account,
            "amount_nano_usd": amount,
            "create_time": now,
        }
        for account, amount in ((CLEARING, amount_nano), (RECEIVABLE, -amount_nano))
    ]
    return insert_ignoring_conflicts(session, LedgerEntry, legs) > 0
