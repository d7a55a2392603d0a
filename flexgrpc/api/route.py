"""RouteService: translation between the protos and the router; no routing decisions here."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from flexinference.v1 import route_pb2, route_pb2_grpc, types_pb2
from google.api import httpbody_pb2
from google.protobuf import duration_pb2

from flexgrpc.api.auth import current_principal
from flexgrpc.api.convert import cost, micro_usd
from flexgrpc.domain import Provider, RaceOutcome, ServedTier, Surface
from flexgrpc.errors import FlexError
from flexgrpc.routing.outcome import RoutingOutcome
from flexgrpc.routing.router import Chunk, Completed, Part, Router, Settled

_SURFACES = {
    types_pb2.SURFACE_RESPONSES: Surface.RESPONSES,
    types_pb2.SURFACE_CHAT_COMPLETIONS: Surface.CHAT_COMPLETIONS,
    types_pb2.SURFACE_MESSAGES: Surface.MESSAGES,
    types_pb2.SURFACE_INTERACTIONS: Surface.INTERACTIONS,
}
_SERVED = {
    ServedTier.UNKNOWN: types_pb2.SERVED_TIER_UNSPECIFIED,
    ServedTier.STANDARD: types_pb2.SERVED_TIER_STANDARD,
    ServedTier.FLEX: types_pb2.SERVED_TIER_FLEX,
    ServedTier.PRIORITY: types_pb2.SERVED_TIER_PRIORITY,
    ServedTier.OTHER: types_pb2.SERVED_TIER_OTHER,
}
_OUTCOMES = {
    RaceOutcome.FLEX_WON: types_pb2.RACE_OUTCOME_FLEX_WON,
    RaceOutcome.FELL_BACK: types_pb2.RACE_OUTCOME_FELL_BACK,
    RaceOutcome.FREE_TIER: types_pb2.RACE_OUTCOME_FREE_TIER,
    RaceOutcome.FAILED: types_pb2.RACE_OUTCOME_FAILED,
    RaceOutcome.CANCELED: types_pb2.RACE_OUTCOME_CANCELED,
}
_ROUTES = {
    Provider.OPENAI.value: types_pb2.PROVIDER_ROUTE_OPENAI,
    "openai": types_pb2.PROVIDER_ROUTE_OPENAI,
    "google": types_pb2.PROVIDER_ROUTE_GOOGLE,
    "anthropic": types_pb2.PROVIDER_ROUTE_ANTHROPIC,
    "vertex": types_pb2.PROVIDER_ROUTE_VERTEX,
    "bedrock": types_pb2.PROVIDER_ROUTE_BEDROCK,
}


TIER_HEADER = "x-flexinference-tier"
REQUEST_ID_HEADER = "x-flexinference-request-id"
COST_HEADER = "x-flexinference-cost"
SAVINGS_HEADER = "x-flexinference-savings"
COMMISSION_HEADER = "x-flexinference-commission"


def money_metadata(outcome: RoutingOutcome) -> tuple[tuple[str, str], ...]:
    """Cost (omitted when the model is unpriced), savings and commission, in micro-USD."""
    pairs = [
        (SAVINGS_HEADER, str(micro_usd(outcome.savings_nano_usd))),
        (COMMISSION_HEADER, str(micro_usd(outcome.commission_nano_usd))),
    ]
    if outcome.priced:
        pairs.insert(0, (COST_HEADER, str(micro_usd(outcome.actual_nano_usd))))
    return tuple(pairs)


def settled_metadata(part: Settled) -> tuple[tuple[str, str], ...]:
    """Initial metadata once the race settled; a non-streamed answer's money is final here."""
    pairs = ((REQUEST_ID_HEADER, part.request_id), (TIER_HEADER, part.served_tier.value))
    if part.content_type == "application/json":
        return pairs + money_metadata(part.record)
    return pairs


def _duration(seconds: float) -> duration_pb2.Duration:
    value = duration_pb2.Duration()
    value.FromMilliseconds(round(seconds * 1000))
    return value


def settled_result(settled: Settled, model: str = "") -> types_pb2.RoutingResult:
    return types_pb2.RoutingResult(
        request_id=settled.request_id,
        model=model,
        served_tier=_SERVED[settled.served_tier],
        provider_service_tier=settled.provider_service_tier,
        outcome=_OUTCOMES[settled.outcome],
        flex_attempts=settled.flex_attempts,
        time_to_start=_duration(settled.time_to_start_s),
    )


def final_result(outcome: RoutingOutcome) -> types_pb2.RoutingResult:
    tokens = outcome.tokens
    result = types_pb2.RoutingResult(
        cost=cost(
            outcome.actual_nano_usd,
            outcome.standard_nano_usd,
            outcome.savings_nano_usd,
            outcome.commission_nano_usd,
        ),
        tokens=types_pb2.TokenCounts(
            uncached_input_tokens=tokens.uncached_input,
            cached_input_tokens=tokens.cached_input,
            cache_write_tokens=tokens.cache_write,
            output_tokens=tokens.output,
            reasoning_tokens=tokens.reasoning,
        ),
        request_id=outcome.request_id,
        model=outcome.model,
        provider=_ROUTES.get(outcome.route, types_pb2.PROVIDER_ROUTE_UNSPECIFIED),
        served_tier=_SERVED[outcome.served_tier],
        provider_service_tier=outcome.provider_service_tier,
        outcome=_OUTCOMES[outcome.outcome],
        flex_attempts=outcome.flex_attempts,
    )
    if outcome.time_to_start_ms is not None:
        result.time_to_start.FromMilliseconds(outcome.time_to_start_ms)
    return result


