"""The monthly close on SQLite and PostgreSQL: thresholds, carry-forward, UTC boundaries,
idempotency, concurrency, and the ledger postings of the charges."""

from __future__ import annotations

import threading

import pytest

from flexgrpc.billing.gateway import ChargeResult, ChargeStatus
from flexgrpc.billing.periods import Period
from flexgrpc.db.engine import make_engine, make_sessionmaker
from flexgrpc.errors import FlexError
from tests.billing.conftest import CENT, Billing, build, utc

JAN, FEB, MAR, APR = (Period(2026, m) for m in (1, 2, 3, 4))


@pytest.mark.parametrize(
    ("cents", "charged"), [(1999, 0), (2000, 2000), (2001, 2001)], ids=["1999", "2000", "2001"]
)
def test_the_balance_is_charged_from_exactly_twenty_dollars(
    billing: Billing, cents: int, charged: int
) -> None:
    org = billing.organization()
    billing.commission(org, cents * CENT + 4_321, utc(2026, 1, 15))
    report = billing.closer.close(JAN)
    (invoice,) = billing.invoices(org)
    assert invoice.amount_due_nano_usd == charged * CENT
    assert billing.gateway.charged_cents() == charged
    if charged:
        assert (invoice.state, invoice.carried_out_nano_usd) == ("paid", 4_321)
        assert (report.charges_attempted, report.charges_succeeded) == (1, 1)
        assert report.charged_nano_usd == charged * CENT
        # The sub-cent remainder stays on the receivable; the cents moved to clearing.
        assert billing.receivable(org) == 4_321
        assert billing.cleared(org) == charged * CENT
    else:
        assert invoice.state == "carried_forward"
        assert invoice.carried_out_nano_usd == cents * CENT + 4_321
        assert report.charges_attempted == 0
        assert billing.cleared(org) == 0


def test_small_balances_carry_across_months_until_they_reach_the_threshold(
    billing: Billing,
) -> None:
    org = billing.organization()
    billing.commission(org, 700 * CENT + 5, utc(2026, 1, 10))
    billing.commission(org, 800 * CENT, utc(2026, 2, 10))
    billing.commission(org, 600 * CENT, utc(2026, 3, 10))
    billing.commission(org, 100 * CENT, utc(2026, 4, 10))
    billing.clock.now = utc(2026, 5, 1, 0, 5)
    for period in (JAN, FEB, MAR, APR):
        billing.closer.close(period)
    jan, feb, mar, apr = billing.invoices(org)
    assert [i.state for i in (jan, feb, mar, apr)] == [
        "carried_forward", "carried_forward", "paid", "carried_forward",
    ]  # fmt: skip
    assert feb.carried_in_nano_usd == jan.carried_out_nano_usd == 700 * CENT + 5
    assert mar.carried_in_nano_usd == feb.carried_out_nano_usd == 1500 * CENT + 5
    assert mar.amount_due_nano_usd == 2100 * CENT
    assert mar.carried_out_nano_usd == apr.carried_in_nano_usd == 5
    assert apr.carried_out_nano_usd == 100 * CENT + 5
    assert billing.gateway.charged_cents() == 2100
    summary = billing.accounts.summary(org)
    assert summary.carried_nano_usd == 100 * CENT + 5
    assert summary.accrued_nano_usd == 0
    assert billing.receivable(org) == summary.carried_nano_usd


def test_months_are_cut_at_utc_midnight_across_the_new_year(billing: Billing) -> None:
    org = billing.organization()
    billing.commission(org, 2500 * CENT, utc(2026, 12, 31, 23, 59, 59, 999_999))
    billing.commission(org, 3000 * CENT, utc(2027, 1, 1))
    billing.clock.now = utc(2027, 1, 1, 0, 0, 1)
    billing.closer.close()  # the default: the month that just ended, December 2026
    (december,) = billing.invoices(org)
    assert (december.period, december.commission_nano_usd) == ("2026-12", 2500 * CENT)
    assert billing.accounts.summary(org).accrued_nano_usd == 3000 * CENT
    billing.clock.now = utc(2027, 2, 1)
    billing.closer.close(Period(2027, 1))
    assert [i.commission_nano_usd for i in billing.invoices(org)] == [2500 * CENT, 3000 * CENT]
    assert billing.gateway.charged_cents() == 5500


def test_a_month_that_has_not_ended_cannot_be_closed(billing: Billing) -> None:
    org = billing.organization()
    billing.commission(org, 5000 * CENT, utc(2026, 1, 5))
    billing.clock.now = utc(2026, 1, 31, 23, 59, 59)
    with pytest.raises(FlexError) as caught:
        billing.closer.close(JAN)
    assert caught.value.code == "invalid_argument"
    assert "has not ended" in caught.value.message
    assert billing.invoices(org) == []


