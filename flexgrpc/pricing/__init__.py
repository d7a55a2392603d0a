"""Prices, exact money, and the cost / savings / commission of each request (SPEC §4).

- ``catalog``: the price catalog, in layers: the operator's file over the overlay ``catalog.json``
  over genai-prices; validated at load.
- ``genai_layer``: genai-prices' maintained data as exact catalog entries (what it cannot map is
  unpriced, with a reason); ``refresh``: the opt-in fetch of its published data at start.
- ``money``: integer money units (pico-, nano-, micro-USD) and the one rounding rule.
- ``usage``: one normaliser per upstream wire format → ``flexgrpc.domain.TokenCounts``.
- ``cost``: ``price_request`` → ``flexgrpc.domain.Cost`` (actual, standard, savings, commission,
  reason); ``pricer``: the router's pricer over a catalog.
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
from flexgrpc.pricing.cost import MicroAmounts, micro_amounts, price_request
from flexgrpc.pricing.money import MicroUSD, NanoUSD, PicoUSD
from flexgrpc.pricing.usage import (
    UsageFormat,
    normalise_anthropic_messages,
    normalise_gemini_generate_content,
    normalise_gemini_interactions,
    normalise_openai_chat,
    normalise_openai_responses,
    normalise_usage,
    usage_format_for,
)

__all__ = [
    "CatalogError",
    "LongContextBand",
    "MicroAmounts",
    "MicroUSD",
    "ModelPrices",
    "NanoUSD",
    "PicoUSD",
    "PriceCatalog",
    "PriceQuote",
    "PriceTier",
    "TierPrices",
    "TokenRates",
    "UsageFormat",
    "micro_amounts",
    "normalise_anthropic_messages",
    "normalise_gemini_generate_content",
    "normalise_gemini_interactions",
    "normalise_openai_chat",
    "normalise_openai_responses",
    "normalise_usage",
    "price_request",
    "usage_format_for",
]
