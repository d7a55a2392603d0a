"""BillingService: the billing account, cards, invoices, payment attempts, the close (operator
only) and Stripe's webhook. Thin: every decision is in ``flexgrpc.billing``.

Operators are the organizations listed in the ``billing_operator_organizations`` setting: their
API keys may close a period and act on any organization's billing (name it explicitly); every
other caller reaches only its own organization (``organizations/-``).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from flexinference.v1 import billing_pb2, billing_pb2_grpc
from google.protobuf import message

from flexgrpc.api.auth import current_principal
from flexgrpc.api.convert import micro_usd, timestamp
from flexgrpc.api.pagination import decode_token, encode_token, page_size, time_cursor
from flexgrpc.api.resources import ORGANIZATIONS, SELF, organization_id
from flexgrpc.billing.assembly import Billing
from flexgrpc.billing.periods import Period
from flexgrpc.billing.records import AccountSummary, AttemptInfo, CardInfo, InvoiceInfo
from flexgrpc.billing.requests import check_request_id
from flexgrpc.errors import FlexError

M = TypeVar("M", bound=message.Message)

#: The webhook authenticates by Stripe's signature, not an API key.
WEBHOOK_METHOD = "/flexinference.v1.BillingService/HandleStripeWebhook"
SIGNATURE_METADATA_KEY = "stripe-signature"

#: What a Stripe object id looks like (``pm_…``). Anything else never reaches Stripe: in its URL
#: path, a stray character made the call fail as if Stripe were down (a 503 for a typo).
_STRIPE_ID = re.compile(r"[A-Za-z0-9_]{1,255}")
_INVOICE_STATES = {
    "carried_forward": billing_pb2.INVOICE_STATE_CARRIED_FORWARD,
    "open": billing_pb2.INVOICE_STATE_OPEN,
    "paid": billing_pb2.INVOICE_STATE_PAID,
    "past_due": billing_pb2.INVOICE_STATE_PAST_DUE,
}
_ATTEMPT_STATES = {
    "pending": billing_pb2.PAYMENT_ATTEMPT_STATE_PENDING,
    "unknown": billing_pb2.PAYMENT_ATTEMPT_STATE_UNKNOWN,
    "succeeded": billing_pb2.PAYMENT_ATTEMPT_STATE_SUCCEEDED,
    "soft_declined": billing_pb2.PAYMENT_ATTEMPT_STATE_SOFT_DECLINED,
    "hard_declined": billing_pb2.PAYMENT_ATTEMPT_STATE_HARD_DECLINED,
    "no_payment_method": billing_pb2.PAYMENT_ATTEMPT_STATE_NO_PAYMENT_METHOD,
}


def _card(card: CardInfo) -> billing_pb2.PaymentCard:
    return billing_pb2.PaymentCard(
        brand=card.brand, last4=card.last4, exp_month=card.exp_month, exp_year=card.exp_year
    )


def account_message(summary: AccountSummary) -> billing_pb2.BillingAccount:
    account = billing_pb2.BillingAccount(
        name=f"organizations/{summary.organization_id}/billingAccount",
        accrued_this_period_micro_usd=micro_usd(summary.accrued_nano_usd),
        carried_micro_usd=micro_usd(summary.carried_nano_usd),
        past_due_micro_usd=micro_usd(summary.past_due_nano_usd),
        currency_code="USD",
    )
    if summary.past_due_since is not None:
        account.past_due_time.CopyFrom(timestamp(summary.past_due_since))
    if summary.card is not None:
        account.card.CopyFrom(_card(summary.card))
    return account


def invoice_message(invoice: InvoiceInfo) -> billing_pb2.Invoice:
    result = billing_pb2.Invoice(
        name=f"organizations/{invoice.organization_id}/invoices/{invoice.period}",
        period=invoice.period,
        commission_micro_usd=micro_usd(invoice.commission_nano_usd),
        carried_in_micro_usd=micro_usd(invoice.carried_in_nano_usd),
        amount_due_micro_usd=micro_usd(invoice.amount_due_nano_usd),
        carried_out_micro_usd=micro_usd(invoice.carried_out_nano_usd),
        state=_INVOICE_STATES.get(invoice.state, billing_pb2.INVOICE_STATE_UNSPECIFIED),
        create_time=timestamp(invoice.create_time),
    )
    if invoice.paid_time is not None:
        result.paid_time.CopyFrom(timestamp(invoice.paid_time))
    return result


def attempt_message(attempt: AttemptInfo) -> billing_pb2.PaymentAttempt:
    result = billing_pb2.PaymentAttempt(
        name=(
            f"organizations/{attempt.organization_id}/invoices/{attempt.period}"
            f"/paymentAttempts/{attempt.id}"
        ),
        amount_micro_usd=micro_usd(attempt.amount_nano_usd),
        state=_ATTEMPT_STATES.get(attempt.state, billing_pb2.PAYMENT_ATTEMPT_STATE_UNSPECIFIED),
        payment_intent_id=attempt.payment_intent_id or "",
        failure_code=attempt.failure_code,
        failure_message=attempt.failure_message,
        create_time=timestamp(attempt.create_time),
        update_time=timestamp(attempt.update_time),
    )
    if attempt.card is not None:
        result.card.CopyFrom(_card(attempt.card))
    return result


def _split(name: str, suffix: str, field: str, shape: str) -> tuple[str, str]:
    """(``organizations/{org}``, the rest) of ``organizations/{org}/<suffix>/{rest}``."""
    parent, sep, rest = name.partition(f"/{suffix}")
    if not sep or not parent.startswith(ORGANIZATIONS) or (rest and not rest.startswith("/")):
        raise FlexError(
            "invalid_argument", f"{field} must be `{shape}`, got {name[:120]!r}.", field=field
        )
    return parent, rest.removeprefix("/")


class BillingServicer(billing_pb2_grpc.BillingServiceServicer):
    def __init__(self, billing: Billing) -> None:
        self._accounts = billing.accounts
        self._payments = billing.payments
        self._closer = billing.closer
        self._webhooks = billing.webhooks
        self._requests = billing.requests
        self._gate = billing.gate
        self._operators = frozenset(billing.operators)

    # --- who may act on what ------------------------------------------------------------

    def _is_operator(self) -> bool:
        return current_principal().organization_id in self._operators

    async def _organization(self, parent: str, field: str) -> str:
        """The organization named by ``organizations/{org}``, if the caller may act on it."""
        principal = current_principal()
        named = parent.removeprefix(ORGANIZATIONS)
        if self._is_operator() and parent.startswith(ORGANIZATIONS) and named not in ("", SELF):
            if "/" in named:
                organization_id(parent, principal, field=field)  # raises the shape error
            if named != principal.organization_id:
                await asyncio.to_thread(self._accounts.require_organization, named)
            return named
        return organization_id(parent, principal, field=field)

    async def _idempotent(
        self,
        scope: str,
        method: str,
        request_id: str,
        parse: Callable[[bytes], M],
        produce: Callable[[], Awaitable[M]],
    ) -> M:
        if not request_id:
            return await produce()
        check_request_id(request_id)
        stored = await asyncio.to_thread(self._requests.get, scope, method, request_id)
        if stored is not None:
            return parse(stored)
        answer = await produce()
        kept = await asyncio.to_thread(
            self._requests.put, scope, method, request_id, answer.SerializeToString()
        )
        return parse(kept)

    # --- methods -----------------------------------------------------------------------

    async def GetBillingAccount(
        self, request: billing_pb2.GetBillingAccountRequest, context: Any
    ) -> billing_pb2.BillingAccount:
        parent, _ = _split(
            request.name, "billingAccount", "name", "organizations/{organization}/billingAccount"
        )
        org = await self._organization(parent, "name")
        return account_message(await asyncio.to_thread(self._accounts.summary, org))

    async def CreateSetupIntent(
        self, request: billing_pb2.CreateSetupIntentRequest, context: Any
    ) -> billing_pb2.CreateSetupIntentResponse:
        parent, _ = _split(
            request.billing_account,
            "billingAccount",
            "billing_account",
            "organizations/{organization}/billingAccount",
        )
        org = await self._organization(parent, "billing_account")
        key = f"flexgrpc-seti-{org}-{request.request_id}" if request.request_id else None

        async def produce() -> billing_pb2.CreateSetupIntentResponse:
            setup = await asyncio.to_thread(self._accounts.create_setup_intent, org, key)
            return billing_pb2.CreateSetupIntentResponse(
                setup_intent_id=setup.id, client_secret=setup.client_secret
            )

        return await self._idempotent(
            org,
            "CreateSetupIntent",
            request.request_id,
            billing_pb2.CreateSetupIntentResponse.FromString,
            produce,
        )

    async def AttachPaymentMethod(
        self, request: billing_pb2.AttachPaymentMethodRequest, context: Any
    ) -> billing_pb2.BillingAccount:
        parent, _ = _split(
            request.billing_account,
            "billingAccount",
            "billing_account",
            "organizations/{organization}/billingAccount",
        )
        org = await self._organization(parent, "billing_account")
        if not _STRIPE_ID.fullmatch(request.payment_method_id):
            raise FlexError(
                "invalid_argument",
                "payment_method_id must be the id of a Stripe PaymentMethod to keep on file "
                "(letters, digits and underscores, for example pm_1Q0PsIJvEtkwdCNYMSaVuRz6).",
                field="payment_method_id",
            )

        async def produce() -> billing_pb2.BillingAccount:
            await asyncio.to_thread(self._accounts.attach_card, org, request.payment_method_id)
            self._gate.invalidate(org)
            return account_message(await asyncio.to_thread(self._accounts.summary, org))

        return await self._idempotent(
            org,
            "AttachPaymentMethod",
            request.request_id,
            billing_pb2.BillingAccount.FromString,
            produce,
        )

    async def ListInvoices(
        self, request: billing_pb2.ListInvoicesRequest, context: Any
    ) -> billing_pb2.ListInvoicesResponse:
        org = await self._organization(request.parent, "parent")
        size = page_size(request.page_size)
        arguments = {"parent": org}
        cursor = decode_token(request.page_token, arguments)
        after = str(cursor[0]) if cursor else None
        rows = await asyncio.to_thread(self._accounts.invoices, org, size + 1, after)
        token = ""
        if len(rows) > size:
            rows = rows[:size]
            token = encode_token([rows[-1].period], arguments)
        return billing_pb2.ListInvoicesResponse(
            invoices=[invoice_message(i) for i in rows], next_page_token=token
        )

    async def ListPaymentAttempts(
        self, request: billing_pb2.ListPaymentAttemptsRequest, context: Any
    ) -> billing_pb2.ListPaymentAttemptsResponse:
        shape = "organizations/{organization}/invoices/{YYYY-MM or -}"
        parent, invoice = _split(request.parent, "invoices", "parent", shape)
        org = await self._organization(parent, "parent")
        period = None if invoice == SELF else str(Period.parse(invoice, field="parent"))
        size = page_size(request.page_size)
        arguments = {"parent": org, "period": period}
        cursor = decode_token(request.page_token, arguments)
        after = time_cursor(cursor)
        rows = await asyncio.to_thread(self._accounts.attempts, org, period, size + 1, after)
        token = ""
        if len(rows) > size:
            rows = rows[:size]
            token = encode_token([rows[-1].create_time.isoformat(), rows[-1].id], arguments)
        return billing_pb2.ListPaymentAttemptsResponse(
            payment_attempts=[attempt_message(a) for a in rows], next_page_token=token
        )

    async def RetryPayment(
        self, request: billing_pb2.RetryPaymentRequest, context: Any
    ) -> billing_pb2.PaymentAttempt:
        shape = "organizations/{organization}/invoices/{YYYY-MM}"
        parent, invoice_part = _split(request.invoice, "invoices", "invoice", shape)
        org = await self._organization(parent, "invoice")
        period = str(Period.parse(invoice_part, field="invoice"))

        async def produce() -> billing_pb2.PaymentAttempt:
            invoice = await asyncio.to_thread(self._accounts.invoice, org, period)
            if invoice is None:
                raise FlexError(
                    "not_found", f"{request.invoice[:120]} does not exist.", field="invoice"
                )
            if invoice.state == "carried_forward":
                raise FlexError(
                    "invalid_argument",
                    f"{request.invoice[:120]} was under the $20.00 threshold and carried into the "
                    "next period: there is nothing to charge.",
                    field="invoice",
                )
            if invoice.state != "paid":
                if self._payments.gateway is None:
                    raise FlexError(
                        "unavailable",
                        "Card payments are not configured on this server (no Stripe API key).",
                    )
                await asyncio.to_thread(self._payments.collect, invoice.id, force=True)
                self._gate.invalidate(org)
            attempt = await asyncio.to_thread(self._accounts.latest_attempt, invoice.id)
            if attempt is None:
                raise FlexError("unavailable", "No payment attempt could be started; retry.")
            return attempt_message(attempt)

        return await self._idempotent(
            org,
            "RetryPayment",
            request.request_id,
            billing_pb2.PaymentAttempt.FromString,
            produce,
        )

    async def ClosePeriod(
        self, request: billing_pb2.ClosePeriodRequest, context: Any
    ) -> billing_pb2.ClosePeriodResponse:
        if not self._is_operator():
            raise FlexError(
                "permission_denied",
                "Closing a period is for operators: their organizations are listed in "
                "FLEXGRPC_BILLING_OPERATOR_ORGANIZATIONS. Operators can also run "
                "`flexgrpc billing close`.",
            )
        period = Period.parse(request.period)

        async def produce() -> billing_pb2.ClosePeriodResponse:
            report = await asyncio.to_thread(self._closer.close, period)
            return billing_pb2.ClosePeriodResponse(
                period=report.period,
                invoices_created=report.invoices_created,
                charges_attempted=report.charges_attempted,
                charges_succeeded=report.charges_succeeded,
                charged_micro_usd=micro_usd(report.charged_nano_usd),
            )

        return await self._idempotent(
            SELF,
            "ClosePeriod",
            request.request_id,
            billing_pb2.ClosePeriodResponse.FromString,
            produce,
        )

    async def HandleStripeWebhook(
        self, request: billing_pb2.HandleStripeWebhookRequest, context: Any
    ) -> billing_pb2.HandleStripeWebhookResponse:
        signature: str | None = None
        for key, value in context.invocation_metadata() or ():
            if key == SIGNATURE_METADATA_KEY:
                signature = value.decode("latin-1") if isinstance(value, bytes) else value
        outcome = await asyncio.to_thread(
            self._webhooks.handle, bytes(request.body.data), signature
        )
        return billing_pb2.HandleStripeWebhookResponse(
            event_id=outcome.event_id, duplicate=outcome.duplicate
        )
