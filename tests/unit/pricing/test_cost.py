"""Cost, savings and commission (SPEC §4): the worked example, every zero case, the properties."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from flexgrpc.domain import CommissionReason, Cost, Provider, TokenCounts
from flexgrpc.pricing.catalog import ModelPrices, PriceCatalog, PriceTier, TierPrices, TokenRates
from flexgrpc.pricing.cost import micro_amounts, price_request
from flexgrpc.pricing.money import NanoUSD, PicoUSD, nano_to_micro
from tests.unit.pricing.conftest import CHECKED_ON, catalog_of, entry

SHIPPED = PriceCatalog.load()
USAGE = TokenCounts(uncached_input=8_000, cached_input=2_000, output=3_000, reasoning=1_000)


def worked_example_catalog() -> PriceCatalog:
    """Prices that make SPEC §4's worked example come out exactly."""
    return catalog_of(
        entry(
            "gpt-6-sol",
            tiers={
                "standard": {"input": "1.5", "cached_input": "0.15", "output": "9.2"},
                "flex": {"input": "0.75", "cached_input": "0.075", "output": "4.9"},
            },
        )
    )


def test_the_worked_example_holds_to_the_micro_dollar() -> None:
    # 10,000 prompt tokens and 15,000 output tokens (4,000 of them reasoning):
    # standard 10,000 x $1.50/1M + 15,000 x $9.20/1M = $0.0150 + $0.1380 = $0.1530
    # flex     10,000 x $0.75/1M + 15,000 x $4.90/1M = $0.0075 + $0.0735 = $0.0810
    usage = TokenCounts(uncached_input=10_000, output=15_000, reasoning=4_000)
    pricing = price_request(
        worked_example_catalog(),
        "gpt-6-sol-2026-09-22",
        "flex",
        usage,
        True,
        Provider.OPENAI,
        on=CHECKED_ON,
    )
    assert pricing.reason is CommissionReason.FLEX_SAVED
    micro = micro_amounts(pricing)
    assert (micro.standard, micro.actual) == (153_000, 81_000)  # $0.1530, $0.0810
    assert micro.savings == 72_000  # $0.0720
    assert micro.commission == 14_400  # $0.0144
    assert micro.kept == 57_600  # $0.0576
    # ... and exactly, in the ledger's nano-USD, with nothing rounded away.
    assert pricing.standard_nano_usd == 153_000_000
    assert pricing.actual_nano_usd == 81_000_000
    assert pricing.savings_nano_usd == 72_000_000
    assert pricing.commission_nano_usd == 14_400_000
    assert pricing.standard_pico_usd == 153_000_000_000
    assert pricing.actual_pico_usd == 81_000_000_000


def test_a_flex_win_on_a_shipped_model_is_priced_on_both_sides_with_the_same_usage(
    shipped: PriceCatalog,
) -> None:
    pricing = price_request(
        shipped, "gpt-6-sol", "flex", USAGE, True, Provider.OPENAI, on=CHECKED_ON
    )
    # standard: 8,000 x $2 + 2,000 x $0.20 + 3,000 x $10 per 1M = $0.0464; flex is half.
    assert pricing.standard_nano_usd == 46_400_000
    assert pricing.actual_nano_usd == 23_200_000
    assert pricing.savings_nano_usd == 23_200_000
    assert pricing.commission_nano_usd == 4_640_000
    assert pricing.prices["family"] == "gpt-6-sol"
    assert pricing.prices["as_of"] == "2026-10-12"  # genai-prices' flex rows start then
    assert pricing.prices["source"].startswith("https://developers.openai.com/")
    actual = pricing.prices["actual"]
    assert (actual["tier"], actual["band"]) == ("flex", "base")
    assert actual["usd_per_million_tokens"] == {
        "input": "1",
        "cached_input": "0.1",
        "output": "5",
        "cache_write": "1.25",
    }
    assert actual["layer"] == "genai-prices"
    assert pricing.prices["standard"]["tier"] == "standard"


