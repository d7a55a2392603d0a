"""The shipped price catalog, its lookups, the operator override, and every validation error."""

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
    PriceCatalog,
    PriceTier,
    parse_catalog,
)
from flexgrpc.pricing.flex_models import default_catalog
from flexgrpc.pricing.money import parse_usd_per_million
from tests.unit.pricing.conftest import CHECKED_ON, catalog_of, entry

PRICING_DIR = pathlib.Path(__file__).parents[3] / "flexgrpc" / "pricing"

#: Flex families with no price, and why (also listed under "left_out" in catalog.json).
UNPRICED_FLEX_FAMILIES = {
    (Provider.OPENAI, "o3"),
    (Provider.OPENAI, "o4-mini"),
    (Provider.GEMINI, "gemini-3.7-flash"),
}


def test_every_flex_family_is_priced_on_flex_and_standard_or_documented_as_left_out(
    shipped: PriceCatalog,
) -> None:
    flex = default_catalog()
    missing = set()
    for provider in (Provider.OPENAI, Provider.GEMINI):
        for family in flex.families(provider):
            prices = shipped.lookup(provider, family, on=CHECKED_ON)
            if prices is None or not {PriceTier.STANDARD, PriceTier.FLEX} <= set(prices.tiers):
                missing.add((provider, family))
    assert missing == UNPRICED_FLEX_FAMILIES
    document = json.loads((PRICING_DIR / "catalog.json").read_text("utf-8"))
    left_out = {(Provider(item["provider"]), item["family"]) for item in document["left_out"]}
    assert left_out >= UNPRICED_FLEX_FAMILIES


def test_current_claude_opus_sonnet_and_haiku_are_priced_on_standard_only(
    shipped: PriceCatalog,
) -> None:
    for model in ("claude-opus-5-5", "claude-sonnet-5-5", "claude-haiku-5-5"):
        prices = shipped.lookup(Provider.ANTHROPIC, model, on=CHECKED_ON)
        assert prices is not None
        assert set(prices.tiers) == {PriceTier.STANDARD}
        assert prices.tiers[PriceTier.STANDARD].rates.cache_write is not None


def test_every_entry_says_where_and_when_its_prices_come_from(shipped: PriceCatalog) -> None:
    for prices in shipped.entries:
        assert re.match(r"https://[a-z0-9.-]+/", prices.source), prices.family
        assert prices.as_of <= CHECKED_ON, prices.family
        assert prices.evidence.strip()


def test_the_data_file_holds_prices_as_strings_never_json_numbers() -> None:
    def no_floats(text: str) -> float:
        raise AssertionError(f"float literal {text} in catalog.json")

    json.loads((PRICING_DIR / "catalog.json").read_text("utf-8"), parse_float=no_floats)


def test_flex_is_half_of_standard_wherever_the_provider_says_so(shipped: PriceCatalog) -> None:
    """A consistency check on the data: every flex rate in the shipped file is 50% of standard."""
    for prices in shipped.entries:
        flex = prices.tiers.get(PriceTier.FLEX)
        if flex is None:
            continue
        standard = prices.tiers[PriceTier.STANDARD]
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


@pytest.mark.parametrize(
    ("provider", "model"),
    [
        (Provider.OPENAI, "gpt-5-pro"),  # a sibling, not gpt-5
        (Provider.OPENAI, "gpt-6-sol-mini"),
        (Provider.OPENAI, "o3"),
        (Provider.GEMINI, "gemini-3.7-flash"),
        (Provider.GEMINI, "gpt-6-sol"),  # another provider's family
        (Provider.ANTHROPIC, "claude-fable-5-1"),
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
    quote = shipped.quote(
        Provider.OPENAI, "gpt-5.5", PriceTier.FLEX, prompt_tokens=300_000, on=CHECKED_ON
    )
    assert quote is not None
    assert quote.rates is None
    assert quote.cost(TokenCounts(uncached_input=300_000)) is None
    assert quote.record()["usd_per_million_tokens"] is None


def test_scheduled_price_changes_take_effect_on_their_day(shipped: PriceCatalog) -> None:
    def input_rate(day: dt.date) -> int:
        quote = shipped.quote(
            Provider.GEMINI, "gemini-3.8-flash", PriceTier.STANDARD, prompt_tokens=10, on=day
        )
        assert quote is not None
        assert quote.rates is not None
        return quote.rates.input

    assert input_rate(dt.date(2026, 12, 31)) == parse_usd_per_million("0.75")
    assert input_rate(dt.date(2027, 1, 1)) == parse_usd_per_million("1.5")


def test_a_tier_the_model_does_not_price_has_no_quote(shipped: PriceCatalog) -> None:
    assert (
        shipped.quote(
            Provider.OPENAI, "gpt-5-nano", PriceTier.PRIORITY, prompt_tokens=10, on=CHECKED_ON
        )
        is None
    )


def write(path: pathlib.Path, document: Any) -> pathlib.Path:
    path.write_text(json.dumps(document), "utf-8")
    return path


def test_an_override_file_replaces_a_family_and_adds_new_ones(tmp_path: pathlib.Path) -> None:
    override = write(
        tmp_path / "prices.json",
        {
            "models": [
                entry(
                    "gpt-6-sol",
                    tiers={"standard": {"input": "3", "cached_input": "0.3", "output": "12"}},
                ),
                entry("gpt-7-nova"),
            ]
        },
    )
    catalog = PriceCatalog.load(override)
    replaced = catalog.lookup(Provider.OPENAI, "gpt-6-sol-2026-09-22", on=CHECKED_ON)
    assert replaced is not None
    assert replaced.origin == str(override)
    assert set(replaced.tiers) == {PriceTier.STANDARD}  # the whole family was replaced
    assert replaced.tiers[PriceTier.STANDARD].rates.input == parse_usd_per_million("3")
    added = catalog.lookup(Provider.OPENAI, "gpt-7-nova", on=CHECKED_ON)
    assert added is not None
    assert PriceTier.FLEX in added.tiers
    # Everything else is still the shipped catalog.
    untouched = catalog.lookup(Provider.OPENAI, "gpt-6-luna", on=CHECKED_ON)
    assert untouched is not None
    assert untouched.origin == "catalog.json"


def test_an_override_replaces_every_period_of_a_family(tmp_path: pathlib.Path) -> None:
    override = write(
        tmp_path / "p.json", {"models": [entry("gemini-3.8-flash", provider="gemini")]}
    )
    catalog = PriceCatalog.load(override)
    for day in (dt.date(2026, 12, 1), dt.date(2027, 6, 1)):
        prices = catalog.lookup(Provider.GEMINI, "gemini-3.8-flash", on=day)
        assert prices is not None
        assert prices.origin == str(override)


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
