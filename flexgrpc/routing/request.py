"""Request validation (SPEC §2): a caller's JSON body (+ typed controls) in, a ``RouteJob`` out.

Checks run in one fixed order, so a request with several faults always gets the same, first
error (SPEC §2 "Validation order"):

0. size (``request_too_large``), then UTF-8 JSON object (``invalid_json``);
1. ``model``: a non-empty string (``missing_model``) that names a provider
   (``unsupported_model``); every surface reaches every provider;
2. ``start_within``: given in exactly one place in the request (``invalid_argument``), the
   ``x-flexinference-start-within`` header's grammar when one was sent, given anywhere
   (``missing_start_within``), then its grammar (``invalid_start_within``); precedence: the
   body or typed field, then the header, then the API key's default (SPEC §2.1);
3. ``service_tier`` absent (``service_tier_not_allowed``);
4. the tier against the model (``flex_unsupported_for_anthropic``, ``model_not_flex_capable``,
   ``auto_unsupported_for_gemini``);
5. the optional controls ``provider``, ``retry``, ``include_cost`` (each from one place only),
   then ``stream``;
6. the surface's own required field (``missing_input`` / ``missing_messages``).

The body is the provider's JSON: everything but the router's four fields passes through as parsed
(key order kept, unknown fields kept, integers exact). Duplicate keys, ``NaN``/``Infinity``, a
number beyond a double's range (``1e400``), a lone UTF-16 surrogate (``"\\ud800"``, see
flexgrpc.json_text) and a byte order mark are rejected rather than guessed at: a body that two
JSON parsers could read differently, or that cannot be forwarded as the caller wrote it, is
not forwarded.

Error messages say what was wrong, the rule and a fix, and repeat at most ``MAX_ECHO_CHARS``
characters of caller input. Body errors name the JSON field (``field="retry.count"``); errors
in the typed controls name the request field (``field="routing.providers"``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from typing import Any, Final, NoReturn, Protocol

from flexinference.v1 import types_pb2

from flexgrpc.body_size import check_body_size
from flexgrpc.domain import (
    DIRECT_ROUTES,
    PLANNED_ROUTES,
    ROUTE_PROVIDERS,
    ROUTER_FIELDS,
    Backoff,
    FixedTier,
    Provider,
    ProviderRoute,
    RetryPolicy,
    RouteJob,
    StartWithin,
    StartWithinSource,
    Surface,
)
from flexgrpc.errors import FlexError
from flexgrpc.json_text import lone_surrogate_path, surrogate_message
from flexgrpc.routing.model_ids import provider_for_model
from flexgrpc.routing.start_within import (
    FIELD as START_WITHIN_FIELD,
)
from flexgrpc.routing.start_within import (
    HEADER,
    TYPED_TIER_FIELD,
    TYPED_WINDOW_FIELD,
    describe_value,
    from_controls,
    json_type_name,
    parse_header_start_within,
    parse_start_within,
    preview_value,
)

DEFAULT_MAX_BODY_BYTES: Final = 1_000_000


#: The field later errors name when the API key's default applied (e.g. a window on Claude).
KEY_DEFAULT_FIELD: Final = "api_key.default_start_within"
MAX_ROUTES: Final = 3
MAX_RETRIES: Final = 5
RETRY_KEYS: Final = ("count", "backoff", "jitter")
#: A key that may appear in a field path as it is (others are named only in the message).
_SIMPLE_KEY: Final = re.compile(r"[A-Za-z0-9_]{1,40}")

# Surface facts used in messages: REST path, gRPC method, a minimal valid body.
_PATHS: Final = {
    Surface.RESPONSES: "/v1/responses (gRPC CreateResponse)",
    Surface.CHAT_COMPLETIONS: "/v1/chat/completions (gRPC CreateChatCompletion)",
    Surface.MESSAGES: "/v1/messages (gRPC CreateMessage)",
    Surface.INTERACTIONS: "/v1/interactions (gRPC CreateInteraction)",
    Surface.GENERATE_CONTENT: (
        "/v1beta/models/{model}:generateContent (gRPC GenerateContent, StreamGenerateContent)"
    ),
}
_EXAMPLES: Final = {
    Surface.RESPONSES: '{"model": "gpt-5-mini", "start_within": "00h-00m-30s", "input": "Hi"}',
    Surface.CHAT_COMPLETIONS: (
        '{"model": "gpt-5-mini", "start_within": "00h-00m-30s", '
        '"messages": [{"role": "user", "content": "Hi"}]}'
    ),
    Surface.MESSAGES: (
        '{"model": "claude-sonnet-4-5", "start_within": "default", "max_tokens": 1024, '
        '"messages": [{"role": "user", "content": "Hi"}]}'
    ),
    Surface.INTERACTIONS: (
        '{"model": "gemini-3.5-flash", "start_within": "00h-00m-30s", "input": "Hi"}'
    ),
    Surface.GENERATE_CONTENT: (
        '{"start_within": "00h-00m-30s", "contents": [{"role": "user", "parts": [{"text": "Hi"}]}]}'
    ),
}
#: The tier field of each surface's own body, which the router sets itself.
_TIER_FIELDS: Final = {Surface.GENERATE_CONTENT: ("service_tier", "serviceTier")}
_PROVIDER_NAMES: Final = {
    Provider.OPENAI: "an OpenAI",
    Provider.GEMINI: "a Gemini",
    Provider.ANTHROPIC: "an Anthropic",
}
_TYPED_ROUTES: Final = {
    types_pb2.PROVIDER_ROUTE_OPENAI: ProviderRoute.OPENAI,
    types_pb2.PROVIDER_ROUTE_GOOGLE: ProviderRoute.GOOGLE,
    types_pb2.PROVIDER_ROUTE_ANTHROPIC: ProviderRoute.ANTHROPIC,
    types_pb2.PROVIDER_ROUTE_VERTEX: ProviderRoute.VERTEX,
    types_pb2.PROVIDER_ROUTE_BEDROCK: ProviderRoute.BEDROCK,
}
_TYPED_BACKOFF: Final = {
    types_pb2.BACKOFF_UNSPECIFIED: Backoff.EXPONENTIAL,
    types_pb2.BACKOFF_EXPONENTIAL: Backoff.EXPONENTIAL,
    types_pb2.BACKOFF_LINEAR: Backoff.LINEAR,
}
_ROUTE_NAMES: Final = {route.value: route for route in ProviderRoute}
_ROUTE_LIST: Final = '"openai", "google", "anthropic" (direct) and "vertex", "bedrock" (planned)'


class FlexModels(Protocol):
    """Which models have a flex race today: the server's own price catalog answers."""

    def has_flex(self, provider: Provider, model: str) -> bool: ...

    def flex_families(self, provider: Provider) -> Sequence[str]: ...