def test_sub_nano_prices_are_exact_until_the_one_rounding_to_nano_usd(
    shipped: PriceCatalog,
) -> None:
    """GPT-5 nano's flex cached input is $0.0025/1M: 2.5 nano-USD per token."""
    usage = TokenCounts(uncached_input=0, cached_input=3, output=0)
    pricing = price_request(
        shipped, "gpt-5-nano", "flex", usage, True, Provider.OPENAI, on=CHECKED_ON
    )
    assert pricing.actual_pico_usd == 7_500  # 3 x 2.5 nano-USD, exact
    assert pricing.actual_nano_usd == 8  # 7.5 → 8 (half to even)
    assert pricing.standard_nano_usd == 15
    assert pricing.savings_nano_usd == 7
    assert pricing.commission_nano_usd == 1


def zero_commission(pricing: Cost, reason: CommissionReason) -> None:
    assert pricing.reason is reason
    assert pricing.savings_nano_usd == 0
    assert pricing.commission_nano_usd == 0
    assert micro_amounts(pricing).commission == 0


def test_fixed_tier_requests_pay_no_commission(shipped: PriceCatalog) -> None:
    standard = price_request(
        shipped, "gpt-6-sol", "standard", USAGE, False, Provider.OPENAI, on=CHECKED_ON
    )
    zero_commission(standard, CommissionReason.FIXED_TIER)
    assert standard.actual_nano_usd == standard.standard_nano_usd == 46_400_000
    priority = price_request(
        shipped, "gpt-6-sol", "priority", USAGE, False, Provider.OPENAI, on=CHECKED_ON
    )
    zero_commission(priority, CommissionReason.FIXED_TIER)
    assert priority.actual_nano_usd == 2 * 46_400_000  # Fast mode is 2x
    # Even a flex answer to a request that did not race (it cannot happen, but) is not billed.
    flex_served = price_request(
        shipped, "gpt-6-sol", "flex", USAGE, False, Provider.OPENAI, on=CHECKED_ON
    )
    zero_commission(flex_served, CommissionReason.FIXED_TIER)


def test_anthropic_models_pay_no_commission_but_report_their_cost(shipped: PriceCatalog) -> None:
    usage = TokenCounts(uncached_input=900, cache_write=300, output=30)
    pricing = price_request(
        shipped, "claude-sonnet-5-5", "standard", usage, False, Provider.ANTHROPIC, on=CHECKED_ON
    )
    zero_commission(pricing, CommissionReason.ANTHROPIC)
    # 900 x $2 + 300 x $2.50 + 30 x $10 per MTok
    assert pricing.actual_nano_usd == 900 * 2_000 + 300 * 2_500 + 30 * 10_000


def test_a_race_that_fell_back_pays_no_commission(shipped: PriceCatalog) -> None:
    pricing = price_request(
        shipped, "gpt-6-sol", "standard", USAGE, True, Provider.OPENAI, on=CHECKED_ON
    )
    zero_commission(pricing, CommissionReason.FELL_BACK)
    assert pricing.actual_nano_usd == pricing.standard_nano_usd == 46_400_000


@pytest.mark.parametrize("flex_output", ["9.2", "9.3"])
def test_flex_that_did_not_beat_standard_pays_no_commission(flex_output: str) -> None:
    catalog = catalog_of(
        entry(
            tiers={
                "standard": {"input": "1", "cached_input": "0.1", "output": "9.2"},
                "flex": {"input": "1", "cached_input": "0.1", "output": flex_output},
            }
        )
    )
    pricing = price_request(
        catalog, "gpt-6-sol", "flex", USAGE, True, Provider.OPENAI, on=CHECKED_ON
    )
    zero_commission(pricing, CommissionReason.FLEX_NOT_CHEAPER)
    assert pricing.actual_nano_usd is not None
    assert pricing.standard_nano_usd is not None
    assert pricing.actual_nano_usd >= pricing.standard_nano_usd


