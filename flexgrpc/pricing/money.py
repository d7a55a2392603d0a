"""Exact money: integer amounts, one rounding rule, no float anywhere.

Units (all plain ``int`` at run time; the ``NewType`` names keep them apart for mypy):

- ``PicoUSD`` (1e-12 USD) is the unit of **rates** and of a request's **exact** cost. A catalog
  price of ``p`` USD per 1M tokens is ``p x 10^6`` pico-USD per token, an integer for every price
  with at most ``PRICE_DECIMALS`` (6) decimal places; a price with more is rejected, never rounded.
  Nano-USD per token would not do: GPT-5 nano's flex cached input, $0.0025 per 1M tokens, is 2.5
  nano-USD per token, and the spec asks for a unit in which one token of the cheapest model is
  exact.
- ``NanoUSD`` (1e-9 USD) is the unit the ledger stores: costs, savings and commission.
- ``MicroUSD`` (1e-6 USD) is what clients see (``x-flexinference-cost`` and friends).

Rounding: every conversion to a coarser unit uses ``round_half_even`` (banker's rounding, exact
integer arithmetic) and happens once per amount per request, never on a value that was already
rounded for the same purpose:

1. each side's exact pico-USD cost → nano-USD (exact whenever every price used has at most three
   decimals, i.e. is a whole number of nano-USD per token);
2. commission = ``savings_nano x 20 / 100`` → nano-USD (``savings / 5`` never ends in exactly .5,
   so this is plain rounding to nearest, off by at most 0.4 nano-USD);
3. each reported amount nano-USD → micro-USD for clients.

Savings are ``standard_nano - actual_nano``, a difference of already-rounded values, so
``actual + savings == standard`` holds exactly in nano-USD. Kept = savings - commission, exactly.
Micro-USD values are each rounded once from nano-USD, so a sum of micro values can differ from the
micro value of the sum by at most one micro-USD per rounded term beyond the first.
"""

from __future__ import annotations

import re
from typing import Final, NewType

PicoUSD = NewType("PicoUSD", int)
NanoUSD = NewType("NanoUSD", int)
MicroUSD = NewType("MicroUSD", int)

PICO_PER_NANO: Final = 1000
NANO_PER_MICRO: Final = 1000

#: Decimal places a catalog price (USD per 1M tokens) may have: 10^6 pico-USD per token per USD/1M.
PRICE_DECIMALS: Final = 6
_PICO_PER_USD_PER_MILLION: Final = 1_000_000  # 10^PRICE_DECIMALS

#: The commission is this percentage of the savings (SPEC §4).
COMMISSION_PERCENT: Final = 20

#: A price: up to six integer digits (less than $1,000,000 per 1M tokens) and up to six decimals,
#: written as a JSON string so that no float ever touches it.
_PRICE_SHAPE: Final = re.compile(r"(?P<whole>0|[1-9][0-9]{0,5})(?:\.(?P<frac>[0-9]{1,6}))?")


class PriceFormatError(ValueError):
    """A price string that is not an exact, non-negative decimal with at most six places."""


def parse_usd_per_million(text: object) -> PicoUSD:
    """Pico-USD per token for a price written as a decimal string of USD per 1M tokens.

    ``"1.25"`` → 1_250_000; ``"0.0025"`` → 2_500. Raises ``PriceFormatError`` (with a message that
    says what is wrong) for anything else: numbers that are not strings, negative prices, more
    than six decimals, exponents, blanks.
    """
    if not isinstance(text, str):
        raise PriceFormatError(
            f'{text!r} is not a string: write prices as decimal strings such as "1.25" so they '
            "are never parsed as floats"
        )
    if text.startswith("-"):
        raise PriceFormatError(f"{text!r} is negative: prices are >= 0")
    match = _PRICE_SHAPE.fullmatch(text)
    if match is None:
        raise PriceFormatError(
            f"{text!r} is not a plain decimal with at most {PRICE_DECIMALS} decimal places "
            '(e.g. "1.25" or "0.0025"; no exponent, sign, spaces or thousands separators)'
        )
    fraction = (match["frac"] or "").ljust(PRICE_DECIMALS, "0")
    return PicoUSD(int(match["whole"]) * _PICO_PER_USD_PER_MILLION + int(fraction))


def format_usd_per_million(rate: PicoUSD) -> str:
    """The shortest decimal string for a rate, the inverse of ``parse_usd_per_million``."""
    whole, fraction = divmod(rate, _PICO_PER_USD_PER_MILLION)
    if not fraction:
        return str(whole)
    return f"{whole}.{fraction:0{PRICE_DECIMALS}d}".rstrip("0")


def round_half_even(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded to the nearest integer, ties to even; ints only."""
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    quotient, remainder = divmod(numerator, denominator)
    twice = 2 * remainder
    if twice > denominator or (twice == denominator and quotient % 2 == 1):
        quotient += 1
    return quotient


def pico_to_nano(amount: PicoUSD) -> NanoUSD:
    """Rounding step 1: an exact cost in pico-USD to the ledger's nano-USD."""
    return NanoUSD(round_half_even(amount, PICO_PER_NANO))


def commission_of(savings: NanoUSD) -> NanoUSD:
    """Rounding step 2: 20% of ``savings`` (``savings x 20 / 100``), in nano-USD."""
    return NanoUSD(round_half_even(savings * COMMISSION_PERCENT, 100))


def nano_to_micro(amount: NanoUSD) -> MicroUSD:
    """Rounding step 3: a nano-USD amount as the micro-USD that clients see."""
    return MicroUSD(round_half_even(amount, NANO_PER_MICRO))
