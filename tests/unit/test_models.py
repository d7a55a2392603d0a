"""Model ids → provider, the tiers each provider has, and which models have a flex race (a
flex price in the price catalog)."""

from __future__ import annotations

import datetime

import grpc
import pytest

from flexgrpc.domain import (
    DIRECT_ROUTES,
    PLANNED_ROUTES,
    ROUTE_PROVIDERS,
    FixedTier,
    Provider,
    ProviderRoute,
    UpstreamTier,
    service_tier_value,
    tier_exists,
    upstream_tier_for,
)
from flexgrpc.errors import CODES, FlexError
from flexgrpc.pricing.catalog import PriceCatalog, parse_catalog
from flexgrpc.routing.model_ids import provider_for_model

CATALOG = PriceCatalog.load()
DAY = datetime.date(2026, 12, 2)


def is_flex_capable(model: str) -> bool:
    return CATALOG.has_flex(provider_for_model(model), model, on=DAY)


def unsupported(model: str) -> FlexError:
    with pytest.raises(FlexError) as caught:
        provider_for_model(model)
    assert caught.value.code == "unsupported_model"
    assert caught.value.field == "model"
    return caught.value


@pytest.mark.parametrize(
    ("model", "provider"),
    [
        ("gpt-5", Provider.OPENAI),
        ("gpt-5-mini-2025-08-07", Provider.OPENAI),
        ("gpt-4o", Provider.OPENAI),
        ("gpt-6-astra", Provider.OPENAI),
        ("chatgpt-4o-latest", Provider.OPENAI),
        ("o1", Provider.OPENAI),
        ("o1-pro", Provider.OPENAI),
        ("o3", Provider.OPENAI),
        ("o3-2025-04-16", Provider.OPENAI),
        ("o3-mini", Provider.OPENAI),
        ("o4-mini", Provider.OPENAI),
        ("o4-mini-2025-04-16", Provider.OPENAI),
        ("gemini-3.5-flash", Provider.GEMINI),
        ("gemini-2.5-flash-preview-09-2025", Provider.GEMINI),
        ("claude-sonnet-4-5", Provider.ANTHROPIC),
        ("claude-opus-4-1-20250805", Provider.ANTHROPIC),
    ],
)
def test_the_model_id_picks_the_provider(model: str, provider: Provider) -> None:
    assert provider_for_model(model) is provider


@pytest.mark.parametrize(
    "model",
    [
        "llama-3.3-70b",
        "mistral-large",
        "o2",
        "o3x",  # not o3 or o3-*
        "o4",
        "gpt-",
        "gemini-",
        "claude",
        "text-embedding-3-small",
        "models/gemini-3.5-flash",
        "ft:gpt-4o-mini:org::id",
        " gpt-5",
        "gpt-5 ",
        "gpt 5",
        "gpt-5\n",
        "gpt-" + "x" * 200,
    ],
)
def test_an_unknown_model_is_unsupported_and_the_message_lists_the_accepted_ids(
    model: str,
) -> None:
    error = unsupported(model)
    for prefix in ("gpt-*", "chatgpt-*", "o1", "o3", "o4-mini", "gemini-*", "claude-*"):
        assert prefix in error.message
    assert '"gpt-5-mini"' in error.message


def test_model_ids_are_case_sensitive_and_the_message_suggests_the_lowercase_id() -> None:
    error = unsupported("GPT-5")
    assert 'did you mean "gpt-5"?' in error.message
    assert "did you mean" not in unsupported("Llama-3").message


def test_unsupported_model_is_a_400_invalid_argument() -> None:
    spec = CODES["unsupported_model"]
    assert (spec.http_status, spec.grpc_status) == (400, grpc.StatusCode.INVALID_ARGUMENT)


# ---- flex-capable models ----------------------------------------------------------------


@pytest.mark.parametrize(
    "model",
    [
        "o3",
        "o3-2025-04-16",
        "o4-mini",
        "o4-mini-2025-04-16",
        "gpt-5",
        "gpt-5-2025-08-07",
        "gpt-5-mini",
        "gpt-5-mini-2025-08-07",
        "gpt-5-nano-2025-08-07",
        "gpt-5.1",
        "gpt-5.1-2025-11-13",
        "gpt-5.2",
        "gpt-5.5",
        "gpt-5.6-luna",
        "gpt-6-astra",
        "gemini-3-flash-preview",
        "gemini-3.5-flash",
        "gemini-3.8-flash",
    ],
)
def test_flex_models_and_their_dated_snapshots_are_flex_capable(model: str) -> None:
    assert is_flex_capable(model)