def test_an_unpriced_model_fails_closed(shipped: PriceCatalog) -> None:
    pricing = price_request(
        shipped, "gpt-4o-realtime-preview", "flex", USAGE, True, Provider.OPENAI, on=CHECKED_ON
    )
    zero_commission(pricing, CommissionReason.UNPRICED)
    assert pricing.actual_nano_usd is None
    assert pricing.standard_nano_usd is None
    assert not pricing.priced
    assert pricing.prices == {}
    micro = micro_amounts(pricing)
    assert micro.actual is None
    assert micro.standard is None


def test_a_flex_win_on_o3_is_billed_exactly_from_genai_prices(shipped: PriceCatalog) -> None:
    usage = TokenCounts(uncached_input=6_000, cached_input=4_000, output=3_000, reasoning=2_500)
    pricing = price_request(shipped, "o3", "flex", usage, True, Provider.OPENAI, on=CHECKED_ON)
    assert pricing.reason is CommissionReason.FLEX_SAVED
    # standard: 6,000 x $2 + 4,000 x $0.50 + 3,000 x $8 per 1M = $0.038
    # flex:     6,000 x $1 + 4,000 x $0.25 + 3,000 x $4 per 1M = $0.019
    assert (pricing.standard_nano_usd, pricing.actual_nano_usd) == (38_000_000, 19_000_000)
    assert (pricing.savings_nano_usd, pricing.commission_nano_usd) == (19_000_000, 3_800_000)
    for side in ("actual", "standard"):
        assert pricing.prices[side]["layer"] == "genai-prices"
        assert pricing.prices[side]["data_version"].startswith("genai-prices 0.2.")
    assert pricing.prices["layer"] == "genai-prices"


def test_each_side_names_the_layer_that_priced_it(shipped: PriceCatalog) -> None:
    # gpt-5.6 is an alias genai-prices prices on gpt-5.6-sol's standard row; its flex row is
    # the overlay's.
    pricing = price_request(shipped, "gpt-5.6", "flex", USAGE, True, Provider.OPENAI, on=CHECKED_ON)
    assert pricing.reason is CommissionReason.FLEX_SAVED
    assert pricing.prices["actual"]["layer"] == "overlay"
    assert pricing.prices["actual"]["origin"] == "catalog.json"
    assert pricing.prices["actual"]["data_version"].startswith("checked 2026-12-02, sha256:")
    assert pricing.prices["standard"]["layer"] == "overlay"
    gemini = price_request(
        shipped, "gemini-2.5-pro", "standard", USAGE, False, Provider.GEMINI, on=CHECKED_ON
    )
    assert gemini.prices["standard"]["layer"] == "genai-prices"
    assert gemini.prices["standard"]["origin"].startswith("genai-prices@")


def test_audio_input_on_a_model_that_prices_audio_apart_is_unpriced(
    shipped: PriceCatalog,
) -> None:
    text = TokenCounts(uncached_input=1_000, output=10)
    audio = TokenCounts(uncached_input=1_000, output=10, input_modalities=frozenset({"audio"}))
    unknown = TokenCounts(uncached_input=1_000, output=10, input_modalities=None)
    for model in ("gemini-2.5-flash", "gemini-3-flash-preview"):

        def standard(usage: TokenCounts, model: str = model) -> int | None:
            return price_request(
                shipped, model, "standard", usage, False, Provider.GEMINI, on=CHECKED_ON
            ).standard_nano_usd

        assert standard(text) is not None
        assert standard(audio) is None
        assert standard(unknown) is None
    # gemini-3.5-flash prices every input modality alike: audio is priced.
    assert price_request(
        shipped, "gemini-3.5-flash", "standard", audio, False, Provider.GEMINI, on=CHECKED_ON
    ).priced


def test_an_unpriced_long_context_band_fails_closed(shipped: PriceCatalog) -> None:
    usage = TokenCounts(uncached_input=300_000, output=100)
    pricing = price_request(
        shipped, "gpt-5.5-pro", "flex", usage, True, Provider.OPENAI, on=CHECKED_ON
    )
    zero_commission(pricing, CommissionReason.UNPRICED)
    assert pricing.actual_nano_usd is None
    assert pricing.prices["actual"]["band"] == "long_context"