class _NoFlexModels:
    """Without a catalog no model can show a flex price: no race (fail closed)."""

    def has_flex(self, provider: Provider, model: str) -> bool:
        return False

    def flex_families(self, provider: Provider) -> Sequence[str]:
        return ()


NO_FLEX_MODELS: Final[FlexModels] = _NoFlexModels()


def parse_request(
    surface: Surface,
    body: bytes,
    *,
    request_id: str,
    received_at: float,
    controls: types_pb2.RoutingControls | None = None,
    header_start_within: str | None = None,
    key_start_within: str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    flex_models: FlexModels = NO_FLEX_MODELS,
) -> RouteJob:
    """Validate one request and build its ``RouteJob``; raises ``FlexError`` on the first fault.

    ``body`` is the caller's raw JSON; ``controls`` the typed routing controls of a gRPC caller
    (each control may come from the body or from ``controls``, never both). ``received_at`` is
    the ``time.monotonic()`` of receipt: the flex race window starts there. ``flex_models`` says
    which models may race (the server passes its loaded price catalog).
    ``header_start_within`` is the ``x-flexinference-start-within`` header (gRPC metadata) and
    ``key_start_within`` the default stored on the caller's API key, both in the body field's
    grammar; they apply, in that order, only when the request itself names no start_within.
    """
    check_body_size(len(body), max_body_bytes)
    document = _json_object(surface, body)
    typed = controls if controls is not None else types_pb2.RoutingControls()

    model, provider = _model(surface, document)
    start_within, start_field, source = _start_within(
        document, typed, header_start_within, key_start_within
    )
    tier_field = next(
        (f for f in _TIER_FIELDS.get(surface, ("service_tier",)) if f in document), ""
    )
    if tier_field:
        raise FlexError(
            "service_tier_not_allowed",
            f"the body sets {tier_field}, but the router chooses the provider's tier itself "
            f"from start_within: remove {tier_field} and use start_within "
            '("default", "priority", "auto", or a flex race window such as "00h-00m-30s").',
            field=tier_field,
        )
    _check_tier(model, provider, start_within, start_field, flex_models)
    routes = _routes(document, typed, model, provider)
    retry = _retry(document, typed)
    include_cost = _include_cost(document, typed)
    stream = _stream(document)
    _check_surface_field(surface, document)

    return RouteJob(
        request_id=request_id,
        surface=surface,
        model=model,
        provider=provider,
        routes=routes,
        start_within=start_within,
        stream=stream,
        body={key: value for key, value in document.items() if key not in ROUTER_FIELDS},
        retry=retry,
        include_cost=include_cost,
        received_at=received_at,
        start_within_source=source,
    )


