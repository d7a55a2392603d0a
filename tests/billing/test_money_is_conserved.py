"""Property: whatever happens — small and large months, new cards, declines, lost answers,
crashes mid-charge — money is neither created nor lost, and nothing is charged twice."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flexgrpc.billing.periods import Period
from flexgrpc.ledger.audit import audit
from tests.billing.conftest import CENT, Billing
from tests.billing.scripted import Crash

month = st.fixed_dictionaries(
    {
        # Mostly amounts that cross the $20 threshold within a month or two, some with sub-cents.
        "commissions": st.lists(
            st.one_of(
                st.integers(500 * CENT, 2_500 * CENT),
                st.integers(0, 3_000 * CENT + 999),
            ),
            max_size=3,
        ),
        "card": st.sampled_from([None, None, "pm_ok_1111", "pm_soft_2222", "pm_hard_3333"]),
        "charge": st.sampled_from(
            ["normal", "normal", "lose_response", "unavailable", "crash_before", "crash_after"]
        ),
    }
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    months=st.lists(month, min_size=1, max_size=5), first_card=st.sampled_from(["pm_ok_0", None])
)
def test_money_is_neither_created_nor_lost(
    billing: Billing, months: list[dict[str, object]], first_card: str | None
) -> None:
    org = billing.organization(card=first_card)
    written = 0
    period = Period(2026, 1)
    for plan in months:
        for n, amount in enumerate(plan["commissions"]):  # type: ignore[arg-type]
            billing.commission(org, amount, period.start + dt.timedelta(days=n))
            written += amount
        if plan["card"] is not None:
            billing.card(org, str(plan["card"]))
        billing.clock.now = period.end + dt.timedelta(minutes=5)
        billing.gateway.script = [str(plan["charge"])]
        with contextlib.suppress(Crash):
            billing.closer.close(period)
        billing.gateway.script = []  # unused when nothing was due: not for a later card update
        # Later: the reconciler settles what was lost, the soft-decline schedule retries.
        for later in (dt.timedelta(minutes=10), dt.timedelta(days=2), dt.timedelta(days=5)):
            billing.clock.now = period.end + later
            billing.payments.collect_due()
        period = period.next()
    billing.clock.now += dt.timedelta(hours=1)
    billing.payments.collect_due()

    assert audit(billing.sessions) == []
    summary = billing.accounts.summary(org)
    receivable, cleared = billing.receivable(org), billing.cleared(org)
    customer = billing.gateway.customers.get(org)
    charged = billing.gateway.charged_cents(customer) if customer else 0
    # Every cent the card was charged is posted once, and nothing else is.
    assert cleared == charged * CENT
    # What was earned is either still owed or paid.
    assert receivable + cleared == written
    assert receivable == summary.accrued_nano_usd + summary.carried_nano_usd
    invoices = billing.invoices(org)
    assert sum(i.commission_nano_usd for i in invoices) + summary.accrued_nano_usd == written
    for invoice in invoices:
        assert invoice.amount_due_nano_usd % CENT == 0
        assert (
            invoice.commission_nano_usd + invoice.carried_in_nano_usd
            == invoice.amount_due_nano_usd + invoice.carried_out_nano_usd
        )
    # At most one charge per invoice, and a paid invoice was charged exactly once.
    per_invoice = Counter(i.metadata["flexgrpc_invoice_id"] for i in billing.gateway.charges)
    assert all(count == 1 for count in per_invoice.values())
    for invoice in invoices:
        assert (invoice.state == "paid") == (per_invoice[invoice.id] == 1)
    assert (summary.past_due_since is not None) == any(i.state == "past_due" for i in invoices)
