"""Cost, savings and commission of one request (SPEC §4).

For a request served on flex after a flex race: **actual cost** = the normalised usage priced at
the served tier; **standard cost** = the same usage priced at the standard tier (the same band:
both sides see the same prompt); **savings** = max(0, standard - actual); **commission** = 20% of
savings. Commission is zero — and the reason says why — for fixed tiers (``default``,
``priority``, ``auto``), every Anthropic model, a race that fell back, a flex answer that did not
beat standard, a model or tier without a price (fail closed: ``actual``/``standard`` may be
unknown, which is ``None``, never a made-up 0) and usage the provider did not report completely.

Amounts follow ``flexgrpc.pricing.money``: exact pico-USD per side, one rounding to the ledger's
nano-USD, commission rounded once, micro-USD for clients rounded once from nano-USD.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from flexgrpc.domain import CommissionReason, Cost, Provider, TokenCounts
from flexgrpc.pricing.catalog import PriceCatalog, PriceQuote, PriceTier
from flexgrpc.pricing.money import (
    MicroUSD,
    NanoUSD,
    commission_of,
    nano_to_micro,
    pico_to_nano,
)

__all__ = ["MicroAmounts", "PriceCatalog", "micro_amounts", "price_request"]


@dataclass(frozen=True, slots=True)
class MicroAmounts:
    """What clients see, each amount rounded once (half-even) from nano-USD."""

    actual: MicroUSD | None
    standard: MicroUSD | None
    savings: MicroUSD
    commission: MicroUSD
    kept: MicroUSD


def micro_amounts(cost: Cost) -> MicroAmounts:
    """What clients see of ``cost``: each amount rounded once (half-even) from nano-USD."""
    return MicroAmounts(
        actual=_micro_or_none(cost.actual_nano_usd),
        standard=_micro_or_none(cost.standard_nano_usd),
        savings=nano_to_micro(NanoUSD(cost.savings_nano_usd)),
        commission=nano_to_micro(NanoUSD(cost.commission_nano_usd)),
        kept=nano_to_micro(NanoUSD(cost.kept_nano_usd)),
    )


def _micro_or_none(amount: int | None) -> MicroUSD | None:
    return nano_to_micro(NanoUSD(amount)) if amount is not None else None


def _served_price_tier(served_tier: str) -> PriceTier | None:
    """``standard``/``flex``/``priority`` (as ``ServedTier`` values are); anything else: None."""
    try:
        return PriceTier(served_tier)
    except ValueError:
        return None


def price_request(
    catalog: PriceCatalog,
    model: str,
    served_tier: str,
    usage: TokenCounts,
    flex_race: bool,
    provider: Provider,
    *,
    on: dt.date | None = None,
) -> Cost:
    """Price one request.

    ``served_tier`` is the tier the provider says it served (a ``ServedTier`` value: ``standard``,
    ``flex``, ``priority``; ``unknown``/``other`` are unpriced). ``flex_race`` is whether the
    request asked for a flex window. ``on`` is the UTC day whose prices apply (today by default).
    Never raises for any usage or model: an unknown price is an unpriced result.
    """
    day = on if on is not None else dt.datetime.now(dt.UTC).date()
    prompt = usage.prompt_tokens
    tier = _served_price_tier(served_tier)
    actual_quote = (
        catalog.quote(provider, model, tier, prompt_tokens=prompt, on=day)
        if tier is not None
        else None
    )
    standard_quote = catalog.quote(
        provider, model, PriceTier.STANDARD, prompt_tokens=prompt, on=day
    )
    actual_pico = actual_quote.cost(usage) if actual_quote is not None else None
    standard_pico = standard_quote.cost(usage) if standard_quote is not None else None
    actual = pico_to_nano(actual_pico) if actual_pico is not None else None
    standard = pico_to_nano(standard_pico) if standard_pico is not None else None
    prices = _prices_record(actual_quote, standard_quote)

    def without_commission(reason: CommissionReason) -> Cost:
        return Cost(
            reason=reason,
            actual_nano_usd=actual,
            standard_nano_usd=standard,
            savings_nano_usd=NanoUSD(0),
            commission_nano_usd=NanoUSD(0),
            actual_pico_usd=actual_pico,
            standard_pico_usd=standard_pico,
            prices=prices,
        )

    if provider is Provider.ANTHROPIC:
        return without_commission(CommissionReason.ANTHROPIC)
    if not flex_race:
        return without_commission(CommissionReason.FIXED_TIER)
    if tier is not PriceTier.FLEX:
        return without_commission(CommissionReason.FELL_BACK)
    if actual is None or standard is None:
        return without_commission(CommissionReason.UNPRICED)
    if not usage.complete:
        return without_commission(CommissionReason.INCOMPLETE_USAGE)
    savings = NanoUSD(standard - actual)
    if savings <= 0:
        return without_commission(CommissionReason.FLEX_NOT_CHEAPER)
    return Cost(
        reason=CommissionReason.FLEX_SAVED,
        actual_nano_usd=actual,
        standard_nano_usd=standard,
        savings_nano_usd=savings,
        commission_nano_usd=commission_of(savings),
        actual_pico_usd=actual_pico,
        standard_pico_usd=standard_pico,
        prices=prices,
    )


def _prices_record(actual: PriceQuote | None, standard: PriceQuote | None) -> dict[str, Any]:
    """The catalog prices used, for the usage record (empty when nothing was priced).

    Each side names the layer that priced it (``genai-prices``, ``overlay``, ``operator``), the
    file or package and its data version; the top level repeats the actual side's (or, when
    that is unpriced, the standard side's) provenance.
    """
    quote = actual or standard
    if quote is None:
        return {}
    entry = quote.entry
    layer = entry.layer.record() if entry.layer is not None else {}
    return {
        "provider": entry.provider.value,
        "family": entry.family,
        "as_of": entry.as_of.isoformat() if entry.as_of is not None else None,
        "source": entry.source,
        "catalog": entry.origin,
        **layer,
        "actual": actual.record() if actual is not None else None,
        "standard": standard.record() if standard is not None else None,
    }