def _typed_body(
    request: route_pb2.RouteRequest | route_pb2.StreamRouteRequest, stream: bool
) -> bytes:
    """The typed request's body with its typed ``model`` and the RPC's streaming written in."""
    if not request.model:
        raise FlexError(
            "missing_model", "model is required, for example `gpt-5-mini`.", field="model"
        )
    try:
        body = json.loads(request.body.data or b"{}")
    except ValueError:
        raise FlexError(
            "invalid_json",
            "body.data must be a JSON object (the provider request body).",
            field="body",
        ) from None
    if not isinstance(body, dict):
        raise FlexError("invalid_json", "body.data must be a JSON object.", field="body")
    body["model"] = request.model
    body["stream"] = stream
    return json.dumps(body, ensure_ascii=False).encode()


class RouteServicer(route_pb2_grpc.RouteServiceServicer):
    def __init__(self, router: Router) -> None:
        self._router = router

    async def _compat(
        self, surface: Surface, request: Any, context: Any
    ) -> AsyncIterator[httpbody_pb2.HttpBody]:
        controls = request.routing if request.HasField("routing") else None
        parts = self._router.route(surface, request.body.data, current_principal(), controls)
        content_type = "application/json"
        async with contextlib.aclosing(parts):
            async for part in parts:
                if isinstance(part, Settled):
                    content_type = part.content_type
                    await context.send_initial_metadata(settled_metadata(part))
                elif isinstance(part, Chunk):
                    yield httpbody_pb2.HttpBody(content_type=content_type, data=part.data)
                elif content_type == "text/event-stream":
                    context.set_trailing_metadata(money_metadata(part.outcome))

    async def CreateResponse(
        self, request: route_pb2.CreateResponseRequest, context: Any
    ) -> AsyncIterator[httpbody_pb2.HttpBody]:
        async for message in self._compat(Surface.RESPONSES, request, context):
            yield message

    async def CreateChatCompletion(
        self, request: route_pb2.CreateChatCompletionRequest, context: Any
    ) -> AsyncIterator[httpbody_pb2.HttpBody]:
        async for message in self._compat(Surface.CHAT_COMPLETIONS, request, context):
            yield message

    async def CreateMessage(
        self, request: route_pb2.CreateMessageRequest, context: Any
    ) -> AsyncIterator[httpbody_pb2.HttpBody]:
        async for message in self._compat(Surface.MESSAGES, request, context):
            yield message

    async def CreateInteraction(
        self, request: route_pb2.CreateInteractionRequest, context: Any
    ) -> AsyncIterator[httpbody_pb2.HttpBody]:
        async for message in self._compat(Surface.INTERACTIONS, request, context):
            yield message

    def _typed_parts(
        self, request: route_pb2.RouteRequest | route_pb2.StreamRouteRequest, stream: bool
    ) -> AsyncGenerator[Part, None]:
        surface = _SURFACES.get(request.surface)
        if surface is None:
            raise FlexError(
                "invalid_argument",
                "surface is required: SURFACE_RESPONSES, SURFACE_CHAT_COMPLETIONS, "
                "SURFACE_MESSAGES or SURFACE_INTERACTIONS.",
                field="surface",
            )
        if not request.HasField("routing"):
            raise FlexError(
                "missing_start_within",
                "routing.start_within is required: a tier (START_TIER_DEFAULT, …) or a "
                "flex_window Duration between 5s and 600s, for example `30s`.",
                field="routing.start_within",
            )
        body = _typed_body(request, stream)
        return self._router.route(surface, body, current_principal(), request.routing)

    async def Route(self, request: route_pb2.RouteRequest, context: Any) -> route_pb2.RouteResponse:
        parts = self._typed_parts(request, stream=False)
        answer = b""
        result = types_pb2.RoutingResult()
        async with contextlib.aclosing(parts):
            async for part in parts:
                if isinstance(part, Settled):
                    await context.send_initial_metadata(settled_metadata(part))
                elif isinstance(part, Chunk):
                    answer += part.data
                elif isinstance(part, Completed):
                    result = final_result(part.outcome)
        body = httpbody_pb2.HttpBody(content_type="application/json", data=answer)
        return route_pb2.RouteResponse(body=body, result=result)

    async def StreamRoute(
        self, request: route_pb2.StreamRouteRequest, context: Any
    ) -> AsyncIterator[route_pb2.StreamRouteResponse]:
        parts = self._typed_parts(request, stream=True)
        async with contextlib.aclosing(parts):
            async for part in parts:
                if isinstance(part, Settled):
                    await context.send_initial_metadata(settled_metadata(part))
                    yield route_pb2.StreamRouteResponse(settled=settled_result(part, request.model))
                elif isinstance(part, Chunk):
                    chunk = httpbody_pb2.HttpBody(content_type="text/event-stream", data=part.data)
                    yield route_pb2.StreamRouteResponse(chunk=chunk)
                else:
                    yield route_pb2.StreamRouteResponse(completed=final_result(part.outcome))
