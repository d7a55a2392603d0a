"""Request validation (SPEC §2): every error code, the validation order, the body passthrough."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flexinference.v1 import types_pb2
from google.protobuf.duration_pb2 import Duration
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flexgrpc.domain import (
    ROUTER_FIELDS,
    Backoff,
    FixedTier,
    Provider,
    ProviderRoute,
    RetryPolicy,
    RouteJob,
    StartWithin,
    Surface,
)
from flexgrpc.errors import FlexError
from flexgrpc.pricing.catalog import PriceCatalog
from flexgrpc.routing.request import parse_request

#: The server's own catalog decides which models may race (shipped overlay over genai-prices).
CATALOG = PriceCatalog.load()

#: A valid body for each surface (a flex race on a flex-capable model where the provider has one).
VALID: dict[Surface, dict[str, Any]] = {
    Surface.RESPONSES: {"model": "gpt-5-mini", "start_within": "00h-00m-30s", "input": "Hi"},
    Surface.CHAT_COMPLETIONS: {
        "model": "gpt-5-mini",
        "start_within": "00h-00m-30s",
        "messages": [{"role": "user", "content": "Hi"}],
    },
    Surface.MESSAGES: {
        "model": "claude-sonnet-4-5",
        "start_within": "default",
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": "Hi"}],
    },
    Surface.INTERACTIONS: {
        "model": "gemini-3.5-flash",
        "start_within": "00h-00m-30s",
        "input": "Hi",
    },
    # The servicer writes the path's model (and the RPC's streaming) in front of the body.
    Surface.GENERATE_CONTENT: {
        "model": "gemini-3.5-flash",
        "stream": False,
        "start_within": "00h-00m-30s",
        "contents": [{"role": "user", "parts": [{"text": "Hi"}]}],
    },
}
DROP = object()


def body(surface: Surface = Surface.RESPONSES, **changes: Any) -> bytes:
    """The valid body of ``surface`` with ``changes`` applied (``DROP`` removes a field)."""
    document = dict(VALID[surface])
    for key, value in changes.items():
        if value is DROP:
            document.pop(key, None)
        else:
            document[key] = value
    return json.dumps(document).encode()


def parse(
    raw: bytes,
    surface: Surface = Surface.RESPONSES,
    controls: types_pb2.RoutingControls | None = None,
    max_body_bytes: int = 1_000_000,
) -> RouteJob:
    return parse_request(
        surface,
        raw,
        request_id="req_1",
        received_at=12.5,
        controls=controls,
        max_body_bytes=max_body_bytes,
        flex_models=CATALOG,
    )


def fails(
    raw: bytes,
    code: str,
    surface: Surface = Surface.RESPONSES,
    controls: types_pb2.RoutingControls | None = None,
    field: str | None = "",
    max_body_bytes: int = 1_000_000,
) -> FlexError:
    """The error ``raw`` fails with; asserts its code (and field, unless ``field=""``)."""
    with pytest.raises(FlexError) as caught:
        parse(raw, surface, controls, max_body_bytes)
    error = caught.value
    assert error.code == code, error.message
    if field != "":
        assert error.field == field
    assert error.message.endswith((".", "}")), error.message
    return error


# ---- happy paths ------------------------------------------------------------------------


@pytest.mark.parametrize("surface", list(Surface))
def test_a_valid_request_becomes_a_route_job(surface: Surface) -> None:
    job = parse(body(surface), surface)
    document = VALID[surface]
    assert job.request_id == "req_1"
    assert job.received_at == 12.5
    assert job.surface is surface
    assert job.model == document["model"]
    assert job.stream is False
    assert job.retry is None
    assert job.include_cost is False
    assert job.body == {k: v for k, v in document.items() if k != "start_within"}


def test_the_job_knows_its_provider_direct_route_and_window() -> None:
    job = parse(body())
    assert job.provider is Provider.OPENAI
    assert job.routes == (ProviderRoute.OPENAI,)
    assert job.start_within == StartWithin(window_ms=30_000)


@pytest.mark.parametrize(
    ("model", "provider", "route"),
    [
        ("gpt-5-mini", Provider.OPENAI, ProviderRoute.OPENAI),
        ("gemini-3.5-flash", Provider.GEMINI, ProviderRoute.GOOGLE),
        ("claude-sonnet-4-5", Provider.ANTHROPIC, ProviderRoute.ANTHROPIC),
    ],
)
def test_chat_completions_reaches_every_provider_on_its_direct_route(
    model: str, provider: Provider, route: ProviderRoute
) -> None:
    job = parse(
        body(Surface.CHAT_COMPLETIONS, model=model, start_within="default"),
        Surface.CHAT_COMPLETIONS,
    )
    assert (job.provider, job.routes) == (provider, (route,))


# ---- size and JSON ----------------------------------------------------------------------


def test_a_body_over_the_limit_is_request_too_large() -> None:
    raw = body(input="x" * 2_000)
    error = fails(raw, "request_too_large", max_body_bytes=len(raw) - 1, field=None)
    assert error.spec.http_status == 413
    assert error.metadata == {"limit_bytes": str(len(raw) - 1)}


def test_a_body_exactly_at_the_limit_is_accepted() -> None:
    raw = body(input="x" * 2_000)
    assert parse(raw, max_body_bytes=len(raw)).body["input"] == "x" * 2_000


def test_the_default_limit_is_one_million_bytes() -> None:
    padding = 1_000_000 - len(body(input=""))
    assert parse(body(input="x" * padding)).body["input"]
    fails(body(input="x" * (padding + 1)), "request_too_large", field=None)


def test_size_is_checked_before_anything_else() -> None:
    fails(b"\xff" * 2_000_001, "request_too_large", field=None)


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (b"\xff\xfe{}", "not valid UTF-8"),
        (b'{"model": "gpt-5\xe9"}', "not valid UTF-8"),
        (b"", "empty"),
        (b"   \n", "empty"),
        (b"\xef\xbb\xbf{}", "byte order mark"),
        (b"[]", "a list, not a JSON object"),
        (b'"hello"', "a string, not a JSON object"),
        (b"42", "a number, not a JSON object"),
        (b"null", "null, not a JSON object"),
        (b"true", "a boolean, not a JSON object"),
        (b'{"model": "gpt-5",}', "not valid JSON"),
        (b'{"model": "gpt-5"} {}', "not valid JSON"),
        (b"{'model': 'gpt-5'}", "not valid JSON"),
        (b'{"a": NaN}', "NaN is not a JSON number"),
        (b'{"a": -Infinity}', "-Infinity is not a JSON number"),
        (b'{"model": "gpt-5", "model": "o3"}', 'the key "model" appears twice'),
        (b'{"input": [{"a": 1, "a": 2}]}', 'the key "a" appears twice'),
        (b"[" * 100_000 + b"]" * 100_000, "too deeply"),
        (b'{"n": 1' + b"0" * 5_000 + b"}", "too many digits"),
    ],
)
def test_a_body_that_is_not_a_strict_utf8_json_object_is_invalid_json(
    raw: bytes, says: str
) -> None:
    error = fails(raw, "invalid_json", field=None)
    assert says in error.message
    assert error.spec.http_status == 400


def test_invalid_json_shows_a_valid_body_for_the_surface_called() -> None:
    error = fails(b"[]", "invalid_json", surface=Surface.MESSAGES, field=None)
    assert '"messages": [{"role": "user", "content": "Hi"}]' in error.message


# ---- model ------------------------------------------------------------------------------


@pytest.mark.parametrize("model", [DROP, None, "", "   ", 5, ["gpt-5"], {"id": "gpt-5"}, True])
def test_a_missing_or_non_string_or_empty_model_is_missing_model(model: object) -> None:
    error = fails(body(model=model), "missing_model", field="model")
    assert '"gpt-5-mini"' in error.message


def test_an_unknown_model_is_unsupported_model() -> None:
    error = fails(body(model="llama-3.3-70b"), "unsupported_model", field="model")
    assert "claude-*" in error.message


@pytest.mark.parametrize(
    ("surface", "model", "provider"),
    [
        (Surface.RESPONSES, "gemini-3.5-flash", Provider.GEMINI),
        (Surface.RESPONSES, "claude-sonnet-4-5", Provider.ANTHROPIC),
        (Surface.MESSAGES, "gpt-5-mini", Provider.OPENAI),
        (Surface.MESSAGES, "gemini-3.5-flash", Provider.GEMINI),
        (Surface.INTERACTIONS, "gpt-5-mini", Provider.OPENAI),
        (Surface.INTERACTIONS, "claude-sonnet-4-5", Provider.ANTHROPIC),
    ],
)
def test_every_surface_reaches_every_provider(
    surface: Surface, model: str, provider: Provider
) -> None:
    job = parse(body(surface, model=model, start_within="default"), surface=surface)
    assert (job.surface, job.provider) == (surface, provider)


# ---- start_within -----------------------------------------------------------------------


def test_start_within_is_required() -> None:
    error = fails(body(start_within=DROP), "missing_start_within", field="start_within")
    assert '"00h-00m-30s"' in error.message


@pytest.mark.parametrize("value", ["30s", "00h-00m-04s", "00h-10m-01s", "Auto", None, 30])
def test_a_malformed_start_within_is_invalid_start_within(value: object) -> None:
    error = fails(body(start_within=value), "invalid_start_within", field="start_within")
    assert '"00h-00m-30s"' in error.message


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("default", StartWithin(tier=FixedTier.DEFAULT)),
        ("priority", StartWithin(tier=FixedTier.PRIORITY)),
        ("auto", StartWithin(tier=FixedTier.AUTO)),
        ("00h-10m-00s", StartWithin(window_ms=600_000)),
    ],
)
def test_start_within_values_reach_the_job(value: str, expected: StartWithin) -> None:
    assert parse(body(start_within=value)).start_within == expected


@pytest.mark.parametrize("value", [None, "flex", "default", "priority"])
def test_service_tier_in_the_body_is_not_allowed(value: object) -> None:
    error = fails(body(service_tier=value), "service_tier_not_allowed", field="service_tier")
    assert "start_within" in error.message


# ---- tier against model -----------------------------------------------------------------


@pytest.mark.parametrize("surface", [Surface.MESSAGES, Surface.CHAT_COMPLETIONS])
def test_a_flex_window_on_claude_is_flex_unsupported_for_anthropic(surface: Surface) -> None:
    raw = body(surface, model="claude-sonnet-4-5", start_within="00h-00m-30s")
    fails(raw, "flex_unsupported_for_anthropic", surface=surface, field="start_within")


@pytest.mark.parametrize("tier", ["default", "priority", "auto"])
def test_claude_accepts_every_fixed_tier(tier: str) -> None:
    job = parse(body(Surface.MESSAGES, start_within=tier), Surface.MESSAGES)
    assert job.start_within.tier is FixedTier(tier)


@pytest.mark.parametrize("model", ["gpt-4o", "o3-mini", "gpt-5-pro", "o1"])
def test_a_flex_window_on_a_model_without_flex_is_model_not_flex_capable(model: str) -> None:
    error = fails(body(model=model), "model_not_flex_capable", field="start_within")
    assert "gpt-5-mini" in error.message  # names flex-capable alternatives


def test_without_a_catalog_no_model_may_race() -> None:
    with pytest.raises(FlexError) as caught:
        parse_request(Surface.RESPONSES, body(model="o3"), request_id="r", received_at=0.0)
    assert caught.value.code == "model_not_flex_capable"


def test_o3_and_o4_mini_may_race_because_genai_prices_has_their_flex_price() -> None:
    for model in ("o3", "o4-mini", "gpt-5.6", "gemini-3.7-flash"):
        surface = Surface.INTERACTIONS if model.startswith("gemini") else Surface.RESPONSES
        assert parse(body(surface, model=model), surface).start_within.is_race


def test_a_gemini_model_without_flex_is_model_not_flex_capable() -> None:
    raw = body(Surface.INTERACTIONS, model="gemini-2.5-flash")
    fails(raw, "model_not_flex_capable", surface=Surface.INTERACTIONS)


@pytest.mark.parametrize("model", ["gpt-5-mini-2025-08-07", "o3-2025-04-16", "o4-mini"])
def test_dated_snapshots_of_flex_models_can_race(model: str) -> None:
    assert parse(body(model=model)).start_within.is_race


@pytest.mark.parametrize("surface", [Surface.INTERACTIONS, Surface.CHAT_COMPLETIONS])
def test_auto_on_gemini_is_auto_unsupported_for_gemini(surface: Surface) -> None:
    raw = body(surface, model="gemini-3.5-flash", start_within="auto")
    fails(raw, "auto_unsupported_for_gemini", surface=surface, field="start_within")


def test_fixed_tiers_need_no_flex_tier() -> None:
    assert parse(body(model="gpt-4o", start_within="priority")).model == "gpt-4o"


# ---- provider ---------------------------------------------------------------------------


def test_provider_names_the_route() -> None:
    assert parse(body(provider=["openai"])).routes == (ProviderRoute.OPENAI,)


def test_provider_on_gemini_uses_the_google_route() -> None:
    job = parse(body(Surface.INTERACTIONS, provider=["google"]), Surface.INTERACTIONS)
    assert job.routes == (ProviderRoute.GOOGLE,)


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("openai", '["openai"]'),
        (None, "must be a list"),
        ({"name": "openai"}, "must be a list"),
        ([], "empty list"),
        (["openai", "google", "anthropic", "vertex"], "more than 3"),
        ([1], "not a route"),
        ([None], "not a route"),
        (["azure"], "not a route"),
        (["OpenAI"], "lowercase"),
        ([" openai"], "not a route"),
        (["openai", "openai"], "repeats"),
        (["google"], "cannot serve"),
        (["anthropic"], "cannot serve"),
        (["openai", "anthropic"], "cannot serve"),
        (["vertex"], "cannot serve"),
        (["bedrock"], "cannot serve"),
    ],
)
def test_a_bad_provider_list_is_invalid_provider(value: object, says: str) -> None:
    error = fails(body(provider=value), "invalid_provider", field="provider")
    assert says in error.message


@pytest.mark.parametrize(
    ("surface", "model", "route"),
    [
        (Surface.INTERACTIONS, "gemini-3.5-flash", "vertex"),
        (Surface.MESSAGES, "claude-sonnet-4-5", "bedrock"),
    ],
)
def test_a_planned_cloud_route_is_route_not_available(
    surface: Surface, model: str, route: str
) -> None:
    raw = body(surface, model=model, provider=[route])
    error = fails(raw, "route_not_available", surface=surface, field="provider")
    assert "planned" in error.message
    assert "not available yet" in error.message


def test_a_planned_route_as_a_fallback_is_route_not_available_too() -> None:
    raw = body(Surface.INTERACTIONS, provider=["google", "vertex"])
    error = fails(raw, "route_not_available", surface=Surface.INTERACTIONS)
    assert "provider[1]" in error.message


# ---- retry ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"count": 1}, RetryPolicy(count=1)),
        ({"count": 5}, RetryPolicy(count=5)),
        (
            {"count": 3, "backoff": "linear", "jitter": False},
            RetryPolicy(count=3, backoff=Backoff.LINEAR, jitter=False),
        ),
        ({"jitter": True, "count": 2, "backoff": "exponential"}, RetryPolicy(count=2)),
    ],
)
def test_retry_becomes_a_retry_policy(value: dict[str, Any], expected: RetryPolicy) -> None:
    assert parse(body(retry=value)).retry == expected


@pytest.mark.parametrize(
    ("value", "field", "says"),
    [
        (3, "retry", "must be an object"),
        (None, "retry", "must be an object"),
        ([{"count": 2}], "retry", "must be an object"),
        ({}, "retry.count", "required"),
        ({"backoff": "linear"}, "retry.count", "required"),
        ({"count": 0}, "retry.count", "from 1 to 5"),
        ({"count": 6}, "retry.count", "from 1 to 5"),
        ({"count": -1}, "retry.count", "from 1 to 5"),
        ({"count": True}, "retry.count", "a boolean true"),
        ({"count": 2.0}, "retry.count", "a number 2.0"),
        ({"count": "2"}, "retry.count", 'a string "2"'),
        ({"count": 2, "backoff": "Linear"}, "retry.backoff", '"exponential" or "linear"'),
        ({"count": 2, "backoff": "constant"}, "retry.backoff", '"exponential" or "linear"'),
        ({"count": 2, "backoff": None}, "retry.backoff", '"exponential" or "linear"'),
        ({"count": 2, "jitter": "yes"}, "retry.jitter", "true or false"),
        ({"count": 2, "jitter": 1}, "retry.jitter", "true or false"),
        ({"count": 2, "max_delay": 5}, "retry.max_delay", 'unknown key "max_delay"'),
        ({"count": 2, "max delay\n": 5}, "retry", 'unknown key "max delay\\n"'),
    ],
)
def test_a_bad_retry_is_invalid_retry(value: object, field: str, says: str) -> None:
    error = fails(body(retry=value), "invalid_retry", field=field)
    assert says in error.message
    assert '{"count": 2}' in error.message


# ---- include_cost and stream ------------------------------------------------------------


@pytest.mark.parametrize("value", [True, False])
def test_include_cost_is_a_boolean(value: bool) -> None:
    assert parse(body(include_cost=value)).include_cost is value


@pytest.mark.parametrize("value", ["true", 1, 0, None, [], {}])
def test_a_non_boolean_include_cost_is_invalid_include_cost(value: object) -> None:
    fails(body(include_cost=value), "invalid_include_cost", field="include_cost")


@pytest.mark.parametrize("value", [True, False])
def test_stream_comes_from_the_body_and_stays_in_it(value: bool) -> None:
    job = parse(body(stream=value))
    assert job.stream is value
    assert job.body["stream"] is value


@pytest.mark.parametrize("value", ["true", 1, None, {}])
def test_a_non_boolean_stream_is_invalid_argument(value: object) -> None:
    fails(body(stream=value), "invalid_argument", field="stream")


# ---- the surface's own field ------------------------------------------------------------


@pytest.mark.parametrize("surface", [Surface.RESPONSES, Surface.INTERACTIONS])
@pytest.mark.parametrize("value", [DROP, None, "", []])
def test_responses_and_interactions_need_input(surface: Surface, value: object) -> None:
    error = fails(body(surface, input=value), "missing_input", surface=surface, field="input")
    assert '"input": "Hi"' in error.message


@pytest.mark.parametrize("surface", [Surface.CHAT_COMPLETIONS, Surface.MESSAGES])
@pytest.mark.parametrize("value", [DROP, None, [], "Hi", {"role": "user"}])
def test_chat_and_messages_need_a_non_empty_messages_list(surface: Surface, value: object) -> None:
    raw = body(surface, messages=value)
    error = fails(raw, "missing_messages", surface=surface, field="messages")
    assert '"messages": [{"role": "user", "content": "Hi"}]' in error.message


@pytest.mark.parametrize("value", [DROP, None, [], "Hi"])
def test_generate_content_needs_a_non_empty_contents_list(value: object) -> None:
    raw = body(Surface.GENERATE_CONTENT, contents=value)
    error = fails(raw, "missing_contents", surface=Surface.GENERATE_CONTENT, field="contents")
    assert '"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]' in error.message


@pytest.mark.parametrize("tier_field", ["serviceTier", "service_tier"])
def test_generate_content_refuses_either_spelling_of_its_tier_field(tier_field: str) -> None:
    raw = body(Surface.GENERATE_CONTENT, **{tier_field: "flex"})
    fails(raw, "service_tier_not_allowed", surface=Surface.GENERATE_CONTENT, field=tier_field)


def test_input_may_be_a_list_of_items() -> None:
    items = [{"role": "user", "content": [{"type": "input_text", "text": "Hi"}]}]
    assert parse(body(input=items)).body["input"] == items


# ---- validation order -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"model": DROP, "start_within": DROP}, "missing_model"),
        ({"model": "", "start_within": "bogus", "service_tier": "flex"}, "missing_model"),
        ({"model": "llama-3", "start_within": DROP}, "unsupported_model"),
        ({"model": "gemini-3.5-flash", "start_within": DROP}, "missing_start_within"),
        ({"start_within": DROP, "service_tier": "flex"}, "missing_start_within"),
        ({"start_within": "30s", "service_tier": "flex"}, "invalid_start_within"),
        ({"start_within": "30s", "input": DROP}, "invalid_start_within"),
        ({"service_tier": "flex", "model": "gpt-4o"}, "service_tier_not_allowed"),
        ({"model": "gpt-4o", "provider": "openai"}, "model_not_flex_capable"),
        ({"model": "gpt-4o", "retry": 7, "input": DROP}, "model_not_flex_capable"),
        ({"provider": [], "retry": {}}, "invalid_provider"),
        ({"provider": ["openai", "openai"], "retry": {}}, "invalid_provider"),
        ({"retry": {"count": 9}, "include_cost": "yes"}, "invalid_retry"),
        ({"include_cost": "yes", "stream": "yes"}, "invalid_include_cost"),
        ({"stream": "yes", "input": DROP}, "invalid_argument"),
        ({"input": DROP, "messages": []}, "missing_input"),
    ],
)
def test_the_first_fault_in_spec_order_wins(changes: dict[str, Any], code: str) -> None:
    fails(body(**changes), code)


def test_flex_on_claude_is_reported_before_a_bad_provider() -> None:
    raw = body(Surface.MESSAGES, start_within="00h-00m-30s", provider=["openai"])
    fails(raw, "flex_unsupported_for_anthropic", surface=Surface.MESSAGES)


def test_auto_on_gemini_is_reported_before_a_missing_input() -> None:
    raw = body(Surface.INTERACTIONS, start_within="auto", input=DROP)
    fails(raw, "auto_unsupported_for_gemini", surface=Surface.INTERACTIONS)


def test_too_large_wins_over_invalid_json_and_invalid_json_over_everything_else() -> None:
    fails(b"{" * 50, "request_too_large", max_body_bytes=10, field=None)
    fails(b'{"model": "gpt-5", "model": "gpt-5"}', "invalid_json", field=None)


# ---- the body passes through ------------------------------------------------------------


def test_only_the_routers_fields_are_removed_and_everything_else_is_untouched() -> None:
    raw = (
        b'{"zeta": 1, "model": "gpt-5-mini", "start_within": "00h-00m-30s", '
        b'"provider": ["openai"], "input": "Hi", "retry": {"count": 2}, '
        b'"include_cost": true, "big": 123456789012345678901234567890, "neg": -0, '
        b'"metadata": {"b": 2, "a": [1, {"y": null, "x": 1.5}]}, "stream": true, '
        b'"start_Within": "not ours", "alpha": "\\u00e9\\ud83d\\ude00"}'
    )
    job = parse(raw)
    assert list(job.body) == [
        "zeta",
        "model",
        "input",
        "big",
        "neg",
        "metadata",
        "stream",
        "start_Within",
        "alpha",
    ]
    assert job.body["big"] == 123456789012345678901234567890
    assert type(job.body["big"]) is int
    assert list(job.body["metadata"]) == ["b", "a"]
    assert list(job.body["metadata"]["a"][1]) == ["y", "x"]
    assert job.body["alpha"] == "\u00e9\U0001f600"
    assert not set(ROUTER_FIELDS) & set(job.body)


def test_the_body_is_a_fresh_dict_and_other_values_are_the_parsed_ones() -> None:
    job = parse(body(tools=[{"type": "web_search"}], temperature=0.2))
    assert job.body["tools"] == [{"type": "web_search"}]
    assert job.body["temperature"] == 0.2


# ---- typed controls ---------------------------------------------------------------------


def controls(**fields: Any) -> types_pb2.RoutingControls:
    return types_pb2.RoutingControls(**fields)


EQUIVALENT = [
    (
        {"start_within": "00h-00m-30s"},
        controls(flex_window=Duration(seconds=30)),
    ),
    ({"start_within": "default"}, controls(tier=types_pb2.START_TIER_DEFAULT)),
    ({"start_within": "priority"}, controls(tier=types_pb2.START_TIER_PRIORITY)),
    ({"start_within": "auto"}, controls(tier=types_pb2.START_TIER_AUTO)),
    (
        {
            "start_within": "00h-01m-00s",
            "provider": ["openai"],
            "retry": {"count": 3, "backoff": "linear", "jitter": False},
            "include_cost": True,
        },
        controls(
            flex_window=Duration(seconds=60),
            providers=[types_pb2.PROVIDER_ROUTE_OPENAI],
            retry=types_pb2.RetryPolicy(count=3, backoff=types_pb2.BACKOFF_LINEAR, jitter=False),
            include_cost=True,
        ),
    ),
    (
        {"start_within": "default", "retry": {"count": 2}, "include_cost": False},
        controls(
            tier=types_pb2.START_TIER_DEFAULT,
            retry=types_pb2.RetryPolicy(count=2),
            include_cost=False,
        ),
    ),
]


@pytest.mark.parametrize(("fields", "typed"), EQUIVALENT)
def test_typed_controls_mean_the_same_as_the_body_fields(
    fields: dict[str, Any], typed: types_pb2.RoutingControls
) -> None:
    from_body = parse(body(**fields))
    from_typed = parse(body(start_within=DROP), controls=typed)
    assert from_typed == from_body


@pytest.mark.parametrize(
    ("fields", "typed", "field"),
    [
        (
            {"start_within": "default"},
            controls(tier=types_pb2.START_TIER_DEFAULT),
            "start_within",
        ),
        (
            {"start_within": "00h-00m-30s"},
            controls(flex_window=Duration(seconds=30)),
            "start_within",
        ),
        (
            {"provider": ["openai"]},
            controls(providers=[types_pb2.PROVIDER_ROUTE_OPENAI]),
            "provider",
        ),
        ({"retry": {"count": 2}}, controls(retry=types_pb2.RetryPolicy(count=2)), "retry"),
        ({"include_cost": True}, controls(include_cost=False), "include_cost"),
    ],
)
def test_a_control_given_in_both_places_is_invalid_argument(
    fields: dict[str, Any], typed: types_pb2.RoutingControls, field: str
) -> None:
    error = fails(body(**fields), "invalid_argument", controls=typed, field=field)
    assert "given twice" in error.message
    assert "routing." in error.message


def test_different_controls_may_come_from_different_places() -> None:
    typed = controls(tier=types_pb2.START_TIER_PRIORITY, include_cost=True)
    job = parse(body(start_within=DROP, retry={"count": 2}), controls=typed)
    assert job.start_within == StartWithin(tier=FixedTier.PRIORITY)
    assert job.retry == RetryPolicy(count=2)
    assert job.include_cost is True


def test_typed_controls_without_start_within_still_need_it_somewhere() -> None:
    fails(body(start_within=DROP), "missing_start_within", controls=controls(include_cost=True))


@pytest.mark.parametrize(
    ("typed", "code", "field"),
    [
        (controls(tier=types_pb2.START_TIER_UNSPECIFIED), "invalid_start_within", "routing.tier"),
        (
            controls(flex_window=Duration(seconds=4)),
            "invalid_start_within",
            "routing.flex_window",
        ),
        (
            controls(flex_window=Duration(seconds=30, nanos=1)),
            "invalid_start_within",
            "routing.flex_window",
        ),
        (
            controls(
                tier=types_pb2.START_TIER_DEFAULT,
                providers=[types_pb2.PROVIDER_ROUTE_UNSPECIFIED],
            ),
            "invalid_provider",
            "routing.providers",
        ),
        (
            controls(tier=types_pb2.START_TIER_DEFAULT, providers=[42]),
            "invalid_provider",
            "routing.providers",
        ),
        (
            controls(
                tier=types_pb2.START_TIER_DEFAULT,
                providers=[types_pb2.PROVIDER_ROUTE_OPENAI, types_pb2.PROVIDER_ROUTE_OPENAI],
            ),
            "invalid_provider",
            "routing.providers",
        ),
        (
            controls(
                tier=types_pb2.START_TIER_DEFAULT, providers=[types_pb2.PROVIDER_ROUTE_GOOGLE]
            ),
            "invalid_provider",
            "routing.providers",
        ),
        (
            controls(tier=types_pb2.START_TIER_DEFAULT, providers=[1, 2, 3, 4]),
            "invalid_provider",
            "routing.providers",
        ),
        (
            controls(tier=types_pb2.START_TIER_DEFAULT, retry=types_pb2.RetryPolicy(count=0)),
            "invalid_retry",
            "routing.retry.count",
        ),
        (
            controls(tier=types_pb2.START_TIER_DEFAULT, retry=types_pb2.RetryPolicy(count=6)),
            "invalid_retry",
            "routing.retry.count",
        ),
        (
            controls(
                tier=types_pb2.START_TIER_DEFAULT,
                retry=types_pb2.RetryPolicy(count=2, backoff=9),  # type: ignore[arg-type]
            ),
            "invalid_retry",
            "routing.retry.backoff",
        ),
    ],
)
def test_bad_typed_controls_fail_with_the_same_codes_as_bad_body_fields(
    typed: types_pb2.RoutingControls, code: str, field: str
) -> None:
    fails(body(start_within=DROP), code, controls=typed, field=field)


def test_a_typed_planned_route_is_route_not_available() -> None:
    typed = controls(tier=types_pb2.START_TIER_DEFAULT, providers=[types_pb2.PROVIDER_ROUTE_VERTEX])
    raw = body(Surface.INTERACTIONS, start_within=DROP)
    fails(raw, "route_not_available", surface=Surface.INTERACTIONS, controls=typed)


def test_a_typed_flex_window_on_claude_names_the_typed_field() -> None:
    typed = controls(flex_window=Duration(seconds=30))
    raw = body(Surface.MESSAGES, start_within=DROP)
    fails(
        raw,
        "flex_unsupported_for_anthropic",
        surface=Surface.MESSAGES,
        controls=typed,
        field="routing.flex_window",
    )


def test_typed_retry_defaults_to_exponential_with_jitter() -> None:
    typed = controls(tier=types_pb2.START_TIER_DEFAULT, retry=types_pb2.RetryPolicy(count=4))
    assert parse(body(start_within=DROP), controls=typed).retry == RetryPolicy(count=4)


# ---- messages never echo much caller input ----------------------------------------------

LONG = "q" * 5_000


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"model": LONG}, "unsupported_model"),
        ({"model": "gpt-" + LONG}, "unsupported_model"),
        ({"model": [LONG]}, "missing_model"),
        ({"start_within": LONG}, "invalid_start_within"),
        ({"provider": [LONG]}, "invalid_provider"),
        ({"provider": LONG}, "invalid_provider"),
        ({"retry": {LONG: 1, "count": 2}}, "invalid_retry"),
        ({"retry": {"count": LONG}}, "invalid_retry"),
        ({"include_cost": LONG}, "invalid_include_cost"),
        ({"stream": LONG}, "invalid_argument"),
        ({"input": DROP, LONG: LONG}, "missing_input"),
    ],
)
def test_no_message_repeats_more_than_80_characters_of_caller_input(
    changes: dict[str, Any], code: str
) -> None:
    error = fails(body(**changes), code)
    assert "q" * 81 not in error.message
    assert len(error.message) < 600
    assert error.field is None or len(error.field) <= 60


def test_a_duplicate_key_is_not_echoed_in_full() -> None:
    raw = b'{"' + LONG.encode() + b'": 1, "' + LONG.encode() + b'": 2}'
    error = fails(raw, "invalid_json", field=None)
    assert "q" * 81 not in error.message


# ---- properties -------------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=10,
)
ROUTER_ISH = st.sampled_from(
    [
        "model",
        "start_within",
        "service_tier",
        "provider",
        "retry",
        "include_cost",
        "stream",
        "input",
        "messages",
    ]
)
FIELD_VALUES = (
    JSON_VALUES
    | st.sampled_from(["gpt-5-mini", "claude-sonnet-4-5", "gemini-3.5-flash", "gpt-4o"])
    | st.sampled_from(["default", "priority", "auto", "00h-00m-30s", "00h-00m-04s"])
    | st.lists(st.sampled_from(["openai", "google", "anthropic", "vertex", "bedrock"]), max_size=4)
    | st.fixed_dictionaries(
        {"count": st.integers(-1, 7)},
        optional={
            "backoff": st.sampled_from(["linear", "exponential", "x"]),
            "jitter": JSON_VALUES,
        },
    )
)


def attempt(raw: bytes, surface: Surface = Surface.RESPONSES) -> RouteJob | FlexError:
    """The job, or the ``FlexError`` (any other exception propagates and fails the test)."""
    try:
        return parse(raw, surface)
    except FlexError as error:
        return error


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=300)
@given(
    st.sampled_from(list(Surface)),
    st.dictionaries(ROUTER_ISH | st.text(max_size=8), FIELD_VALUES, max_size=9),
)
def test_random_bodies_either_validate_or_raise_a_flex_error(
    surface: Surface, document: dict[str, Any]
) -> None:
    result = attempt(json.dumps(document).encode(), surface)
    if isinstance(result, FlexError):
        assert result.spec.http_status in (400, 413)
        assert "q" * 81 not in result.message
    else:
        assert result.body == {k: v for k, v in document.items() if k not in ROUTER_FIELDS}
        assert list(result.body) == [k for k in document if k not in ROUTER_FIELDS]
        assert "service_tier" not in result.body
        assert surface is not Surface.GENERATE_CONTENT or "serviceTier" not in result.body


@given(st.binary(max_size=200))
def test_random_bytes_never_crash(raw: bytes) -> None:
    result = attempt(raw)
    assert isinstance(result, FlexError)
    assert result.code in {
        "invalid_json",
        "missing_model",
        "unsupported_model",
        "unsupported_surface_pair",
        "missing_start_within",
    }


@given(st.text(max_size=60))
def test_random_start_within_strings_only_ever_fail_as_invalid_start_within(value: str) -> None:
    result = attempt(body(start_within=value))
    if isinstance(result, FlexError):
        assert result.code == "invalid_start_within"
    else:
        assert result.start_within.is_race or result.start_within.tier is not None
