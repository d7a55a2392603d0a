"""Billing: the balance, the card on file, invoices and payment attempts; adding or updating
the card with Stripe Elements (a SetupIntent confirmed by Stripe.js in the browser, so the card
number never reaches this server), which also pays a past-due balance at once."""

from __future__ import annotations

import asyncio
import json

from flexinference.v1 import billing_pb2
from starlette.requests import Request
from starlette.responses import Response

from flexgrpc.dashboard.rpc import RpcFailure
from flexgrpc.dashboard.web import FormRefused, Visit, Web, text

_ACCOUNT = "organizations/-/billingAccount"
DONE = {
    "card-saved": "Your card is on file.",
    "card-saved-paid": "Your card is on file and the outstanding balance is paid: flex is "
    "running again.",
}


async def _billing_context(web: Web, visit: Visit) -> dict[str, object]:
    # Independent calls, made at once: each waits on its own database query.
    account, invoices, attempts = await asyncio.gather(
        web.call(
            visit,
            "BillingService/GetBillingAccount",
            billing_pb2.GetBillingAccountRequest(name=_ACCOUNT),
            billing_pb2.BillingAccount,
        ),
        web.call(
            visit,
            "BillingService/ListInvoices",
            billing_pb2.ListInvoicesRequest(parent="organizations/-", page_size=24),
            billing_pb2.ListInvoicesResponse,
        ),
        web.call(
            visit,
            "BillingService/ListPaymentAttempts",
            billing_pb2.ListPaymentAttemptsRequest(
                parent="organizations/-/invoices/-", page_size=20
            ),
            billing_pb2.ListPaymentAttemptsResponse,
        ),
    )
    failed = next(
        (
            a
            for a in attempts.payment_attempts
            if a.state != billing_pb2.PAYMENT_ATTEMPT_STATE_SUCCEEDED
        ),
        None,
    )
    return {
        "account": account,
        "has_card": account.HasField("card"),
        "past_due": account.past_due_micro_usd > 0,
        "past_due_since": account.past_due_time if account.HasField("past_due_time") else None,
        "last_failure": failed,
        "invoices": list(invoices.invoices),
        "attempts": list(attempts.payment_attempts),
        "invoice_state": billing_pb2.InvoiceState.Name,
        "attempt_state": billing_pb2.PaymentAttemptState.Name,
        "cards_enabled": web.settings.stripe_publishable_key is not None,
    }


async def billing(web: Web, request: Request) -> Response:
    visit = await web.visit(request)
    if visit is None:
        return web.to_sign_in()
    try:
        chrome, details = await asyncio.gather(
            web.chrome(visit, "billing"), _billing_context(web, visit)
        )
        context = {**chrome, **details}
    except RpcFailure as failure:
        return web.failed(visit, failure)
    context["done"] = DONE.get(request.query_params.get("done", ""))
    return web.render(request, "billing.html", context)


async def card_form(web: Web, request: Request) -> Response:
    """The card form: a fresh SetupIntent whose client secret Stripe.js confirms."""
    visit = await web.visit(request)
    if visit is None:
        return web.to_sign_in()
    try:
        form = await web.session_form(visit)
    except FormRefused as refused:
        return web.refused(request, refused.status, refused.message)
    key = web.settings.stripe_publishable_key
    if key is None:
        return web.failed(
            visit,
            RpcFailure(
                503,
                "unavailable",
                "Cards cannot be added on this server: its operator has not set "
                "FLEXGRPC_DASHBOARD_STRIPE_PUBLISHABLE_KEY.",
            ),
        )
    try:
        context = await web.chrome(visit, "billing")
        setup = await web.call(
            visit,
            "BillingService/CreateSetupIntent",
            billing_pb2.CreateSetupIntentRequest(
                billing_account=_ACCOUNT, request_id=text(form, "request_id", 64)
            ),
            billing_pb2.CreateSetupIntentResponse,
        )
        account = await web.call(
            visit,
            "BillingService/GetBillingAccount",
            billing_pb2.GetBillingAccountRequest(name=_ACCOUNT),
            billing_pb2.BillingAccount,
        )
    except RpcFailure as failure:
        return web.failed(visit, failure)
    stripe = {"publishableKey": key, "clientSecret": setup.client_secret}
    context.update(
        account=account,
        past_due=account.past_due_micro_usd > 0,
        stripe_js_url=web.settings.stripe_js_url,
        stripe_json=json.dumps(stripe, separators=(",", ":")),
        error=None,
    )
    return web.render(request, "card.html", context)


async def save_card(web: Web, request: Request) -> Response:
    visit = await web.visit(request)
    if visit is None:
        return web.to_sign_in()
    try:
        form = await web.session_form(visit)
    except FormRefused as refused:
        return web.refused(request, refused.status, refused.message)
    try:
        account = await web.call(
            visit,
            "BillingService/AttachPaymentMethod",
            billing_pb2.AttachPaymentMethodRequest(
                billing_account=_ACCOUNT,
                payment_method_id=text(form, "payment_method_id", 255),
                request_id=text(form, "request_id", 64),
            ),
            billing_pb2.BillingAccount,
        )
    except RpcFailure as failure:
        return web.failed(visit, failure)
    was_past_due = text(form, "was_past_due") == "yes"
    paid = was_past_due and account.past_due_micro_usd == 0
    return web.redirect("/billing?done=" + ("card-saved-paid" if paid else "card-saved"))
