"""Prices, exact money, and the cost / savings / commission of each request (SPEC §4).

- ``catalog``: the price catalog (``catalog.json`` plus an operator override), validated at load.
- ``money``: integer money units (pico-, nano-, micro-USD) and the one rounding rule.
- ``usage``: one normaliser per upstream wire format → ``NormalisedUsage``.
- ``cost``: ``price_request`` → ``Pricing`` (actual, standard, savings, commission, reason).
"""

from flexgrpc.pricing.catalog import (
    CatalogError,
    LongContextBand,
    ModelPrices,
    PriceCatalog,
    PriceQuote,
    PriceTier,
    TierPrices,
    TokenRates,
)
from flexgrpc.pricing.cost import CommissionReason, MicroAmounts, Pricing, price_request
from flexgrpc.pricing.money import MicroUSD, NanoUSD, PicoUSD
from flexgrpc.pricing.usage import (
    NormalisedUsage,
    UsageFormat,
    normalise_anthropic_messages,
    normalise_gemini_interactions,
    normalise_openai_chat,
    normalise_openai_responses,
    normalise_usage,
    usage_format_for,
)

__all__ = [
    "CatalogError",
    "CommissionReason",
    "LongContextBand",
    "MicroAmounts",
    "MicroUSD",
    "ModelPrices",
    "NanoUSD",
    "NormalisedUsage",
    "PicoUSD",
    "PriceCatalog",
    "PriceQuote",
    "PriceTier",
    "Pricing",
    "TierPrices",
    "TokenRates",
    "UsageFormat",
    "normalise_anthropic_messages",
    "normalise_gemini_interactions",
    "normalise_openai_chat",
    "normalise_openai_responses",
    "normalise_usage",
    "price_request",
    "usage_format_for",
]
