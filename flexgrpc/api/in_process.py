"""A channel to this process's own servicers that skips the network but not the interceptors.

The REST shim turns each HTTP request into an RPC. Over a loopback gRPC channel every request
and every streamed event is serialised, framed in HTTP/2 and parsed twice (client and server
side) before the servicer sees it; ``InProcessChannel`` hands the message objects over directly.
What stays the same is everything a caller can observe: the method's handler is resolved
through the same server interceptors, in the same order (error mapping, authentication), the
servicer runs in a task of its own with a ``ServicerContext`` (metadata, peer, initial and
trailing metadata, abort), a deadline cancels it with ``DEADLINE_EXCEEDED``, ``cancel()``
cancels it as a client cancellation would, and failures surface as ``grpc.aio.AioRpcError``
with the status, details and trailers the servicer set. A bounded queue between the servicer
and the reader gives the flow control HTTP/2 would have given: a slow HTTP client slows the
servicer down rather than letting answers pile up in memory.

Only what the shim uses is offered: unary-unary and unary-stream methods.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator, Callable, Generator, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import grpc
from grpc import aio

from flexgrpc.errors import FlexError

log = logging.getLogger("flexgrpc.rpc")

#: Messages a streaming servicer may run ahead of its reader.
_QUEUE_DEPTH: Final = 64

Pairs = Sequence[tuple[str, str | bytes]]
Metadata = aio.Metadata | Pairs
Continuation = Callable[[grpc.HandlerCallDetails], Any]


@dataclass(frozen=True)
class _CallDetails(grpc.HandlerCallDetails):
    method: str
    invocation_metadata: tuple[tuple[str, str | bytes], ...]


class HandlerRegistry:
    """Collects servicers the way a ``grpc.aio.Server`` does (``add_*Servicer_to_server``)."""

    def __init__(self) -> None:
        self._generic: list[grpc.GenericRpcHandler] = []
        self._registered: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}

    def add_generic_rpc_handlers(self, handlers: Iterable[grpc.GenericRpcHandler]) -> None:
        self._generic.extend(handlers)

    def add_registered_method_handlers(
        self, service: str, handlers: dict[str, grpc.RpcMethodHandler[Any, Any]]
    ) -> None:
        for name, handler in handlers.items():
            self._registered[f"/{service}/{name}"] = handler

    def lookup(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler[Any, Any] | None:
        found = self._registered.get(details.method)
        if found is not None:
            return found
        for generic in self._generic:
            handler = generic.service(details)
            if handler is not None:
                return handler
        return None


class InProcessContext(aio.ServicerContext[Any, Any]):
    """What the servicer (and the interceptors) see of the call."""

    def __init__(self, metadata: Metadata, peer: str, deadline: float | None) -> None:
        self.pairs = tuple(metadata)
        self._invocation: aio.Metadata | None = None
        self._peer = peer
        self._deadline = deadline
        self.initial: asyncio.Future[aio.Metadata] = asyncio.get_running_loop().create_future()
        self.trailing: tuple[tuple[str, str | bytes], ...] = ()
        self.status: grpc.StatusCode | None = None
        self.status_details: str | None = None
        #: The domain error the call failed with, handed to the caller as it is (an in-process
        #: caller needs no serialised ``google.rpc.Status`` to learn what went wrong).
        self.failure: FlexError | None = None

    def _send_initial(self, metadata: Metadata = ()) -> None:
        if not self.initial.done():
            self.initial.set_result(aio.Metadata(*metadata))

    # -- what servicers and interceptors call ---------------------------------------------

    def invocation_metadata(self) -> aio.Metadata:
        # Built once: the interceptors and the servicer each ask, and none changes it.
        if self._invocation is None:
            self._invocation = aio.Metadata(*self.pairs)
        return self._invocation

    def peer(self) -> str:
        return self._peer

    async def send_initial_metadata(self, initial_metadata: Metadata) -> None:
        if self.initial.done():
            raise RuntimeError("initial metadata was already sent")
        self._send_initial(initial_metadata)

    def set_trailing_metadata(self, trailing_metadata: Metadata) -> None:
        self.trailing = tuple(trailing_metadata)

    async def abort(
        self, code: grpc.StatusCode, details: str = "", trailing_metadata: Metadata = ()
    ) -> Any:
        if code == grpc.StatusCode.OK:
            raise ValueError("abort() needs a non-OK status code")
        self.status, self.status_details = code, details
        if trailing_metadata:
            self.trailing = tuple(trailing_metadata)
        raise aio.AbortError()

    async def abort_with_status(self, status: Any) -> Any:
        await self.abort(status.code, status.details, status.trailing_metadata)

    def set_code(self, code: grpc.StatusCode) -> None:
        self.status = code

    def set_details(self, details: str) -> None:
        self.status_details = details

    def code(self) -> grpc.StatusCode:
        return self.status or grpc.StatusCode.OK

    def details(self) -> str:
        return self.status_details or ""

    def trailing_metadata(self) -> aio.Metadata:
        return aio.Metadata(*self.trailing)

    def time_remaining(self) -> float:
        return math.inf if self._deadline is None else max(0.0, self._deadline - time.monotonic())

    # -- not used by this process's servicers; refused rather than half-done ----------------

    async def read(self) -> Any:
        raise NotImplementedError("in-process calls carry no client stream")

    async def write(self, message: Any) -> None:
        raise NotImplementedError("in-process servicers yield their messages")

    def set_compression(self, compression: grpc.Compression) -> None:
        pass  # nothing is compressed in process

    def disable_next_message_compression(self) -> None:
        pass

    def peer_identities(self) -> Iterable[bytes] | None:
        return None

    def peer_identity_key(self) -> str | None:
        return None

    def auth_context(self) -> dict[str, Iterable[bytes]]:
        return {}


class InProcessRpcError(aio.AioRpcError):
    """A failed in-process call; ``failure`` is the domain error it failed with, if any."""

    def __init__(
        self,
        code: grpc.StatusCode,
        initial_metadata: aio.Metadata,
        trailing_metadata: aio.Metadata,
        details: str | None = None,
        *,
        failure: FlexError | None = None,
    ) -> None:
        super().__init__(code, initial_metadata, trailing_metadata, details=details)
        self.failure = failure


class _End:
    """The servicer finished (``error`` is ``None``) or failed."""

    def __init__(self, error: aio.AioRpcError | None) -> None:
        self.error = error


class _Handover:
    """Messages from the servicer's task to the reader: ``put`` waits while ``_QUEUE_DEPTH``
    are unread; the end is always accepted at once and is read for ever after."""

    def __init__(self) -> None:
        self._items: collections.deque[Any] = collections.deque()
        self._readable = asyncio.Event()
        self._writable = asyncio.Event()
        self._writable.set()

    async def put(self, message: Any) -> None:
        while len(self._items) >= _QUEUE_DEPTH:
            self._writable.clear()
            await self._writable.wait()
        self._items.append(message)
        self._readable.set()

    def end(self, end: _End) -> None:
        self._items.append(end)
        self._readable.set()

    def get_ready(self) -> Any | None:
        """The next message if one is waiting (never the end of the call), else ``None``."""
        if not self._items or isinstance(self._items[0], _End):
            return None
        self._writable.set()
        return self._items.popleft()

    async def get(self) -> Any:
        while not self._items:
            self._readable.clear()
            await self._readable.wait()
        item = self._items[0]
        if not isinstance(item, _End):
            self._items.popleft()
            self._writable.set()
        return item


class _Call:
    """One call in flight: the servicer in a task, messages handed over through a queue."""

    def __init__(
        self,
        channel: InProcessChannel,
        method: str,
        request: Any,
        metadata: Metadata,
        timeout: float | None,
    ) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        self._context = InProcessContext(metadata, channel.peer, deadline)
        self._handover = _Handover()
        self._cancelled = False
        self._task = asyncio.get_running_loop().create_task(
            self._admitted(channel, method, request, timeout), name=f"in-process {method}"
        )

    async def _admitted(
        self, channel: InProcessChannel, method: str, request: Any, deadline_s: float | None
    ) -> None:
        """Runs the call within the channel's concurrency limit, as a gRPC server would."""
        if channel.max_concurrent is not None and channel.in_flight >= channel.max_concurrent:
            self._context.status = grpc.StatusCode.RESOURCE_EXHAUSTED
            self._context.status_details = "Concurrent RPC limit exceeded!"
            self._finish(self._error(self._context))
            return
        channel.in_flight += 1
        try:
            await self._run(channel, method, request, deadline_s)
        finally:
            channel.in_flight -= 1

    async def _run(
        self, channel: InProcessChannel, method: str, request: Any, deadline_s: float | None
    ) -> None:
        context = self._context
        error: aio.AioRpcError | None = None
        deadline = asyncio.timeout(deadline_s)
        try:
            async with deadline:
                handler = await channel.resolve(_CallDetails(method, context.pairs))
                if handler is None:
                    context.status = grpc.StatusCode.UNIMPLEMENTED
                    context.status_details = "Method not found!"
                elif handler.response_streaming:
                    behaviour = handler.unary_stream
                    assert behaviour is not None
                    async for message in behaviour(request, context):
                        context._send_initial()
                        await self._handover.put(message)
                else:
                    behaviour = handler.unary_unary
                    assert behaviour is not None
                    message = await behaviour(request, context)
                    context._send_initial()
                    await self._handover.put(message)
        except aio.AbortError:
            pass  # the status is on the context
        except TimeoutError as exc:
            if deadline.expired():
                context.status = grpc.StatusCode.DEADLINE_EXCEEDED
                context.status_details = "Deadline Exceeded"
            else:  # raised by the servicer itself, past every interceptor
                self._unhandled(method, exc)
        except asyncio.CancelledError:
            context.status, context.status_details = grpc.StatusCode.CANCELLED, "Cancelled"
            self._finish(self._error(context))
            raise
        except Exception as exc:
            self._unhandled(method, exc)
        if context.status not in (None, grpc.StatusCode.OK):
            error = self._error(context)
        self._finish(error)

    def _unhandled(self, method: str, exc: BaseException) -> None:
        # What grpc does with an exception no interceptor handled: UNKNOWN, logged here.
        log.error("unhandled error in %s", method, exc_info=exc)
        self._context.status = grpc.StatusCode.UNKNOWN
        self._context.status_details = f"Unexpected {type(exc).__name__}"

    def _error(self, context: InProcessContext) -> aio.AioRpcError:
        code = context.status or grpc.StatusCode.UNKNOWN
        initial = context.initial.result() if context.initial.done() else aio.Metadata()
        return InProcessRpcError(
            code,
            initial,
            aio.Metadata(*context.trailing),
            details=context.status_details,
            failure=context.failure,
        )

    def _finish(self, error: aio.AioRpcError | None) -> None:
        self._context._send_initial()
        self._handover.end(_End(error))

    async def read(self) -> Any:
        item = await self._handover.get()
        if isinstance(item, _End):
            if item.error is not None:
                raise item.error
            return aio.EOF
        return item

    def read_ready(self) -> Any | None:
        """The next message if the servicer has already produced it, else ``None`` (then
        ``read`` waits for it, or reports the end of the call). Lets the REST shim send the
        events that arrived together in one write."""
        return self._handover.get_ready()

    async def initial_metadata(self) -> aio.Metadata:
        return await self._context.initial

    async def trailing_metadata(self) -> aio.Metadata:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(self._task)
        return aio.Metadata(*self._context.trailing)

    def cancel(self) -> bool:
        if self._task.done():
            return False
        self._cancelled = True
        self._task.cancel()
        return True

    def cancelled(self) -> bool:
        return self._cancelled

    def done(self) -> bool:
        return self._task.done()


