"""A scripted payment gateway for what localstripe cannot do: lose an answer after the charge
went through, crash between the steps of a charge, see the same attempt twice.

It honours idempotency keys like Stripe does (the same key returns the first result and never
charges again), keeps every PaymentIntent with its metadata so ``find_charge`` can find it, and
counts real charges — the number a customer would see on their statement.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

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


class Crash(BaseException):
    """The process died here (BaseException: no ``except Exception`` swallows it)."""


#: How a payment method behaves when charged, by id prefix.
OUTCOMES = {
    "pm_ok": ("", ""),
    "pm_soft": ("card_declined", "insufficient_funds"),
    "pm_hard": ("card_declined", "stolen_card"),
    "pm_auth": ("authentication_required", ""),
}


def card_for(payment_method_id: str) -> Card:
    return Card(payment_method_id, "visa", payment_method_id[-4:].rjust(4, "0"), 12, 2031)


@dataclass
class Intent:
    id: str
    customer_id: str
    amount_cents: int
    metadata: dict[str, str]
    result: ChargeResult


@dataclass
class ScriptedGateway:
    #: Behaviours for the next charge calls, in order: "normal", "unavailable" (nothing sent),
    #: "lose_response" (charged, answer lost), "crash_before" (dies before sending),
    #: "crash_after" (charged, then dies before the answer is recorded).
    script: list[str] = field(default_factory=list)
    #: Raised by find_charge while non-zero (the lookup itself fails).
    find_failures: int = 0
    #: Seconds each charge takes (widens races in concurrency tests).
    charge_delay_s: float = 0.0
    customers: dict[str, str] = field(default_factory=dict)
    intents: dict[str, Intent] = field(default_factory=dict)
    by_key: dict[str, ChargeResult] = field(default_factory=dict)
    charge_calls: int = 0
    on_charge: Callable[[ChargeRequest], None] | None = None
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def charges(self) -> list[Intent]:
        """PaymentIntents that took money."""
        return [i for i in self.intents.values() if i.result.status is ChargeStatus.SUCCEEDED]

    def charged_cents(self, customer_id: str | None = None) -> int:
        return sum(
            i.amount_cents
            for i in self.charges
            if customer_id is None or i.customer_id == customer_id
        )

    def create_customer(self, organization_id: str) -> str:
        with self._lock:
            return self.customers.setdefault(organization_id, f"cus_{organization_id}")

    def create_setup_intent(self, customer_id: str, idempotency_key: str | None) -> SetupIntent:
        n = next(self._ids)
        return SetupIntent(f"seti_{n}", f"seti_{n}_secret_x")

    def attach_payment_method(self, customer_id: str, payment_method_id: str) -> Card:
        if payment_method_id.startswith("pm_refused"):
            raise PaymentMethodRejected("card_declined", "Your card was declined.")
        return card_for(payment_method_id)

    def make_default(self, customer_id: str, payment_method_id: str) -> Card:
        return card_for(payment_method_id)

    def charge(self, request: ChargeRequest) -> ChargeResult:
        if self.on_charge is not None:
            self.on_charge(request)
        with self._lock:
            self.charge_calls += 1
            behaviour = self.script.pop(0) if self.script else "normal"
        if self.charge_delay_s:
            time.sleep(self.charge_delay_s)
        if behaviour == "crash_before":
            raise Crash("before the charge was sent")
        if behaviour == "unavailable":
            return ChargeResult.unknown("connection refused")
        with self._lock:
            result = self.by_key.get(request.idempotency_key)
            if result is None:
                result = self._create_intent(request)
                self.by_key[request.idempotency_key] = result
        if behaviour == "lose_response":
            return ChargeResult.unknown("read timed out")
        if behaviour == "crash_after":
            raise Crash("after the charge went through")
        return result

    def _create_intent(self, request: ChargeRequest) -> ChargeResult:
        intent_id = f"pi_{next(self._ids)}"
        prefix = next((p for p in OUTCOMES if request.payment_method_id.startswith(p)), "pm_ok")
        code, decline = OUTCOMES[prefix]
        if not code:
            result = ChargeResult(ChargeStatus.SUCCEEDED, intent_id)
        else:
            result = ChargeResult(
                ChargeStatus.DECLINED,
                intent_id,
                failure_code=decline or code,
                failure_message="Your card was declined.",
                hard=is_hard_decline(code, decline),
            )
        self.intents[intent_id] = Intent(
            intent_id, request.customer_id, request.amount_cents, dict(request.metadata), result
        )
        return result

    def find_charge(self, customer_id: str, attempt_id: str) -> ChargeResult | None:
        if self.find_failures:
            self.find_failures -= 1
            raise GatewayUnavailable("search timed out")
        with self._lock:
            for intent in self.intents.values():
                if intent.metadata.get(ATTEMPT_METADATA_KEY) == attempt_id:
                    return intent.result
        return None