def test_a_served_tier_that_is_not_known_is_unpriced(shipped: PriceCatalog) -> None:
    pricing = price_request(
        shipped, "gpt-6-sol", "unknown", USAGE, False, Provider.OPENAI, on=CHECKED_ON
    )
    zero_commission(pricing, CommissionReason.FIXED_TIER)
    assert pricing.actual_nano_usd is None
    assert pricing.standard_nano_usd == 46_400_000


def test_a_cache_write_on_a_tier_without_a_write_price_is_unpriced(shipped: PriceCatalog) -> None:
    usage = TokenCounts(uncached_input=10, cache_write=5, output=1)
    pricing = price_request(
        shipped, "gemini-3.5-flash", "flex", usage, True, Provider.GEMINI, on=CHECKED_ON
    )
    zero_commission(pricing, CommissionReason.UNPRICED)


def test_a_model_outside_its_price_periods_is_unpriced() -> None:
    catalog = catalog_of(entry(effective_until="2026-12-31"))
    pricing = price_request(
        catalog, "gpt-6-sol", "flex", USAGE, True, Provider.OPENAI, on=dt.date(2027, 1, 1)
    )
    zero_commission(pricing, CommissionReason.UNPRICED)


def test_incomplete_usage_reports_cost_but_bills_no_saving(shipped: PriceCatalog) -> None:
    usage = TokenCounts(uncached_input=8_000, output=3_000, complete=False)
    pricing = price_request(
        shipped, "gpt-6-sol", "flex", usage, True, Provider.OPENAI, on=CHECKED_ON
    )
    zero_commission(pricing, CommissionReason.INCOMPLETE_USAGE)
    assert pricing.actual_nano_usd is not None


def test_gemini_flex_win_is_billed(shipped: PriceCatalog) -> None:
    pricing = price_request(
        shipped, "gemini-3.8-flash", "flex", USAGE, True, Provider.GEMINI, on=CHECKED_ON
    )
    assert pricing.reason is CommissionReason.FLEX_SAVED
    # standard: 8,000 x $0.75 + 2,000 x $0.075 + 3,000 x $3.75 per 1M = $0.0174
    assert pricing.standard_nano_usd == 17_400_000
    assert pricing.commission_nano_usd == 1_740_000


def test_pricing_uses_todays_prices_by_default(shipped: PriceCatalog) -> None:
    pricing = price_request(shipped, "gpt-6-sol", "flex", USAGE, True, Provider.OPENAI)
    assert pricing.reason is CommissionReason.FLEX_SAVED


# --- properties ---------------------------------------------------------------------------

_counts = st.integers(min_value=0, max_value=2_000_000)
_usages = st.builds(
    TokenCounts,
    uncached_input=_counts,
    cached_input=_counts,
    cache_write=st.integers(min_value=0, max_value=50_000),
    output=_counts,
    complete=st.booleans(),
)
_SHIPPED = PriceCatalog.load()
_FLEX_MODELS = [
    (provider, family)
    for provider in (Provider.OPENAI, Provider.GEMINI)
    for family in _SHIPPED.flex_families(provider, on=dt.date(2026, 12, 2))
] + [(Provider.ANTHROPIC, "claude-haiku-5-5"), (Provider.ANTHROPIC, "claude-opus-5-5")]