# ---- 0. JSON ------------------------------------------------------------------------------


class _NotJson(Exception):
    """Raised from inside the JSON decoder's hooks: the text is not strict JSON."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _NotJson(
                f"the key {preview_value(key)} appears twice in one object; each key may "
                "appear once"
            )
        result[key] = value
    return result


def _no_constants(name: str) -> NoReturn:
    raise _NotJson(f"{name} is not a JSON number; send numbers as finite decimals")


def _finite(text: str) -> float:
    """A JSON number with a fraction or exponent, refused when a double cannot hold it: ``1e400``
    would become ``inf``, which goes upstream as ``null`` or ``Infinity``, never as the
    caller's number."""
    value = float(text)
    if math.isinf(value):
        raise _NotJson(
            f"{preview_value(text)} is beyond the range of a double (about 1.8e308); send "
            "numbers as finite decimals"
        )
    return value


def _json_object(surface: Surface, body: bytes) -> dict[str, Any]:
    fix = f"send a UTF-8 JSON object, e.g. {_EXAMPLES[surface]}"
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        _bad_json(f"the request body is not valid UTF-8 (at byte {error.start}); {fix}")
    if not text.strip():
        _bad_json(f"the request body is empty; {fix}")
    if text.startswith("\ufeff"):
        _bad_json(f"the request body starts with a byte order mark; remove it and {fix}")
    try:
        document = json.loads(
            text, object_pairs_hook=_unique_keys, parse_constant=_no_constants, parse_float=_finite
        )
    except _NotJson as error:
        _bad_json(f"the request body is not strict JSON: {error}")
    except json.JSONDecodeError as error:
        _bad_json(
            f"the request body is not valid JSON ({error.msg} at line {error.lineno}, column "
            f"{error.colno}); {fix}"
        )
    except RecursionError:
        _bad_json(f"the request body nests arrays or objects too deeply to parse; {fix}")
    except ValueError:
        # int() refuses numbers with more than sys.get_int_max_str_digits() digits.
        _bad_json(f"the request body has a number with too many digits; {fix}")
    if not isinstance(document, dict):
        _bad_json(f"the request body is {json_type_name(document)}, not a JSON object; {fix}")
    surrogate = lone_surrogate_path(document, text)
    if surrogate is not None:
        raise FlexError("invalid_json", surrogate_message(surrogate) + ".", field=surrogate)
    return document


