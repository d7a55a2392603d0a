"""RouteService: translation between the protos and the router; no routing decisions here."""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from flexinference.v1 import route_pb2, route_pb2_grpc, types_pb2
from google.api import httpbody_pb2
from google.protobuf import duration_pb2

from flexgrpc.api.auth import current_principal
from flexgrpc.api.convert import cost_message, micro_usd
from flexgrpc.api.enums import OUTCOMES, ROUTES, SERVED_TIERS, SURFACE_OF
from flexgrpc.domain import Cost, RequestRecord, Surface
from flexgrpc.errors import FlexError
from flexgrpc.providers.sse import SseParser
from flexgrpc.routing.counting import TokenCounter
from flexgrpc.routing.router import RETRIES_METADATA, Chunk, Completed, Part, Router, Settled
from flexgrpc.routing.start_within import HEADER as START_WITHIN_HEADER

TIER_HEADER = "x-flexinference-tier"
REQUEST_ID_HEADER = "x-flexinference-request-id"
COST_HEADER = "x-flexinference-cost"
SAVINGS_HEADER = "x-flexinference-savings"
COMMISSION_HEADER = "x-flexinference-commission"
START_WITHIN_SOURCE_HEADER = "x-flexinference-start-within-source"
RETRIES_HEADER = RETRIES_METADATA


def start_within_header(context: Any) -> str | None:
    """The call's ``x-flexinference-start-within`` metadata (the REST header), if sent."""
    for key, value in context.invocation_metadata() or ():
        if key == START_WITHIN_HEADER:
            return value if isinstance(value, str) else value.decode("latin-1")
    return None


def money_metadata(money: Cost) -> tuple[tuple[str, str], ...]:
    """Cost (omitted when the model is unpriced), savings and commission, in micro-USD."""
    pairs = [
        (SAVINGS_HEADER, str(micro_usd(money.savings_nano_usd))),
        (COMMISSION_HEADER, str(micro_usd(money.commission_nano_usd))),
    ]
    if money.actual_nano_usd is not None:
        pairs.insert(0, (COST_HEADER, str(micro_usd(money.actual_nano_usd))))
    return tuple(pairs)


def settled_metadata(part: Settled) -> tuple[tuple[str, str], ...]:
    """Initial metadata once the race settled; a non-streamed answer's money is final here.

    Retries happen only before the first byte, so their count is final here too.
    """
    pairs = (
        (REQUEST_ID_HEADER, part.request_id),
        (TIER_HEADER, part.served_tier.value),
        (START_WITHIN_SOURCE_HEADER, part.start_within_source.value),
        (RETRIES_HEADER, str(part.retries)),
    )
    if part.cost is not None:
        return pairs + money_metadata(part.cost)
    return pairs


def _duration(seconds: float) -> duration_pb2.Duration:
    value = duration_pb2.Duration()
    value.FromMilliseconds(round(seconds * 1000))
    return value


def settled_result(settled: Settled, model: str = "") -> types_pb2.RoutingResult:
    return types_pb2.RoutingResult(
        request_id=settled.request_id,
        model=model,
        served_tier=SERVED_TIERS[settled.served_tier],
        provider_service_tier=settled.provider_service_tier,
        outcome=OUTCOMES[settled.outcome],
        flex_attempts=settled.flex_attempts,
        time_to_start=_duration(settled.time_to_start_s),
    )


def final_result(record: RequestRecord) -> types_pb2.RoutingResult:
    tokens = record.tokens
    result = types_pb2.RoutingResult(
        cost=cost_message(record.cost),
        tokens=types_pb2.TokenCounts(
            uncached_input_tokens=tokens.uncached_input,
            cached_input_tokens=tokens.cached_input,
            cache_write_tokens=tokens.cache_write,
            output_tokens=tokens.output,
            reasoning_tokens=tokens.reasoning,
        ),
        request_id=record.request_id,
        model=record.model,
        provider=ROUTES[record.route] if record.route else types_pb2.PROVIDER_ROUTE_UNSPECIFIED,
        served_tier=SERVED_TIERS[record.served_tier],
        provider_service_tier=record.provider_service_tier,
        outcome=OUTCOMES[record.outcome],
        flex_attempts=record.flex_attempts,
    )
    if record.time_to_start_ms is not None:
        result.time_to_start.FromMilliseconds(record.time_to_start_ms)
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
        # Strict UTF-8 and finite numbers: json.loads(bytes) would pass encoded surrogates
        # (ED A0 80), and 1e400 would come back out as Infinity, not as the caller's number.
        body = json.loads((request.body.data or b"{}").decode("utf-8"), parse_float=_finite)
    except (ValueError, RecursionError):
        raise FlexError(
            "invalid_json",
            "body.data must be a UTF-8 JSON object with finite numbers (the provider request "
            "body).",
            field="body",
        ) from None
    if not isinstance(body, dict):
        raise FlexError("invalid_json", "body.data must be a JSON object.", field="body")
    body["model"] = request.model
    body["stream"] = stream
    text = json.dumps(body, ensure_ascii=False)
    try:
        return text.encode()
    except UnicodeEncodeError:
        # A lone surrogate: kept escaped, so that validation refuses it naming its field.
        return json.dumps(body).encode()


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"{text} is beyond the range of a double")
    return value


