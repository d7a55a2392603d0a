"""What localstripe cannot show: answers lost after the charge went through, a crash after each
step of a charge, duplicated attempts — recovery always leaves exactly one charge."""

from __future__ import annotations

import contextlib

import pytest

from flexgrpc.billing.gateway import ChargeResult, ChargeStatus
from flexgrpc.billing.periods import Period
from tests.billing.conftest import CENT, Billing, utc
from tests.billing.scripted import Crash

JAN = Period(2026, 1)


def close_with(billing: Billing, behaviour: str, cents: int = 2500) -> str:
    org = billing.organization()
    billing.commission(org, cents * CENT, utc(2026, 1, 5))
    billing.gateway.script = [behaviour]
    with contextlib.suppress(Crash):
        billing.closer.close(JAN)
    return org


def recover(billing: Billing, minutes: float = 10) -> None:
    billing.clock.advance(minutes=minutes)
    billing.payments.collect_due()


def assert_paid_once(billing: Billing, org: str, cents: int = 2500) -> None:
    (invoice,) = billing.invoices(org)
    assert invoice.state == "paid"
    assert len(billing.gateway.charges) == 1
    assert billing.cleared(org) == cents * CENT
    assert billing.receivable(org) == 0
    assert billing.accounts.summary(org).past_due_since is None


def test_a_lost_answer_is_unknown_not_failed_and_the_reconciler_finds_the_charge(
    billing: Billing,
) -> None:
    org = close_with(billing, "lose_response")
    (attempt,) = billing.attempts(org)
    (invoice,) = billing.invoices(org)
    assert attempt.state == "unknown"
    assert invoice.state == "open"  # never assumed failed: the gate stays off
    assert billing.accounts.summary(org).past_due_since is None
    recover(billing)
    (attempt,) = billing.attempts(org)
    assert attempt.state == "succeeded"
    assert billing.gateway.charge_calls == 1  # found by metadata, not charged again
    assert_paid_once(billing, org)


def test_when_the_lookup_fails_too_the_same_key_is_sent_again_and_charges_nothing_new(
    billing: Billing,
) -> None:
    org = close_with(billing, "lose_response")
    billing.gateway.find_failures = 1
    recover(billing)  # the lookup timed out: still unknown, nothing assumed
    assert [a.state for a in billing.attempts(org)] == ["unknown"]
    billing.gateway.intents.clear()  # as if search could not see it yet: only the key remains
    recover(billing)
    (attempt,) = billing.attempts(org)
    assert attempt.state == "succeeded"
    assert len(billing.gateway.by_key) == 1


def test_a_connection_error_before_sending_is_retried_with_the_same_key(billing: Billing) -> None:
    org = close_with(billing, "unavailable")
    assert [a.state for a in billing.attempts(org)] == ["unknown"]
    recover(billing)
    assert [a.state for a in billing.attempts(org)] == ["succeeded"]
    assert_paid_once(billing, org)


@pytest.mark.parametrize("step", ["crash_before", "crash_after"])
def test_a_crash_at_each_step_of_a_charge_leaves_exactly_one_charge(
    billing: Billing, step: str
) -> None:
    org = close_with(billing, step)
    (attempt,) = billing.attempts(org)
    assert attempt.state == "pending"  # recorded before the gateway was called
    recover(billing, minutes=1)  # too early: another process may still be waiting on Stripe
    assert [a.state for a in billing.attempts(org)] == ["pending"]
    recover(billing, minutes=10)
    assert [a.state for a in billing.attempts(org)] == ["succeeded"]
    assert_paid_once(billing, org)


def test_a_crash_after_the_answer_but_before_it_was_recorded(
    billing: Billing, monkeypatch: pytest.MonkeyPatch
) -> None:
    org = billing.organization()
    billing.commission(org, 2500 * CENT, utc(2026, 1, 5))
    settle = billing.payments.settle

    def crash(attempt_id: str, result: ChargeResult) -> None:
        raise Crash("between the answer and its commit")

    monkeypatch.setattr(billing.payments, "settle", crash)
    with pytest.raises(Crash):
        billing.closer.close(JAN)
    monkeypatch.setattr(billing.payments, "settle", settle)
    billing.closer.close(JAN)  # the close run again: the invoice exists, the attempt is young
    assert billing.gateway.charge_calls == 1
    recover(billing)
    assert_paid_once(billing, org)


