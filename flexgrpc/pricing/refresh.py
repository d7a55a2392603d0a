"""The opt-in price refresh at start-up: genai-prices' published data, fetched once.

genai-prices publishes its live data file (the one its own ``UpdatePrices`` downloads) as a JSON
array of providers. With ``FLEXGRPC_PRICE_REFRESH=true`` the server fetches it once at start
and prices with it instead of the data bundled in the installed package; a failed fetch is
logged and the bundled data is used. Nothing refreshes later and nothing already recorded
changes: every usage record keeps the prices it was priced with, and names the data version.

The file is parsed with its decimals kept as text, so no price ever passes through a float.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import urllib.parse
import urllib.request
from typing import Any

from genai_prices import __version__ as GENAI_PRICES_VERSION
from genai_prices import types as gp

from flexgrpc.pricing.catalog import CatalogError, LayerInfo, LayerName
from flexgrpc.pricing.genai_layer import PROVIDER_IDS, GenaiPricesLayer

log = logging.getLogger("flexgrpc.pricing.refresh")

#: The published file is ~50 KB compressed; anything far larger is not it.
_MAX_BYTES = 32 * 1024 * 1024


def _download(url: str, timeout_s: float) -> bytes:
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise CatalogError(f"price refresh URL {url!r} is not an http(s) URL")
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=timeout_s) as answer:  # noqa: S310
        body: bytes = answer.read(_MAX_BYTES + 1)
    if len(body) > _MAX_BYTES:
        raise CatalogError(f"price refresh: {url} sent more than {_MAX_BYTES:,} bytes")
    return body


def layer_from_published(body: bytes, *, origin: str, fetched_at: dt.datetime) -> GenaiPricesLayer:
    """A genai-prices layer from the bytes of its published data file."""
    try:
        raw: Any = json.loads(body, parse_float=str)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CatalogError(f"price refresh: {origin} is not JSON: {error}") from error
    if not isinstance(raw, list):
        raise CatalogError(f"price refresh: {origin} is not a list of providers")
    try:
        # The reader genai-prices' own UpdatePrices.fetch() uses for this file.
        providers: list[gp.Provider] = gp._providers_from_raw(raw)
    except Exception as error:  # any shape genai-prices itself refuses
        raise CatalogError(f"price refresh: genai-prices refused {origin}: {error}") from error
    if not {p.id for p in providers} >= set(PROVIDER_IDS.values()):
        raise CatalogError(f"price refresh: {origin} lacks OpenAI, Google or Anthropic prices")
    digest = hashlib.sha256(body).hexdigest()[:16]
    info = LayerInfo(
        LayerName.GENAI_PRICES,
        origin,
        f"genai-prices {GENAI_PRICES_VERSION} reader, data fetched "
        f"{fetched_at.strftime('%Y-%m-%dT%H:%M:%SZ')}, sha256:{digest}",
    )
    return GenaiPricesLayer(providers, info)


def fetch_genai_prices(url: str, timeout_s: float) -> GenaiPricesLayer | None:
    """The published data as a layer, or ``None`` (logged) when it cannot be had."""
    fetched_at = dt.datetime.now(dt.UTC)
    try:
        layer = layer_from_published(_download(url, timeout_s), origin=url, fetched_at=fetched_at)
    except (OSError, CatalogError) as error:
        log.warning(
            "price refresh failed, pricing with the bundled genai-prices %s data",
            GENAI_PRICES_VERSION,
            extra={"url": url, "error": str(error)},
        )
        return None
    log.info(
        "price data refreshed from genai-prices",
        extra={"url": url, "data_version": layer.info.data_version},
    )
    return layer