def test_closing_twice_makes_one_invoice_and_one_charge(billing: Billing) -> None:
    org = billing.organization()
    billing.commission(org, 4242 * CENT, utc(2026, 1, 5))
    first = billing.closer.close(JAN)
    second = billing.closer.close(JAN)
    assert (first.invoices_created, first.charges_attempted) == (1, 1)
    assert (second.invoices_created, second.charges_attempted) == (0, 0)
    assert len(billing.invoices(org)) == 1
    assert billing.gateway.charge_calls == 1
    assert billing.closer.is_closed(JAN)


def test_a_record_that_lands_after_the_close_is_billed_next_month(billing: Billing) -> None:
    org = billing.organization()
    billing.commission(org, 2000 * CENT, utc(2026, 1, 20))
    billing.closer.close(JAN)
    # A long flex race started on 31 January and finished after the close ran.
    billing.commission(org, 300 * CENT, utc(2026, 1, 31, 23, 50))
    billing.commission(org, 1800 * CENT, utc(2026, 2, 3))
    billing.clock.now = utc(2026, 3, 1, 0, 1)
    billing.closer.close(FEB)
    jan, feb = billing.invoices(org)
    assert jan.commission_nano_usd == 2000 * CENT
    assert feb.commission_nano_usd == 2100 * CENT
    assert billing.gateway.charged_cents() == 4100


def test_closing_a_later_month_first_bills_the_earlier_one_with_it(billing: Billing) -> None:
    org = billing.organization()
    billing.commission(org, 1500 * CENT, utc(2026, 1, 20))
    billing.commission(org, 1500 * CENT, utc(2026, 2, 20))
    billing.clock.now = utc(2026, 3, 2)
    billing.closer.close(FEB)
    billing.closer.close(JAN)  # nothing left to bill for January
    (feb,) = billing.invoices(org)
    assert (feb.period, feb.amount_due_nano_usd) == ("2026-02", 3000 * CENT)


def test_organizations_without_commission_get_no_invoice(billing: Billing) -> None:
    idle = billing.organization("Idle")
    busy = billing.organization("Busy")
    billing.commission(busy, 100, utc(2026, 1, 2))
    report = billing.closer.close(JAN)
    assert report.invoices_created == 1
    assert billing.invoices(idle) == []


def test_a_charge_result_posts_to_the_ledger_once(billing: Billing) -> None:
    org = billing.organization()
    billing.commission(org, 2500 * CENT, utc(2026, 1, 5))
    billing.closer.close(JAN)
    (attempt,) = billing.attempts(org)
    result = ChargeResult(ChargeStatus.SUCCEEDED, attempt.payment_intent_id)
    billing.payments.settle(attempt.id, result)  # e.g. the webhook, after the synchronous path
    billing.payments.settle(attempt.id, result)
    assert billing.cleared(org) == 2500 * CENT
    assert billing.receivable(org) == 0


def test_no_card_on_file_makes_the_balance_past_due(billing: Billing) -> None:
    org = billing.organization(card=None)
    billing.commission(org, 2500 * CENT, utc(2026, 1, 5))
    billing.closer.close(JAN)
    (invoice,) = billing.invoices(org)
    (attempt,) = billing.attempts(org)
    assert invoice.state == "past_due"
    assert attempt.state == "no_payment_method"
    summary = billing.accounts.summary(org)
    assert summary.past_due_nano_usd == 2500 * CENT
    assert summary.past_due_since == billing.clock.now
    assert billing.gateway.charge_calls == 0


def test_concurrent_closes_make_one_invoice_and_at_most_one_charge_each(
    billing: Billing, database_url: str
) -> None:
    orgs = [billing.organization(f"Org {n}") for n in range(4)]
    for n, org in enumerate(orgs):
        billing.commission(org, (2000 + n) * CENT, utc(2026, 1, 9))
    billing.gateway.charge_delay_s = 0.05  # keep the first charge in flight while the other runs
    barrier = threading.Barrier(2)
    reports = []
    errors: list[BaseException] = []

    def close() -> None:
        engine = make_engine(database_url)  # each "replica" has its own pool
        try:
            _, closer, _ = build(make_sessionmaker(engine), billing.clock, billing.gateway)
            barrier.wait(timeout=30)
            reports.append(closer.close(JAN))
        except BaseException as exc:
            errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=close) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sum(r.invoices_created for r in reports) == 4
    assert sum(r.charges_attempted for r in reports) == 4
    for org in orgs:
        assert len(billing.invoices(org)) == 1
        assert len(billing.attempts(org)) == 1
    assert len(billing.gateway.charges) == 4
    assert billing.gateway.charge_calls == 4