def _bad_json(message: str) -> NoReturn:
    raise FlexError("invalid_json", message + ("" if message.endswith("}") else "."))


# ---- 1. model -----------------------------------------------------------------------------


def _model(surface: Surface, document: dict[str, Any]) -> tuple[str, Provider]:
    fix = (
        'set model to the provider\'s model id, e.g. "gpt-5-mini" (OpenAI), '
        '"gemini-3.5-flash" (Gemini) or "claude-sonnet-4-5" (Anthropic).'
    )
    if "model" not in document:
        raise FlexError("missing_model", f"the body has no model; {fix}", field="model")
    model = document["model"]
    if not isinstance(model, str):
        raise FlexError(
            "missing_model",
            f"model must be a non-empty string, got {describe_value(model)}; {fix}",
            field="model",
        )
    if not model.strip():
        raise FlexError("missing_model", f"model is empty; {fix}", field="model")
    provider = provider_for_model(model)
    return model, provider


# ---- 2. start_within ----------------------------------------------------------------------


def _start_within(
    document: dict[str, Any],
    typed: types_pb2.RoutingControls,
    header: str | None,
    key_default: str | None,
) -> tuple[StartWithin, str, StartWithinSource]:
    """The request's ``StartWithin``, the field it came from (for later errors) and its source.

    A header that was sent is checked even when the body overrides it: a client's default that
    could never work should fail on its first request, not on the first one without a body field.
    """
    which = typed.WhichOneof("start_within")
    typed_field = TYPED_TIER_FIELD if which == "tier" else TYPED_WINDOW_FIELD
    if START_WITHIN_FIELD in document and which is not None:
        raise FlexError(
            "invalid_argument",
            f"start_within is given twice, in the JSON body and as {typed_field}: give it in "
            f"one place only (remove it from the body, or leave {typed_field} unset).",
            field=START_WITHIN_FIELD,
        )
    from_header = parse_header_start_within(header) if header is not None else None
    if START_WITHIN_FIELD in document:
        in_body = parse_start_within(document[START_WITHIN_FIELD])
        return in_body, START_WITHIN_FIELD, StartWithinSource.BODY
    typed_value = from_controls(typed)
    if typed_value is not None:
        return typed_value, typed_field, StartWithinSource.BODY
    if from_header is not None:
        return from_header, HEADER, StartWithinSource.HEADER
    if key_default is not None:
        # Checked when it was stored; parsed again so that a row edited by hand cannot slip by.
        return parse_start_within(key_default), KEY_DEFAULT_FIELD, StartWithinSource.KEY_DEFAULT
    raise FlexError(
        "missing_start_within",
        'start_within is required and has no default: add "start_within": "00h-00m-30s" '
        "to race the cheaper flex tier for up to 30 s before falling back to standard, or "
        '"default", "priority" or "auto" for one fixed tier (gRPC callers may set '
        "routing.tier or routing.flex_window instead; clients that cannot add a body field "
        f"may send the {HEADER} header, or use an API key with a default start_within).",
        field=START_WITHIN_FIELD,
    )


# ---- 4. tier against model ----------------------------------------------------------------


#: At most this many flex-capable models are named in a ``model_not_flex_capable`` message.
_MAX_NAMED_FLEX_MODELS: Final = 12