def with_path_model(model: str, body: bytes, *, stream: bool) -> bytes:
    """generateContent's body with the path's ``model`` and the RPC's streaming written in
    front, so that validation reads them as on every other surface (a body that is not a JSON
    object is left for validation to refuse)."""
    head = b'{"model":' + json.dumps(model.removeprefix("models/")).encode()
    head += b',"stream":' + (b"true" if stream else b"false")
    if b'"model"' in body or b'"stream"' in body:
        body = _without_path_fields(body)
    rest = body.lstrip()
    if not rest.startswith(b"{"):
        return body
    inner = rest[1:]
    return head + (inner if inner.lstrip().startswith(b"}") else b"," + inner)


def _without_path_fields(body: bytes) -> bytes:
    """The body without its own top-level ``model`` / ``stream``: the path and the RPC decide
    them, as on Gemini's API (a body that does not parse is left for validation to refuse)."""
    try:
        document = json.loads(body, parse_float=_finite)
    except (ValueError, RecursionError):
        return body
    if not isinstance(document, dict) or not ({"model", "stream"} & document.keys()):
        return body
    kept = {k: v for k, v in document.items() if k not in ("model", "stream")}
    # Escaped: a lone surrogate stays in the JSON for validation to refuse by its field.
    return json.dumps(kept).encode()


class JsonArrayStream:
    """A generateContent stream without ``alt=sse``: the chunks as one JSON array, written as
    they come (``[{...}``, ``,\r\n{...}``, ..., ``]``), as Gemini answers it."""

    def __init__(self) -> None:
        self._parser = SseParser()
        self._count = 0

    def piece(self, frames: bytes) -> bytes:
        out = b""
        for event in self._parser.feed(frames):
            if event.data:
                out += (b"[" if self._count == 0 else b",\r\n") + event.data.encode()
                self._count += 1
        return out

    def end(self) -> bytes:
        return b"]" if self._count else b"[]"


