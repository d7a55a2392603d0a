"""The shipped price catalog (overlay over genai-prices), its lookups, the operator's file, and
every validation error."""

from __future__ import annotations

import datetime as dt
import json
import pathlib
import re
from typing import Any

import pytest

from flexgrpc.domain import Provider, TokenCounts
from flexgrpc.pricing.catalog import (
    BASE_BAND,
    LONG_CONTEXT_BAND,
    CatalogError,
    FileLayer,
    LayerName,
    PriceCatalog,
    PriceTier,
    parse_catalog,
)
from flexgrpc.pricing.genai_layer import bundled_layer
from flexgrpc.pricing.money import parse_usd_per_million
from tests.unit.pricing.conftest import CHECKED_ON, catalog_of, entry

PRICING_DIR = pathlib.Path(__file__).parents[3] / "flexgrpc" / "pricing"


def overlay(catalog: PriceCatalog) -> FileLayer:
    layer = next(layer for layer in catalog.layers if layer.info.name is LayerName.OVERLAY)
    assert isinstance(layer, FileLayer)
    return layer


def test_the_overlay_keeps_only_what_genai_prices_lacks(shipped: PriceCatalog) -> None:
    """Every overlay family adds a tier genai-prices does not have for it; where both price a
    tier on a day, they agree (a genai-prices upgrade that changes one fails here)."""
    genai = bundled_layer()
    for prices in overlay(shipped).entries:
        day = prices.effective_from or CHECKED_ON
        theirs = genai.entry(prices.provider, prices.family, on=day)
        ours = set(prices.priced_tiers())
        assert theirs is None or ours - set(theirs.priced_tiers()), prices.family
        if theirs is not None and PriceTier.STANDARD in theirs.tiers:
            assert prices.tiers[PriceTier.STANDARD] == theirs.tiers[PriceTier.STANDARD], (
                prices.family,
                day,
            )


def test_current_claude_opus_sonnet_and_haiku_are_priced_on_standard_only(
    shipped: PriceCatalog,
) -> None:
    for model in ("claude-opus-5-5", "claude-sonnet-5-5", "claude-haiku-5-5", "claude-sonnet-4-5"):
        assert shipped.priced_tiers(Provider.ANTHROPIC, model, on=CHECKED_ON) == (
            PriceTier.STANDARD,
        )
        quote = shipped.quote(
            Provider.ANTHROPIC, model, PriceTier.STANDARD, prompt_tokens=10, on=CHECKED_ON
        )
        assert quote is not None
        assert quote.rates is not None
        assert quote.rates.cache_write is not None


def test_every_overlay_entry_says_where_and_when_its_prices_come_from(
    shipped: PriceCatalog,
) -> None:
    for prices in overlay(shipped).entries:
        assert re.match(r"https://[a-z0-9.-]+/", prices.source), prices.family
        assert prices.as_of is not None
        assert prices.as_of <= CHECKED_ON, prices.family
        assert prices.evidence.strip()
        if prices.tiers.get(PriceTier.FLEX) is not None:
            assert "Flex tier exists:" in prices.evidence, prices.family


def test_the_data_file_holds_prices_as_strings_never_json_numbers() -> None:
    def no_floats(text: str) -> float:
        raise AssertionError(f"float literal {text} in catalog.json")

    json.loads((PRICING_DIR / "catalog.json").read_text("utf-8"), parse_float=no_floats)


def test_flex_is_half_of_standard_wherever_the_overlay_says_so(shipped: PriceCatalog) -> None:
    """A consistency check on the data: every flex rate in the overlay is 50% of standard."""
    for prices in overlay(shipped).entries:
        flex = prices.tiers.get(PriceTier.FLEX)
        standard = prices.tiers.get(PriceTier.STANDARD)
        if flex is None or standard is None:
            continue
        for name in ("input", "cached_input", "output"):
            assert 2 * getattr(flex.rates, name) == getattr(standard.rates, name), prices.family


@pytest.mark.parametrize(
    ("provider", "model", "family"),
    [
        (Provider.OPENAI, "gpt-6-sol", "gpt-6-sol"),
        (Provider.OPENAI, "gpt-6-sol-2026-09-22", "gpt-6-sol"),
        (Provider.OPENAI, "gpt-5-nano-2025-08-07", "gpt-5-nano"),
        (Provider.OPENAI, "gpt-5.6", "gpt-5.6"),
        (Provider.OPENAI, "gpt-5.6-sol", "gpt-5.6-sol"),
        (Provider.OPENAI, "o3-2025-04-16", "o3"),
        (Provider.GEMINI, "gemini-3-flash-preview-09-2025", "gemini-3-flash-preview"),
        (Provider.GEMINI, "gemini-3.5-flash-001", "gemini-3.5-flash"),
        (Provider.ANTHROPIC, "claude-haiku-4-5-20251001", "claude-haiku-4-5"),
    ],
)
def test_dated_snapshots_belong_to_their_family(
    shipped: PriceCatalog, provider: Provider, model: str, family: str
) -> None:
    prices = shipped.lookup(provider, model, on=CHECKED_ON)
    assert prices is not None
    assert prices.family == family
    assert shipped.family(provider, model) == family


