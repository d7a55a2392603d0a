"""The payment gateway on the official ``stripe`` SDK (a ``StripeClient``, no global state).

Error mapping, the part that must never guess: a ``CardError`` (HTTP 402) is a decline; an
``InvalidRequestError`` (400/404) means Stripe refused the request, so nothing was charged; a
connection error, a timeout, a 5xx, a 429 or an idempotency conflict leaves the outcome
UNKNOWN — the reconciler asks Stripe later. Authentication and permission errors are our
configuration, not the customer's card: also UNKNOWN, so nobody is made past due by them.
"""

from __future__ import annotations

import logging
from typing import Any

import stripe

from flexgrpc.billing.gateway import (
    ATTEMPT_METADATA_KEY,
    Card,
    ChargeRequest,
    ChargeResult,
    ChargeStatus,
    GatewayUnavailable,
    PaymentMethodRejected,
    SetupIntent,
    is_hard_decline,
)

log = logging.getLogger("flexgrpc.billing.stripe")

#: The Stripe API version we speak, pinned (Stripe's advice) rather than the SDK's newest: the
#: requests below use ``payment_method_types``, which API versions from 2026-10 rename to
#: ``allowed_payment_method_types`` — and which localstripe, our contract-test emulator, knows.
STRIPE_API_VERSION = "2025-03-31.basil"

#: Errors after which Stripe may or may not have acted.
_UNCERTAIN = (
    stripe.APIConnectionError,
    stripe.APIError,
    stripe.RateLimitError,
    stripe.IdempotencyError,
    stripe.AuthenticationError,
    stripe.PermissionError,
)


def _get(obj: Any, key: str, default: Any = None) -> Any:
    """A field of a Stripe object or a plain dict (error bodies are dicts)."""
    if obj is None:
        return default
    try:
        value = obj[key]
    except (KeyError, TypeError, AttributeError):
        return default
    return default if value is None else value


def _card(payment_method: Any) -> Card:
    card = _get(payment_method, "card")
    if _get(payment_method, "type") != "card" or card is None:
        raise PaymentMethodRejected(
            "payment_method_not_card", "Only cards can be kept on file for monthly charges."
        )
    return Card(
        payment_method_id=str(payment_method["id"]),
        brand=str(_get(card, "brand", "")),
        last4=str(_get(card, "last4", "")),
        exp_month=int(_get(card, "exp_month", 0)),
        exp_year=int(_get(card, "exp_year", 0)),
    )


def result_from_intent(intent: Any) -> ChargeResult:
    """A PaymentIntent's status as a charge result."""
    intent_id = str(intent["id"])
    status = _get(intent, "status", "")
    if status == "succeeded":
        return ChargeResult(ChargeStatus.SUCCEEDED, intent_id)
    if status == "requires_action":
        # Off-session, Stripe normally answers 402 authentication_required instead; an
        # emulator may leave the intent waiting for 3-D Secure. Same meaning: the customer
        # must come back, so it waits for a new card.
        return ChargeResult(
            ChargeStatus.DECLINED,
            intent_id,
            "authentication_required",
            "The card requires authentication (3-D Secure); add a card that can be charged "
            "off-session.",
            hard=True,
        )
    if status in ("requires_payment_method", "canceled"):
        error = _get(intent, "last_payment_error", {})
        code = str(_get(error, "code", "") or ("canceled" if status == "canceled" else ""))
        decline = str(_get(error, "decline_code", ""))
        return ChargeResult(
            ChargeStatus.DECLINED,
            intent_id,
            decline or code or "card_declined",
            str(_get(error, "message", "The card was declined.")),
            hard=status == "canceled" or is_hard_decline(code, decline),
        )
    # processing, requires_confirmation, requires_capture: not settled yet.
    return ChargeResult.unknown(f"PaymentIntent is {status}", intent_id)