@pytest.mark.parametrize(
    "model",
    [
        "o3-mini",  # a sibling, not a snapshot of o3
        "o3-pro",
        "o3-deep-research",
        "o1",
        "o1-2024-12-17",
        "gpt-5-pro",
        "gpt-5-codex",
        "gpt-5-chat-latest",
        "gpt-5.2-pro",
        "gpt-5-mini-latest",
        "gpt-5-2025-08",  # not a full date
        "gpt-4o",
        "gpt-4.1-2025-04-14",
        "chatgpt-4o-latest",
        "gemini-2.5-flash",
        "gemini-3.5-flash-lite",
        "gemini-4-argon",
        "claude-sonnet-4-5",
        "claude-haiku-4-5-20251001",
    ],
)
def test_other_models_have_no_flex_tier(model: str) -> None:
    assert not is_flex_capable(model)


def test_anthropic_has_no_flex_race_even_if_a_price_file_wrote_one() -> None:
    document = {
        "models": [
            {
                "provider": "anthropic",
                "family": "claude-x",
                "as_of": "2026-11-27",
                "source": "https://example.test/",
                "evidence": "e",
                "tiers": {"standard": {"input": "1", "cached_input": "0.1", "cache_write": "1.25",
                                       "output": "5"}},
            }
        ]
    }  # fmt: skip
    catalog = PriceCatalog.of_entries(parse_catalog(document, origin="t").entries)
    assert catalog.family(Provider.ANTHROPIC, "claude-x") == "claude-x"
    assert not catalog.has_flex(Provider.ANTHROPIC, "claude-x", on=DAY)


def test_gemini_versioned_ids_belong_to_their_family() -> None:
    assert CATALOG.family(Provider.GEMINI, "gemini-3.5-flash-001") == "gemini-3.5-flash"
    assert CATALOG.family(Provider.GEMINI, "gemini-3.5-flash-09-2026") == "gemini-3.5-flash"
    assert CATALOG.has_flex(Provider.GEMINI, "gemini-3.5-flash-09-2026", on=DAY)
    assert CATALOG.family(Provider.GEMINI, "gemini-3.5-flash-lite-001") != "gemini-3.5-flash"
    assert not CATALOG.has_flex(Provider.GEMINI, "gemini-3.5-flash-lite-001", on=DAY)


# ---- tiers and routes -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "tier", "upstream", "wire"),
    [
        (Provider.OPENAI, FixedTier.DEFAULT, UpstreamTier.STANDARD, "default"),
        (Provider.OPENAI, FixedTier.PRIORITY, UpstreamTier.PRIORITY, "priority"),
        (Provider.OPENAI, FixedTier.AUTO, UpstreamTier.AUTO, "auto"),
        (Provider.GEMINI, FixedTier.DEFAULT, UpstreamTier.STANDARD, "standard"),
        (Provider.GEMINI, FixedTier.PRIORITY, UpstreamTier.PRIORITY, "priority"),
        (Provider.ANTHROPIC, FixedTier.DEFAULT, UpstreamTier.STANDARD, "standard_only"),
        (Provider.ANTHROPIC, FixedTier.PRIORITY, UpstreamTier.AUTO, "auto"),  # no priority tier
        (Provider.ANTHROPIC, FixedTier.AUTO, UpstreamTier.AUTO, "auto"),
    ],
)
def test_each_fixed_tier_maps_to_the_providers_own_tier(
    provider: Provider, tier: FixedTier, upstream: UpstreamTier, wire: str
) -> None:
    assert upstream_tier_for(provider, tier) is upstream
    assert service_tier_value(provider, upstream) == wire


def test_gemini_has_no_auto_tier() -> None:
    assert upstream_tier_for(Provider.GEMINI, FixedTier.AUTO) is None
    assert not tier_exists(Provider.GEMINI, UpstreamTier.AUTO)


def test_flex_exists_on_openai_and_gemini_only() -> None:
    assert service_tier_value(Provider.OPENAI, UpstreamTier.FLEX) == "flex"
    assert service_tier_value(Provider.GEMINI, UpstreamTier.FLEX) == "flex"
    assert not tier_exists(Provider.ANTHROPIC, UpstreamTier.FLEX)
    assert not tier_exists(Provider.ANTHROPIC, UpstreamTier.PRIORITY)


def test_each_provider_has_a_direct_route_and_cloud_routes_are_planned() -> None:
    assert DIRECT_ROUTES == {
        Provider.OPENAI: ProviderRoute.OPENAI,
        Provider.GEMINI: ProviderRoute.GOOGLE,
        Provider.ANTHROPIC: ProviderRoute.ANTHROPIC,
    }
    assert ROUTE_PROVIDERS[ProviderRoute.VERTEX] is Provider.GEMINI
    assert ROUTE_PROVIDERS[ProviderRoute.BEDROCK] is Provider.ANTHROPIC
    assert {ProviderRoute.VERTEX, ProviderRoute.BEDROCK} == PLANNED_ROUTES
    assert set(ROUTE_PROVIDERS) == set(ProviderRoute)
