"""The monthly close: one invoice per organization and UTC month, then the charges.

An organization's unpaid balance at the close of period P is

    commission(P) + carried_in

where ``carried_in`` is what the previous invoice carried out, and ``commission(P)`` is every
commission on a request made before P ended that no earlier invoice has billed:

    commission(P) = Σ commission of usage records with create_time < end(P)
                    - Σ commission of the organization's earlier invoices

That cumulative form means a record that lands late (a long flex race that finished after the
close) is billed by the next close instead of being lost, and nothing is billed twice. If the
balance is at least $20.00 the whole cents are charged and the sub-cent remainder carries out;
otherwise all of it carries forward.

Safety: the invoice row is unique per (organization, period) — a database constraint — and it
is created while holding the organization's billing-account row lock, so a second close (or a
concurrent one on another replica) finds the invoice and creates nothing. Charges go through
``Payments.collect``, which never starts a second attempt while one is in flight.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from flexgrpc.billing.payments import Payments
from flexgrpc.billing.periods import Period
from flexgrpc.billing.records import (
    CHARGE_THRESHOLD_NANO,
    NANO_PER_CENT,
    Clock,
    lock_account,
    new_id,
    utc_now,
)
from flexgrpc.db.engine import write_session
from flexgrpc.db.inserts import insert_ignoring_conflicts
from flexgrpc.db.models import BillingPeriod, Invoice
from flexgrpc.errors import FlexError
from flexgrpc.ledger.balances import commission_by_organization, commission_earned

log = logging.getLogger("flexgrpc.billing")


def split_balance(balance_nano: int) -> tuple[int, int]:
    """(amount charged, amount carried out) for an unpaid balance, in nano-USD.

    At or above the threshold: whole cents charged, the sub-cent remainder carried. Below it:
    nothing charged, everything carried.
    """
    if balance_nano < 0:
        raise ValueError("an unpaid balance cannot be negative")
    if balance_nano < CHARGE_THRESHOLD_NANO:
        return 0, balance_nano
    due = balance_nano - balance_nano % NANO_PER_CENT
    return due, balance_nano - due


@dataclass(frozen=True)
class CloseReport:
    period: str
    invoices_created: int = 0
    charges_attempted: int = 0
    charges_succeeded: int = 0
    charged_nano_usd: int = 0


class PeriodCloser:
    def __init__(
        self, sessions: sessionmaker[Session], payments: Payments, *, clock: Clock = utc_now
    ) -> None:
        self._sessions = sessions
        self._payments = payments
        self._clock = clock

    def close(self, period: Period | None = None) -> CloseReport:
        """Close ``period`` (default: the month that just ended) for every organization."""
        now = self._clock()
        period = period or Period.last_ended(now)
        if not period.has_ended(now):
            raise FlexError(
                "invalid_argument",
                f"{period} has not ended yet (it ends {period.end.isoformat()}); only a past UTC "
                f"month can be closed, for example {Period.last_ended(now)}.",
                field="period",
            )
        created = sum(self._close_organization(org, period) for org in self._candidates(period))
        attempted = succeeded = charged = 0
        with self._sessions() as session:
            unpaid = session.scalars(
                select(Invoice.id)
                .where(Invoice.period == str(period), Invoice.state == "open")
                .order_by(Invoice.organization_id)
            ).all()
        for invoice_id in unpaid:
            try:
                outcome = self._payments.collect(invoice_id)
            except Exception:  # the reconciler retries it; the close goes on
                log.exception("charging invoice %s failed", invoice_id)
                continue
            if outcome.sent:
                attempted += 1
                if outcome.succeeded and outcome.attempt is not None:
                    succeeded += 1
                    charged += outcome.attempt.amount_nano_usd
        with write_session(self._sessions) as session:
            insert_ignoring_conflicts(
                session, BillingPeriod, [{"period": str(period), "close_time": self._clock()}]
            )
        report = CloseReport(str(period), created, attempted, succeeded, charged)
        log.info("closed %s", period, extra={"report": report.__dict__})
        return report

    def is_closed(self, period: Period) -> bool:
        with self._sessions() as session:
            return session.get(BillingPeriod, str(period)) is not None

    def _candidates(self, period: Period) -> list[str]:
        """Organizations that may owe something for ``period`` (a cheap, unlocked superset)."""
        with self._sessions() as session:
            commission = commission_by_organization(session, before=period.end)
            invoiced = dict(
                session.execute(
                    select(Invoice.organization_id, func.sum(Invoice.commission_nano_usd)).group_by(
                        Invoice.organization_id
                    )
                ).all()
            )
            carrying = set(
                session.scalars(
                    select(Invoice.organization_id).where(Invoice.carried_out_nano_usd > 0)
                ).all()
            )
        owing = {org for org, total in commission.items() if total > int(invoiced.get(org) or 0)}
        return sorted(owing | carrying)

    def _close_organization(self, organization_id: str, period: Period) -> bool:
        """Create the organization's invoice for ``period``; False if there is nothing to do."""
        now = self._clock()
        try:
            with write_session(self._sessions) as session:
                lock_account(session, organization_id, now)
                return self._create_invoice(session, organization_id, period, now)
        except IntegrityError:
            # Only reachable if another closer slipped past the lock: the unique constraint
            # on (organization, period) is the last word, and it said "already closed".
            log.warning("invoice %s/%s already exists", organization_id, period)
            return False

    @staticmethod
    def _create_invoice(
        session: Session, organization_id: str, period: Period, now: dt.datetime
    ) -> bool:
        latest = session.scalars(
            select(Invoice)
            .where(Invoice.organization_id == organization_id)
            .order_by(Invoice.period.desc())
            .limit(1)
        ).first()
        if latest is not None and latest.period >= str(period):
            # Closed already — or a later month was closed first and billed all of this one.
            return False
        total = commission_earned(session, organization_id, before=period.end)
        invoiced = int(
            session.scalar(
                select(func.coalesce(func.sum(Invoice.commission_nano_usd), 0)).where(
                    Invoice.organization_id == organization_id
                )
            )
            or 0
        )
        commission = total - invoiced
        if commission < 0:
            raise RuntimeError(
                f"{organization_id}: invoices bill {invoiced} nano-USD of commission but the "
                f"usage records before {period.end.isoformat()} hold only {total}"
            )
        carried_in = latest.carried_out_nano_usd if latest is not None else 0
        balance = commission + carried_in
        if balance == 0:
            return False
        due, carried_out = split_balance(balance)
        session.add(
            Invoice(
                id=new_id("inv"),
                organization_id=organization_id,
                period=str(period),
                commission_nano_usd=commission,
                carried_in_nano_usd=carried_in,
                amount_due_nano_usd=due,
                carried_out_nano_usd=carried_out,
                state="open" if due else "carried_forward",
                next_retry_time=None,
                soft_retries=0,
                create_time=now,
                update_time=now,
                paid_time=None,
                past_due_time=None,
            )
        )
        session.flush()
        return True
