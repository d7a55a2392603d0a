"""Periods are UTC calendar months; the charge threshold and the whole-cent split are exact."""

from __future__ import annotations

import datetime as dt

import pytest

from flexgrpc.billing.close import split_balance
from flexgrpc.billing.periods import Period
from flexgrpc.errors import FlexError
from tests.billing.conftest import CENT, utc


@pytest.mark.parametrize(
    ("balance", "due", "carried"),
    [
        (1999 * CENT, 0, 1999 * CENT),
        (2000 * CENT - 1, 0, 2000 * CENT - 1),
        (2000 * CENT, 2000 * CENT, 0),
        (2000 * CENT + 1, 2000 * CENT, 1),
        (2001 * CENT, 2001 * CENT, 0),
        (2001 * CENT + CENT - 1, 2001 * CENT, CENT - 1),
        (0, 0, 0),
    ],
)
def test_whole_cents_are_charged_from_twenty_dollars_and_the_rest_carries(
    balance: int, due: int, carried: int
) -> None:
    assert split_balance(balance) == (due, carried)


def test_a_negative_balance_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        split_balance(-1)


def test_periods_are_utc_months_across_year_boundaries() -> None:
    december = Period.parse("2026-12")
    assert december.start == utc(2026, 12, 1)
    assert december.end == utc(2027, 1, 1)
    assert december.next() == Period(2027, 1)
    assert Period(2027, 1).previous() == december
    assert str(december) == "2026-12"
    # 00:30 on 1 January in Paris is still December in UTC.
    paris = dt.timezone(dt.timedelta(hours=1))
    assert Period.containing(dt.datetime(2027, 1, 1, 0, 30, tzinfo=paris)) == december
    assert Period.containing(utc(2027, 1, 1)) == Period(2027, 1)


def test_the_default_period_is_the_month_that_just_ended() -> None:
    assert Period.last_ended(utc(2027, 1, 1, 0, 0, 1)) == Period(2026, 12)
    assert Period.last_ended(utc(2026, 3, 31, 23, 59)) == Period(2026, 2)
    assert not Period(2026, 12).has_ended(utc(2026, 12, 31, 23, 59, 59))
    assert Period(2026, 12).has_ended(utc(2027, 1, 1))


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "26-01", "2026-1", "2026/01", "", "x"])
def test_malformed_periods_say_what_is_expected(text: str) -> None:
    with pytest.raises(FlexError) as caught:
        Period.parse(text)
    assert caught.value.code == "invalid_argument"
    assert "YYYY-MM" in caught.value.message
