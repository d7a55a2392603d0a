"""Which models have a flex tier: ``flex_models.json`` beside this module lists flex *families*
per provider, with the source and date of the evidence.

Which models have a flex tier changes every few months, so it is data, not code. A dated
snapshot (``o3-2025-04-16``, ``gpt-5-mini-2025-08-07``) belongs to its family; a sibling model
does not (``o3-mini`` and ``o3-pro`` are not ``o3``). Unlisted means no flex: the router never
races, and never bills a saving, on a tier it cannot show exists.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Final

from flexgrpc.domain import Provider, UpstreamTier, tier_exists

_CATALOG_FILE: Final = "flex_models.json"


@dataclass(frozen=True, slots=True)
class FlexFamily:
    """One flex-capable model family and the evidence it has a flex tier."""

    provider: Provider
    family: str
    evidence_date: str | None
    evidence: str
    source: str


class FlexCatalog:
    """The flex-capable model families of each provider, from ``flex_models.json``."""

    def __init__(
        self,
        families: Mapping[Provider, tuple[FlexFamily, ...]],
        snapshot_suffixes: Mapping[Provider, str],
        *,
        checked_on: str,
    ) -> None:
        self.checked_on = checked_on
        self._families = {
            provider: {entry.family: entry for entry in entries}
            for provider, entries in families.items()
        }
        self._snapshot = {
            provider: re.compile(rf"(?P<base>.+?)(?:{suffix})?")
            for provider, suffix in snapshot_suffixes.items()
        }

    @classmethod
    def from_json(cls, data: Any) -> FlexCatalog:
        """Build a catalog from the parsed JSON document (raises ``ValueError`` when malformed)."""
        try:
            families: dict[Provider, tuple[FlexFamily, ...]] = {}
            suffixes: dict[Provider, str] = {}
            for name, entry in data["providers"].items():
                provider = Provider(name)
                suffixes[provider] = str(entry["snapshot_suffix"])
                re.compile(suffixes[provider])
                families[provider] = tuple(
                    FlexFamily(
                        provider=provider,
                        family=str(item["family"]),
                        evidence_date=item.get("evidence_date"),
                        evidence=str(item["evidence"]),
                        source=str(item["source"]),
                    )
                    for item in entry["flex_families"]
                )
            return cls(families, suffixes, checked_on=str(data["checked_on"]))
        except (KeyError, TypeError, AttributeError, ValueError, re.error) as error:
            raise ValueError(f"malformed flex model catalog: {error!r}") from error

    @classmethod
    def load(cls, path: Path | None = None) -> FlexCatalog:
        """The catalog in ``path``, or the packaged ``flex_models.json``."""
        if path is None:
            text = resources.files("flexgrpc.pricing").joinpath(_CATALOG_FILE).read_text("utf-8")
        else:
            text = path.read_text("utf-8")
        return cls.from_json(json.loads(text))

    def family_of(self, provider: Provider, model: str) -> FlexFamily | None:
        """The flex family ``model`` belongs to, or ``None`` when it has no flex tier."""
        families = self._families.get(provider, {})
        if model in families:
            return families[model]
        snapshot = self._snapshot.get(provider)
        match = snapshot.fullmatch(model) if snapshot is not None else None
        return families.get(match["base"]) if match is not None else None

    def is_flex_capable(self, provider: Provider, model: str) -> bool:
        return tier_exists(provider, UpstreamTier.FLEX) and (
            self.family_of(provider, model) is not None
        )

    def families(self, provider: Provider) -> tuple[str, ...]:
        """The flex family names of ``provider``, in catalog order."""
        return tuple(self._families.get(provider, {}))


@cache
def default_catalog() -> FlexCatalog:
    """The packaged catalog, loaded once."""
    return FlexCatalog.load()