def _check_tier(
    model: str, provider: Provider, start: StartWithin, field: str, flex_models: FlexModels
) -> None:
    shown = preview_value(model)
    if start.window_ms is not None:
        if provider is Provider.ANTHROPIC:
            raise FlexError(
                "flex_unsupported_for_anthropic",
                f"model {shown} is an Anthropic model and Anthropic has no flex tier, so it "
                'cannot run the flex race: use start_within "default", "priority" or "auto", '
                "or a flex-capable OpenAI or Gemini model.",
                field=field,
            )
        if not flex_models.has_flex(provider, model):
            flex = list(flex_models.flex_families(provider))
            named = ", ".join(flex[:_MAX_NAMED_FLEX_MODELS])
            more = len(flex) - _MAX_NAMED_FLEX_MODELS
            if more > 0:
                named += f" and {more} more"
            choices = f" ({named}, or a dated snapshot of one)" if flex else ""
            raise FlexError(
                "model_not_flex_capable",
                f"model {shown} has no flex price, so it cannot run the flex race: use "
                'start_within "default", "priority" or "auto" with it, or a flex-capable '
                f"model{choices}; GET /v1/models lists each model's tiers.",
                field=field,
            )
    elif start.tier is FixedTier.AUTO and provider is Provider.GEMINI:
        raise FlexError(
            "auto_unsupported_for_gemini",
            f'model {shown} is a Gemini model and Gemini has no "auto" tier: use start_within '
            '"default" (standard), "priority", or a flex race window such as "00h-00m-30s".',
            field=field,
        )


# ---- 5. optional controls -----------------------------------------------------------------


def _both(name: str, typed_field: str) -> FlexError:
    return FlexError(
        "invalid_argument",
        f"{name} is given twice, in the JSON body and as {typed_field}: give it in one place "
        f"only (remove it from the body, or leave {typed_field} unset).",
        field=name,
    )


def _routes(
    document: dict[str, Any], typed: types_pb2.RoutingControls, model: str, provider: Provider
) -> tuple[ProviderRoute, ...]:
    if "provider" in document and len(typed.providers):
        raise _both("provider", "routing.providers")
    if "provider" in document:
        return _json_routes(document["provider"], model, provider)
    if len(typed.providers):
        return _typed_routes(typed.providers, model, provider)
    return (DIRECT_ROUTES[provider],)


def _invalid_provider(message: str, field: str) -> FlexError:
    return FlexError("invalid_provider", message, field=field)


def _json_routes(value: object, model: str, provider: Provider) -> tuple[ProviderRoute, ...]:
    field = "provider"
    example = (
        f'e.g. ["{DIRECT_ROUTES[provider].value}"], or leave provider out to use the model\'s '
        "direct route"
    )
    if not isinstance(value, list):
        hint = ""
        if isinstance(value, str) and value in _ROUTE_NAMES:
            hint = f' (a single route is a list too: ["{value}"])'
        raise _invalid_provider(
            f"provider must be a list of 1 to {MAX_ROUTES} route names, got "
            f"{describe_value(value)}{hint}; {example}.",
            field,
        )
    _check_route_count(len(value), field, example)
    routes: list[ProviderRoute] = []
    for index, item in enumerate(value):
        route = _ROUTE_NAMES.get(item) if isinstance(item, str) else None
        if route is None:
            if isinstance(item, str):
                what = preview_value(item)
                if item.lower() in _ROUTE_NAMES:
                    what += " (route names are lowercase)"
            else:
                what = describe_value(item)
            raise _invalid_provider(
                f"provider[{index}] is {what}, not a route: routes are {_ROUTE_LIST}; {example}.",
                field,
            )
        routes.append(route)
    return _check_routes(routes, model, provider, field, example)


def _typed_routes(
    values: Sequence[int], model: str, provider: Provider
) -> tuple[ProviderRoute, ...]:
    field = "routing.providers"
    example = (
        f"e.g. [{_typed_route_name(DIRECT_ROUTES[provider])}], or leave routing.providers "
        "empty to use the model's direct route"
    )
    _check_route_count(len(values), field, example)
    routes: list[ProviderRoute] = []
    for index, number in enumerate(values):
        route = _TYPED_ROUTES.get(number)  # type: ignore[call-overload]
        if route is None:
            raise _invalid_provider(
                f"routing.providers[{index}] is {_route_enum_name(number)}, not a route: routes "
                "are PROVIDER_ROUTE_OPENAI, PROVIDER_ROUTE_GOOGLE, PROVIDER_ROUTE_ANTHROPIC "
                "(direct) and PROVIDER_ROUTE_VERTEX, PROVIDER_ROUTE_BEDROCK (planned); "
                f"{example}.",
                field,
            )
        routes.append(route)
    return _check_routes(routes, model, provider, field, example)