class StripeGateway:
    def __init__(
        self,
        api_key: str,
        *,
        api_base: str | None = None,
        timeout_s: float = 30.0,
        max_network_retries: int = 2,
    ) -> None:
        self._client = stripe.StripeClient(
            api_key,
            stripe_version=STRIPE_API_VERSION,
            base_addresses={"api": api_base} if api_base else None,
            http_client=stripe.RequestsClient(timeout=timeout_s),
            # Retries resend the same idempotency key, so they cannot charge twice.
            max_network_retries=max_network_retries,
        )

    def create_customer(self, organization_id: str) -> str:
        try:
            customer = self._client.v1.customers.create(
                params={
                    "description": f"flexgrpc organizations/{organization_id}",
                    "metadata": {"flexgrpc_organization_id": organization_id},
                },
                options={"idempotency_key": f"flexgrpc-customer-{organization_id}"},
            )
        except stripe.StripeError as exc:
            raise GatewayUnavailable(str(exc)) from exc
        return str(customer.id)

    def create_setup_intent(self, customer_id: str, idempotency_key: str | None) -> SetupIntent:
        options: Any = {"idempotency_key": idempotency_key} if idempotency_key else {}
        try:
            params: Any = {
                "customer": customer_id,
                "usage": "off_session",
                "payment_method_types": ["card"],
            }
            intent = self._client.v1.setup_intents.create(params=params, options=options)
        except stripe.StripeError as exc:
            raise GatewayUnavailable(str(exc)) from exc
        return SetupIntent(str(intent.id), str(intent.client_secret))

    def attach_payment_method(self, customer_id: str, payment_method_id: str) -> Card:
        try:
            attached = self._client.v1.payment_methods.attach(
                payment_method_id, params={"customer": customer_id}
            )
        except (stripe.CardError, stripe.InvalidRequestError) as exc:
            raise PaymentMethodRejected(str(exc.code or "invalid"), exc.user_message or "") from exc
        except stripe.StripeError as exc:
            raise GatewayUnavailable(str(exc)) from exc
        card = _card(attached)  # the attached copy: a test token such as pm_card_visa is cloned
        self._set_default(customer_id, card.payment_method_id)
        return card

    def make_default(self, customer_id: str, payment_method_id: str) -> Card:
        try:
            payment_method = self._client.v1.payment_methods.retrieve(payment_method_id)
        except stripe.InvalidRequestError as exc:
            raise PaymentMethodRejected(str(exc.code or "invalid"), exc.user_message or "") from exc
        except stripe.StripeError as exc:
            raise GatewayUnavailable(str(exc)) from exc
        if _get(payment_method, "customer") is None:
            # Stripe attaches a SetupIntent's card to its customer; not every emulator does.
            return self.attach_payment_method(customer_id, payment_method_id)
        card = _card(payment_method)
        self._set_default(customer_id, card.payment_method_id)
        return card

    def _set_default(self, customer_id: str, payment_method_id: str) -> None:
        try:
            self._client.v1.customers.update(
                customer_id,
                params={"invoice_settings": {"default_payment_method": payment_method_id}},
            )
        except stripe.StripeError as exc:
            raise GatewayUnavailable(str(exc)) from exc

    def charge(self, request: ChargeRequest) -> ChargeResult:
        try:
            # Typed as Any: the SDK's TypedDicts follow its newest API version, not the pinned one.
            params: Any = {
                "amount": request.amount_cents,
                "currency": "usd",
                "customer": request.customer_id,
                "payment_method": request.payment_method_id,
                "payment_method_types": ["card"],
                "off_session": True,
                "confirm": True,
                "metadata": dict(request.metadata),
            }
            intent = self._client.v1.payment_intents.create(
                params=params, options={"idempotency_key": request.idempotency_key}
            )
        except stripe.CardError as exc:
            return self._declined(exc)
        except stripe.InvalidRequestError as exc:
            # Refused before any money moved (a detached card, a deleted customer).
            return ChargeResult(
                ChargeStatus.DECLINED,
                None,
                str(exc.code or "invalid_request"),
                exc.user_message or str(exc),
                hard=True,
            )
        except _UNCERTAIN as exc:
            log.warning("charge %s: outcome unknown: %s", request.idempotency_key, exc)
            return ChargeResult.unknown(f"{type(exc).__name__}: {exc}")
        except stripe.StripeError as exc:
            return ChargeResult.unknown(f"{type(exc).__name__}: {exc}")
        return result_from_intent(intent)

    @staticmethod
    def _declined(exc: stripe.CardError) -> ChargeResult:
        body = _get(exc.json_body, "error", {})
        code = str(exc.code or _get(body, "code", "card_declined"))
        decline = str(_get(body, "decline_code", ""))
        intent = _get(body, "payment_intent")
        return ChargeResult(
            ChargeStatus.DECLINED,
            str(_get(intent, "id")) if intent is not None else None,
            decline if decline and code == "card_declined" else code,
            exc.user_message or str(_get(body, "message", "The card was declined.")),
            hard=is_hard_decline(code, decline),
        )

    def find_charge(self, customer_id: str, attempt_id: str) -> ChargeResult | None:
        query = f"metadata['{ATTEMPT_METADATA_KEY}']:'{attempt_id}'"
        try:
            found = list(
                self._client.v1.payment_intents.search(params={"query": query, "limit": 10}).data
            )
        except stripe.InvalidRequestError:
            # Search is not offered everywhere (some regions, emulators): list the customer's.
            try:
                listing = self._client.v1.payment_intents.list(
                    params={"customer": customer_id, "limit": 100}
                )
                found = [
                    i
                    for i in listing.auto_paging_iter()
                    if _get(_get(i, "metadata", {}), ATTEMPT_METADATA_KEY) == attempt_id
                ]
            except stripe.StripeError as exc:
                raise GatewayUnavailable(str(exc)) from exc
        except stripe.StripeError as exc:
            raise GatewayUnavailable(str(exc)) from exc
        if not found:
            return None
        results = [result_from_intent(i) for i in found]
        # One key per attempt means one intent; should there be more, a success wins.
        return next((r for r in results if r.status is ChargeStatus.SUCCEEDED), results[0])