@pytest.mark.parametrize(
    ("provider", "model"),
    [
        (Provider.OPENAI, "gpt-6-sol-mini"),
        (Provider.OPENAI, "gpt-4o-realtime-preview"),  # prices audio output apart
        (Provider.OPENAI, "text-embedding-3-small"),
        (Provider.GEMINI, "gpt-6-sol"),  # another provider's family
        (Provider.GEMINI, "claude-sonnet-4-5"),  # genai-prices' Vertex copy is not Gemini's
        (Provider.ANTHROPIC, "claude-2"),  # no cache-write price
    ],
)
def test_models_without_a_price_are_not_found(
    shipped: PriceCatalog, provider: Provider, model: str
) -> None:
    assert shipped.lookup(provider, model, on=CHECKED_ON) is None


def test_long_context_band_applies_above_its_threshold_to_the_whole_request(
    shipped: PriceCatalog,
) -> None:
    at_threshold = shipped.quote(
        Provider.OPENAI, "gpt-6-sol", PriceTier.FLEX, prompt_tokens=272_000, on=CHECKED_ON
    )
    above = shipped.quote(
        Provider.OPENAI, "gpt-6-sol", PriceTier.FLEX, prompt_tokens=272_001, on=CHECKED_ON
    )
    assert at_threshold is not None
    assert above is not None
    assert (at_threshold.band, above.band) == (BASE_BAND, LONG_CONTEXT_BAND)
    usage = TokenCounts(uncached_input=200_001, cached_input=72_000, output=1_000)
    # flex long context: $2 input, $0.20 cached, $7.50 output per 1M
    assert above.cost(usage) == 200_001 * 2_000_000 + 72_000 * 200_000 + 1_000 * 7_500_000
    assert above.record()["usd_per_million_tokens"] == {
        "input": "2",
        "cached_input": "0.2",
        "cache_write": "2.5",
        "output": "7.5",
    }


def test_haiku_band_counts_cache_reads_and_writes_in_the_prompt(shipped: PriceCatalog) -> None:
    usage = TokenCounts(uncached_input=1, cached_input=60_000, cache_write=40_000, output=10)
    quote = shipped.quote(
        Provider.ANTHROPIC,
        "claude-haiku-5-5",
        PriceTier.STANDARD,
        prompt_tokens=usage.prompt_tokens,
        on=CHECKED_ON,
    )
    assert quote is not None
    assert quote.band == LONG_CONTEXT_BAND
    # $0.50 input, $0.05 read, $0.625 write, $2.50 output per MTok
    assert quote.cost(usage) == 1 * 500_000 + 60_000 * 50_000 + 40_000 * 625_000 + 10 * 2_500_000


def test_a_band_with_unknown_prices_leaves_long_prompts_unpriced(shipped: PriceCatalog) -> None:
    # gpt-5.5-pro's flex price is flat where its standard price rises above 272K tokens.
    quote = shipped.quote(
        Provider.OPENAI, "gpt-5.5-pro", PriceTier.FLEX, prompt_tokens=300_000, on=CHECKED_ON
    )
    assert quote is not None
    assert quote.rates is None
    assert quote.cost(TokenCounts(uncached_input=300_000)) is None
    assert quote.record()["usd_per_million_tokens"] is None


def test_scheduled_price_changes_take_effect_on_their_day(shipped: PriceCatalog) -> None:
    def input_rate(model: str, day: dt.date) -> int:
        quote = shipped.quote(Provider.GEMINI, model, PriceTier.FLEX, prompt_tokens=10, on=day)
        assert quote is not None
        assert quote.rates is not None
        return quote.rates.input

    for model in ("gemini-3.6-flash", "gemini-3.7-flash", "gemini-3.8-flash"):
        assert input_rate(model, dt.date(2026, 12, 31)) == parse_usd_per_million("0.375")
        assert input_rate(model, dt.date(2027, 1, 1)) == parse_usd_per_million("0.75")


