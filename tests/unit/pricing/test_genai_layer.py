"""genai-prices' data as catalog entries: coverage, exactness against genai-prices' own
arithmetic, and every shape that is refused (fail closed, with a reason)."""

from __future__ import annotations

import datetime as dt
import json
import pathlib
from decimal import Decimal
from typing import Any

import pytest
from genai_prices import Usage, calc_price
from genai_prices import types as gp
from genai_prices.data import providers as bundled_providers

from flexgrpc.domain import Provider, TokenCounts
from flexgrpc.errors import FlexError
from flexgrpc.pricing.catalog import LayerInfo, LayerName, PriceCatalog, PriceTier
from flexgrpc.pricing.genai_layer import PROVIDER_IDS, GenaiPricesLayer, bundled_layer
from flexgrpc.routing.model_ids import provider_for_model
from tests.unit.pricing.conftest import CHECKED_ON

PRICING_DIR = pathlib.Path(__file__).parents[3] / "flexgrpc" / "pricing"
_OUTPUT_MODALITIES = ("output_audio_mtok", "output_image_mtok", "output_video_mtok")


def routable(provider: Provider, model: str) -> bool:
    try:
        return provider_for_model(model) is provider
    except FlexError:
        return False


def listed_text_models() -> list[tuple[Provider, gp.ModelInfo]]:
    """Every model genai-prices lists for OpenAI, Gemini and Anthropic that the router can
    reach and that answers in text: priced per input and output token, no priced media output."""
    found = []
    by_id = {p.id: p for p in bundled_providers}
    for provider, source_id in PROVIDER_IDS.items():
        for info in by_id[source_id].models:
            prices = info.get_prices(dt.datetime(2026, 12, 2, tzinfo=dt.UTC))
            keys = {k for k, v in vars(prices).items() if v is not None}
            text = {"input_mtok", "output_mtok"} <= keys and not keys & set(_OUTPUT_MODALITIES)
            if text and routable(provider, info.id):
                found.append((provider, info))
    return found


def test_every_text_model_genai_prices_lists_is_priced(shipped: PriceCatalog) -> None:
    models = listed_text_models()
    unpriced = {(u.provider, u.model): u.reason for u in bundled_layer().unpriced if u.tier is None}
    missing = [
        (provider.value, info.id, unpriced.get((provider, info.id)))
        for provider, info in models
        if shipped.tier_entry(provider, info.id, PriceTier.STANDARD, on=CHECKED_ON) is None
    ]
    # Anthropic's oldest models have no cache-write price, which every Claude price needs.
    assert {(p, m) for p, m, _ in missing} == {
        ("anthropic", "claude-2"),
        ("anthropic", "claude-v1"),
    }
    assert all(reason for _, _, reason in missing)
    counts = {p: sum(1 for q, _ in models if q is p) for p in Provider}
    assert counts[Provider.OPENAI] >= 60
    assert counts[Provider.GEMINI] >= 25
    assert counts[Provider.ANTHROPIC] >= 20


def test_every_model_left_unpriced_says_why() -> None:
    layer = bundled_layer()
    for item in layer.unpriced:
        assert item.reason.strip(), item
    whole = {(u.provider, u.model) for u in layer.unpriced if u.tier is None}
    for provider in Provider:
        for info in layer.models(provider):
            priced = info.id in layer.families(provider)
            assert priced or (provider, info.id) in whole or info.id.startswith("claude"), info.id


def _priced_by_genai(provider: Provider, info: gp.ModelInfo, tier: PriceTier, usage: Usage) -> Any:
    context = {"service_tier": tier.value} if tier is not PriceTier.STANDARD else None
    return calc_price(
        usage,
        info.id,
        provider_id=PROVIDER_IDS[provider],
        genai_request_timestamp=dt.datetime(2026, 12, 2, 12, tzinfo=dt.UTC),
        price_context=context,
    ).total_price


