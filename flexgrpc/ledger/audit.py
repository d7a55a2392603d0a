"""The auditor: checks the ledger's invariants and says what is wrong, if anything.

1. Every transaction's legs sum to zero (double entry).
2. Every leg is on a known account.
3. Every commission transaction matches a usage record with that commission, and every usage
   record with a commission has exactly its transaction (nothing billed without a record,
   no record's commission left unbilled).
4. Commission never exceeds savings, savings never exceed standard cost, amounts are >= 0.
5. Each ``usage_daily`` row is exactly the sum of its day's records (the trigger's work).
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from flexgrpc.db.models import LedgerEntry, UsageDaily, UsageRecord
from flexgrpc.ledger.records import ACCOUNTS, COMMISSION_REVENUE, RECEIVABLE


def audit(sessions: sessionmaker[Session]) -> list[str]:
    """Problems found (empty when the ledger is sound)."""
    problems: list[str] = []
    with sessions() as session:
        unbalanced = session.execute(
            select(LedgerEntry.transaction_id, func.sum(LedgerEntry.amount_nano_usd))
            .group_by(LedgerEntry.transaction_id)
            .having(func.sum(LedgerEntry.amount_nano_usd) != 0)
        ).all()
        problems += [f"transaction {t} sums to {s}, not 0" for t, s in unbalanced]
        accounts = session.scalars(select(LedgerEntry.account).distinct()).all()
        problems += [f"unknown account {a!r}" for a in accounts if a not in ACCOUNTS]

        billed = dict(
            session.execute(
                select(LedgerEntry.transaction_id, LedgerEntry.amount_nano_usd).where(
                    LedgerEntry.account == RECEIVABLE,
                    LedgerEntry.transaction_id.like("commission:%"),
                )
            ).all()
        )
        revenue = dict(
            session.execute(
                select(LedgerEntry.transaction_id, LedgerEntry.amount_nano_usd).where(
                    LedgerEntry.account == COMMISSION_REVENUE
                )
            ).all()
        )
        for row in session.execute(
            select(
                UsageRecord.request_id,
                UsageRecord.commission_nano_usd,
                UsageRecord.savings_nano_usd,
                UsageRecord.standard_nano_usd,
                UsageRecord.actual_nano_usd,
            )
        ):
            request_id, commission, savings, standard, actual = row
            transaction = f"commission:{request_id}"
            if min(commission, savings, standard, actual) < 0:
                problems.append(f"record {request_id} has a negative amount")
            if commission > savings or savings > standard:
                problems.append(f"record {request_id}: commission > savings or savings > standard")
            posted = billed.pop(transaction, 0)
            if posted != commission:
                problems.append(
                    f"record {request_id}: commission {commission} but receivable posted {posted}"
                )
            if commission and revenue.get(transaction) != -commission:
                problems.append(f"record {request_id}: revenue leg missing or wrong")
        problems += [f"transaction {t} has no usage record" for t in billed]
        problems += _daily_disagreements(session)
    return problems


def _daily_disagreements(session: Session) -> list[str]:
    key = (UsageRecord.organization_id, UsageRecord.create_day, UsageRecord.model)
    summed = {
        tuple(row[:3]): tuple(int(v) for v in row[3:])
        for row in session.execute(
            select(
                *key,
                func.count(),
                func.sum(UsageRecord.actual_nano_usd),
                func.sum(UsageRecord.savings_nano_usd),
                func.sum(UsageRecord.commission_nano_usd),
            ).group_by(*key)
        )
    }
    kept = {
        tuple(row[:3]): tuple(int(v) for v in row[3:])
        for row in session.execute(
            select(
                UsageDaily.organization_id,
                UsageDaily.create_day,
                UsageDaily.model,
                UsageDaily.requests,
                UsageDaily.actual_nano_usd,
                UsageDaily.savings_nano_usd,
                UsageDaily.commission_nano_usd,
            )
        )
    }
    return [
        f"usage_daily {'/'.join(map(str, day))}: {kept.get(day)} but its records sum to "
        f"{summed.get(day)}"
        for day in sorted(set(summed) | set(kept))
        if summed.get(day) != kept.get(day)
    ]
