"""Where ``start_within`` comes from (SPEC §2.1): body or typed field > header > key default."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flexinference.v1 import types_pb2

from flexgrpc.domain import FixedTier, StartWithin, StartWithinSource, Surface
from flexgrpc.errors import FlexError
from flexgrpc.pricing.catalog import PriceCatalog
from flexgrpc.routing.request import parse_request
from flexgrpc.routing.start_within import HEADER, check_default_start_within

CATALOG = PriceCatalog.load()
WINDOW = StartWithin(window_ms=30_000)
DEFAULT = StartWithin(tier=FixedTier.DEFAULT)
RACE = "00h-00m-30s"
TYPED_DEFAULT = types_pb2.RoutingControls(tier=types_pb2.START_TIER_DEFAULT)


def parse(
    *,
    body_value: Any = None,
    typed: types_pb2.RoutingControls | None = None,
    header: str | None = None,
    key: str | None = None,
    model: str = "gpt-5-mini",
) -> tuple[StartWithin, StartWithinSource]:
    document: dict[str, Any] = {"model": model, "input": "Hi"}
    if body_value is not None:
        document["start_within"] = body_value
    job = parse_request(
        Surface.RESPONSES,
        json.dumps(document).encode(),
        request_id="req_1",
        received_at=0.0,
        controls=typed,
        header_start_within=header,
        key_start_within=key,
        flex_models=CATALOG,
    )
    return job.start_within, job.start_within_source


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (
            {"body_value": "default", "header": "00h-00m-30s", "key": "00h-00m-30s"},
            (DEFAULT, "body"),
        ),
        (
            {
                "typed": types_pb2.RoutingControls(tier=types_pb2.START_TIER_DEFAULT),
                "header": "00h-00m-30s",
            },
            (DEFAULT, "body"),
        ),
        ({"header": "default", "key": "00h-00m-30s"}, (DEFAULT, "header")),
        ({"key": "00h-00m-30s"}, (WINDOW, "key_default")),
        ({"header": "00h-00m-30s"}, (WINDOW, "header")),
    ],
)
def test_the_most_specific_spelling_wins(given: dict[str, Any], expected: tuple[Any, str]) -> None:
    start, source = parse(**given)
    assert (start, source.value) == expected


def test_none_of_them_is_missing_start_within_and_names_the_other_ways() -> None:
    with pytest.raises(FlexError) as caught:
        parse()
    assert caught.value.code == "missing_start_within"
    assert HEADER in caught.value.message


@pytest.mark.parametrize("body_value", [None, "default"])
def test_a_malformed_header_is_refused_even_when_the_body_overrides_it(body_value: Any) -> None:
    with pytest.raises(FlexError) as caught:
        parse(body_value=body_value, header="Auto")
    assert caught.value.code == "invalid_start_within"
    assert caught.value.field == HEADER
    assert caught.value.message.startswith(f"the {HEADER} header")
    assert "lowercase" in caught.value.message


def test_an_invalid_body_value_is_not_rescued_by_the_header() -> None:
    with pytest.raises(FlexError) as caught:
        parse(body_value="soon", header="default")
    assert (caught.value.code, caught.value.field) == ("invalid_start_within", "start_within")


def test_a_key_default_window_on_claude_names_the_key_default() -> None:
    with pytest.raises(FlexError) as caught:
        parse(key="00h-00m-30s", model="claude-sonnet-4-5")
    assert caught.value.code == "flex_unsupported_for_anthropic"
    assert caught.value.field == "api_key.default_start_within"


@pytest.mark.parametrize("value", ["00h-00m-30s", "default", "priority", "auto"])
def test_a_valid_default_is_stored_as_given(value: str) -> None:
    assert check_default_start_within(value, field="default_start_within") == value


@pytest.mark.parametrize("value", ["30s", " default", "00h-00m-01s", "DEFAULT"])
def test_an_invalid_default_is_refused_naming_the_field(value: str) -> None:
    with pytest.raises(FlexError) as caught:
        check_default_start_within(value, field="default_start_within")
    assert (caught.value.code, caught.value.field) == (
        "invalid_start_within",
        "default_start_within",
    )
    assert caught.value.message.startswith("default_start_within")
