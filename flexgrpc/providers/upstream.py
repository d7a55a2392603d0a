"""Opening upstream streams over one shared, pooled ``aiohttp`` client session.

aiohttp rather than httpx: its HTTP parser is native (llhttp), and a streamed upstream answer
costs ~0.4 ms of CPU against 1.0 to 1.2 ms with httpx2 (measured here on the simulator), the largest
single item of the router's per-request work. Its connector keeps thousands of idle and
streaming connections in O(1) structures (bench/race_concurrency.py).

An ``UpstreamStream`` buffers events until generation **starts** (the race needs to know that
before anything reaches the caller), then relays the buffered events and the rest, unchanged.
Closing it closes the HTTP response, which closes the connection to the provider so that it
stops work.
"""

from __future__ import annotations

import asyncio
import collections
import email.utils
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

import aiohttp

from flexgrpc import tracing
from flexgrpc.domain import ProviderRoute, RouteJob, UpstreamTier
from flexgrpc.providers.adapter import Adapter
from flexgrpc.providers.reading import EventKind, UpstreamReader, WholeAnswerReader
from flexgrpc.providers.sse import SseEvent, SseParser

#: The longest a provider's Retry-After is honoured (SPEC §2.2).
MAX_RETRY_AFTER_S = 60.0


@dataclass(frozen=True)
class Timeouts:
    """Per-phase upstream timeouts, in seconds."""

    connect: float = 10.0
    #: Between any two reads once the stream is open (a stalled provider).
    idle: float = 120.0
    #: Waiting for a free pooled connection.
    pool: float = 30.0
    #: Waiting for a non-streamed answer, which arrives whole once generation is done.
    answer: float = 600.0


#: How many times a request is sent when the provider closes the connection without answering.
_SENDS_ON_IDLE_CLOSE = 2

#: Errors of an upstream exchange: the connection failed, broke or timed out.
_TRANSPORT_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError)