def _check_route_count(count: int, field: str, example: str) -> None:
    if count == 0:
        raise _invalid_provider(
            f"{field} is an empty list; give 1 to {MAX_ROUTES} routes, {example}.", field
        )
    if count > MAX_ROUTES:
        raise _invalid_provider(
            f"{field} lists {count} routes, more than {MAX_ROUTES}; give 1 to {MAX_ROUTES} "
            f"distinct routes (the first is the primary, the rest are fallbacks), {example}.",
            field,
        )


def _typed_route_name(route: ProviderRoute) -> str:
    return f"PROVIDER_ROUTE_{route.value.upper()}"


def _route_enum_name(number: int) -> str:
    try:
        return types_pb2.ProviderRoute.Name(number)  # type: ignore[arg-type]
    except ValueError:
        return f"an unknown value ({number})"


def _check_routes(
    routes: list[ProviderRoute], model: str, provider: Provider, field: str, example: str
) -> tuple[ProviderRoute, ...]:
    """Distinct routes that can serve the model, then: do they exist today."""
    serving = ", ".join(f'"{r.value}"' for r, p in ROUTE_PROVIDERS.items() if p is provider)
    for index, route in enumerate(routes):
        if route in routes[:index]:
            raise _invalid_provider(
                f'{field}[{index}] "{route.value}" repeats an earlier route; routes must be '
                f"distinct, {example}.",
                field,
            )
        if ROUTE_PROVIDERS[route] is not provider:
            raise _invalid_provider(
                f'{field}[{index}] "{route.value}" cannot serve model {preview_value(model)}, '
                f"which is {_PROVIDER_NAMES[provider]} model (its routes: {serving}); "
                f"{example}.",
                field,
            )
    for index, route in enumerate(routes):
        if route in PLANNED_ROUTES:
            direct = DIRECT_ROUTES[provider].value
            raise FlexError(
                "route_not_available",
                f'{field}[{index}] "{route.value}" is a planned route that is not available '
                f'yet: use "{direct}" (direct, on your organization\'s own key) for now.',
                field=field,
            )
    return tuple(routes)


def _retry(document: dict[str, Any], typed: types_pb2.RoutingControls) -> RetryPolicy | None:
    if "retry" in document and typed.HasField("retry"):
        raise _both("retry", "routing.retry")
    if "retry" in document:
        return _json_retry(document["retry"])
    if typed.HasField("retry"):
        return _typed_retry(typed.retry)
    return None


_RETRY_RULE: Final = (
    'retry is {"count": 1..5, "backoff": "exponential" | "linear" (default exponential), '
    '"jitter": true | false (default true)}, e.g. {"count": 2}'
)


def _invalid_retry(problem: str, field: str) -> FlexError:
    return FlexError("invalid_retry", f"{problem}; {_RETRY_RULE}.", field=field)


def _json_retry(value: object) -> RetryPolicy:
    if not isinstance(value, dict):
        raise _invalid_retry(
            f"retry must be an object, got {describe_value(value)}",
            "retry",
        )
    unknown = [key for key in value if key not in RETRY_KEYS]
    if unknown:
        raise _invalid_retry(
            f"retry has an unknown key {preview_value(unknown[0])} (allowed: count, backoff, "
            "jitter)",
            f"retry.{unknown[0]}" if _SIMPLE_KEY.fullmatch(unknown[0]) else "retry",
        )
    if "count" not in value:
        raise _invalid_retry("retry.count is required", "retry.count")
    count = value["count"]
    # bool is an int in Python, but true is not a count in JSON.
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_RETRIES:
        raise _invalid_retry(
            f"retry.count must be an integer from 1 to {MAX_RETRIES}, got {describe_value(count)}",
            "retry.count",
        )
    backoff = value.get("backoff", Backoff.EXPONENTIAL.value)
    if not isinstance(backoff, str) or backoff not in {b.value for b in Backoff}:
        raise _invalid_retry(
            f'retry.backoff must be "exponential" or "linear", got {describe_value(backoff)}',
            "retry.backoff",
        )
    jitter = value.get("jitter", True)
    if not isinstance(jitter, bool):
        raise _invalid_retry(
            f"retry.jitter must be true or false, got {describe_value(jitter)}",
            "retry.jitter",
        )
    return RetryPolicy(count=count, backoff=Backoff(backoff), jitter=jitter)


