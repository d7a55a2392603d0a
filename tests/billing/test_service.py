"""BillingService through a real grpc.aio server (port 0) with the auth and error interceptors."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from flexinference.v1 import billing_pb2, billing_pb2_grpc
from google.api import httpbody_pb2
from grpc import aio

from flexgrpc.accounts.store import AccountStore
from flexgrpc.api.auth import Authenticator
from flexgrpc.api.billing import WEBHOOK_METHOD, BillingServicer
from flexgrpc.api.interceptors import AuthInterceptor, ErrorInterceptor
from flexgrpc.billing.assembly import Billing as Built
from flexgrpc.billing.assembly import build_billing
from flexgrpc.billing.periods import Period
from flexgrpc.config import BillingSettings
from flexgrpc.errors import FlexError
from tests.billing.conftest import CENT, Billing, utc
from tests.richstatus import rich_error

SECRET = "whsec_test_secret"
JAN, FEB, MAR = Period(2026, 1), Period(2026, 2), Period(2026, 3)


@dataclass
class Caller:
    organization_id: str
    metadata: tuple[tuple[str, str], ...]


@dataclass
class Service:
    billing: Billing
    built: Built
    stub: billing_pb2_grpc.BillingServiceStub
    customer: Caller
    other: Caller
    operator: Caller

    async def call(self, method: str, request: Any, caller: Caller | None = None, **kw: Any) -> Any:
        rpc: Callable[..., Any] = getattr(self.stub, method)
        metadata = (caller or self.customer).metadata + tuple(kw.pop("extra", ()))
        return await asyncio.to_thread(rpc, request, metadata=metadata, timeout=30)

    async def fails(self, method: str, request: Any, caller: Caller | None = None) -> Any:
        with pytest.raises(grpc.RpcError) as caught:
            await self.call(method, request, caller)
        return rich_error(caught.value)

    async def webhook(self, event: dict[str, Any], signature: str | None = None) -> Any:
        body = json.dumps(event).encode()
        extra = () if signature == "" else (("stripe-signature", signature or sign(body)),)
        request = billing_pb2.HandleStripeWebhookRequest(
            body=httpbody_pb2.HttpBody(content_type="application/json", data=body)
        )
        rpc = self.stub.HandleStripeWebhook
        return await asyncio.to_thread(rpc, request, metadata=extra, timeout=30)  # no API key


def sign(body: bytes, secret: str = SECRET, at: int | None = None) -> str:
    at = int(time.time()) if at is None else at
    digest = hmac.new(secret.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={at},v1={digest}"


def caller(store: AccountStore, name: str) -> Caller:
    org = store.create_organization(name)
    _, secret = store.create_api_key(org.id)
    return Caller(org.id, (("authorization", f"Bearer {secret}"),))


@pytest.fixture
async def service(billing: Billing) -> AsyncIterator[Service]:
    store = AccountStore(billing.sessions)
    customer, other, operator = (caller(store, n) for n in ("Customer", "Other", "Operator"))
    settings = BillingSettings(
        stripe_webhook_secret=SECRET,
        operator_organizations=(operator.organization_id,),
        gate_cache_ttl_s=0,
    )
    built = build_billing(settings, billing.sessions, gateway=billing.gateway, clock=billing.clock)
    billing.payments, billing.closer, billing.accounts = (
        built.payments,
        built.closer,
        built.accounts,
    )
    authenticator = Authenticator(store, cache_ttl_s=0, failures_per_minute=10_000)
    server = aio.server(
        interceptors=[
            ErrorInterceptor(),
            AuthInterceptor(authenticator, frozenset({WEBHOOK_METHOD})),
        ]
    )
    billing_pb2_grpc.add_BillingServiceServicer_to_server(BillingServicer(built), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield Service(
            billing, built, billing_pb2_grpc.BillingServiceStub(channel), customer, other, operator
        )
    finally:
        channel.close()
        await server.stop(0)


def own(suffix: str = "") -> str:
    return f"organizations/-{suffix}"


async def test_the_billing_account_shows_the_balance_and_the_card(service: Service) -> None:
    b, org = service.billing, service.customer.organization_id
    await service.call(
        "AttachPaymentMethod",
        billing_pb2.AttachPaymentMethodRequest(
            billing_account=own("/billingAccount"), payment_method_id="pm_ok_4242"
        ),
    )
    b.commission(org, 1500 * CENT + 1_234, utc(2026, 1, 3))
    b.closer.close(JAN)
    b.commission(org, 7 * CENT, utc(2026, 2, 1, 0, 1))
    account = await service.call(
        "GetBillingAccount", billing_pb2.GetBillingAccountRequest(name=own("/billingAccount"))
    )
    assert account.name == f"organizations/{org}/billingAccount"
    assert account.accrued_this_period_micro_usd == 70_000
    assert account.carried_micro_usd == 15_000_001  # 1234 nano-USD rounds to 1 micro-USD
    assert account.past_due_micro_usd == 0
    assert not account.HasField("past_due_time")
    assert (account.card.brand, account.card.last4, account.currency_code) == (
        "visa", "4242", "USD",
    )  # fmt: skip


async def test_another_organizations_billing_is_out_of_reach(service: Service) -> None:
    name = f"organizations/{service.other.organization_id}/billingAccount"
    error = await service.fails(
        "GetBillingAccount", billing_pb2.GetBillingAccountRequest(name=name)
    )
    assert (error.code, error.reason) == (grpc.StatusCode.PERMISSION_DENIED, "permission_denied")
    # An operator may read it.
    account = await service.call(
        "GetBillingAccount", billing_pb2.GetBillingAccountRequest(name=name), service.operator
    )
    assert account.name == name
    malformed = await service.fails(
        "GetBillingAccount", billing_pb2.GetBillingAccountRequest(name="billingAccount")
    )
    assert malformed.reason == "invalid_argument"


async def test_a_setup_intent_is_created_once_per_request_id(service: Service) -> None:
    request = billing_pb2.CreateSetupIntentRequest(
        billing_account=own("/billingAccount"), request_id="8d3c0a4e-1"
    )
    first = await service.call("CreateSetupIntent", request)
    again = await service.call("CreateSetupIntent", request)
    assert first.setup_intent_id.startswith("seti_")
    assert first.client_secret
    assert again == first
    other = await service.call(
        "CreateSetupIntent",
        billing_pb2.CreateSetupIntentRequest(billing_account=own("/billingAccount")),
    )
    assert other.setup_intent_id != first.setup_intent_id


async def test_a_new_card_settles_a_past_due_balance_and_lifts_the_gate(service: Service) -> None:
    b, org = service.billing, service.customer.organization_id
    b.commission(org, 2500 * CENT, utc(2026, 1, 3))
    b.closer.close(JAN)  # no card on file: past due
    with pytest.raises(FlexError) as caught:
        await service.built.gate.check(org, billable=True)
    assert caught.value.code == "payment_required"
    account = await service.call(
        "GetBillingAccount", billing_pb2.GetBillingAccountRequest(name=own("/billingAccount"))
    )
    assert account.past_due_micro_usd == 25_000_000
    assert account.HasField("past_due_time")
    request = billing_pb2.AttachPaymentMethodRequest(
        billing_account=own("/billingAccount"), payment_method_id="pm_ok_1881", request_id="r-1"
    )
    settled = await service.call("AttachPaymentMethod", request)
    assert settled.past_due_micro_usd == 0
    assert settled.card.last4 == "1881"
    await service.built.gate.check(org, billable=True)
    assert await service.call("AttachPaymentMethod", request) == settled  # same request id
    assert len(b.gateway.charges) == 1
    refused = await service.fails(
        "AttachPaymentMethod",
        billing_pb2.AttachPaymentMethodRequest(
            billing_account=own("/billingAccount"), payment_method_id="pm_refused_1"
        ),
    )
    assert (refused.reason, refused.bad_request[0].field_violations[0].field) == (
        "invalid_argument", "payment_method_id",
    )  # fmt: skip


async def test_invoices_and_attempts_are_listed_newest_first_in_pages(service: Service) -> None:
    b, org = service.billing, service.customer.organization_id
    b.accounts.attach_card(org, "pm_soft_0001")
    b.clock.now = utc(2026, 4, 1, 0, 5)
    for period in (JAN, FEB, MAR):
        b.commission(org, 2100 * CENT, period.start)
        b.closer.close(period)
    first = await service.call(
        "ListInvoices", billing_pb2.ListInvoicesRequest(parent=own(), page_size=2)
    )
    assert [i.period for i in first.invoices] == ["2026-03", "2026-02"]
    assert first.invoices[0].state == billing_pb2.INVOICE_STATE_PAST_DUE
    assert first.invoices[0].amount_due_micro_usd == 21_000_000
    rest = await service.call(
        "ListInvoices",
        billing_pb2.ListInvoicesRequest(
            parent=own(), page_size=2, page_token=first.next_page_token
        ),
    )
    assert [i.period for i in rest.invoices] == ["2026-01"]
    assert rest.next_page_token == ""
    attempts = await service.call(
        "ListPaymentAttempts", billing_pb2.ListPaymentAttemptsRequest(parent=own("/invoices/-"))
    )
    assert len(attempts.payment_attempts) == 3
    assert all(
        a.state == billing_pb2.PAYMENT_ATTEMPT_STATE_SOFT_DECLINED
        for a in attempts.payment_attempts
    )
    february = await service.call(
        "ListPaymentAttempts",
        billing_pb2.ListPaymentAttemptsRequest(parent=own("/invoices/2026-02")),
    )
    (attempt,) = february.payment_attempts
    assert attempt.name.startswith(f"organizations/{org}/invoices/2026-02/paymentAttempts/pay_")
    assert (attempt.card.last4, attempt.failure_code) == ("0001", "insufficient_funds")


async def test_retry_payment_charges_a_past_due_invoice_once_per_request_id(
    service: Service,
) -> None:
    b, org = service.billing, service.customer.organization_id
    b.accounts.attach_card(org, "pm_soft_1")
    b.commission(org, 2500 * CENT, utc(2026, 1, 3))
    b.closer.close(JAN)
    request = billing_pb2.RetryPaymentRequest(invoice=own("/invoices/2026-01"), request_id="r-9")
    first = await service.call("RetryPayment", request)
    again = await service.call("RetryPayment", request)
    assert first == again
    assert first.state == billing_pb2.PAYMENT_ATTEMPT_STATE_SOFT_DECLINED
    assert len(b.attempts(org)) == 2  # the close's attempt and one retry
    missing = await service.fails(
        "RetryPayment", billing_pb2.RetryPaymentRequest(invoice=own("/invoices/2025-01"))
    )
    assert missing.reason == "not_found"


async def test_only_operators_close_periods_and_a_repeat_is_harmless(service: Service) -> None:
    b, org = service.billing, service.customer.organization_id
    b.accounts.attach_card(org, "pm_ok_1")
    b.commission(org, 2500 * CENT, utc(2026, 1, 3))
    request = billing_pb2.ClosePeriodRequest(period="2026-01", request_id="close-jan")
    denied = await service.fails("ClosePeriod", request)
    assert denied.reason == "permission_denied"
    report = await service.call("ClosePeriod", request, service.operator)
    assert (report.period, report.invoices_created, report.charges_succeeded) == ("2026-01", 1, 1)
    assert report.charged_micro_usd == 25_000_000
    assert await service.call("ClosePeriod", request, service.operator) == report
    repeat = await service.call(
        "ClosePeriod", billing_pb2.ClosePeriodRequest(period="2026-01"), service.operator
    )
    assert (repeat.invoices_created, repeat.charges_attempted) == (0, 0)
    early = await service.fails(
        "ClosePeriod", billing_pb2.ClosePeriodRequest(period="2026-02"), service.operator
    )
    assert (early.code, early.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "invalid_argument")
    assert len(b.gateway.charges) == 1


def intent_event(event_id: str, kind: str, attempt: Any, **fields: Any) -> dict[str, Any]:
    obj = {
        "id": attempt.payment_intent_id or "pi_unknown",
        "object": "payment_intent",
        "metadata": {"flexgrpc_attempt_id": attempt.id},
        **fields,
    }
    return {"id": event_id, "type": kind, "created": int(time.time()), "data": {"object": obj}}


async def test_webhooks_are_verified_deduplicated_and_order_does_not_matter(
    service: Service,
) -> None:
    b, org = service.billing, service.customer.organization_id
    b.accounts.attach_card(org, "pm_ok_1")
    b.commission(org, 2500 * CENT, utc(2026, 1, 3))
    b.gateway.script = ["lose_response"]
    b.closer.close(JAN)
    (attempt,) = b.attempts(org)
    assert attempt.state == "unknown"
    (intent,) = b.gateway.intents.values()
    attempt.payment_intent_id = intent.id
    succeeded = intent_event("evt_1", "payment_intent.succeeded", attempt)

    with pytest.raises(grpc.RpcError) as caught:
        await service.webhook(succeeded, signature=sign(b"{}"))
    assert rich_error(caught.value).reason == "invalid_argument"
    with pytest.raises(grpc.RpcError) as caught:
        await service.webhook(succeeded, signature="")
    assert rich_error(caught.value).reason == "invalid_argument"
    with pytest.raises(grpc.RpcError):
        await service.webhook(succeeded, signature=sign(json.dumps(succeeded).encode(), "whsec_x"))
    assert b.attempts(org)[0].state == "unknown"  # nothing changed

    first = await service.webhook(succeeded)
    assert (first.event_id, first.duplicate) == ("evt_1", False)
    assert (await service.webhook(succeeded)).duplicate
    failed = intent_event(
        "evt_0",
        "payment_intent.payment_failed",
        attempt,
        last_payment_error={"code": "card_declined", "decline_code": "insufficient_funds"},
    )
    late = await service.webhook(failed)  # delivered after the success
    assert not late.duplicate
    (settled,) = b.attempts(org)
    assert settled.state == "succeeded"
    assert b.invoices(org)[0].state == "paid"
    assert b.cleared(org) == 2500 * CENT  # posted once, though the close's reconciler may run
    b.clock.advance(minutes=10)
    b.payments.collect_due()
    assert b.cleared(org) == 2500 * CENT
    assert b.gateway.charge_calls == 1


async def test_a_setup_intent_webhook_saves_the_card_and_retries_the_balance(
    service: Service,
) -> None:
    b, org = service.billing, service.customer.organization_id
    b.commission(org, 2500 * CENT, utc(2026, 1, 3))
    b.closer.close(JAN)  # no card: past due
    customer = b.accounts.customer_id(org)
    event = {
        "id": "evt_seti",
        "type": "setup_intent.succeeded",
        "created": int(time.time()),
        "data": {
            "object": {
                "id": "seti_1",
                "object": "setup_intent",
                "customer": customer,
                "payment_method": "pm_ok_7777",
            }
        },
    }
    answer = await service.webhook(event)
    assert not answer.duplicate
    assert [a.state for a in b.attempts(org)] == ["no_payment_method", "succeeded"]
    await service.built.gate.check(org, billable=True)
    account = b.accounts.summary(org)
    assert account.card is not None
    assert account.card.last4 == "7777"
    # An older setup intent delivered late does not replace the newer card.
    stale = {**event, "id": "evt_old", "created": int(time.time()) - 3600}
    stale["data"] = {"object": {**event["data"]["object"], "payment_method": "pm_ok_1111"}}  # type: ignore[index]
    await service.webhook(stale)
    card = b.accounts.summary(org).card
    assert card is not None
    assert card.last4 == "7777"


@pytest.mark.parametrize("payment_method_id", ["", "pm_x}\x0b", "pm/../customers", "pm 1", "é"])
async def test_a_payment_method_id_that_is_no_stripe_id_is_refused_before_stripe(
    service: Service, payment_method_id: str
) -> None:
    # schemathesis: a paymentMethodId with `}` and a control character went into Stripe's URL
    # path, and the emulator's bare 404 came back as 503 `unavailable` (as if Stripe were down).
    refused = await service.fails(
        "AttachPaymentMethod",
        billing_pb2.AttachPaymentMethodRequest(
            billing_account=own("/billingAccount"), payment_method_id=payment_method_id
        ),
    )
    assert (refused.reason, refused.bad_request[0].field_violations[0].field) == (
        "invalid_argument", "payment_method_id",
    )  # fmt: skip
    assert service.billing.gateway.charges == []
