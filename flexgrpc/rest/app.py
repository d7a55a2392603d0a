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
from flexgrpc.errors import FlexError
from flexgrpc.rest import transcode
from flexgrpc.rest.envelopes import HttpError, from_flex_error, from_status
from flexgrpc.rest.routes import Matched, Route, RouteTable

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
#: signature; `anthropic-version`, which picks the Anthropic shape of the model list).
_FORWARDED_HEADERS = frozenset({b"stripe-signature", b"anthropic-version"})
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


def _rpc_error(error: grpc.aio.AioRpcError) -> HttpError:
    return from_status(error.code(), error.details() or "", error.trailing_metadata())


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
    ) -> None:
        self.table = table
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
        method: str = scope["method"]
        raw_path: bytes | None = scope.get("raw_path")
        path = raw_path.decode("latin-1") if raw_path else scope["path"]
        declared: int | None = None
        content_type = ""
        authorization: str | None = None
        key: str | None = None
        key_header = ""
        timeout: float | None = None
        metadata: list[tuple[str, str]] = []
        for name, value in scope["headers"]:
            if name == b"content-length":
                declared = int(value) if value.isdigit() else None
            elif name == b"content-type":
                content_type = value.decode("latin-1")
            elif name == b"transfer-encoding":
                exchange.body_pending = True
            elif name == b"authorization":
                authorization = _ascii(value)
            elif name in _KEY_HEADERS:
                if key is None:
                    key, key_header = _ascii(value), name.decode()
            elif name == b"x-server-timeout":  # google-genai sends its client timeout here
                timeout = _seconds(value)
            elif name in _FORWARDED_HEADERS:
                forwarded = _ascii(value)
                if forwarded is not None:
                    metadata.append((name.decode(), forwarded))
        if declared:
            exchange.body_pending = True

        found = self.table.match(method, path)
        if found is None:
            message = f"There is no REST route {path!r}; see the README for the routes."
            await self._refuse(exchange, FlexError("not_found", message), "google")
            return
        if not isinstance(found, Matched):
            allow = ", ".join(found.allowed)
            message = f"{path} does not accept {method}; it accepts {allow}."
            await exchange.error(
                from_flex_error(FlexError("method_not_allowed", message)),
                found.dialect,
                self._max_body,
                ((b"allow", allow.encode()),),
            )
            return
        route = found.route

        body = b""
        if route.body:
            if declared is not None and declared > self._max_body:
                await self._refuse(exchange, self._too_large(declared), route.dialect)
                return
            if content_type and not _is_json(content_type):
                message = (
                    f"Content-Type {content_type!r} is not accepted here: send a JSON body with "
                    "Content-Type: application/json"
                    + (
                        " (curl -d alone sends a form type: add -H 'content-type: "
                        "application/json')."
                        if content_type.startswith("application/x-www-form-urlencoded")
                        else "."
                    )
                )
                await self._refuse(
                    exchange, FlexError("unsupported_media_type", message), route.dialect
                )
                return
            read = await self._read_body(exchange, route)
            if read is None:
                return
            body = read
        try:
            request = transcode.build_request(
                route,
                found.variables,
                scope.get("query_string", b""),
                body,
                content_type or "application/json",
            )
        except FlexError as error:
            await self._refuse(exchange, error, route.dialect)
            return

        if authorization is not None:
            metadata.append(("authorization", authorization))
        elif key is not None:
            metadata.append(("authorization", f"Bearer {key}"))
        if key is not None:  # which header, never the key: x-goog-api-key picks Gemini's shape
            metadata.append((KEY_HEADER_METADATA, key_header))
        metadata.append((FORWARDED_PEER_KEY, _peer(scope)))
        metadata.append((FORWARDED_TOKEN_KEY, self._token))
        call = self._calls[route.grpc_path](request, metadata=metadata, timeout=timeout)
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

    def _too_large(self, size: int | None) -> FlexError:
        stated = f"is {size:,} bytes, " if size is not None else ""
        return FlexError(
            "request_too_large",
            f"The request body {stated}over the limit of {self._max_body:,} bytes: send a "
            "smaller body (large files can be uploaded to the provider and referenced by id).",
            metadata={"limit_bytes": str(self._max_body)},
        )

    async def _read_body(self, exchange: _Exchange, route: Route) -> bytes | None:
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
                    if size > self._max_body:
                        await self._refuse(exchange, self._too_large(None), route.dialect)
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

    async def _relay_unary(self, route: Route, call: Any, exchange: _Exchange) -> None:
        try:
            response = await call
            initial = await call.initial_metadata()
        except grpc.aio.AioRpcError as error:
            await exchange.error(_rpc_error(error), route.dialect)
            return
        content_type, data = transcode.encode_response(route, response)
        headers = [(b"content-type", content_type.encode()), *_flex_headers(initial)]
        await exchange.whole(200, headers, data)

    async def _relay_stream(self, route: Route, call: Any, exchange: _Exchange) -> None:
        try:
            first = await call.read()
            initial = await call.initial_metadata()
        except grpc.aio.AioRpcError as error:
            await exchange.error(_rpc_error(error), route.dialect)
            return
        flex = _flex_headers(initial)
        if first is aio.EOF:
            empty = b"" if route.raw_response else transcode.sse_terminator(route)
            kind = b"application/json" if route.raw_response else b"text/event-stream"
            await exchange.whole(200, [(b"content-type", kind), *flex], empty)
            return
        if route.raw_response:
            content_type, data = transcode.encode_response(route, first)
            if not content_type.startswith("text/event-stream"):
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
                    envelope = _rpc_error(error).body("google")
                    await exchange.body(b"event: error\ndata: " + envelope + b"\n\n", more=True)
                break
            if message is aio.EOF:
                if not route.raw_response:
                    await exchange.body(transcode.sse_terminator(route), more=True)
                break
            pieces = [self._frame(route, message)]
        await exchange.body(b"", more=False)

    @staticmethod
    def _frame(route: Route, message: Any) -> bytes:
        if route.raw_response:
            return transcode.encode_response(route, message)[1]
        return transcode.sse_event(route, message)

    async def _relay_whole(
        self,
        route: Route,
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
            await exchange.error(_rpc_error(error), route.dialect)
            return
        headers = [(b"content-type", content_type.encode()), *flex]
        await exchange.whole(200, headers, b"".join(parts))