class UpstreamError(Exception):
    """The provider refused, failed, or could not be reached before generation started.

    ``status`` is the provider's HTTP status (``None`` for a connection error or timeout).
    ``capacity`` means "no capacity now": worth retrying or falling back, not the caller's fault.
    """

    def __init__(
        self,
        reason: str,
        *,
        status: int | None = None,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        capacity: bool = False,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.body = body
        self.headers = dict(headers or {})
        self.capacity = capacity

    @property
    def is_client_error(self) -> bool:
        """A 4xx that is not about capacity: the request itself is wrong; no tier would serve it."""
        return self.status is not None and 400 <= self.status < 500 and not self.capacity

    @property
    def retryable(self) -> bool:
        """429, 5xx, connection failures and timeouts (SPEC §2.2)."""
        return self.status is None or self.status == 429 or self.status >= 500 or self.capacity

    @property
    def switch_route(self) -> bool:
        """5xx, connection error, timeout: a later route in the provider chain may serve."""
        return self.status is None or self.status >= 500

    def retry_after_s(self) -> float | None:
        raw = self.headers.get("retry-after")
        if not raw:
            return None
        try:
            seconds = float(raw)
        except ValueError:
            parsed = email.utils.parsedate_to_datetime(raw) if raw else None
            if parsed is None:
                return None
            seconds = parsed.timestamp() - time.time()
        return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


class UpstreamStream:
    """One open upstream answer."""

    def __init__(
        self,
        response: aiohttp.ClientResponse,
        adapter: Adapter,
        tier: UpstreamTier,
        route: ProviderRoute,
        job: RouteJob,
        *,
        whole: bool = False,
    ) -> None:
        """``whole``: the response is a non-streamed answer, read as one event."""
        self.response = response
        self.adapter = adapter
        self.tier = tier
        self.route = route
        self._whole = whole
        self._read_whole = False
        self.reader: UpstreamReader = (
            WholeAnswerReader(adapter.answer_fields) if whole else adapter.reader(job)
        )
        self.reader.served_tier = adapter.served_tier_header(response.headers)
        self.buffered: collections.deque[SseEvent] = collections.deque()
        self.started_at: float | None = None
        self._parser = SseParser()
        self._chunks = response.content.iter_any()
        self._pending: collections.deque[SseEvent] = collections.deque()

    async def _next_event(self) -> SseEvent | None:
        if self._whole:
            if self._read_whole:
                return None
            body = await self.response.read()
            self._read_whole = True
            return SseEvent("", body.decode(errors="replace"), body)
        while not self._pending:
            try:
                chunk = await anext(self._chunks)
            except StopAsyncIteration:
                return self._parser.close()
            self._pending.extend(self._parser.feed(chunk))
        return self._pending.popleft()

    async def wait_for_start(self) -> None:
        """Read until the first output (or terminal) event; buffer what was read.

        Raises ``UpstreamError`` when the provider reports an error first, or the stream ends.
        """
        try:
            while True:
                event = await self._next_event()
                if event is None:
                    raise UpstreamError("the provider closed the stream before any output")
                self.buffered.append(event)
                kind = self.reader.feed(event)
                if kind is EventKind.ERROR:
                    raise UpstreamError(
                        "the provider reported an error before any output",
                        status=None,
                        body=event.data.encode(),
                    )
                if kind in (EventKind.OUTPUT, EventKind.TERMINAL):
                    self.started_at = time.monotonic()
                    return
        except _TRANSPORT_ERRORS as exc:
            raise UpstreamError(
                f"upstream stream failed before output: {type(exc).__name__}"
            ) from exc

    async def events(self) -> AsyncIterator[SseEvent]:
        """The buffered events, then the rest of the stream until the provider closes it, each
        fed to the reader (events after the terminal one, like Gemini's ``[DONE]``, pass too).

        Raises ``StreamBroken`` when the stream fails or ends before its terminal event.
        """
        while self.buffered:
            yield self.buffered.popleft()
        while True:
            try:
                following = await self._next_event()
            except _TRANSPORT_ERRORS as exc:
                if self.reader.finished:
                    return  # the answer was complete; a broken close changes nothing
                raise StreamBroken(f"the provider's stream failed: {type(exc).__name__}") from exc
            if following is None:
                if self.reader.finished:
                    return
                raise StreamBroken("the provider's stream ended before its final event")
            kind = self.reader.feed(following)
            yield following
            if kind is EventKind.ERROR:
                raise StreamBroken("the provider reported an error in the stream", relayed=True)

    def ready(self) -> bool:
        """Whether the next event is already here, so that reading it will not wait: still
        buffered, parsed from an earlier chunk, or in bytes the connection has received and
        not yet handed over (taken without waiting). A relay that asks before each write
        sends the events that arrived together in one write, and never holds one back."""
        if self.buffered or self._pending:
            return True
        if self._whole:
            return False
        content = self.response.content
        try:
            data = content.read_nowait() if not content.at_eof() else b""
        except (*_TRANSPORT_ERRORS, RuntimeError):
            return False  # the next read raises it, or waits
        if data:
            self._pending.extend(self._parser.feed(data))
        return bool(self._pending)

    async def aclose(self) -> None:
        # A stream read to its end already went back to the pool; one still open is closed
        # with its connection, which tells the provider to stop generating.
        self.response.close()


class StreamBroken(Exception):
    """An answer that had started failed before its end (no tier switch is possible now).

    ``relayed`` is true when the provider's own error event already reached the caller.
    """

    def __init__(self, reason: str, *, relayed: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.relayed = relayed


class UpstreamClient:
    """Sends adapters' requests to the configured base URL of each route, over one pool that
    every adapter shares, sized for thousands of long-lived streams."""

    def __init__(
        self,
        base_urls: Mapping[ProviderRoute, str],
        timeouts: Timeouts = Timeouts(),
        max_connections: int = 20_000,
    ) -> None:
        """When tracing is on, each request sent is a ``POST`` client span (until the answer's
        head arrives) whose ``traceparent`` goes to the provider."""
        self._base_urls = {route: url.rstrip("/") for route, url in base_urls.items()}
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        t = timeouts
        self._stream_timeout, self._answer_timeout = (
            aiohttp.ClientTimeout(
                total=None, connect=t.pool + t.connect, sock_connect=t.connect, sock_read=read
            )
            for read in (t.idle, t.answer)
        )

    def _http(self) -> aiohttp.ClientSession:
        # Created on first use: a session belongs to the event loop it was created in.
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=self._max_connections, limit_per_host=0, keepalive_timeout=30.0
                ),
                timeout=self._stream_timeout,
                trust_env=False,
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _post(
        self, url: str, headers: Mapping[str, str], body: bytes, *, stream: bool
    ) -> aiohttp.ClientResponse:
        # A stream sends something at least every ``idle`` seconds; a whole answer only comes
        # once generation is done. (Always explicit: aiohttp reads ``None`` as "no timeouts".)
        timeout = self._stream_timeout if stream else self._answer_timeout
        for attempt in range(1, _SENDS_ON_IDLE_CLOSE + 1):
            try:
                return await self._send(url, headers, body, timeout)
            except aiohttp.ServerDisconnectedError as exc:
                # The provider closed the connection without a byte of answer: almost always a
                # kept-alive connection it had just closed as idle while we reused it (the race
                # RFC 9112 §9.3.1 describes). aiohttp retries that only for idempotent methods;
                # this request never reached the model, so it goes once more (the closed
                # connection has left the pool).
                if attempt == _SENDS_ON_IDLE_CLOSE:
                    raise UpstreamError(
                        f"could not reach the provider: {type(exc).__name__}"
                    ) from exc
            except _TRANSPORT_ERRORS as exc:
                raise UpstreamError(f"could not reach the provider: {type(exc).__name__}") from exc
        raise AssertionError("unreachable")  # pragma: no cover

    async def _send(
        self, url: str, headers: Mapping[str, str], body: bytes, limits: aiohttp.ClientTimeout
    ) -> aiohttp.ClientResponse:
        span = tracing.client("POST", url)
        try:
            response = await self._http().post(
                url,
                headers=tracing.inject(span, headers),
                data=body,
                allow_redirects=False,
                timeout=limits,
            )
        except BaseException as error:
            tracing.fail(span, error)
            raise
        if span is not None:
            failed = f"HTTP {response.status}" if response.status >= 400 else ""
            tracing.finish(span, failed, **{"http.response.status_code": response.status})
        return response

    async def exchange(
        self, route: ProviderRoute, path: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, bytes]:
        """One plain POST to ``route`` (a token count): the provider's status and body; raises
        ``UpstreamError`` when the provider cannot be reached."""
        response = await self._post(self._base_urls[route] + path, headers, body, stream=False)
        try:
            return response.status, await response.read()
        except _TRANSPORT_ERRORS as exc:
            raise UpstreamError(f"the provider's answer broke off: {type(exc).__name__}") from exc
        finally:
            response.close()

    async def open(
        self,
        adapter: Adapter,
        job: RouteJob,
        tier: UpstreamTier,
        api_key: str,
        route: ProviderRoute,
        *,
        stream: bool = True,
    ) -> UpstreamStream:
        """POST the request and return the open stream (with ``stream=False``, the response of
        a non-streamed request, read as one event); raise ``UpstreamError`` on failure."""
        prepared = adapter.build(job, tier, api_key, stream=stream)
        url = self._base_urls[route] + prepared.path
        response = await self._post(url, prepared.headers, prepared.body, stream=stream)
        if response.status >= 400:
            try:
                body = await response.read()
            except _TRANSPORT_ERRORS:
                body = b""
            finally:
                response.close()
            raise UpstreamError(
                f"the provider answered HTTP {response.status}",
                status=response.status,
                body=body,
                headers={name.lower(): value for name, value in response.headers.items()},
                capacity=adapter.is_capacity_error(response.status, body),
            )
        return UpstreamStream(response, adapter, tier, route, job, whole=not stream)
