"""Helpers shared by the pricing tests: small catalogs built from documents, and fixed days."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from flexgrpc.pricing.catalog import PriceCatalog, parse_catalog

#: The day the shipped catalog was checked; tests price on it so results do not drift.
CHECKED_ON = dt.date(2026, 12, 2)


def catalog_of(*entries: dict[str, Any]) -> PriceCatalog:
    """A catalog made of just these entries (validated like a real file)."""
    parsed = parse_catalog({"models": list(entries)}, origin="test")
    return PriceCatalog.of_entries(parsed.entries)


def entry(
    family: str = "gpt-6-sol",
    *,
    provider: str = "openai",
    tiers: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A catalog entry with provenance filled in."""
    return {
        "provider": provider,
        "family": family,
        "as_of": "2026-11-27",
        "source": "https://example.test/pricing",
        "evidence": "test fixture",
        "tiers": tiers
        if tiers is not None
        else {
            "standard": {"input": "2", "cached_input": "0.2", "output": "10"},
            "flex": {"input": "1", "cached_input": "0.1", "output": "5"},
        },
        **extra,
    }


@pytest.fixture(scope="session")
def shipped() -> PriceCatalog:
    return PriceCatalog.load()