@pytest.mark.parametrize("prompt", [10_000, 300_000])
def test_each_price_is_genai_prices_own_to_the_pico_dollar(
    shipped: PriceCatalog, prompt: int
) -> None:
    """Our integer cost of a request equals genai-prices' Decimal price of it, for every priced
    model and tier (both sides of the comparison, in and above long-context bands)."""
    checked = 0
    for provider, info in listed_text_models():
        for tier in PriceTier:
            quote = shipped.quote(provider, info.id, tier, prompt_tokens=prompt, on=CHECKED_ON)
            if quote is None or quote.entry.layer is None or quote.rates is None:
                continue
            if quote.entry.layer.name is not LayerName.GENAI_PRICES:
                continue
            cached = prompt // 4 if quote.rates.cached_input is not None else 0
            write = prompt // 10 if quote.rates.cache_write is not None else 0
            ours = quote.cost(
                TokenCounts(
                    uncached_input=prompt - cached - write,
                    cached_input=cached,
                    cache_write=write,
                    output=1_234,
                )
            )
            theirs = _priced_by_genai(
                provider,
                info,
                tier,
                Usage(
                    input_tokens=prompt,
                    cache_read_tokens=cached,
                    cache_write_tokens=write,
                    output_tokens=1_234,
                ),
            )
            assert ours is not None
            assert Decimal(ours) == theirs * 10**12, (info.id, tier)
            checked += 1
    assert checked > 100


def test_o3_and_o4_mini_have_exact_flex_prices_from_genai_prices(shipped: PriceCatalog) -> None:
    for model, flex in (("o3", ("1", "0.25", "4")), ("o4-mini", ("0.55", "0.138", "2.2"))):
        quote = shipped.quote(
            Provider.OPENAI, model, PriceTier.FLEX, prompt_tokens=1, on=CHECKED_ON
        )
        assert quote is not None
        assert quote.rates is not None
        described = quote.rates.describe()
        assert (described["input"], described["cached_input"], described["output"]) == flex
        assert quote.entry.layer is not None
        assert quote.entry.layer.name is LayerName.GENAI_PRICES


def test_prices_follow_genai_prices_start_dates(shipped: PriceCatalog) -> None:
    def o3(tier: PriceTier, day: dt.date) -> str | None:
        quote = shipped.quote(Provider.OPENAI, "o3", tier, prompt_tokens=1, on=day)
        return quote.rates.describe()["input"] if quote and quote.rates else None

    assert o3(PriceTier.STANDARD, dt.date(2025, 6, 9)) == "10"
    assert o3(PriceTier.STANDARD, dt.date(2025, 6, 10)) == "2"
    # genai-prices models tier rates from the day it verified them.
    assert o3(PriceTier.FLEX, dt.date(2026, 10, 11)) is None
    assert o3(PriceTier.FLEX, dt.date(2026, 10, 12)) == "1"


def test_an_alias_on_a_row_gets_its_standard_price_but_not_its_other_tiers(
    shipped: PriceCatalog,
) -> None:
    rows = (
        ("gpt-5-chat-latest", "gpt-5", "gpt-5-2025-08-07"),
        ("gpt-5.1-codex", "gpt-5.1", "gpt-5.1-2025-11-13"),
    )
    for alias, row, listed_snapshot in rows:
        assert shipped.family(Provider.OPENAI, alias) == row
        assert shipped.priced_tiers(Provider.OPENAI, alias, on=CHECKED_ON) == (PriceTier.STANDARD,)
        assert shipped.has_flex(Provider.OPENAI, row, on=CHECKED_ON)
        assert shipped.has_flex(Provider.OPENAI, listed_snapshot, on=CHECKED_ON)
        # A dated snapshot genai-prices does not list yet belongs to its model too.
        assert shipped.has_flex(Provider.OPENAI, f"{row}-2027-02-01", on=CHECKED_ON)
    assert not shipped.has_flex(Provider.OPENAI, "gpt-5-chat-latest-2027-02-01", on=CHECKED_ON)


