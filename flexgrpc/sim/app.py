"""The simulator as a plain ASGI application (no framework): provider routes and ``/_sim/``.

A provider request is read, checked the way the provider checks it (key, then headers, then
JSON, then fields), given its ``Fate`` and ``Generation`` from the request's own RNG, and then
refused, failed, streamed or answered. Waiting is ``asyncio`` sleeping, so thousands of
requests can wait at once for next to nothing. While it waits, the handler listens for the
client's ``http.disconnect`` and stops at once when it comes.

Count-tokens routes (Anthropic ``/v1/messages/count_tokens``, Gemini ``:countTokens``) answer
at once, with no fate, no record and no request number, so counting leaves the random
sequence of the generation requests alone.

Control routes, for tests:

* ``GET /_sim/requests[?since=<id>]`` -- the records (``RequestRecord.to_dict``), oldest first.
* ``POST /_sim/reset`` -- forget the records and restart request numbering.
* ``GET /_sim/config`` / ``PUT /_sim/config`` -- read or replace the configuration (JSON of
  ``SimConfig.to_dict``; a bad one is answered 400 with the reason).
* ``GET /_sim/health``.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

from flexgrpc.sim.config import SimConfig, TierConfig
from flexgrpc.sim.generation import Fate, Generation, draw, prompt_tokens, request_rng
from flexgrpc.sim.records import Outcome, RequestLog, RequestRecord
from flexgrpc.sim.wire import RequestError, WireFormat, route, token_counter
from flexgrpc.sim.wire.base import TokenCounter, dumps
from flexgrpc.sim.wire.errors import ErrorReply

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_JSON = (b"content-type", b"application/json")
_NO_CACHE = (b"cache-control", b"no-cache")


class _Watches:
    """The waits in progress, so that stopping the server can end them all at once."""

    def __init__(self) -> None:
        self.active: set[_ClientWatch] = set()
        self.stopping = False

    def stop_all(self) -> None:
        self.stopping = True
        for watch in list(self.active):
            watch.end("stopping")


class _ClientWatch:
    """Listens for ``http.disconnect`` while a handler waits (started on the first wait)."""

    def __init__(self, receive: Receive, watches: _Watches) -> None:
        self._receive = receive
        self._watches = watches
        self._gone: asyncio.Future[str] | None = None
        self._task: asyncio.Task[None] | None = None
        #: Set once the answer is complete: a disconnect after that is not the client leaving.
        self.finished = False
        self.disconnect_time: float | None = None

    def end(self, why: str) -> None:
        if self._gone is not None and not self._gone.done():
            self._gone.set_result(why)

    @property
    def reason(self) -> str | None:
        """``"client"`` or ``"stopping"`` once the wait was cut short, else ``None``."""
        return self._gone.result() if self._gone is not None and self._gone.done() else None

    async def _listen(self) -> None:
        while (await self._receive())["type"] != "http.disconnect":
            pass
        if not self.finished:
            self.disconnect_time = time.time()
            self.end("client")

    async def pause(self, seconds: float) -> str | None:
        """Wait ``seconds``; return why the wait ended early, or ``None`` when it did not."""
        if seconds <= 0:
            return self.reason
        if self._gone is None:
            loop = asyncio.get_running_loop()
            self._gone = loop.create_future()
            self._task = loop.create_task(self._listen())
            self._watches.active.add(self)
            if self._watches.stopping:
                self.end("stopping")
        if not self._gone.done():
            await asyncio.wait((self._gone,), timeout=seconds)
        return self.reason

    def close(self) -> None:
        self.finished = True
        if self._task is not None:
            self._task.cancel()
        self._watches.active.discard(self)


def _headers(scope: Scope) -> dict[str, str]:
    return {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}


def _query(scope: Scope) -> dict[str, str]:
    pairs = urllib.parse.parse_qsl(scope.get("query_string", b"").decode("latin-1"))
    return dict(pairs)


def prompt_size(wire: WireFormat, body: Mapping[str, Any]) -> int:
    """Bytes of prompt, from which ``generation`` counts prompt tokens (and count-tokens
    routes count theirs)."""
    return len(dumps(wire.prompt(body)))


def _served_tier(wire: WireFormat, generation: Generation) -> list[tuple[bytes, bytes]]:
    if wire.served_tier_header is None:
        return []
    return [(wire.served_tier_header.encode(), wire.served_name(generation).encode())]


async def _read_body(receive: Receive) -> bytes | None:
    """The whole request body, or ``None`` when the client left before sending it."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _send_json(
    send: Send, status: int, payload: Any, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = dumps(payload).encode()
    headers = [_JSON, (b"content-length", str(len(body)).encode()), *(extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


class SimulatorApp:
    """The ASGI callable. ``config`` may be replaced at any time; a request keeps the one it
    arrived under."""

    def __init__(self, config: SimConfig, log: RequestLog) -> None:
        self.config = config
        self.log = log
        self._watches = _Watches()

    def stop(self) -> None:
        """End every wait in progress (their streams are cut off) and refuse to wait again."""
        self._watches.stop_all()

    def resume(self) -> None:
        """Allow waiting again (a stopped simulator that starts anew)."""
        self._watches.stopping = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        method: str = scope["method"]
        if path.startswith("/_sim/"):
            await self._control(path, method, scope, receive, send)
            return
        wire = route(path, _query(scope))
        counter = token_counter(path) if wire is None else None
        if wire is None and counter is None:
            await _send_json(send, 404, {"error": {"message": f"no route for {path}"}})
            return
        if method != "POST":
            await _send_json(send, 405, {"error": {"message": f"{method} not allowed on {path}"}})
            return
        if wire is not None:
            await self._provider_request(wire, scope, receive, send)
        elif counter is not None:
            await self._count_tokens(counter, scope, receive, send)

    async def _count_tokens(
        self, counter: TokenCounter, scope: Scope, receive: Receive, send: Send
    ) -> None:
        """Count a prompt as a generation request with that prompt would (no record, no request
        number: counting is not generating, so it leaves the random sequence alone)."""
        headers = _headers(scope)
        raw = await _read_body(receive)
        if raw is None:
            return
        request_id = "req_simcount"
        if not counter.api_key_present(headers, _query(scope)):
            reply = counter.errors.missing_key(request_id)
            await _send_json(send, reply.status, reply.body)
            return
        try:
            counter.check_headers(headers)
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
            if not isinstance(body, dict):
                reply = counter.errors.malformed_json(request_id)
                await _send_json(send, reply.status, reply.body)
                return
            wire, prompt_body = counter.prompt_request(body)
        except RequestError as exc:
            reply = counter.errors.invalid(exc.message, exc.param, request_id)
            await _send_json(send, reply.status, reply.body)
            return
        tokens = prompt_tokens(prompt_size(wire, prompt_body))
        await _send_json(send, 200, counter.answer(tokens))

    # -- control routes -------------------------------------------------------------------

    async def _control(
        self, path: str, method: str, scope: Scope, receive: Receive, send: Send
    ) -> None:
        route = (method, path)
        if route == ("GET", "/_sim/requests"):
            since = _query(scope).get("since", "0")
            if not since.isdigit():
                await _send_json(send, 400, {"error": "since must be a request id (an integer)"})
                return
            records = self.log.snapshot(int(since))
            await _send_json(send, 200, [record.to_dict() for record in records])
        elif route == ("POST", "/_sim/reset"):
            await _read_body(receive)
            self.log.reset()
            await _send_json(send, 200, {"reset": True})
        elif route == ("GET", "/_sim/config"):
            await _send_json(send, 200, self.config.to_dict())
        elif route == ("PUT", "/_sim/config"):
            raw = await _read_body(receive)
            try:
                config = SimConfig.from_dict(json.loads(raw or b"null"))
            except ValueError as exc:  # json.JSONDecodeError is a ValueError
                await _send_json(send, 400, {"error": f"invalid configuration: {exc}"})
                return
            self.config = config
            await _send_json(send, 200, config.to_dict())
        elif route == ("GET", "/_sim/health"):
            await _send_json(send, 200, {"status": "ok"})
        else:
            await _send_json(send, 404, {"error": f"no control route {method} {path}"})

    # -- provider routes ------------------------------------------------------------------

    async def _provider_request(
        self, wire: WireFormat, scope: Scope, receive: Receive, send: Send
    ) -> None:
        arrival = time.time()
        config = self.config
        headers = _headers(scope)
        raw = await _read_body(receive)
        body: dict[str, Any] | None = None
        if raw is not None:
            try:
                parsed = json.loads(raw)
            except ValueError:
                parsed = None
            body = parsed if isinstance(parsed, dict) else None
        shown = body if body is not None else (raw.decode("utf-8", "replace") if raw else None)
        model = wire.model_of(body) if body is not None else None
        record = self.log.open(
            provider=wire.provider,
            surface=wire.surface,
            path=wire.path,
            model=model if isinstance(model, str) else None,
            service_tier=wire.requested_tier(body) if body is not None else None,
            stream=body is not None and wire.stream_requested(body),
            api_key_present=wire.api_key_present(headers, _query(scope)),
            body=shown,
            arrival_time=arrival,
            traceparent=headers.get("traceparent"),
        )
        try:
            if raw is None:
                record.disconnect_time = time.time()
                record.outcome = Outcome.CLIENT_DISCONNECTED
                return
            checked = self._check(wire, record, headers, body)
            if isinstance(checked, ErrorReply):
                sim_id = [(b"x-sim-request-id", str(record.id).encode())]
                await self._reply(send, record, checked, Outcome.REJECTED, sim_id)
                return
            body, tier = checked
            behavior = config.behavior(wire.provider, tier)
            fate, generation = draw(
                request_rng(config.seed, record.id),
                config,
                behavior,
                provider=wire.provider,
                model=str(model),
                body=body,
                raw_body_size=prompt_size(wire, body),
                requested_tier=wire.requested_tier(body),
                canonical_tier=tier,
                max_tokens=wire.max_tokens(body),
                created=arrival,
                ask=wire.ask(body),
            )
            record.start_delay = fate.start_delay
            await self._answer(wire, behavior, record, fate, generation, receive, send)
        finally:
            if record.end_time is None:
                record.end_time = time.time()

    @staticmethod
    def _check(
        wire: WireFormat,
        record: RequestRecord,
        headers: Mapping[str, str],
        body: dict[str, Any] | None,
    ) -> tuple[dict[str, Any], str] | ErrorReply:
        """The body and its canonical tier, or the 4xx the provider would answer, checked in
        the provider's order: key, headers, JSON, fields."""
        request_id = f"req_sim{record.id:018d}"
        if not record.api_key_present:
            return wire.errors.missing_key(request_id)
        try:
            wire.check_headers(headers)
            if body is None:
                return wire.errors.malformed_json(request_id)
            wire.check_body(body)
            return body, wire.canonical_tier(body)
        except RequestError as exc:
            return wire.errors.invalid(exc.message, exc.param, request_id)

    async def _answer(
        self,
        wire: WireFormat,
        behavior: TierConfig,
        record: RequestRecord,
        fate: Fate,
        generation: Generation,
        receive: Receive,
        send: Send,
    ) -> None:
        request_id = wire.request_id(generation)
        ids = [(b"x-sim-request-id", str(record.id).encode())]
        if wire.request_id_header is not None:
            ids.append((wire.request_id_header.encode(), request_id.encode()))
        retry = (
            []
            if behavior.retry_after is None
            else [(b"retry-after", str(behavior.retry_after).encode())]
        )
        watch = _ClientWatch(receive, self._watches)
        try:
            if fate.refuse:
                if await watch.pause(fate.refusal_delay):
                    self._cut_short(record, watch)
                    return
                reply = wire.errors.capacity(behavior.refusal_status, request_id)
                await self._reply(send, record, reply, Outcome.REFUSED, ids + retry)
            elif fate.error:
                reply = wire.errors.server(behavior.error_status, request_id)
                await self._reply(send, record, reply, Outcome.ERROR, ids + retry)
            elif record.stream:
                await self._stream(wire, record, fate, generation, watch, send, ids)
            else:
                await self._respond(wire, record, fate, generation, watch, send, ids)
        finally:
            watch.close()

    @staticmethod
    async def _reply(
        send: Send,
        record: RequestRecord,
        reply: ErrorReply,
        outcome: Outcome,
        extra: list[tuple[bytes, bytes]],
    ) -> None:
        record.status = reply.status
        await _send_json(send, reply.status, reply.body, extra)
        record.outcome = outcome

    @staticmethod
    def _cut_short(record: RequestRecord, watch: _ClientWatch) -> None:
        if watch.reason == "client":
            record.disconnect_time = watch.disconnect_time
            record.outcome = Outcome.CLIENT_DISCONNECTED
        else:
            record.outcome = Outcome.SERVER_STOPPED

    async def _stream(
        self,
        wire: WireFormat,
        record: RequestRecord,
        fate: Fate,
        generation: Generation,
        watch: _ClientWatch,
        send: Send,
        ids: list[tuple[bytes, bytes]],
    ) -> None:
        record.status = 200
        record.served_tier = wire.served_name(generation)
        headers = [(b"content-type", wire.stream_content_type.encode()), _NO_CACHE]
        headers += ids + _served_tier(wire, generation)
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        pending = bytearray()
        started = False
        first_unsent = False
        tokens_sent = 0

        async def flush() -> None:
            nonlocal first_unsent
            if pending:
                await send(
                    {"type": "http.response.body", "body": bytes(pending), "more_body": True}
                )
                pending.clear()
                if first_unsent:
                    record.first_output_time = time.time()
                    first_unsent = False

        for frame in wire.stream_frames(generation):
            if frame.output and not started:
                await flush()
                if await watch.pause(fate.start_delay):
                    self._cut_short(record, watch)
                    return
                started = first_unsent = True
            wait = frame.pace * fate.token_interval
            if wait > 0:
                await flush()
                if await watch.pause(wait):
                    self._cut_short(record, watch)
                    return
            if fate.drop_after is not None and tokens_sent >= fate.drop_after:
                await flush()
                # Returning without finishing the body makes the server close the connection.
                record.outcome = Outcome.DROPPED
                return
            pending += frame.data
            tokens_sent += frame.token
        watch.finished = True
        await send({"type": "http.response.body", "body": bytes(pending), "more_body": False})
        if first_unsent:
            record.first_output_time = time.time()
        if watch.reason == "client":
            self._cut_short(record, watch)
        else:
            record.outcome = Outcome.COMPLETED

    async def _respond(
        self,
        wire: WireFormat,
        record: RequestRecord,
        fate: Fate,
        generation: Generation,
        watch: _ClientWatch,
        send: Send,
        ids: list[tuple[bytes, bytes]],
    ) -> None:
        paced = generation.reasoning_tokens + max(0, generation.output_tokens - 1)
        if await watch.pause(fate.start_delay + paced * fate.token_interval):
            self._cut_short(record, watch)
            return
        body = dumps(wire.final_body(generation)).encode()
        record.status = 200
        record.served_tier = wire.served_name(generation)
        headers = [_JSON, (b"content-length", str(len(body)).encode()), *ids]
        headers += _served_tier(wire, generation)
        watch.finished = True
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        record.first_output_time = time.time()
        if fate.drop_after is not None:
            cut = max(1, len(body) * fate.drop_after // (generation.output_tokens + 1))
            await send({"type": "http.response.body", "body": body[:cut], "more_body": True})
            record.outcome = Outcome.DROPPED
            return
        await send({"type": "http.response.body", "body": body, "more_body": False})
        record.outcome = Outcome.COMPLETED