def check_invariants(pricing: Cost) -> None:
    amounts = [pricing.savings_nano_usd, pricing.commission_nano_usd, pricing.kept_nano_usd]
    amounts += [a for a in (pricing.actual_nano_usd, pricing.standard_nano_usd) if a is not None]
    assert all(type(a) is int and a >= 0 for a in amounts)
    assert pricing.commission_nano_usd <= pricing.savings_nano_usd
    # 20%, to the nearest nano-USD: |savings x 20/100 - commission| <= 0.4 nano-USD
    assert abs(pricing.savings_nano_usd - 5 * pricing.commission_nano_usd) <= 2
    if pricing.commission_nano_usd > 0:
        assert pricing.reason is CommissionReason.FLEX_SAVED
    for exact, ledger in (
        (pricing.actual_pico_usd, pricing.actual_nano_usd),
        (pricing.standard_pico_usd, pricing.standard_nano_usd),
    ):
        if exact is not None and ledger is not None:
            assert 2 * abs(exact - 1_000 * ledger) <= 1_000  # one rounding, half a nano at most
    if pricing.reason is CommissionReason.FLEX_SAVED:
        assert pricing.actual_nano_usd is not None
        assert pricing.standard_nano_usd is not None
        assert pricing.actual_nano_usd < pricing.standard_nano_usd
        assert pricing.actual_nano_usd + pricing.savings_nano_usd == pricing.standard_nano_usd
        assert pricing.savings_nano_usd <= pricing.standard_nano_usd
        micro = micro_amounts(pricing)
        assert micro.actual is not None
        assert micro.standard is not None
        # Each micro value is rounded once from nano-USD, so sums are off by at most 1 micro-USD.
        assert abs(micro.actual + micro.savings - micro.standard) <= 1
        assert abs(micro.commission + micro.kept - micro.savings) <= 1
    else:
        assert pricing.savings_nano_usd == 0
        assert pricing.commission_nano_usd == 0


@settings(max_examples=400)
@given(
    _usages,
    st.sampled_from(_FLEX_MODELS),
    st.sampled_from(["flex", "standard", "priority", "unknown"]),
    st.booleans(),
    st.dates(min_value=dt.date(2026, 1, 1), max_value=dt.date(2028, 1, 1)),
)
def test_shipped_prices_keep_every_money_invariant(
    usage: TokenCounts,
    model: tuple[Provider, str],
    served: str,
    race: bool,
    day: dt.date,
) -> None:
    provider, family = model
    pricing = price_request(SHIPPED, family, served, usage, race, provider, on=day)
    check_invariants(pricing)
    if provider is Provider.ANTHROPIC or not race or served != "flex" or not usage.complete:
        assert pricing.commission_nano_usd == 0


_rates = st.builds(
    TokenRates,
    input=st.integers(min_value=0, max_value=200_000_000).map(PicoUSD),
    cached_input=st.integers(min_value=0, max_value=200_000_000).map(PicoUSD),
    output=st.integers(min_value=0, max_value=600_000_000).map(PicoUSD),
    cache_write=st.integers(min_value=0, max_value=200_000_000).map(PicoUSD),
)


@settings(max_examples=400)
@given(_usages, _rates, _rates)
def test_any_prices_keep_every_money_invariant(
    usage: TokenCounts, standard: TokenRates, flex: TokenRates
) -> None:
    catalog = PriceCatalog.of_entries(
        [
            ModelPrices(
                provider=Provider.OPENAI,
                family="gpt-6-sol",
                as_of=CHECKED_ON,
                source="https://example.test/",
                evidence="generated",
                tiers={PriceTier.STANDARD: TierPrices(standard), PriceTier.FLEX: TierPrices(flex)},
            )
        ]
    )
    pricing = price_request(
        catalog, "gpt-6-sol", "flex", usage, True, Provider.OPENAI, on=CHECKED_ON
    )
    check_invariants(pricing)
    assume(usage.complete)
    assert pricing.actual_pico_usd == flex.cost(usage)
    assert pricing.standard_pico_usd == standard.cost(usage)
    if pricing.reason is CommissionReason.FLEX_SAVED:
        assert pricing.commission_nano_usd == (pricing.savings_nano_usd * 20 + 50) // 100


@given(st.integers(min_value=0, max_value=10**15), st.integers(min_value=0, max_value=10**15))
def test_micro_rounding_of_a_sum_is_within_one_of_the_sum_of_roundings(a: int, b: int) -> None:
    together = nano_to_micro(NanoUSD(a + b))
    apart = nano_to_micro(NanoUSD(a)) + nano_to_micro(NanoUSD(b))
    assert abs(together - apart) <= 1
