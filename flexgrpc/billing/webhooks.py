"""Stripe webhooks: verified on the raw bytes, applied once, in any order.

The signature (``stripe-signature``: ``t=<time>,v1=<HMAC-SHA256 of "<time>.<body>">``) is checked
with the endpoint's signing secret before anything is parsed; a forged or stale event changes
nothing. Each event id is inserted into ``stripe_events`` in the SAME transaction as its effect,
so a duplicate delivery finds the id and does nothing, and a crash leaves neither.

Effects are monotonic (see ``Payments.settle_in``), so reordering is harmless:
- ``payment_intent.succeeded``: the attempt succeeded, the invoice is paid, the payment posts
  (idempotent on the PaymentIntent id, so the synchronous path and the webhook post it once);
- ``payment_intent.payment_failed``: settles an attempt still in flight as declined; a failure
  arriving after a success is ignored;
- ``setup_intent.succeeded``: the card becomes the default (unless a newer card is already on
  file) and what is outstanding is retried on it at once.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass
from typing import Any

import stripe
from sqlalchemy.orm import Session, sessionmaker

from flexgrpc.billing.accounts import BillingAccounts, set_card_in
from flexgrpc.billing.gate import BillingGate
from flexgrpc.billing.gateway import (
    ATTEMPT_METADATA_KEY,
    Card,
    ChargeResult,
    ChargeStatus,
    GatewayUnavailable,
    PaymentMethodRejected,
    is_hard_decline,
)
from flexgrpc.billing.payments import Payments
from flexgrpc.billing.records import Clock, utc_now
from flexgrpc.db.engine import write_session
from flexgrpc.db.inserts import insert_ignoring_conflicts
from flexgrpc.db.models import PaymentAttempt, StripeEvent
from flexgrpc.errors import FlexError
from flexgrpc.json_text import lone_surrogate_path, surrogate_message

log = logging.getLogger("flexgrpc.billing.webhooks")

#: Stripe's default: an event signed more than five minutes ago is refused (replay protection).
SIGNATURE_TOLERANCE_S = 300


@dataclass(frozen=True)
class WebhookOutcome:
    event_id: str
    duplicate: bool


def _object(event: dict[str, Any]) -> dict[str, Any]:
    data = event.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    return obj if isinstance(obj, dict) else {}


def _str(value: Any) -> str:
    if isinstance(value, dict):  # an expanded object
        return str(value.get("id") or "")
    return str(value) if value else ""


class StripeWebhooks:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        payments: Payments,
        accounts: BillingAccounts,
        *,
        signing_secret: str | None,
        gate: BillingGate | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self._sessions = sessions
        self._payments = payments
        self._accounts = accounts
        self._secret = signing_secret
        self._gate = gate
        self._clock = clock

    def verify(self, payload: bytes, signature: str | None) -> dict[str, Any]:
        """The event in ``payload`` if ``signature`` proves Stripe sent it; else an error."""
        if not self._secret:
            raise FlexError(
                "unavailable",
                "Stripe webhooks are not configured on this server (no signing secret); ask the "
                "operator to set FLEXGRPC_STRIPE_WEBHOOK_SECRET.",
            )
        if not signature:
            raise FlexError(
                "invalid_argument",
                "The `stripe-signature` header is missing: webhooks are accepted only as Stripe "
                "signs them.",
            )
        try:
            text = payload.decode("utf-8")
            stripe.WebhookSignature.verify_header(
                text, signature, self._secret, SIGNATURE_TOLERANCE_S
            )
            event = json.loads(text)
        except (stripe.SignatureVerificationError, UnicodeDecodeError, ValueError):
            raise FlexError(
                "invalid_argument",
                "The `stripe-signature` does not verify against this body with the endpoint's "
                "signing secret (or it is older than 5 minutes). Send the body exactly as "
                "received.",
            ) from None
        if not isinstance(event, dict) or not isinstance(event.get("id"), str):
            raise FlexError("invalid_argument", "The webhook body is not a Stripe event.")
        # Signed is not well-formed: a string the database (or a log) cannot take as UTF-8 is
        # refused here, not at the insert.
        surrogate = lone_surrogate_path(event, text)
        if surrogate is not None:
            raise FlexError(
                "invalid_argument",
                f"The webhook body is not a Stripe event: {surrogate_message(surrogate)}.",
                field=surrogate,
            )
        return event

    def handle(self, payload: bytes, signature: str | None) -> WebhookOutcome:
        event = self.verify(payload, signature)
        event_id, kind = str(event["id"]), str(event.get("type", ""))
        obj = _object(event)
        card: tuple[str, Card] | None = None
        if kind == "setup_intent.succeeded":
            card = self._card_of(obj)  # network: before the transaction, not inside it
        now = self._clock()
        organization: str | None = None
        with write_session(self._sessions) as session:
            row = {"id": event_id, "type": kind[:64], "receive_time": now}
            if not insert_ignoring_conflicts(session, StripeEvent, [row]):
                return WebhookOutcome(event_id, duplicate=True)
            if kind in ("payment_intent.succeeded", "payment_intent.payment_failed"):
                organization = self._payment_result(session, kind, obj)
            elif card is not None:
                created = dt.datetime.fromtimestamp(int(event.get("created") or 0), dt.UTC)
                if set_card_in(session, card[0], card[1], created, now):
                    organization = card[0]
        if organization is not None:
            if self._gate is not None:
                self._gate.invalidate(organization)
            if kind == "setup_intent.succeeded":
                self._payments.collect_organization(organization)
        return WebhookOutcome(event_id, duplicate=False)

    def _payment_result(self, session: Session, kind: str, intent: dict[str, Any]) -> str | None:
        intent_id = _str(intent.get("id"))
        metadata = intent.get("metadata") if isinstance(intent.get("metadata"), dict) else {}
        attempt_id = str((metadata or {}).get(ATTEMPT_METADATA_KEY) or "")
        attempt = session.get(PaymentAttempt, attempt_id) if attempt_id else None
        if attempt is None and intent_id:
            found = self._payments.attempt_for_intent(session, intent_id)
            attempt = session.get(PaymentAttempt, found) if found else None
        if attempt is None:
            log.info("ignoring %s for %s: not one of our payment attempts", kind, intent_id)
            return None
        if kind == "payment_intent.succeeded":
            result = ChargeResult(ChargeStatus.SUCCEEDED, intent_id)
        else:
            error = intent.get("last_payment_error")
            error = error if isinstance(error, dict) else {}
            code = str(error.get("code") or "card_declined")
            decline = str(error.get("decline_code") or "")
            result = ChargeResult(
                ChargeStatus.DECLINED,
                intent_id,
                decline or code,
                str(error.get("message") or "The card was declined."),
                hard=is_hard_decline(code, decline),
            )
        self._payments.settle_in(session, attempt.id, result)
        return attempt.organization_id

    def _card_of(self, setup_intent: dict[str, Any]) -> tuple[str, Card] | None:
        customer = _str(setup_intent.get("customer"))
        payment_method = _str(setup_intent.get("payment_method"))
        organization = self._accounts.organization_for_customer(customer) if customer else None
        gateway = self._payments.gateway
        if organization is None or not payment_method or gateway is None:
            return None
        try:
            return organization, gateway.make_default(customer, payment_method)
        except GatewayUnavailable as exc:
            # Stripe retries a webhook that failed: nothing was recorded, so it is not a duplicate.
            raise FlexError(
                "unavailable", f"Stripe could not be reached ({exc}); the event will be retried."
            ) from None
        except PaymentMethodRejected as exc:
            log.warning("setup intent card refused for %s: %s", organization, exc.message)
            return None
