"""Billing accounts: the Stripe customer, the card on file, and what the organization owes."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from flexgrpc.billing.gateway import (
    Card,
    GatewayUnavailable,
    PaymentGateway,
    PaymentMethodRejected,
    SetupIntent,
)
from flexgrpc.billing.payments import UNPAID, CollectOutcome, Payments
from flexgrpc.billing.records import (
    AccountSummary,
    AttemptInfo,
    CardInfo,
    Clock,
    InvoiceInfo,
    lock_account,
    utc_now,
)
from flexgrpc.db.engine import write_session
from flexgrpc.db.models import BillingAccount, Invoice, Organization, PaymentAttempt
from flexgrpc.errors import FlexError
from flexgrpc.ledger.balances import commission_earned


def _unavailable(exc: Exception) -> FlexError:
    return FlexError(
        "unavailable",
        f"The payment processor could not be reached ({exc}). Nothing was changed; retry in a "
        "moment with the same request_id.",
    )


def set_card_in(
    session: Session, organization_id: str, card: Card, as_of: dt.datetime, now: dt.datetime
) -> bool:
    """Make ``card`` the card on file unless a newer one is already there, and schedule every
    unpaid invoice for an immediate retry on it. True if the card was taken."""
    account = lock_account(session, organization_id, now)
    if account.card_update_time is not None and account.card_update_time > as_of:
        return False
    account.payment_method_id = card.payment_method_id
    account.card_brand = card.brand[:32]
    account.card_last4 = card.last4[:4]
    account.card_exp_month = card.exp_month
    account.card_exp_year = card.exp_year
    account.card_update_time = as_of
    account.update_time = now
    for invoice in session.scalars(
        select(Invoice)
        .where(Invoice.organization_id == organization_id, Invoice.state.in_(UNPAID))
        .with_for_update()
    ):
        # A new card resets the soft-decline schedule and is tried at once.
        invoice.next_retry_time = now
        invoice.soft_retries = 0
        invoice.update_time = now
    return True


class BillingAccounts:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        payments: Payments,
        *,
        clock: Clock = utc_now,
    ) -> None:
        self._sessions = sessions
        self._payments = payments
        self._clock = clock

    @property
    def _gateway(self) -> PaymentGateway:
        gateway = self._payments.gateway
        if gateway is None:
            raise FlexError(
                "unavailable",
                "Card payments are not configured on this server (no Stripe API key); ask the "
                "operator to set FLEXGRPC_STRIPE_API_KEY.",
            )
        return gateway

    def require_organization(self, organization_id: str) -> None:
        with self._sessions() as session:
            if session.get(Organization, organization_id) is None:
                raise FlexError("not_found", f"organizations/{organization_id} does not exist.")

    def customer_id(self, organization_id: str) -> str:
        """The organization's Stripe customer, created on first need."""
        with self._sessions() as session:
            account = session.get(BillingAccount, organization_id)
            if account is not None and account.stripe_customer_id:
                return account.stripe_customer_id
        try:
            # Idempotent per organization: two racing callers get the same customer.
            customer = self._gateway.create_customer(organization_id)
        except GatewayUnavailable as exc:
            raise _unavailable(exc) from None
        with write_session(self._sessions) as session:
            account = lock_account(session, organization_id, self._clock())
            if not account.stripe_customer_id:
                account.stripe_customer_id = customer
                account.update_time = self._clock()
            return account.stripe_customer_id

    def create_setup_intent(self, organization_id: str, idempotency_key: str | None) -> SetupIntent:
        customer = self.customer_id(organization_id)
        try:
            return self._gateway.create_setup_intent(customer, idempotency_key)
        except GatewayUnavailable as exc:
            raise _unavailable(exc) from None

    def attach_card(self, organization_id: str, payment_method_id: str) -> list[CollectOutcome]:
        """Attach the payment method, make it the default, and retry what is outstanding on it."""
        customer = self.customer_id(organization_id)
        try:
            card = self._gateway.attach_payment_method(customer, payment_method_id)
        except GatewayUnavailable as exc:
            raise _unavailable(exc) from None
        except PaymentMethodRejected as exc:
            raise FlexError(
                "invalid_argument",
                f"The payment method was refused ({exc.code}: {exc.message}). Use another card.",
                field="payment_method_id",
            ) from None
        return self.use_card(organization_id, card, self._clock())

    def use_card(
        self, organization_id: str, card: Card, as_of: dt.datetime
    ) -> list[CollectOutcome]:
        now = self._clock()
        with write_session(self._sessions) as session:
            taken = set_card_in(session, organization_id, card, as_of, now)
        return self._payments.collect_organization(organization_id) if taken else []

    def organization_for_customer(self, customer_id: str) -> str | None:
        with self._sessions() as session:
            return session.scalar(
                select(BillingAccount.organization_id).where(
                    BillingAccount.stripe_customer_id == customer_id
                )
            )

    # --- reading --------------------------------------------------------------------------

    def summary(self, organization_id: str) -> AccountSummary:
        with self._sessions() as session:
            account = session.get(BillingAccount, organization_id)
            commission = commission_earned(session, organization_id)
            unpaid_due = case((Invoice.state.in_(UNPAID), Invoice.amount_due_nano_usd), else_=0)
            overdue = case((Invoice.state == "past_due", Invoice.amount_due_nano_usd), else_=0)
            invoiced, unpaid, past_due = (
                int(value or 0)
                for value in session.execute(
                    select(
                        func.coalesce(func.sum(Invoice.commission_nano_usd), 0),
                        func.coalesce(func.sum(unpaid_due), 0),
                        func.coalesce(func.sum(overdue), 0),
                    ).where(Invoice.organization_id == organization_id)
                ).one()
            )
            latest_carry = int(
                session.scalar(
                    select(Invoice.carried_out_nano_usd)
                    .where(Invoice.organization_id == organization_id)
                    .order_by(Invoice.period.desc())
                    .limit(1)
                )
                or 0
            )
        card = None
        if account is not None and account.payment_method_id and account.card_last4:
            card = CardInfo(
                account.card_brand or "",
                account.card_last4,
                account.card_exp_month or 0,
                account.card_exp_year or 0,
            )
        return AccountSummary(
            organization_id=organization_id,
            accrued_nano_usd=commission - invoiced,
            carried_nano_usd=latest_carry + unpaid,
            past_due_nano_usd=past_due,
            past_due_since=account.past_due_since if account is not None else None,
            card=card,
            has_customer=account is not None and bool(account.stripe_customer_id),
        )

    def invoices(
        self, organization_id: str, limit: int, after_period: str | None
    ) -> list[InvoiceInfo]:
        query = select(Invoice).where(Invoice.organization_id == organization_id)
        if after_period is not None:
            query = query.where(Invoice.period < after_period)
        with self._sessions() as session:
            rows = session.scalars(query.order_by(Invoice.period.desc()).limit(limit)).all()
        return [InvoiceInfo.of(row) for row in rows]

    def invoice(self, organization_id: str, period: str) -> InvoiceInfo | None:
        with self._sessions() as session:
            row = session.scalars(
                select(Invoice).where(
                    Invoice.organization_id == organization_id, Invoice.period == period
                )
            ).first()
        return InvoiceInfo.of(row) if row is not None else None

    def attempts(
        self,
        organization_id: str,
        period: str | None,
        limit: int,
        after: tuple[dt.datetime, str] | None,
    ) -> list[AttemptInfo]:
        query: Any = (
            select(PaymentAttempt, Invoice.period)
            .join(Invoice, Invoice.id == PaymentAttempt.invoice_id)
            .where(PaymentAttempt.organization_id == organization_id)
        )
        if period is not None:
            query = query.where(Invoice.period == period)
        if after is not None:
            time, attempt_id = after
            query = query.where(
                or_(
                    PaymentAttempt.create_time < time,
                    and_(PaymentAttempt.create_time == time, PaymentAttempt.id < attempt_id),
                )
            )
        query = query.order_by(PaymentAttempt.create_time.desc(), PaymentAttempt.id.desc())
        with self._sessions() as session:
            rows = session.execute(query.limit(limit)).all()
        return [AttemptInfo.of(attempt, str(invoice_period)) for attempt, invoice_period in rows]

    def latest_attempt(self, invoice_id: str) -> AttemptInfo | None:
        with self._sessions() as session:
            row = session.execute(
                select(PaymentAttempt, Invoice.period)
                .join(Invoice, Invoice.id == PaymentAttempt.invoice_id)
                .where(PaymentAttempt.invoice_id == invoice_id)
                .order_by(PaymentAttempt.sequence.desc())
                .limit(1)
            ).first()
        return AttemptInfo.of(row[0], str(row[1])) if row is not None else None