def test_a_tier_the_model_does_not_price_has_no_quote(shipped: PriceCatalog) -> None:
    for model in ("gpt-5-nano", "gpt-4o"):
        assert (
            shipped.quote(
                Provider.OPENAI, model, PriceTier.FLEX if model == "gpt-4o" else PriceTier.PRIORITY,
                prompt_tokens=10, on=CHECKED_ON,
            )
            is None
        )  # fmt: skip


def write(path: pathlib.Path, document: Any) -> pathlib.Path:
    path.write_text(json.dumps(document), "utf-8")
    return path


def test_an_operator_file_decides_the_tiers_it_lists_and_adds_new_models(
    tmp_path: pathlib.Path,
) -> None:
    override = write(
        tmp_path / "prices.json",
        {
            "models": [
                entry(
                    "gpt-6-sol",
                    tiers={
                        "standard": {"input": "3", "cached_input": "0.3", "output": "12"},
                        "priority": None,
                    },
                ),
                entry("gpt-7-nova"),
            ]
        },
    )
    catalog = PriceCatalog.load(override)
    replaced = catalog.tier_entry(
        Provider.OPENAI, "gpt-6-sol-2026-09-22", PriceTier.STANDARD, on=CHECKED_ON
    )
    assert replaced is not None
    assert replaced.origin == str(override)
    assert replaced.layer is not None
    assert replaced.layer.name is LayerName.OPERATOR
    standard = replaced.tiers[PriceTier.STANDARD]
    assert standard is not None
    assert standard.rates.input == parse_usd_per_million("3")
    # A tier written as null has no price, whatever the layers below say ...
    assert (
        catalog.tier_entry(Provider.OPENAI, "gpt-6-sol", PriceTier.PRIORITY, on=CHECKED_ON) is None
    )
    # ... and a tier it leaves out is still priced below it (genai-prices' flex row).
    flex = catalog.tier_entry(Provider.OPENAI, "gpt-6-sol", PriceTier.FLEX, on=CHECKED_ON)
    assert flex is not None
    assert flex.layer is not None
    assert flex.layer.name is LayerName.GENAI_PRICES
    added = catalog.lookup(Provider.OPENAI, "gpt-7-nova", on=CHECKED_ON)
    assert added is not None
    assert catalog.has_flex(Provider.OPENAI, "gpt-7-nova", on=CHECKED_ON)
    # Everything else is still the shipped catalog.
    untouched = catalog.lookup(Provider.OPENAI, "gpt-5.6", on=CHECKED_ON)
    assert untouched is not None
    assert untouched.origin == "catalog.json"


def test_an_operator_entry_without_dates_covers_every_period_of_a_family(
    tmp_path: pathlib.Path,
) -> None:
    override = write(
        tmp_path / "p.json", {"models": [entry("gemini-3.8-flash", provider="gemini")]}
    )
    catalog = PriceCatalog.load(override)
    for day in (dt.date(2026, 12, 1), dt.date(2027, 6, 1)):
        prices = catalog.tier_entry(Provider.GEMINI, "gemini-3.8-flash", PriceTier.FLEX, on=day)
        assert prices is not None
        assert prices.origin == str(override)


def test_an_operator_file_can_take_the_flex_race_away(tmp_path: pathlib.Path) -> None:
    override = write(tmp_path / "p.json", {"models": [entry("o3", tiers={"flex": None})]})
    catalog = PriceCatalog.load(override)
    assert not catalog.has_flex(Provider.OPENAI, "o3-2025-04-16", on=CHECKED_ON)
    assert PriceCatalog.load().has_flex(Provider.OPENAI, "o3-2025-04-16", on=CHECKED_ON)