class RouteServicer(route_pb2_grpc.RouteServiceServicer):
    def __init__(self, router: Router, counting: TokenCounter | None = None) -> None:
        self._router = router
        self._counting = counting

    async def _compat(
        self,
        surface: Surface,
        request: Any,
        context: Any,
        body: bytes | None = None,
        array: JsonArrayStream | None = None,
    ) -> AsyncIterator[httpbody_pb2.HttpBody]:
        """One compatibility call; ``array`` reframes a stream's events as one JSON array."""
        controls = request.routing if request.HasField("routing") else None
        data = request.body.data if body is None else body
        parts = self._router.route(
            surface, data, current_principal(), controls, start_within_header(context)
        )
        content_type = "application/json"
        async with contextlib.aclosing(parts):
            async for part in parts:
                if isinstance(part, Settled):
                    content_type = part.content_type
                    if array is not None:
                        content_type = "application/json; charset=UTF-8"
                    await context.send_initial_metadata(settled_metadata(part))
                elif isinstance(part, Chunk):
                    chunk = part.data if array is None else array.piece(part.data)
                    yield httpbody_pb2.HttpBody(content_type=content_type, data=chunk)
                else:
                    if array is not None:
                        yield httpbody_pb2.HttpBody(content_type=content_type, data=array.end())
                    if content_type != "application/json":
                        context.set_trailing_metadata(money_metadata(part.record.cost))

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

    async def GenerateContent(
        self, request: route_pb2.GenerateContentRequest, context: Any
    ) -> AsyncIterator[httpbody_pb2.HttpBody]:
        body = with_path_model(request.model, request.body.data, stream=False)
        async for message in self._compat(Surface.GENERATE_CONTENT, request, context, body):
            yield message

    async def StreamGenerateContent(
        self, request: route_pb2.StreamGenerateContentRequest, context: Any
    ) -> AsyncIterator[httpbody_pb2.HttpBody]:
        body = with_path_model(request.model, request.body.data, stream=True)
        array = None if request.alt == "sse" else JsonArrayStream()
        async for message in self._compat(Surface.GENERATE_CONTENT, request, context, body, array):
            yield message

    def _counter(self) -> TokenCounter:
        if self._counting is None:
            raise FlexError("unimplemented", "This server does not count tokens.")
        return self._counting

    async def CountGeminiTokens(
        self, request: route_pb2.CountGeminiTokensRequest, context: Any
    ) -> httpbody_pb2.HttpBody:
        counted = await self._counter().gemini(
            current_principal(), request.model, request.body.data
        )
        return httpbody_pb2.HttpBody(content_type="application/json", data=counted)

    async def CountMessageTokens(
        self, request: route_pb2.CountMessageTokensRequest, context: Any
    ) -> httpbody_pb2.HttpBody:
        counted = await self._counter().messages(current_principal(), request.body.data)
        return httpbody_pb2.HttpBody(content_type="application/json", data=counted)

    def _typed_parts(
        self,
        request: route_pb2.RouteRequest | route_pb2.StreamRouteRequest,
        context: Any,
        stream: bool,
    ) -> AsyncGenerator[Part, None]:
        try:
            return self._typed_route(request, context, stream)
        except FlexError as error:
            # Refused before the router saw it: nothing was sent, as every answer says.
            error.answer_metadata = ((RETRIES_HEADER, "0"),)
            raise

    def _typed_route(
        self,
        request: route_pb2.RouteRequest | route_pb2.StreamRouteRequest,
        context: Any,
        stream: bool,
    ) -> AsyncGenerator[Part, None]:
        surface = SURFACE_OF.get(request.surface)
        if surface is None:
            raise FlexError(
                "invalid_argument",
                "surface is required: SURFACE_RESPONSES, SURFACE_CHAT_COMPLETIONS, "
                "SURFACE_MESSAGES, SURFACE_INTERACTIONS or SURFACE_GENERATE_CONTENT.",
                field="surface",
            )
        principal, header = current_principal(), start_within_header(context)
        named = request.HasField("routing") or header is not None
        if not named and not principal.default_start_within:
            raise FlexError(
                "missing_start_within",
                "routing.start_within is required: a tier (START_TIER_DEFAULT, …) or a "
                "flex_window Duration between 5s and 600s, for example `30s` (or send the "
                f"{START_WITHIN_HEADER} metadata, or use an API key with a default).",
                field="routing.start_within",
            )
        body = _typed_body(request, stream)
        return self._router.route(surface, body, principal, request.routing, header)

    async def Route(self, request: route_pb2.RouteRequest, context: Any) -> route_pb2.RouteResponse:
        parts = self._typed_parts(request, context, stream=False)
        answer = b""
        result = types_pb2.RoutingResult()
        async with contextlib.aclosing(parts):
            async for part in parts:
                if isinstance(part, Settled):
                    await context.send_initial_metadata(settled_metadata(part))
                elif isinstance(part, Chunk):
                    answer += part.data
                elif isinstance(part, Completed):
                    result = final_result(part.record)
        body = httpbody_pb2.HttpBody(content_type="application/json", data=answer)
        return route_pb2.RouteResponse(body=body, result=result)

    async def StreamRoute(
        self, request: route_pb2.StreamRouteRequest, context: Any
    ) -> AsyncIterator[route_pb2.StreamRouteResponse]:
        parts = self._typed_parts(request, context, stream=True)
        async with contextlib.aclosing(parts):
            async for part in parts:
                if isinstance(part, Settled):
                    await context.send_initial_metadata(settled_metadata(part))
                    yield route_pb2.StreamRouteResponse(settled=settled_result(part, request.model))
                elif isinstance(part, Chunk):
                    chunk = httpbody_pb2.HttpBody(content_type="text/event-stream", data=part.data)
                    yield route_pb2.StreamRouteResponse(chunk=chunk)
                else:
                    yield route_pb2.StreamRouteResponse(completed=final_result(part.record))
