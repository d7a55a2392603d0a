"""The 402 gate: past due blocks billable flex only, lifts within the cache TTL on every
replica, and optionally requires a card on file."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import grpc
import pytest

from flexgrpc.api.status import status_proto
from flexgrpc.billing.gate import BillingGate
from flexgrpc.billing.periods import Period
from flexgrpc.domain import RouteJob
from flexgrpc.errors import FlexError
from tests.billing.conftest import CENT, Billing, utc


def raced(job: RouteJob) -> bool:
    """The billable rule these gates use: every flex race."""
    return job.start_within.is_race


@dataclass
class Ticks:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


def past_due(billing: Billing) -> str:
    org = billing.organization(card="pm_hard_1")
    billing.commission(org, 2500 * CENT, utc(2026, 1, 3))
    billing.closer.close(Period(2026, 1))
    return org


async def test_past_due_refuses_billable_flex_with_payment_required(billing: Billing) -> None:
    org = past_due(billing)
    gate = BillingGate(billing.sessions, billable=raced, ttl_s=0)
    with pytest.raises(FlexError) as caught:
        await gate.check(org, billable=True)
    error = caught.value
    assert error.code == "payment_required"
    assert (error.spec.http_status, error.spec.grpc_status) == (
        402, grpc.StatusCode.FAILED_PRECONDITION,
    )  # fmt: skip
    assert error.spec.error_type == "billing_error"
    assert "default, priority and auto" in error.message
    assert status_proto(error).details  # ErrorInfo travels with the status
    await gate.check(org, billable=False)
    await gate.check(billing.organization("Good"), billable=True)


async def test_a_settled_balance_lifts_the_gate_on_every_replica_within_the_ttl(
    billing: Billing,
) -> None:
    org = past_due(billing)
    ticks = Ticks()
    replicas = [
        BillingGate(billing.sessions, billable=raced, ttl_s=5, clock=ticks) for _ in range(2)
    ]
    for gate in replicas:
        with pytest.raises(FlexError):
            await gate.check(org, billable=True)
    billing.card(org, "pm_ok_2")  # settled (on "another replica")
    ticks.now += 4.9
    for gate in replicas:  # still cached: at most the TTL
        with pytest.raises(FlexError):
            await gate.check(org, billable=True)
    ticks.now += 0.2
    for gate in replicas:
        await gate.check(org, billable=True)


async def test_concurrent_checks_share_one_lookup(
    billing: Billing, monkeypatch: pytest.MonkeyPatch
) -> None:
    org = billing.organization()
    gate = BillingGate(billing.sessions, billable=raced, ttl_s=5)
    loads = []
    load = gate._load

    def counted(organization_id: str) -> object:
        loads.append(organization_id)
        return load(organization_id)

    monkeypatch.setattr(gate, "_load", counted)
    await asyncio.gather(*(gate.check(org, billable=True) for _ in range(50)))
    assert loads == [org]


async def test_a_card_on_file_can_be_required_before_billable_flex(billing: Billing) -> None:
    gate = BillingGate(billing.sessions, billable=raced, ttl_s=0, require_card=True)
    without = billing.organization("No card", card=None)
    with_card = billing.organization("Card")
    with pytest.raises(FlexError) as caught:
        await gate.check(without, billable=True)
    assert caught.value.metadata["reason"] == "no_card_on_file"
    await gate.check(without, billable=False)
    await gate.check(with_card, billable=True)
    await BillingGate(billing.sessions, billable=raced, ttl_s=0).check(
        without, billable=True
    )  # off by default


def test_the_ttl_cannot_exceed_five_seconds(billing: Billing) -> None:
    with pytest.raises(ValueError, match="TTL"):
        BillingGate(billing.sessions, billable=raced, ttl_s=6)
