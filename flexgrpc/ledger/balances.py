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
from flexgrpc.db.models import LedgerEntry, UsageRecord
from flexgrpc.ledger.records import CLEARING, RECEIVABLE, payment_transaction


def commission_earned(
    session: Session, organization_id: str, *, before: dt.datetime | None = None
) -> int:
    """The commission (nano-USD) of the organization's requests received before ``before``
    (all of them when ``None``)."""
    query = select(func.coalesce(func.sum(UsageRecord.commission_nano_usd), 0)).where(
        UsageRecord.organization_id == organization_id
    )
    if before is not None:
        query = query.where(UsageRecord.create_time < before)
    return int(session.scalar(query) or 0)


def commission_by_organization(session: Session, *, before: dt.datetime) -> dict[str, int]:
    """Each organization's commission (nano-USD) on requests received before ``before``."""
    totals = session.execute(
        select(UsageRecord.organization_id, func.sum(UsageRecord.commission_nano_usd))
        .where(UsageRecord.create_time < before)
        .group_by(UsageRecord.organization_id)
    ).all()
    return {organization: int(total or 0) for organization, total in totals}


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