def test_an_unreadable_override_is_a_catalog_error(tmp_path: pathlib.Path) -> None:
    with pytest.raises(CatalogError, match="cannot read it"):
        PriceCatalog.load(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", "utf-8")
    with pytest.raises(CatalogError, match="not valid JSON"):
        PriceCatalog.load(bad)


def tiers(**changes: Any) -> dict[str, Any]:
    standard: dict[str, Any] = {"input": "2", "cached_input": "0.2", "output": "10"}
    standard.update(changes)
    return {"standard": {k: v for k, v in standard.items() if v is not None}}


@pytest.mark.parametrize(
    ("document", "says"),
    [
        ([], "top level must be a JSON object"),
        ({"models": {}}, '"models" must be a list'),
        ({"models": ["x"]}, r"models\[0\]: each entry must be a JSON object"),
        (
            {"models": [entry(tiers={"turbo": {"input": "1"}})]},
            r"models\[0\] \(openai 'gpt-6-sol'\): unknown tier 'turbo'",
        ),
        (
            {"models": [entry(tiers=tiers(input="-1.25"))]},
            r"'gpt-6-sol'.*input: '-1.25' is negative",
        ),
        ({"models": [entry(tiers=tiers(output=None))]}, r"'gpt-6-sol'.*missing price\(s\) output"),
        ({"models": [entry(tiers=tiers(input="1.2345678"))]}, r"input: .*at most 6 decimal"),
        ({"models": [entry(tiers=tiers(input="abc"))]}, r"input: 'abc' is not a plain decimal"),
        ({"models": [entry(tiers=tiers(input=1.25))]}, r"input: 1.25 is not a string"),
        ({"models": [entry(tiers=tiers(surcharge="1"))]}, r"unknown field\(s\) surcharge"),
        ({"models": [entry(tiers={})]}, '"tiers" must be an object with at least one tier'),
        ({"models": [entry(tiers={"standard": "cheap"})]}, "a tier must be an object"),
        ({"models": [entry(provider="mistral")]}, "provider 'mistral' is not one of"),
        ({"models": [entry("GPT 6")]}, "family must be a model id"),
        ({"models": [entry(source="")]}, "'source' must say where"),
        ({"models": [entry(as_of="27/11/2026")]}, 'as_of must be a date written "YYYY-MM-DD"'),
        ({"models": [entry(vendor="x")]}, r"unknown field\(s\) vendor"),
        ({"models": [entry(as_of=None)]}, "as_of must be a date"),
        (
            {
                "models": [
                    entry("claude-x", provider="anthropic", tiers={"flex": tiers()["standard"]})
                ]
            },
            "anthropic has no flex tier",
        ),
        (
            {"models": [entry("claude-x", provider="anthropic", tiers=tiers())]},
            r"missing price\(s\) cache_write",
        ),
        (
            {
                "models": [
                    entry("gemini-x", provider="gemini", tiers={"priority": tiers()["standard"]})
                ]
            },
            None,  # Gemini has a priority tier: valid
        ),
        (
            {"models": [entry(tiers=tiers(long_context={"input": "4"}))]},
            "above_prompt_tokens must be a positive whole number",
        ),
        (
            {"models": [entry(tiers=tiers(long_context={"above_prompt_tokens": 272000.0}))]},
            "above_prompt_tokens must be a positive whole number",
        ),
        (
            {
                "models": [
                    entry(tiers=tiers(long_context={"above_prompt_tokens": 10, "input": "4"}))
                ]
            },
            r"long_context: missing price\(s\) cached_input, output",
        ),
        (
            {
                "models": [
                    entry(
                        tiers=tiers(
                            long_context={"above_prompt_tokens": 10, "unpriced": True, "input": "4"}
                        )
                    )
                ]
            },
            "an unpriced band has no prices",
        ),
        (
            {"models": [entry(tiers=tiers(long_context={"above_prompt_tokens": 10, "x": "4"}))]},
            r"long_context: unknown field\(s\) x",
        ),
        (
            {"models": [entry(tiers=tiers(long_context=[]))]},
            "long_context: must be an object",
        ),
        (
            {"models": [entry(effective_from="2027-01-01", effective_until="2026-01-01")]},
            "effective_until is before effective_from",
        ),
        (
            {"models": [entry(tiers=tiers(separately_priced_input=["smell"]))]},
            "separately_priced_input must be a list of input modalities",
        ),
        ({"models": [entry(tiers=tiers(separately_priced_input=["audio"]))]}, None),
        ({"models": [entry(tiers={"standard": tiers()["standard"], "flex": None})]}, None),
    ],
)
def test_invalid_catalogs_are_refused_with_a_message_naming_the_entry(
    document: Any, says: str | None
) -> None:
    if says is None:
        parse_catalog(document, origin="prices.json")
        return
    with pytest.raises(CatalogError, match=says) as caught:
        parse_catalog(document, origin="prices.json")
    assert "prices.json" in str(caught.value)


def test_overlapping_price_periods_of_one_family_are_refused() -> None:
    with pytest.raises(CatalogError, match="'gpt-6-sol' has price periods that overlap"):
        catalog_of(
            entry(effective_until="2027-01-01"),
            entry(effective_from="2027-01-01"),
        )
    catalog_of(entry(effective_until="2026-12-31"), entry(effective_from="2027-01-01"))


def test_an_invalid_override_file_stops_the_load(tmp_path: pathlib.Path) -> None:
    override = write(tmp_path / "ops.json", {"models": [entry(tiers=tiers(input="-1"))]})
    with pytest.raises(CatalogError, match=r"ops.json.*'gpt-6-sol'.*negative"):
        PriceCatalog.load(override)
