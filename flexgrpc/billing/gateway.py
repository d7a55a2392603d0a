"""The payment gateway: what billing needs from a card processor, and nothing more.

``StripeGateway`` (``stripe_gateway.py``) implements it on the official SDK; the tests add a
scripted one that can lose responses and crash between steps. Every method is synchronous
(billing runs them in a worker thread) and raises ``GatewayUnavailable`` when the processor
could not be reached or answered with a server error — callers must then treat the outcome as
unknown, never as a failure.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol


class GatewayUnavailable(Exception):
    """The processor could not be reached, timed out, or failed on its side."""


class PaymentMethodRejected(Exception):
    """A payment method could not be attached (declined, unknown, not a card)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Card:
    """A saved card as people see it."""

    payment_method_id: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int


@dataclass(frozen=True, slots=True)
class SetupIntent:
    id: str
    client_secret: str


class ChargeStatus(enum.Enum):
    SUCCEEDED = "succeeded"
    #: Declined; ``hard`` says whether retrying the same card can help.
    DECLINED = "declined"
    #: The outcome is not known (timeout, connection error, still processing): reconcile later.
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class ChargeRequest:
    customer_id: str
    payment_method_id: str
    amount_cents: int
    #: Deterministic per attempt: a retry of the same attempt reuses it.
    idempotency_key: str
    #: Stored on the PaymentIntent so a lost answer can be found again.
    metadata: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class ChargeResult:
    status: ChargeStatus
    payment_intent_id: str | None = None
    failure_code: str = ""
    failure_message: str = ""
    hard: bool = False

    @classmethod
    def unknown(cls, message: str, payment_intent_id: str | None = None) -> ChargeResult:
        return cls(ChargeStatus.UNKNOWN, payment_intent_id, failure_message=message[:500])


#: Metadata key on every PaymentIntent we create: the payment attempt it belongs to.
ATTEMPT_METADATA_KEY = "flexgrpc_attempt_id"


class PaymentGateway(Protocol):
    def create_customer(self, organization_id: str) -> str:
        """A customer id for the organization; idempotent per organization."""

    def create_setup_intent(self, customer_id: str, idempotency_key: str | None) -> SetupIntent:
        """A SetupIntent (usage off_session, cards only) whose client secret a card form uses."""

    def attach_payment_method(self, customer_id: str, payment_method_id: str) -> Card:
        """Attach the payment method to the customer and make it the default; the saved card."""

    def make_default(self, customer_id: str, payment_method_id: str) -> Card:
        """Make an already attached payment method the customer's default; the saved card."""

    def charge(self, request: ChargeRequest) -> ChargeResult:
        """An off-session, confirmed, card-only PaymentIntent. Never raises for a decline or a
        lost answer: those are results (``DECLINED`` / ``UNKNOWN``)."""

    def find_charge(self, customer_id: str, attempt_id: str) -> ChargeResult | None:
        """The PaymentIntent created for ``attempt_id``, if the processor has one.

        Raises ``GatewayUnavailable`` when it cannot tell (then nothing may be assumed).
        """


#: Decline codes that retrying the same card will not fix: wait for a new card.
HARD_DECLINE_CODES = frozenset(
    {
        "authentication_required",
        "card_not_supported",
        "currency_not_supported",
        "do_not_try_again",
        "expired_card",
        "fraudulent",
        "incorrect_cvc",
        "incorrect_number",
        "incorrect_zip",
        "invalid_account",
        "invalid_cvc",
        "invalid_expiry_month",
        "invalid_expiry_year",
        "invalid_number",
        "lost_card",
        "merchant_blacklist",
        "new_account_information_available",
        "no_action_taken",
        "pickup_card",
        "restricted_card",
        "revocation_of_all_authorizations",
        "revocation_of_authorization",
        "security_violation",
        "stolen_card",
        "stop_payment_order",
        "transaction_not_allowed",
        "payment_intent_authentication_failure",
        "resource_missing",
    }
)


def is_hard_decline(code: str, decline_code: str = "") -> bool:
    """Whether a decline waits for a new card (hard) or may pass on a later retry (soft).

    Unknown and generic codes (``card_declined`` / ``generic_decline``, ``insufficient_funds``,
    ``processing_error``, ``try_again_later``, …) are soft: the schedule retries them.
    """
    return code in HARD_DECLINE_CODES or decline_code in HARD_DECLINE_CODES