def test_gemini_models_whose_data_mentions_flex_without_a_row_are_decided_by_the_overlay(
    shipped: PriceCatalog,
) -> None:
    document = json.loads((PRICING_DIR / "catalog.json").read_text("utf-8"))
    left_out = {item["family"] for item in document["left_out"]}
    for info in bundled_layer().models(Provider.GEMINI):
        mentions = "flex" in (info.price_comments or "").lower()
        has_row = any(v.when == {"service_tier": "flex"} for v in info.price_variants or ())
        if mentions and not has_row:
            decided = shipped.has_flex(Provider.GEMINI, info.id, on=CHECKED_ON)
            assert decided or info.id in left_out, info.id


# ---- refused shapes ------------------------------------------------------------------------


def layer_of(model: dict[str, Any], provider: str = "openai") -> GenaiPricesLayer:
    raw = [{"id": provider, "name": provider, "api_pattern": "x", "models": [model]}]
    info = LayerInfo(LayerName.GENAI_PRICES, "test", "test")
    return GenaiPricesLayer(gp._providers_from_raw(raw), info)


def reasons(layer: GenaiPricesLayer) -> list[str]:
    return [u.reason for u in layer.unpriced]


@pytest.mark.parametrize(
    ("prices", "says"),
    [
        ({"input_mtok": "0.0000001", "output_mtok": "1"}, "at most 6 decimal"),
        ({"input_mtok": "1"}, "no output_mtok price"),
        ({"input_mtok": "1", "output_mtok": "1", "output_image_mtok": "30"}, "output by modality"),
        ({"input_mtok": "1", "output_mtok": "1", "audio_hours": "3"}, "does not map: audio_hours"),
        (
            {
                "input_mtok": {"base": "1", "tiers": [{"start": 1000, "price": "2"}]},
                "output_mtok": {"base": "1", "tiers": [{"start": 2000, "price": "2"}]},
            },
            "start at different sizes",
        ),
        (
            {
                "input_mtok": {
                    "base": "1",
                    "tiers": [{"start": 1000, "price": "2"}, {"start": 2000, "price": "3"}],
                },
                "output_mtok": "1",
            },
            "2 prompt-size tiers",
        ),
    ],
)
def test_a_price_that_cannot_be_mapped_exactly_leaves_the_model_unpriced(
    prices: dict[str, Any], says: str
) -> None:
    layer = layer_of({"id": "gpt-x", "match": {"equals": "gpt-x"}, "prices": prices})
    assert layer.entry(Provider.OPENAI, "gpt-x", on=CHECKED_ON) is None
    assert len(reasons(layer)) == 1
    assert says in reasons(layer)[0]


def test_a_price_by_time_of_day_is_refused() -> None:
    layer = layer_of(
        {
            "id": "gpt-x",
            "match": {"equals": "gpt-x"},
            "prices": [
                {"prices": {"input_mtok": "1", "output_mtok": "2"}},
                {
                    "constraint": {"start_time": "16:30:00Z", "end_time": "00:30:00Z"},
                    "prices": {"input_mtok": "0.5", "output_mtok": "1"},
                },
            ],
        }
    )
    assert layer.entry(Provider.OPENAI, "gpt-x", on=CHECKED_ON) is None
    assert "time of day" in reasons(layer)[0]


def test_an_unrepresentable_flex_price_leaves_only_the_flex_tier_unpriced() -> None:
    layer = layer_of(
        {
            "id": "gpt-x",
            "match": {"equals": "gpt-x"},
            "prices": {"input_mtok": "1", "output_mtok": "2"},
            "price_variants": [
                {
                    "when": {"service_tier": "flex"},
                    "prices": {"input_mtok": "0.00000005", "output_mtok": "1"},
                }
            ],
        }
    )
    entry = layer.entry(Provider.OPENAI, "gpt-x", on=CHECKED_ON)
    assert entry is not None
    assert entry.priced_tiers() == (PriceTier.STANDARD,)
    (refused,) = layer.unpriced
    assert refused.tier is PriceTier.FLEX
    assert "input_mtok" in refused.reason
