"""Contract tests: the Stripe gateway with the real ``stripe`` SDK against localstripe.

Where localstripe differs from Stripe (and what these tests therefore cannot prove):
- it ignores ``Idempotency-Key``: a repeated request creates a second object. Retrying with
  the same key, and the reconciler, are proven with the scripted gateway instead;
- it has no PaymentIntent search, and its list ignores no filter it does not know (``customer``
  is refused): ``find_charge`` cannot be exercised here;
- an off-session charge of a card that needs 3-D Secure comes back ``requires_action`` instead
  of a 402 ``authentication_required`` error (the gateway maps both to a hard decline);
- confirming a SetupIntent does not attach its card to the customer (the gateway attaches it);
- a decline carries ``code=card_declined`` and no ``decline_code`` nor PaymentIntent, while
  Stripe adds both (e.g. ``generic_decline`` for 4000 0000 0000 0341);
- it accepts raw card numbers (Stripe only test tokens such as ``pm_card_visa``), and sends
  webhooks one second after the change, signed like Stripe (``t=…,v1=…``).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
import stripe

from flexgrpc.billing.gate import BillingGate
from flexgrpc.billing.gateway import ChargeRequest, ChargeStatus, GatewayUnavailable
from flexgrpc.billing.periods import Period
from flexgrpc.billing.stripe_gateway import STRIPE_API_VERSION, StripeGateway
from flexgrpc.domain import RouteJob
from flexgrpc.errors import FlexError
from tests.billing.conftest import CENT, Billing, build, utc
from tests.billing.localstripe_server import reset, run_localstripe

pytestmark = pytest.mark.filterwarnings("ignore:Bare functions are deprecated:DeprecationWarning")

API_KEY = "sk_test_flexgrpc"
JAN = Period(2026, 1)


def raced(job: RouteJob) -> bool:
    """The billable rule these gates use: every flex race."""
    return job.start_within.is_race


@pytest.fixture(scope="module")
def localstripe() -> Iterator[str]:
    with run_localstripe() as url:
        yield url


@pytest.fixture
def stripe_billing(billing: Billing, localstripe: str) -> Billing:
    reset(localstripe)
    gateway = StripeGateway(API_KEY, api_base=localstripe, timeout_s=10, max_network_retries=0)
    billing.payments, billing.closer, billing.accounts = build(
        billing.sessions, billing.clock, gateway
    )
    return billing


@pytest.fixture
def client(localstripe: str) -> stripe.StripeClient:
    return stripe.StripeClient(
        API_KEY, base_addresses={"api": localstripe}, stripe_version=STRIPE_API_VERSION
    )


def owe(billing: Billing, org: str, cents: int = 2500) -> None:
    billing.commission(org, cents * CENT + 77, utc(2026, 1, 12))


def test_a_saved_card_is_charged_off_session_at_the_close(
    stripe_billing: Billing, client: stripe.StripeClient
) -> None:
    b = stripe_billing
    org = b.organization(card=None)
    b.accounts.attach_card(org, "pm_card_visa")
    summary = b.accounts.summary(org)
    assert summary.card is not None
    assert (summary.card.brand, summary.card.last4) == ("visa", "4242")
    owe(b, org)
    report = b.closer.close(JAN)
    assert (report.charges_attempted, report.charges_succeeded) == (1, 1)
    (attempt,) = b.attempts(org)
    assert attempt.state == "succeeded"
    assert attempt.payment_intent_id is not None
    intent = client.v1.payment_intents.retrieve(attempt.payment_intent_id)
    assert (intent.status, intent.amount, intent.currency) == ("succeeded", 2500, "usd")
    assert intent.metadata["flexgrpc_attempt_id"] == attempt.id
    assert intent.customer == b.accounts.customer_id(org)
    customer = client.v1.customers.retrieve(str(intent.customer))
    assert customer.invoice_settings.default_payment_method == intent.payment_method
    assert b.cleared(org) == 2500 * CENT
    assert b.receivable(org) == 77


def test_a_setup_intent_saves_a_card_for_off_session_use(
    stripe_billing: Billing, client: stripe.StripeClient
) -> None:
    b = stripe_billing
    org = b.organization(card=None)
    setup = b.accounts.create_setup_intent(org, "req-1")
    assert setup.client_secret.startswith(setup.id)
    seti = client.v1.setup_intents.retrieve(setup.id)
    assert seti.usage == "off_session"
    assert seti.customer == b.accounts.customer_id(org)
    # What a card form (Stripe.js) does with the client secret:
    confirmed = client.v1.setup_intents.confirm(setup.id, params={"payment_method": "pm_card_visa"})
    assert confirmed.status == "succeeded"
    gateway = b.payments.gateway
    assert gateway is not None
    card = gateway.make_default(str(confirmed.customer), str(confirmed.payment_method))
    assert card.last4 == "4242"
    b.accounts.use_card(org, card, b.clock())
    owe(b, org)
    b.closer.close(JAN)
    assert [a.state for a in b.attempts(org)] == ["succeeded"]


async def test_a_card_that_declines_later_turns_the_gate_on_and_a_new_card_turns_it_off(
    stripe_billing: Billing,
) -> None:
    b = stripe_billing
    gate = BillingGate(b.sessions, billable=raced, ttl_s=0)
    org = b.organization(card=None)
    b.accounts.attach_card(org, "pm_card_chargeCustomerFail")  # 4000 0000 0000 0341
    assert b.accounts.summary(org).card is not None
    await gate.check(org, billable=True)  # a card on file, nothing due: flex works
    owe(b, org)
    b.closer.close(JAN)
    (attempt,) = b.attempts(org)
    assert (attempt.state, attempt.failure_code) == ("soft_declined", "card_declined")
    assert b.invoices(org)[0].state == "past_due"
    with pytest.raises(FlexError) as caught:
        await gate.check(org, billable=True)
    assert caught.value.code == "payment_required"
    assert caught.value.spec.http_status == 402
    await gate.check(org, billable=False)  # default / priority / auto / Anthropic keep working
    b.accounts.attach_card(org, "pm_card_visa")  # retried at once on the new card
    assert [a.state for a in b.attempts(org)] == ["soft_declined", "succeeded"]
    assert b.invoices(org)[0].state == "paid"
    await gate.check(org, billable=True)
    assert b.cleared(org) == 2500 * CENT


def test_a_card_that_needs_authentication_is_a_hard_decline(
    stripe_billing: Billing, client: stripe.StripeClient
) -> None:
    b = stripe_billing
    org = b.organization(card=None)
    payment_method = client.v1.payment_methods.create(
        params={
            "type": "card",
            "card": {"number": "4000002500003155", "exp_month": 12, "exp_year": 2031, "cvc": "123"},
        }
    )
    b.accounts.attach_card(org, payment_method.id)
    owe(b, org)
    b.closer.close(JAN)
    (attempt,) = b.attempts(org)
    assert (attempt.state, attempt.failure_code) == ("hard_declined", "authentication_required")
    assert b.invoices(org)[0].next_retry_time is None  # waits for a new card


def test_a_card_declined_when_attached_is_refused_and_changes_nothing(
    stripe_billing: Billing,
) -> None:
    b = stripe_billing
    org = b.organization(card=None)
    with pytest.raises(FlexError) as caught:
        b.accounts.attach_card(org, "pm_card_visa_chargeDeclined")
    assert (caught.value.code, caught.value.field) == ("invalid_argument", "payment_method_id")
    assert b.accounts.summary(org).card is None


def test_a_charge_that_cannot_reach_stripe_is_unknown_not_declined() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    gateway = StripeGateway(API_KEY, api_base=f"http://127.0.0.1:{port}", max_network_retries=0)
    result = gateway.charge(ChargeRequest("cus_1", "pm_1", 2500, "key-1", {}))
    assert result.status is ChargeStatus.UNKNOWN
    with pytest.raises(GatewayUnavailable):
        gateway.create_customer("org_1")


def test_a_charge_whose_answer_never_comes_is_unknown_not_declined() -> None:
    with socket.socket() as silent:  # accepts connections (backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        gateway = StripeGateway(
            API_KEY, api_base=f"http://127.0.0.1:{port}", timeout_s=0.3, max_network_retries=0
        )
        result = gateway.charge(ChargeRequest("cus_1", "pm_1", 2500, "key-1", {}))
    assert result.status is ChargeStatus.UNKNOWN
    assert "Timeout" in result.failure_message or "timed out" in result.failure_message


@pytest.fixture
def webhook_receiver(stripe_billing: Billing, localstripe: str) -> Iterator[list[str]]:
    """An HTTP endpoint on 127.0.0.1 that hands localstripe's signed deliveries to billing."""
    import http.server
    import threading

    from flexgrpc.billing.webhooks import StripeWebhooks
    from tests.billing.localstripe_server import register_webhook

    secret = "whsec_localstripe"
    webhooks = StripeWebhooks(
        stripe_billing.sessions,
        stripe_billing.payments,
        stripe_billing.accounts,
        signing_secret=secret,
        clock=stripe_billing.clock,
    )
    handled: list[str] = []

    class Receiver(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            try:
                outcome = webhooks.handle(body, self.headers.get("Stripe-Signature"))
                handled.append(outcome.event_id)
                self.send_response(200)
            except FlexError:
                self.send_response(400)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    register_webhook(localstripe, f"http://127.0.0.1:{server.server_address[1]}/", secret)
    try:
        yield handled
    finally:
        register_webhook(localstripe, "http://127.0.0.1:9/", secret)  # deliveries go nowhere
        server.shutdown()
        server.server_close()


def test_localstripes_signed_webhooks_settle_nothing_twice(
    stripe_billing: Billing, webhook_receiver: list[str]
) -> None:
    import time

    from sqlalchemy import select

    from flexgrpc.db.models import StripeEvent

    b = stripe_billing
    org = b.organization(card=None)
    b.accounts.attach_card(org, "pm_card_visa")
    owe(b, org)
    b.closer.close(JAN)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with b.sessions() as session:  # a new snapshot each time
            kinds = set(session.scalars(select(StripeEvent.type)).all())
        if "payment_intent.succeeded" in kinds:
            break
        time.sleep(0.1)
    assert "payment_intent.succeeded" in kinds  # delivered, signed, verified, recorded
    assert [a.state for a in b.attempts(org)] == ["succeeded"]
    assert b.cleared(org) == 2500 * CENT  # the webhook and the synchronous path posted once
