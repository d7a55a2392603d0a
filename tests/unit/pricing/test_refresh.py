"""The opt-in start-up refresh: genai-prices' published file read exactly, failures logged."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from flexgrpc.domain import Provider
from flexgrpc.pricing.catalog import CatalogError, LayerName, PriceCatalog, PriceTier
from flexgrpc.pricing.refresh import fetch_genai_prices, layer_from_published

FETCHED_AT = dt.datetime(2026, 12, 2, 6, 0, tzinfo=dt.UTC)


def published(o3_flex_input: str = "0.0625") -> bytes:
    """A published data file in genai-prices' v2 shape, prices written as JSON numbers."""
    providers: list[dict[str, Any]] = [
        {
            "id": "openai",
            "name": "OpenAI",
            "api_pattern": "https://api\\.openai\\.com",
            "models": [
                {
                    "id": "o3",
                    "match": {"or": [{"equals": "o3"}, {"equals": "o3-2025-04-16"}]},
                    "prices": {"input_mtok": 2, "cache_read_mtok": 0.5, "output_mtok": 8},
                    "price_variants": [
                        {
                            "when": {"service_tier": "flex"},
                            "prices": {"input_mtok": "@", "output_mtok": 4},
                        }
                    ],
                }
            ],
        },
        {"id": "google", "name": "Google", "api_pattern": "x", "models": []},
        {"id": "anthropic", "name": "Anthropic", "api_pattern": "y", "models": []},
    ]
    # A JSON number with exactly the decimals given (json.dumps of a float could change them).
    return json.dumps(providers).replace('"@"', o3_flex_input).encode()


def test_a_published_file_is_read_exactly_and_names_its_version() -> None:
    layer = layer_from_published(published(), origin="https://example.test/data.json",
                                 fetched_at=FETCHED_AT)  # fmt: skip
    catalog = PriceCatalog.load(genai_prices=layer)
    quote = catalog.quote(
        Provider.OPENAI, "o3-2025-04-16", PriceTier.FLEX, prompt_tokens=1, on=FETCHED_AT.date()
    )
    assert quote is not None
    assert quote.rates is not None
    assert quote.rates.input == 62_500  # $0.0625 per 1M: 0.0625 pico-USD x 10^6, exactly
    record = quote.record()
    assert record["layer"] == LayerName.GENAI_PRICES.value
    assert record["origin"] == "https://example.test/data.json"
    assert "data fetched 2026-12-02T06:00:00Z, sha256:" in record["data_version"]
    # The refreshed data replaces the bundled data: gpt-4o is not in this small file.
    assert catalog.lookup(Provider.OPENAI, "gpt-4o", on=FETCHED_AT.date()) is None


def test_a_published_price_with_more_than_six_decimals_is_unpriced() -> None:
    layer = layer_from_published(published("0.00000001"), origin="x", fetched_at=FETCHED_AT)
    entry = layer.entry(Provider.OPENAI, "o3", on=FETCHED_AT.date())
    assert entry is not None
    assert entry.priced_tiers() == (PriceTier.STANDARD,)
    assert [u.tier for u in layer.unpriced] == [PriceTier.FLEX]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"<html>", "is not JSON"),
        (b"{}", "not a list of providers"),
        (b'[{"id": "openai"}]', "genai-prices refused"),
        (b"[]", "lacks OpenAI, Google or Anthropic"),
    ],
)
def test_a_file_that_is_not_genai_prices_data_is_refused(body: bytes, says: str) -> None:
    with pytest.raises(CatalogError, match=says):
        layer_from_published(body, origin="x", fetched_at=FETCHED_AT)


@pytest.fixture
def data_server() -> Iterator[tuple[str, list[bytes]]]:
    """A loopback HTTP server answering GET /data.json with the first body in its list."""
    bodies: list[bytes] = [published()]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = bodies[0]
            self.send_response(200 if self.path == "/data.json" else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", bodies
    finally:
        server.shutdown()
        server.server_close()


def test_the_refresh_fetches_the_file_once(
    data_server: tuple[str, list[bytes]], caplog: pytest.LogCaptureFixture
) -> None:
    url, _ = data_server
    with caplog.at_level(logging.INFO, logger="flexgrpc.pricing.refresh"):
        layer = fetch_genai_prices(f"{url}/data.json", 5)
    assert layer is not None
    assert layer.info.origin == f"{url}/data.json"
    assert "price data refreshed" in caplog.text


def test_a_failed_refresh_is_logged_and_leaves_the_bundled_data(
    data_server: tuple[str, list[bytes]], caplog: pytest.LogCaptureFixture
) -> None:
    url, bodies = data_server
    with caplog.at_level(logging.WARNING, logger="flexgrpc.pricing.refresh"):
        assert fetch_genai_prices(f"{url}/missing.json", 5) is None
        bodies[0] = b"not json"
        assert fetch_genai_prices(f"{url}/data.json", 5) is None
        assert fetch_genai_prices("file:///etc/passwd", 5) is None
    assert caplog.text.count("price refresh failed") == 3
