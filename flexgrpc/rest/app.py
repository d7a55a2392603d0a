"""The REST shim's ASGI application: HTTP in, one RPC call through every interceptor, HTTP out.

Each request is matched against the route table, its body read within the size and time
limits, transcoded to the method's request message and called on the servicers (in process, or
over a loopback ``grpc.aio`` channel to the server's own port) through the server's own
interceptors, so authentication, rate limits, deadlines and error mapping are exactly the gRPC
ones. The answer goes back as it arrives: status and headers (with the
``x-flexinference-*`` initial metadata) once the first message is there — that is, once the
race has settled — then one write per message. A client that goes away cancels the call, which
cancels the race and the upstream requests.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import grpc
from grpc import aio

from flexgrpc.api.in_process import InProcessChannel
from flexgrpc.api.interceptors import FORWARDED_PEER_KEY, FORWARDED_TOKEN_KEY
from flexgrpc.api.models import KEY_HEADER_METADATA
from flexgrpc.body_size import check_body_size
from flexgrpc.errors import FlexError
from flexgrpc.rest import openapi, transcode
from flexgrpc.rest.envelopes import HttpError, from_flex_error, from_rpc_error
from flexgrpc.rest.routes import Matched, RestRoute, RouteTable

log = logging.getLogger("flexgrpc.rest")

Scope = MutableMapping[str, Any]
Event = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Event]]
Send = Callable[[Event], Awaitable[None]]

#: Where each official SDK sends the key (found by running them): OpenAI and current Anthropic
#: SDKs `Authorization: Bearer`, older Anthropic SDKs `x-api-key`, google-genai
#: `x-goog-api-key`. All become gRPC `authorization: Bearer …`.
_KEY_HEADERS = (b"x-api-key", b"x-goog-api-key")
#: Request headers passed on as gRPC metadata, for the methods that read them (the webhook's
#: signature; `anthropic-version`, which picks the Anthropic shape of the model list;
#: `x-flexinference-start-within`, for clients that cannot add a body field).
_FORWARDED_HEADERS = frozenset(
    {b"stripe-signature", b"anthropic-version", b"x-flexinference-start-within"}
)
_FLEX_PREFIX = "x-flexinference-"
_SSE_HEADERS = [(b"cache-control", b"no-cache"), (b"x-accel-buffering", b"no")]
_CLOSE = (b"connection", b"close")
#: After refusing a body it did not read, the shim keeps discarding it for a moment before
#: closing, so the client reads the answer instead of a reset (a "lingering close").
_LINGER_S = 2.0


class _Disconnected(Exception):
    """The client went away."""


def _nothing_ready() -> None:
    return None


class _Exchange:
    """One request/response pair: what was sent so far and whether the client is gone."""

    __slots__ = ("body_pending", "disconnected", "finished", "receive", "send", "started")

    def __init__(self, receive: Receive, send: Send) -> None:
        self.receive = receive
        self.send = send
        self.started = False
        self.finished = False
        self.disconnected = False
        self.body_pending = False

    async def start(self, status: int, headers: list[tuple[bytes, bytes]]) -> None:
        self.started = True
        await self.send({"type": "http.response.start", "status": status, "headers": headers})

    async def body(self, data: bytes, more: bool) -> None:
        if not more:
            self.finished = True
        await self.send({"type": "http.response.body", "body": data, "more_body": more})

    async def whole(self, status: int, headers: list[tuple[bytes, bytes]], data: bytes) -> None:
        headers.append((b"content-length", str(len(data)).encode()))
        await self.start(status, headers)
        await self.body(data, more=False)

    async def error(
        self,
        error: HttpError,
        dialect: str,
        linger_limit: int = 0,
        extra: tuple[tuple[bytes, bytes], ...] = (),
    ) -> None:
        data = error.body(dialect)
        headers = [*error.headers(len(data)), *extra]
        if not self.body_pending:
            await self.start(error.http_status, headers)
            await self.body(data, more=False)
            return
        # The body was not read: answer, then discard it briefly, then close the connection.
        headers.append(_CLOSE)
        await self.start(error.http_status, headers)
        await self.body(data, more=True)
        await self._linger(linger_limit)
        await self.body(b"", more=False)

    async def _linger(self, limit: int) -> None:
        discarded = 0
        try:
            async with asyncio.timeout(_LINGER_S):
                while discarded <= limit:
                    event = await self.receive()
                    if event["type"] != "http.request":
                        return
                    discarded += len(event.get("body", b""))
                    if not event.get("more_body", False):
                        return
        except TimeoutError:
            return


def _ascii(value: bytes) -> str | None:
    """A header value usable as gRPC metadata (printable ASCII), else ``None``."""
    return value.decode() if value.isascii() and value.decode().isprintable() else None


def _metadata_text(value: bytes) -> str:
    """A forwarded header as printable ASCII metadata: escaped rather than dropped, so that a
    start_within header with other bytes still arrives, to be refused as invalid, not read as
    absent."""
    ascii_value = _ascii(value)
    if ascii_value is not None:
        return ascii_value
    escaped = value.decode("latin-1").encode("ascii", "backslashreplace").decode()
    return "".join(ch if ch.isprintable() else "?" for ch in escaped)


def _seconds(value: bytes) -> float | None:
    """A positive number of seconds, else ``None`` (no deadline)."""
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if 0 < seconds < 1e7 else None


def _peer(scope: Scope) -> str:
    client = scope.get("client")
    if not client:
        return "unknown"
    host, port = client[0], client[1]
    return f"ipv6:[{host}]:{port}" if ":" in host else f"ipv4:{host}:{port}"


def _flex_headers(metadata: Any) -> list[tuple[bytes, bytes]]:
    return [
        (key.encode(), value.encode())
        for key, value in metadata or ()
        if key.startswith(_FLEX_PREFIX) and isinstance(value, str)
    ]


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


class _Head:
    """What the shim reads from a request's head, in one pass over its headers."""

    __slots__ = (
        "authorization", "chunked", "content_type", "declared", "forwarded", "key",
        "key_header", "method", "path", "timeout",
    )  # fmt: skip

    def __init__(self, method: str, path: str) -> None:
        self.method = method
        self.path = path
        self.declared: int | None = None
        self.content_type = ""
        self.chunked = False
        self.authorization: str | None = None
        self.key: str | None = None
        #: Which header carried ``key`` (never the key itself): x-goog-api-key means Gemini.
        self.key_header = ""
        self.timeout: float | None = None
        #: Request headers passed on as gRPC metadata, for the methods that read them.
        self.forwarded: list[tuple[str, str]] = []

    @classmethod
    def read(cls, scope: Scope) -> _Head:
        raw_path: bytes | None = scope.get("raw_path")
        head = cls(scope["method"], raw_path.decode("latin-1") if raw_path else scope["path"])
        for name, value in scope["headers"]:
            if name == b"content-length":
                head.declared = int(value) if value.isdigit() else None
            elif name == b"content-type":
                head.content_type = value.decode("latin-1")
            elif name == b"transfer-encoding":
                head.chunked = True
            elif name == b"authorization":
                head.authorization = _ascii(value)
            elif name in _KEY_HEADERS and head.key is None:
                head.key, head.key_header = _ascii(value), name.decode()
            elif name == b"x-server-timeout":  # google-genai sends its client timeout here
                head.timeout = _seconds(value)
            elif name in _FORWARDED_HEADERS:
                head.forwarded.append((name.decode(), _metadata_text(value)))
        return head

    def metadata(self, peer: str, token: str) -> list[tuple[str, str]]:
        """The call's metadata: forwarded headers, the key as ``authorization``, the client."""
        metadata = list(self.forwarded)
        if self.authorization is not None:
            metadata.append(("authorization", self.authorization))
        elif self.key is not None:
            metadata.append(("authorization", f"Bearer {self.key}"))
        if self.key is not None:  # which header, never the key: x-goog-api-key picks Gemini's shape
            metadata.append((KEY_HEADER_METADATA, self.key_header))
        metadata.append((FORWARDED_PEER_KEY, peer))
        metadata.append((FORWARDED_TOKEN_KEY, token))
        return metadata