class _UnaryStreamCall(_Call):
    def __aiter__(self) -> AsyncIterator[Any]:
        return self._messages()

    async def _messages(self) -> AsyncIterator[Any]:
        while (message := await self.read()) is not aio.EOF:
            yield message


class _UnaryUnaryCall(_Call):
    def __await__(self) -> Generator[Any, None, Any]:
        return self._response().__await__()

    async def _response(self) -> Any:
        message = await self.read()
        if message is aio.EOF:  # pragma: no cover - a unary handler always answers or fails
            raise aio.AioRpcError(
                grpc.StatusCode.INTERNAL, aio.Metadata(), aio.Metadata(), details="no response"
            )
        return message


class _MultiCallable:
    def __init__(self, channel: InProcessChannel, method: str, streaming: bool) -> None:
        self._channel = channel
        self._method = method
        self._kind = _UnaryStreamCall if streaming else _UnaryUnaryCall

    def __call__(
        self, request: Any, *, metadata: Metadata = (), timeout: float | None = None
    ) -> _Call:
        return self._kind(self._channel, self._method, request, metadata, timeout)


class InProcessChannel:
    """Calls the servicers in ``registry`` through ``interceptors`` (outermost first); beyond
    ``max_concurrent`` calls in flight, refuses like ``grpc.aio.server(maximum_concurrent_rpcs)``.
    """

    def __init__(
        self,
        registry: HandlerRegistry,
        interceptors: Sequence[aio.ServerInterceptor],
        peer: str = "in-process",
        max_concurrent: int | None = None,
    ) -> None:
        self._registry = registry
        self.peer = peer
        self.max_concurrent = max_concurrent
        self.in_flight = 0
        # The chain is fixed: built once, outermost interceptor first.
        chain: Continuation = self._lookup
        for interceptor in reversed(interceptors):
            chain = _link(interceptor, chain)
        self._chain = chain

    async def _lookup(self, details: grpc.HandlerCallDetails) -> Any:
        return self._registry.lookup(details)

    async def resolve(self, details: grpc.HandlerCallDetails) -> Any:
        """The handler for ``details``, as the interceptor chain hands it to the server."""
        return await self._chain(details)

    def unary_stream(self, method: str, **_serializers: Any) -> _MultiCallable:
        return _MultiCallable(self, method, streaming=True)

    def unary_unary(self, method: str, **_serializers: Any) -> _MultiCallable:
        return _MultiCallable(self, method, streaming=False)

    async def close(self) -> None:
        """Nothing to release; calls in flight belong to their HTTP requests."""


def _link(interceptor: aio.ServerInterceptor, inner: Continuation) -> Continuation:
    async def continuation(details: grpc.HandlerCallDetails) -> Any:
        return await interceptor.intercept_service(inner, details)

    return continuation
