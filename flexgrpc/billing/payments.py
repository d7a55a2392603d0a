"""Charging invoices: the attempt protocol that keeps every invoice at most once charged.

One charge, step by step:

1. In a transaction (account row, then invoice row locked): refuse if an attempt is already in
   flight; otherwise record a ``pending`` attempt with its own idempotency key. Committed BEFORE
   the processor is called, so a crash leaves a trace.
2. Call the gateway (an off-session PaymentIntent with that key).
3. In a transaction: apply the result. Success posts receivable → clearing to the ledger as
   transaction ``payment:<PaymentIntent id>`` (idempotent: the webhook may post it too) and
   marks the invoice paid. A decline makes the invoice past due. A lost answer (timeout,
   connection error) makes the attempt ``unknown`` — never failed.

An attempt that is ``unknown``, or ``pending`` for longer than ``in_flight_timeout`` (its
process died mid-call), is reconciled: the gateway is asked for the PaymentIntent carrying the
attempt's id, and if it has none the same request is sent again with the same idempotency key.
Either way the processor charges at most once. No new attempt starts while one is in flight.
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from flexgrpc.billing.gateway import (
    ATTEMPT_METADATA_KEY,
    ChargeRequest,
    ChargeResult,
    ChargeStatus,
    GatewayUnavailable,
    PaymentGateway,
)
from flexgrpc.billing.records import (
    NANO_PER_CENT,
    AttemptInfo,
    Clock,
    lock_account,
    lock_invoice,
    new_id,
    utc_now,
)
from flexgrpc.db.engine import write_session
from flexgrpc.db.models import BillingAccount, Invoice, PaymentAttempt
from flexgrpc.ledger.balances import post_payment

log = logging.getLogger("flexgrpc.billing")

IN_FLIGHT = ("pending", "unknown")
UNPAID = ("open", "past_due")


class _Step(enum.Enum):
    NOTHING = "nothing"  # paid, carried forward, or not due yet
    BUSY = "busy"  # an attempt is in flight in another process
    RECORDED = "recorded"  # settled without the processor (no card on file)
    CHARGE = "charge"
    RECONCILE = "reconcile"


@dataclass(frozen=True)
class _Plan:
    step: _Step
    attempt: AttemptInfo | None = None
    request: ChargeRequest | None = None
    customer_id: str = ""


@dataclass(frozen=True)
class CollectOutcome:
    """What one ``collect`` did: the attempt it touched and whether it called the processor to
    create a charge (``sent``; a reconciliation that found the answer is not a new charge)."""

    attempt: AttemptInfo | None
    sent: bool = False

    @property
    def succeeded(self) -> bool:
        return self.attempt is not None and self.attempt.state == "succeeded"


@dataclass(frozen=True)
class CollectReport:
    invoices: int = 0
    sent: int = 0
    succeeded: int = 0


class Payments:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        gateway: PaymentGateway | None,
        *,
        clock: Clock = utc_now,
        retry_schedule: Sequence[dt.timedelta] = (),
        in_flight_timeout: dt.timedelta = dt.timedelta(minutes=5),
    ) -> None:
        self._sessions = sessions
        self.gateway = gateway
        self._clock = clock
        self._schedule = tuple(retry_schedule)
        self._in_flight_timeout = in_flight_timeout

    # --- entry points ------------------------------------------------------------------------

    def collect(self, invoice_id: str, *, force: bool = False) -> CollectOutcome:
        """Charge the invoice's amount due once, or settle the attempt in flight.

        Not ``force``: only an open invoice, or a past-due one whose retry is due. ``force``
        (an explicit retry): a past-due invoice too, whatever its schedule says.
        """
        plan = self._plan(invoice_id, force=force)
        if plan.step in (_Step.NOTHING, _Step.BUSY, _Step.RECORDED):
            return CollectOutcome(plan.attempt)
        assert plan.attempt is not None
        assert plan.request is not None
        assert self.gateway is not None
        if plan.step is _Step.RECONCILE:
            try:
                found = self.gateway.find_charge(plan.customer_id, plan.attempt.id)
            except GatewayUnavailable as exc:
                found = ChargeResult.unknown(f"could not look the charge up: {exc}")
            if found is not None:
                return CollectOutcome(self.settle(plan.attempt.id, found))
            # The processor has no charge for this attempt: send it again, same key.
        result = self.gateway.charge(plan.request)
        return CollectOutcome(self.settle(plan.attempt.id, result), sent=True)

    def collect_due(self) -> CollectReport:
        """Everything that needs the processor now: open invoices, attempts whose outcome is
        unknown or whose process died, soft declines whose retry is due."""
        if self.gateway is None:
            return CollectReport()
        now = self._clock()
        stale = now - self._in_flight_timeout
        with self._sessions() as session:
            in_flight = session.scalars(
                select(PaymentAttempt.invoice_id).where(
                    or_(
                        PaymentAttempt.state == "unknown",
                        (PaymentAttempt.state == "pending") & (PaymentAttempt.update_time < stale),
                    )
                )
            ).all()
            due = session.scalars(
                select(Invoice.id).where(
                    or_(
                        Invoice.state == "open",
                        (Invoice.state == "past_due") & (Invoice.next_retry_time <= now),
                    )
                )
            ).all()
        sent = succeeded = 0
        invoices = list(dict.fromkeys([*in_flight, *due]))
        for invoice_id in invoices:
            try:
                outcome = self.collect(invoice_id)
            except Exception:  # one bad invoice must not stop the others
                log.exception("collecting invoice %s failed", invoice_id)
                continue
            sent += outcome.sent
            succeeded += outcome.sent and outcome.succeeded
        return CollectReport(len(invoices), sent, succeeded)

    def collect_organization(self, organization_id: str) -> list[CollectOutcome]:
        """Collect each unpaid invoice of the organization whose retry is due (after a new card)."""
        with self._sessions() as session:
            invoice_ids = session.scalars(
                select(Invoice.id)
                .where(Invoice.organization_id == organization_id, Invoice.state.in_(UNPAID))
                .order_by(Invoice.period)
            ).all()
        return [self.collect(invoice_id) for invoice_id in invoice_ids]

    def settle(self, attempt_id: str, result: ChargeResult) -> AttemptInfo:
        with write_session(self._sessions) as session:
            return self.settle_in(session, attempt_id, result)

    # --- the two transactions ------------------------------------------------------------------

    def _plan(self, invoice_id: str, *, force: bool) -> _Plan:
        now = self._clock()
        with write_session(self._sessions) as session:
            organization_id = session.scalar(
                select(Invoice.organization_id).where(Invoice.id == invoice_id)
            )
            if organization_id is None:
                raise KeyError(invoice_id)
            account = lock_account(session, organization_id, now)
            invoice = lock_invoice(session, invoice_id)
            if invoice.state not in UNPAID or self.gateway is None:
                return _Plan(_Step.NOTHING)
            in_flight = session.scalars(
                select(PaymentAttempt)
                .where(PaymentAttempt.invoice_id == invoice_id, PaymentAttempt.state.in_(IN_FLIGHT))
                .order_by(PaymentAttempt.sequence.desc())
                .execution_options(populate_existing=True)
            ).first()
            if in_flight is not None:
                busy = in_flight.state == "pending" and (
                    in_flight.update_time > now - self._in_flight_timeout
                )
                if busy:
                    return _Plan(_Step.BUSY, AttemptInfo.of(in_flight, invoice.period))
                # Claim it: "pending" again, fresh, so other replicas leave it to us.
                in_flight.state = "pending"
                in_flight.update_time = now
                return _Plan(
                    _Step.RECONCILE,
                    AttemptInfo.of(in_flight, invoice.period),
                    self._request(in_flight, account),
                    account.stripe_customer_id or "",
                )
            not_due = invoice.next_retry_time is None or invoice.next_retry_time > now
            if invoice.state == "past_due" and not force and not_due:
                return _Plan(_Step.NOTHING)
            invoice.next_retry_time = None
            invoice.update_time = now
            sequence = 1 + int(
                session.scalar(
                    select(func.coalesce(func.max(PaymentAttempt.sequence), 0)).where(
                        PaymentAttempt.invoice_id == invoice_id
                    )
                )
                or 0
            )
            attempt_id = new_id("pay")
            attempt = PaymentAttempt(
                id=attempt_id,
                invoice_id=invoice_id,
                organization_id=organization_id,
                sequence=sequence,
                idempotency_key=f"flexgrpc-charge-{attempt_id}",
                amount_nano_usd=invoice.amount_due_nano_usd,
                state="pending",
                payment_method_id=account.payment_method_id,
                payment_intent_id=None,
                card_brand=account.card_brand,
                card_last4=account.card_last4,
                card_exp_month=account.card_exp_month,
                card_exp_year=account.card_exp_year,
                failure_code="",
                failure_message="",
                create_time=now,
                update_time=now,
            )
            session.add(attempt)
            if account.payment_method_id is None or account.stripe_customer_id is None:
                attempt.state = "no_payment_method"
                attempt.failure_code = "no_payment_method"
                attempt.failure_message = (
                    "No card on file: add one (CreateSetupIntent, then a card form; or "
                    "AttachPaymentMethod) and the balance is charged at once."
                )
                self._mark_past_due(account, invoice, now)
                session.flush()
                return _Plan(_Step.RECORDED, AttemptInfo.of(attempt, invoice.period))
            session.flush()
            return _Plan(
                _Step.CHARGE,
                AttemptInfo.of(attempt, invoice.period),
                self._request(attempt, account),
            )

    def _request(self, attempt: PaymentAttempt, account: BillingAccount) -> ChargeRequest:
        return ChargeRequest(
            customer_id=account.stripe_customer_id or "",
            payment_method_id=attempt.payment_method_id or "",
            amount_cents=attempt.amount_nano_usd // NANO_PER_CENT,
            idempotency_key=attempt.idempotency_key,
            metadata={
                ATTEMPT_METADATA_KEY: attempt.id,
                "flexgrpc_invoice_id": attempt.invoice_id,
                "flexgrpc_organization_id": attempt.organization_id,
            },
        )

    def settle_in(self, session: Session, attempt_id: str, result: ChargeResult) -> AttemptInfo:
        """Apply a charge result to the attempt, its invoice, the account and the ledger, inside
        the caller's write transaction (a webhook dedupes its event in the same one).

        Transitions are monotonic, so duplicated and reordered results change nothing wrong: a
        success always wins (money moved, so it is recorded), a decline only settles an attempt
        still in flight, an unknown only marks a pending one.
        """
        now = self._clock()
        organization_id = session.scalar(
            select(PaymentAttempt.organization_id).where(PaymentAttempt.id == attempt_id)
        )
        if organization_id is None:
            raise KeyError(attempt_id)
        account = lock_account(session, organization_id, now)
        attempt = session.scalars(
            select(PaymentAttempt)
            .where(PaymentAttempt.id == attempt_id)
            .execution_options(populate_existing=True)
        ).one()
        invoice = lock_invoice(session, attempt.invoice_id)
        if result.status is ChargeStatus.SUCCEEDED:
            intent = result.payment_intent_id or attempt.payment_intent_id
            if intent is None:
                raise ValueError("a successful charge must name its PaymentIntent")
            if attempt.state != "succeeded":
                attempt.state = "succeeded"
                attempt.payment_intent_id = intent
                attempt.failure_code = attempt.failure_message = ""
                attempt.update_time = now
            post_payment(session, organization_id, intent, attempt.amount_nano_usd, now)
            if invoice.state != "paid":
                invoice.state = "paid"
                invoice.paid_time = now
                invoice.next_retry_time = None
                invoice.update_time = now
            self._refresh_past_due(session, account, now)
        elif result.status is ChargeStatus.DECLINED:
            if attempt.state in IN_FLIGHT:
                attempt.state = "hard_declined" if result.hard else "soft_declined"
                attempt.payment_intent_id = result.payment_intent_id or attempt.payment_intent_id
                attempt.failure_code = result.failure_code[:64]
                attempt.failure_message = result.failure_message[:500]
                attempt.update_time = now
                if invoice.state in UNPAID:
                    invoice.next_retry_time = None
                    if not result.hard and invoice.soft_retries < len(self._schedule):
                        invoice.next_retry_time = now + self._schedule[invoice.soft_retries]
                        invoice.soft_retries += 1
                    self._mark_past_due(account, invoice, now)
        elif attempt.state == "pending":
            attempt.state = "unknown"
            attempt.payment_intent_id = result.payment_intent_id or attempt.payment_intent_id
            attempt.failure_message = result.failure_message[:500]
            attempt.update_time = now
        session.flush()
        return AttemptInfo.of(attempt, invoice.period)

    @staticmethod
    def _mark_past_due(account: BillingAccount, invoice: Invoice, now: dt.datetime) -> None:
        invoice.state = "past_due"
        invoice.past_due_time = invoice.past_due_time or now
        invoice.update_time = now
        if account.past_due_since is None:
            account.past_due_since = now
            account.update_time = now

    @staticmethod
    def _refresh_past_due(session: Session, account: BillingAccount, now: dt.datetime) -> None:
        session.flush()
        still = session.scalar(
            select(func.count())
            .select_from(Invoice)
            .where(Invoice.organization_id == account.organization_id, Invoice.state == "past_due")
        )
        if not still and account.past_due_since is not None:
            account.past_due_since = None
            account.update_time = now

    def attempt_for_intent(self, session: Session, payment_intent_id: str) -> str | None:
        return session.scalar(
            select(PaymentAttempt.id).where(PaymentAttempt.payment_intent_id == payment_intent_id)
        )