def _unsupported_media_type(content_type: str) -> FlexError:
    hint = (
        " (curl -d alone sends a form type: add -H 'content-type: application/json')."
        if content_type.startswith("application/x-www-form-urlencoded")
        else "."
    )
    return FlexError(
        "unsupported_media_type",
        f"Content-Type {content_type!r} is not accepted here: send a JSON body with "
        f"Content-Type: application/json{hint}",
    )


class RestApp:
    """The ASGI callable. ``channel`` reaches the servicers: a loopback gRPC channel to the
    server's own port, or an ``InProcessChannel`` (the same call interface)."""

    def __init__(
        self,
        table: RouteTable,
        channel: aio.Channel | InProcessChannel,
        *,
        max_body_bytes: int,
        body_timeout_s: float,
        forwarded_token: str,
        public_methods: frozenset[str] = frozenset(),
    ) -> None:
        self.table = table
        #: The OpenAPI description of this very table, rendered once.
        self._openapi = openapi.render(openapi.describe(table, public_methods))
        self._max_body = max_body_bytes
        self._body_timeout = body_timeout_s
        self._token = forwarded_token
        self._calls: dict[str, Any] = {}
        for route in table.routes:
            if route.grpc_path in self._calls:
                continue
            factory = channel.unary_stream if route.server_streaming else channel.unary_unary
            self._calls[route.grpc_path] = factory(
                route.grpc_path,
                request_serializer=route.request_class.SerializeToString,
                response_deserializer=route.response_class.FromString,
            )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return  # no lifespan, no websockets
        exchange = _Exchange(receive, send)
        try:
            await self._serve(scope, exchange)
        except _Disconnected:
            return
        except Exception as exc:  # the last line: never a traceback to the client
            log.error("REST request failed", exc_info=exc)
            if not exchange.started:
                error = FlexError(
                    "internal_error", "The server hit an unexpected error; it has been logged."
                )
                await exchange.error(from_flex_error(error), "google", self._max_body)
            elif not exchange.finished:
                await exchange.body(b"", more=False)

    async def _refuse(self, exchange: _Exchange, error: FlexError, dialect: str) -> None:
        await exchange.error(from_flex_error(error), dialect, self._max_body)

    async def _serve(self, scope: Scope, exchange: _Exchange) -> None:
        head = _Head.read(scope)
        exchange.body_pending = head.chunked or bool(head.declared)
        if head.method == "GET" and head.path == openapi.OPENAPI_PATH:
            await exchange.whole(200, [(b"content-type", b"application/json")], self._openapi)
            return
        found = await self._match(head, exchange)
        if found is None:
            return
        route = found.route
        body = await self._body(head, route, exchange) if route.body else b""
        if body is None:
            return
        try:
            request = transcode.build_request(
                route,
                found.variables,
                scope.get("query_string", b""),
                body,
                head.content_type or "application/json",
            )
        except FlexError as error:
            await self._refuse(exchange, error, route.dialect)
            return
        metadata = head.metadata(_peer(scope), self._token)
        await self._call(route, request, metadata, head.timeout, exchange)

    async def _match(self, head: _Head, exchange: _Exchange) -> Matched | None:
        """The route of the request, or ``None`` after answering 404 / 405."""
        found = self.table.match(head.method, head.path)
        if found is None:
            message = f"There is no REST route {head.path!r}; see the README for the routes."
            dialect = self.table.dialect_under(head.path)
            await self._refuse(exchange, FlexError("not_found", message), dialect)
            return None
        if isinstance(found, Matched):
            return found
        allow = ", ".join(found.allowed)
        message = f"{head.path} does not accept {head.method}; it accepts {allow}."
        await exchange.error(
            from_flex_error(FlexError("method_not_allowed", message)),
            found.dialect,
            self._max_body,
            ((b"allow", allow.encode()),),
        )
        return None

    async def _body(self, head: _Head, route: RestRoute, exchange: _Exchange) -> bytes | None:
        """The request body within the size, type and time limits, or ``None`` after
        answering."""
        try:
            if head.declared is not None:
                check_body_size(head.declared, self._max_body)
            if head.content_type and not _is_json(head.content_type):
                raise _unsupported_media_type(head.content_type)
        except FlexError as error:
            await self._refuse(exchange, error, route.dialect)
            return None
        return await self._read_body(exchange, route)

    async def _call(
        self,
        route: RestRoute,
        request: Any,
        metadata: list[tuple[str, str]],
        deadline_s: float | None,
        exchange: _Exchange,
    ) -> None:
        """One call of the route's method, relayed; cancelled when the client leaves."""
        call = self._calls[route.grpc_path](request, metadata=metadata, timeout=deadline_s)
        watcher = asyncio.get_running_loop().create_task(self._watch(exchange, call))
        try:
            if route.server_streaming:
                await self._relay_stream(route, call, exchange)
            else:
                await self._relay_unary(route, call, exchange)
        except asyncio.CancelledError:
            if exchange.disconnected:
                return  # the call was cancelled because the client left
            call.cancel()
            raise
        except BaseException:
            call.cancel()  # nobody will read the rest: stop the servicer (and the race)
            raise
        finally:
            watcher.cancel()

    async def _read_body(self, exchange: _Exchange, route: RestRoute) -> bytes | None:
        """The whole body, or ``None`` after answering (too large, too slow, client gone)."""
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self._body_timeout):
                while True:
                    event = await exchange.receive()
                    if event["type"] == "http.disconnect":
                        raise _Disconnected
                    chunk = event.get("body", b"")
                    size += len(chunk)
                    try:
                        check_body_size(size, self._max_body, whole=False)
                    except FlexError as error:
                        await self._refuse(exchange, error, route.dialect)
                        return None
                    chunks.append(chunk)
                    if not event.get("more_body", False):
                        break
        except TimeoutError:
            message = (
                f"The request body did not arrive within {self._body_timeout:g} s "
                f"({size:,} bytes received); send it again."
            )
            await self._refuse(exchange, FlexError("request_timeout", message), route.dialect)
            return None
        exchange.body_pending = False
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def _watch(self, exchange: _Exchange, call: Any) -> None:
        """Cancel the call when the client disconnects (the race then cancels upstream work)."""
        while True:
            event = await exchange.receive()
            if event["type"] == "http.disconnect":
                if not exchange.finished:
                    exchange.disconnected = True
                    call.cancel()
                return

    async def _relay_unary(self, route: RestRoute, call: Any, exchange: _Exchange) -> None:
        try:
            response = await call
            initial = await call.initial_metadata()
        except grpc.aio.AioRpcError as error:
            await exchange.error(from_rpc_error(error), route.dialect)
            return
        content_type, data = transcode.encode_response(route, response)
        headers = [(b"content-type", content_type.encode()), *_flex_headers(initial)]
        await exchange.whole(200, headers, data)

    async def _relay_stream(self, route: RestRoute, call: Any, exchange: _Exchange) -> None:
        try:
            first = await call.read()
            initial = await call.initial_metadata()
        except grpc.aio.AioRpcError as error:
            await exchange.error(from_rpc_error(error), route.dialect)
            return
        flex = _flex_headers(initial)
        if first is aio.EOF:
            empty = b"" if route.raw_response else transcode.sse_terminator(route)
            kind = b"application/json" if route.raw_response else b"text/event-stream"
            await exchange.whole(200, [(b"content-type", kind), *flex], empty)
            return
        if route.raw_response:
            content_type, data = transcode.encode_response(route, first)
            # Gemini's JSON-array stream (no ``alt=sse``) is written as it comes, like events.
            incremental = route.framing == "data_events"
            if not content_type.startswith("text/event-stream") and not incremental:
                await self._relay_whole(route, call, exchange, content_type, data, flex)
                return
        else:
            content_type, data = "text/event-stream", transcode.sse_event(route, first)
        await exchange.start(200, [(b"content-type", content_type.encode()), *_SSE_HEADERS, *flex])
        # Events the servicer has already produced go out in the same write: none of them
        # waits for a later one, and a write per event cost a send and a syscall each. (In
        # process only: a loopback call has no ``read_ready`` and sends each as it comes.)
        read_ready: Callable[[], Any | None] = getattr(call, "read_ready", _nothing_ready)
        pieces = [data]
        while True:
            while (ready := read_ready()) is not None:
                pieces.append(self._frame(route, ready))
            await exchange.body(b"".join(pieces), more=True)
            try:
                message = await call.read()
            except grpc.aio.AioRpcError as error:
                # A raw stream already carries the surface's in-band error event (the servicer
                # sends it before the status); a typed one gets the status as a last event.
                if not route.raw_response:
                    envelope = from_rpc_error(error).body("google")
                    await exchange.body(b"event: error\ndata: " + envelope + b"\n\n", more=True)
                break
            if message is aio.EOF:
                if not route.raw_response:
                    await exchange.body(transcode.sse_terminator(route), more=True)
                break
            pieces = [self._frame(route, message)]
        await exchange.body(b"", more=False)

    @staticmethod
    def _frame(route: RestRoute, message: Any) -> bytes:
        if route.raw_response:
            return transcode.encode_response(route, message)[1]
        return transcode.sse_event(route, message)

    async def _relay_whole(
        self,
        route: RestRoute,
        call: Any,
        exchange: _Exchange,
        content_type: str,
        data: bytes,
        flex: list[tuple[bytes, bytes]],
    ) -> None:
        """A non-event-stream answer: gathered to the end, sent with its length."""
        parts = [data]
        try:
            while (message := await call.read()) is not aio.EOF:
                parts.append(transcode.encode_response(route, message)[1])
        except grpc.aio.AioRpcError as error:
            await exchange.error(from_rpc_error(error), route.dialect)
            return
        headers = [(b"content-type", content_type.encode()), *flex]
        await exchange.whole(200, headers, b"".join(parts))