def _typed_retry(retry: types_pb2.RetryPolicy) -> RetryPolicy:
    if not 1 <= retry.count <= MAX_RETRIES:
        raise FlexError(
            "invalid_retry",
            f"routing.retry.count is {retry.count}; it must be from 1 to {MAX_RETRIES} (e.g. "
            "count=2), or leave routing.retry unset for no retries.",
            field="routing.retry.count",
        )
    backoff = _TYPED_BACKOFF.get(retry.backoff)
    if backoff is None:
        raise FlexError(
            "invalid_retry",
            f"routing.retry.backoff is an unknown value ({retry.backoff}); use "
            "BACKOFF_EXPONENTIAL or BACKOFF_LINEAR, or leave it unset for exponential.",
            field="routing.retry.backoff",
        )
    jitter = retry.jitter if retry.HasField("jitter") else True
    return RetryPolicy(count=retry.count, backoff=backoff, jitter=jitter)


def _include_cost(document: dict[str, Any], typed: types_pb2.RoutingControls) -> bool:
    if "include_cost" in document and typed.HasField("include_cost"):
        raise _both("include_cost", "routing.include_cost")
    if "include_cost" in document:
        value = document["include_cost"]
        if not isinstance(value, bool):
            raise FlexError(
                "invalid_include_cost",
                f"include_cost must be true or false, got {describe_value(value)}; e.g. "
                '"include_cost": true puts usage.cost on a stream\'s final event.',
                field="include_cost",
            )
        return value
    return typed.include_cost if typed.HasField("include_cost") else False


def _stream(document: dict[str, Any]) -> bool:
    value = document.get("stream", False)
    if not isinstance(value, bool):
        raise FlexError(
            "invalid_argument",
            f"stream must be true or false, got {describe_value(value)}; "
            'send "stream": true for server-sent events, or leave it out for one JSON answer.',
            field="stream",
        )
    return value


# ---- 6. the surface's own field -----------------------------------------------------------


def _check_surface_field(surface: Surface, document: dict[str, Any]) -> None:
    if surface in (Surface.RESPONSES, Surface.INTERACTIONS):
        value = document.get("input")
        if value is None or value in ("", [], {}):
            got = "has no input" if "input" not in document else f"has input {preview_value(value)}"
            raise FlexError(
                "missing_input",
                f"the body {got}; {_PATHS[surface].split(' ')[0]} needs non-empty input: a "
                'string such as "input": "Hi", or a list of input items.',
                field="input",
            )
        return
    if surface is Surface.GENERATE_CONTENT:
        contents = document.get("contents")
        if not isinstance(contents, list) or not contents:
            got = "has no contents" if "contents" not in document else "has empty contents"
            raise FlexError(
                "missing_contents",
                f"the body {got}; generateContent needs contents, a non-empty list, e.g. "
                '"contents": [{"role": "user", "parts": [{"text": "Hi"}]}].',
                field="contents",
            )
        return
    value = document.get("messages")
    if not isinstance(value, list) or not value:
        got = (
            "has no messages"
            if "messages" not in document
            else f"has messages {preview_value(value)}"
        )
        raise FlexError(
            "missing_messages",
            f"the body {got}; {_PATHS[surface].split(' ')[0]} needs messages, a non-empty list, "
            'e.g. "messages": [{"role": "user", "content": "Hi"}].',
            field="messages",
        )