def test_a_crash_between_the_invoice_and_its_first_attempt_is_charged_by_the_reconciler(
    billing: Billing, monkeypatch: pytest.MonkeyPatch
) -> None:
    org = billing.organization()
    billing.commission(org, 2500 * CENT, utc(2026, 1, 5))

    def crash(invoice_id: str, *, force: bool = False) -> None:
        raise Crash("after the invoice was committed")

    collect = billing.payments.collect
    monkeypatch.setattr(billing.payments, "collect", crash)
    with pytest.raises(Crash):
        billing.closer.close(JAN)
    monkeypatch.setattr(billing.payments, "collect", collect)
    assert billing.attempts(org) == []
    recover(billing, minutes=0)
    assert_paid_once(billing, org)


def test_duplicated_collects_and_results_charge_once(billing: Billing) -> None:
    org = billing.organization()
    billing.commission(org, 2500 * CENT, utc(2026, 1, 5))
    billing.closer.close(JAN)
    (invoice,) = billing.invoices(org)
    for _ in range(3):
        billing.payments.collect(invoice.id)
        billing.payments.collect(invoice.id, force=True)
        billing.payments.collect_due()
    (attempt,) = billing.attempts(org)
    duplicate = ChargeResult(ChargeStatus.SUCCEEDED, attempt.payment_intent_id)
    billing.payments.settle(attempt.id, duplicate)
    late_failure = ChargeResult(ChargeStatus.DECLINED, attempt.payment_intent_id, "card_declined")
    billing.payments.settle(attempt.id, late_failure)  # reordered: a success is final
    assert billing.attempts(org)[0].state == "succeeded"
    assert_paid_once(billing, org)


def test_an_attempt_in_flight_blocks_a_second_attempt_even_on_a_new_card(billing: Billing) -> None:
    org = close_with(billing, "lose_response")
    billing.card(org, "pm_ok_9999")  # updating the card must not double-charge
    states = [a.state for a in billing.attempts(org)]
    assert states == ["succeeded"]  # the unknown attempt was reconciled, not replaced
    assert_paid_once(billing, org)


def test_soft_declines_are_retried_on_schedule_and_hard_ones_wait_for_a_new_card(
    billing: Billing,
) -> None:
    soft = billing.organization("Soft", card="pm_soft_1")
    hard = billing.organization("Hard", card="pm_hard_2")
    for org in (soft, hard):
        billing.commission(org, 2500 * CENT, utc(2026, 1, 5))
    billing.closer.close(JAN)
    (soft_invoice,) = billing.invoices(soft)
    (hard_invoice,) = billing.invoices(hard)
    assert soft_invoice.state == hard_invoice.state == "past_due"
    assert soft_invoice.next_retry_time == billing.clock.now + billing_days(1)
    assert hard_invoice.next_retry_time is None
    for _ in range(6):  # a week of scheduler ticks
        billing.clock.advance(days=1, seconds=1)
        billing.payments.collect_due()
    assert [a.state for a in billing.attempts(soft)] == ["soft_declined"] * 3  # first + schedule
    assert [a.state for a in billing.attempts(hard)] == ["hard_declined"]
    billing.card(hard, "pm_ok_3")
    billing.card(soft, "pm_ok_4")
    assert billing.attempts(hard)[-1].state == billing.attempts(soft)[-1].state == "succeeded"
    assert billing.accounts.summary(soft).past_due_since is None
    assert billing.accounts.summary(hard).past_due_since is None


def test_authentication_required_is_a_hard_decline(billing: Billing) -> None:
    org = billing.organization(card="pm_auth_1")
    billing.commission(org, 2500 * CENT, utc(2026, 1, 5))
    billing.closer.close(JAN)
    (attempt,) = billing.attempts(org)
    assert (attempt.state, attempt.failure_code) == ("hard_declined", "authentication_required")


def billing_days(days: int) -> object:
    import datetime as dt

    return dt.timedelta(days=days)
