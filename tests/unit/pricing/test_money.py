"""Exact money: price strings to integer rates, and the one rounding rule."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flexgrpc.pricing.money import (
    NanoUSD,
    PicoUSD,
    PriceFormatError,
    commission_of,
    format_usd_per_million,
    nano_to_micro,
    parse_usd_per_million,
    pico_to_nano,
    round_half_even,
)


@pytest.mark.parametrize(
    ("text", "pico_per_token"),
    [
        ("1.25", 1_250_000),
        ("0.05", 50_000),  # 50 nano-USD per token
        ("0.025", 25_000),  # 25 nano-USD per token
        ("0.0025", 2_500),  # GPT-5 nano flex cached input: 2.5 nano-USD, exact in pico-USD
        ("0.000001", 1),  # the finest representable price
        ("0", 0),
        ("180", 180_000_000),
        ("999999.999999", 999_999_999_999),
    ],
)
def test_prices_parse_to_exact_pico_usd_per_token(text: str, pico_per_token: int) -> None:
    assert parse_usd_per_million(text) == pico_per_token


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (1.25, "not a string"),
        (2, "not a string"),
        (None, "not a string"),
        ("-1", "negative"),
        ("-0.5", "negative"),
        ("0.0000001", "at most 6 decimal places"),
        ("1e3", "at most 6 decimal places"),
        ("1.", "at most 6"),
        (".5", "at most 6"),
        ("01", "at most 6"),
        (" 1", "at most 6"),
        ("1,000", "at most 6"),
        ("NaN", "at most 6"),
        ("", "at most 6"),
        ("1000000", "at most 6"),
    ],
)
def test_prices_that_are_not_exact_decimals_are_rejected(value: object, says: str) -> None:
    with pytest.raises(PriceFormatError, match=says):
        parse_usd_per_million(value)


@given(st.integers(min_value=0, max_value=999_999_999_999))
def test_formatting_a_rate_gives_back_the_same_rate(rate: int) -> None:
    text = format_usd_per_million(PicoUSD(rate))
    assert parse_usd_per_million(text) == rate
    assert not text.endswith(".")
    assert ("." not in text) or not text.endswith("0")


@pytest.mark.parametrize(
    ("numerator", "denominator", "rounded"),
    [
        (1499, 1000, 1),
        (1500, 1000, 2),  # tie: to even
        (2500, 1000, 2),  # tie: to even
        (2501, 1000, 3),
        (3500, 1000, 4),
        (-1500, 1000, -2),
        (-2500, 1000, -2),
        (0, 7, 0),
    ],
)
def test_round_half_even(numerator: int, denominator: int, rounded: int) -> None:
    assert round_half_even(numerator, denominator) == rounded


@given(st.integers(), st.integers(min_value=1, max_value=10**12))
def test_round_half_even_is_within_half_a_unit(numerator: int, denominator: int) -> None:
    rounded = round_half_even(numerator, denominator)
    assert 2 * abs(numerator - rounded * denominator) <= denominator


def test_round_half_even_needs_a_positive_denominator() -> None:
    with pytest.raises(ValueError, match="positive"):
        round_half_even(1, 0)


@given(st.integers(min_value=0, max_value=10**15))
def test_commission_is_twenty_percent_to_the_nearest_nano_usd(savings: int) -> None:
    commission = commission_of(NanoUSD(savings))
    # |savings x 20 / 100 - commission| <= 0.4 nano-USD, i.e. |savings - 5 x commission| <= 2
    assert abs(savings - 5 * commission) <= 2
    assert 0 <= commission <= savings


def test_unit_conversions_round_half_even_once() -> None:
    assert pico_to_nano(PicoUSD(2_500)) == 2  # 2.5 nano-USD → 2
    assert pico_to_nano(PicoUSD(3_500)) == 4
    assert nano_to_micro(NanoUSD(153_000_000)) == 153_000
    assert nano_to_micro(NanoUSD(1_500)) == 2
