"""Server interceptors: error mapping (outermost) and authentication.

Both wrap the method's *behaviour* rather than acting in ``intercept_service`` itself, so that
their work runs inside the RPC's own task: the principal bound in a ``ContextVar`` there is the
one the servicer sees, and an exception raised by the servicer passes through the error mapper.
Health and reflection are public and left untouched.
"""

from __future__ import annotations

import asyncio
import hmac
import inspect
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Final, cast

import grpc
from grpc import aio

from flexgrpc import tracing
from flexgrpc.api.auth import Authenticator, bind_principal
from flexgrpc.api.in_process import InProcessContext
from flexgrpc.api.status import trailers_for
from flexgrpc.errors import FlexError

log = logging.getLogger("flexgrpc.rpc")

Context = aio.ServicerContext[Any, Any]
Unary = Callable[[Any, Context], Awaitable[Any]]
Streaming = Callable[[Any, Context], AsyncIterator[Any]]
#: A server stream answered through ``context.write`` rather than by yielding.
Writer = Callable[[Any, Context], Awaitable[None]]
#: A bidirectional stream's behaviour (reflection's only): requests in, responses out.
Bidi = Callable[[AsyncIterator[Any], Context], AsyncIterator[Any]]
Deserializer = Callable[[bytes], Any]
Continuation = Callable[
    [grpc.HandlerCallDetails], Awaitable["grpc.RpcMethodHandler[Any, Any] | None"]
]

_PUBLIC_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")

#: Metadata with which the REST shim (in process or over loopback) names its HTTP client's address,
#: in gRPC peer syntax (``ipv4:1.2.3.4:5``). Honoured only next to the shim's per-process
#: token, so that the failed-authentication limit counts per HTTP client, not per shim.
FORWARDED_PEER_KEY = "x-flexgrpc-forwarded-peer"
FORWARDED_TOKEN_KEY = "x-flexgrpc-forwarded-token"  # noqa: S105 - a metadata key, not a secret
#: A signed-in dashboard session's token, sent by the dashboard (this process) instead of an API
#: key. Honoured only next to the per-process token, and only for ``session_methods``.
SESSION_KEY = "x-flexgrpc-session"


def is_public(method: str, extra_public: frozenset[str] = frozenset()) -> bool:
    """Health, reflection and the listed methods (e.g. a signed webhook) need no API key."""
    return method.startswith(_PUBLIC_PREFIXES) or method in extra_public


class _BehaviourInterceptor(aio.ServerInterceptor):
    """Wraps each non-public method's behaviour once (handlers are fixed per method)."""

    #: Public methods (health, reflection) are wrapped too.
    wraps_public = False

    def __init__(self, extra_public: frozenset[str] = frozenset()) -> None:
        self._extra_public = extra_public
        self._cache: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}

    def wrap_unary(self, method: str, inner: Unary) -> Unary:
        raise NotImplementedError

    def wrap_stream(self, method: str, inner: Streaming) -> Streaming:
        raise NotImplementedError

    def wrap_bidi(self, method: str, inner: Bidi) -> Bidi:
        raise TypeError(f"{method}: client-streaming methods are not supported")

    def wrap_deserializer(self, method: str, inner: Deserializer | None) -> Deserializer | None:
        return inner

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        method: str = handler_call_details.method
        handler = await continuation(handler_call_details)
        if handler is None or (not self.wraps_public and is_public(method, self._extra_public)):
            return handler
        wrapped = self._cache.get(method)
        if wrapped is None:
            wrapped = self._cache[method] = self._rewrap(method, handler)
        return wrapped

    def _rewrap(
        self, method: str, handler: grpc.RpcMethodHandler[Any, Any]
    ) -> grpc.RpcMethodHandler[Any, Any]:
        deserializer = self.wrap_deserializer(method, handler.request_deserializer)
        if handler.request_streaming:
            # The contract has no client-streaming RPCs; only reflection's bidirectional one
            # is wrapped (wrap_bidi refuses the rest rather than half-wrap them silently).
            if not handler.response_streaming:
                raise TypeError(f"{method}: client-streaming methods are not supported")
            return grpc.stream_stream_rpc_method_handler(
                self.wrap_bidi(method, cast(Bidi, handler.stream_stream)),
                request_deserializer=deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.response_streaming:
            return grpc.unary_stream_rpc_method_handler(
                self.wrap_stream(method, cast(Streaming, handler.unary_stream)),
                request_deserializer=deserializer,
                response_serializer=handler.response_serializer,
            )
        return grpc.unary_unary_rpc_method_handler(
            self.wrap_unary(method, cast(Unary, handler.unary_unary)),
            request_deserializer=deserializer,
            response_serializer=handler.response_serializer,
        )


async def abort_with(context: Context, error: FlexError) -> None:
    """End the call with ``error``'s status, ``ErrorInfo`` and details (in process: with the
    error itself, which the REST shim turns into its answer directly)."""
    if isinstance(context, InProcessContext):
        context.failure = error
    else:
        context.set_trailing_metadata(trailers_for(error))
    await context.abort(error.spec.grpc_status, error.message)


#: What grpc-core raises when a call's answer or status cannot be sent because the call is
#: already over (its deadline passed, the caller left): not a server fault.
_CALL_OVER = "ExecuteBatchError"


def call_was_over(exc: BaseException) -> bool:
    return type(exc).__name__ == _CALL_OVER


class CallOverFilter(logging.Filter):
    """Drops grpc-core's ERROR-with-traceback for a call that ended before its answer could be
    sent (1 ms deadlines make one every few hundred calls), counting it instead."""

    def __init__(self, count: Callable[[], None] | None = None) -> None:
        super().__init__()
        self._count = count

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is None or not call_was_over(exc):
            return True
        if self._count is not None:
            self._count()
        return False


def _internal(method: str, exc: BaseException) -> FlexError:
    # The caller gets a generic message; the traceback stays in the server's log.
    log.error("unhandled error in %s", method, exc_info=exc)
    return FlexError("internal_error", "The server hit an unexpected error; it has been logged.")


class MalformedRequest:
    """What a request that does not parse as its method's message deserializes to: grpc-core
    would otherwise answer UNKNOWN, naming the parser's exception class, and log a traceback
    per call, before any interceptor runs."""

    __slots__ = ()


MALFORMED: Final = MalformedRequest()


def _malformed(method: str) -> FlexError:
    return FlexError(
        "invalid_argument",
        f"The request is not a valid serialized {method.rsplit('/', 1)[-1]} request message; "
        "send it as the service's generated stubs encode it.",
    )


class _OncePerInterval:
    """Logs one line per ``interval_s`` at most, saying how many were suppressed meanwhile:
    a flood of bad calls must not become a flood of log."""

    def __init__(self, interval_s: float = 60.0) -> None:
        self._interval_s = interval_s
        self._next = 0.0
        self._suppressed = 0

    def warning(self, message: str, *args: object) -> None:
        now = time.monotonic()
        if now < self._next:
            self._suppressed += 1
            return
        suppressed, self._suppressed = self._suppressed, 0
        self._next = now + self._interval_s
        log.warning(message + " (%d more like it not logged)", *args, suppressed)


class ErrorInterceptor(_BehaviourInterceptor):
    """Maps ``FlexError`` to its status; any other exception to ``internal_error``; a request
    that does not deserialize to ``invalid_argument``, before authentication (it is outermost),
    counted by ``on_malformed(method)``."""

    #: A health check or reflection request that does not parse is refused as any other.
    wraps_public = True

    def __init__(self, on_malformed: Callable[[str], None] | None = None) -> None:
        super().__init__()
        self._on_malformed = on_malformed
        self._malformed_log = _OncePerInterval()

    def wrap_deserializer(self, method: str, inner: Deserializer | None) -> Deserializer | None:
        if inner is None:
            return None
        parse = inner

        def deserializer(data: bytes) -> Any:
            try:
                return parse(data)
            except Exception:  # DecodeError, or anything else the parser raises
                return MALFORMED

        return deserializer

    async def _refuse_malformed(self, method: str, context: Context) -> None:
        if self._on_malformed is not None:
            self._on_malformed(method)
        self._malformed_log.warning("refused a malformed request message for %s", method)
        await abort_with(context, _malformed(method))

    def wrap_bidi(self, method: str, inner: Bidi) -> Bidi:
        async def behaviour(requests: AsyncIterator[Any], context: Context) -> AsyncIterator[Any]:
            async def parsed() -> AsyncIterator[Any]:
                async for request in requests:
                    if request is MALFORMED:
                        await self._refuse_malformed(method, context)
                    yield request

            async for item in inner(parsed(), context):
                yield item

        return behaviour

    def wrap_unary(self, method: str, inner: Unary) -> Unary:
        async def behaviour(request: Any, context: Context) -> Any:
            if request is MALFORMED:
                await self._refuse_malformed(method, context)
            try:
                return await inner(request, context)
            except FlexError as error:
                await abort_with(context, error)
            except aio.AbortError:
                raise
            except Exception as exc:
                if call_was_over(exc):
                    raise  # nothing can reach the caller any more; grpc-core ends the call
                await abort_with(context, _internal(method, exc))
            raise AssertionError("unreachable: abort raises")  # pragma: no cover

        return behaviour

    def wrap_stream(self, method: str, inner: Streaming) -> Streaming:
        if not inspect.isasyncgenfunction(inner):
            return self._wrap_writer(method, cast(Writer, inner))

        async def behaviour(request: Any, context: Context) -> AsyncIterator[Any]:
            if request is MALFORMED:
                await self._refuse_malformed(method, context)
            try:
                async for item in inner(request, context):
                    yield item
            except FlexError as error:
                await abort_with(context, error)
            except aio.AbortError:
                raise
            except Exception as exc:
                if call_was_over(exc):
                    raise  # nothing can reach the caller any more; grpc-core ends the call
                await abort_with(context, _internal(method, exc))

        return behaviour

    def _wrap_writer(self, method: str, inner: Writer) -> Streaming:
        """A stream answered by ``context.write`` (health's ``Watch``), not by yielding."""

        async def behaviour(request: Any, context: Context) -> None:
            if request is MALFORMED:
                await self._refuse_malformed(method, context)
            await inner(request, context)

        return cast(Streaming, behaviour)


class AuthInterceptor(_BehaviourInterceptor):
    """Authenticates the ``authorization`` metadata and binds the principal for the servicer."""

    def __init__(
        self,
        authenticator: Authenticator,
        extra_public: frozenset[str] = frozenset(),
        forwarded_token: str | None = None,
        session_methods: Callable[[str], bool] = lambda method: False,
    ) -> None:
        super().__init__(extra_public)
        self._authenticator = authenticator
        self._forwarded_token = forwarded_token.encode() if forwarded_token else None
        self._session_methods = session_methods

    async def _authenticate(self, method: str, context: Context) -> None:
        with tracing.leaf("authenticate"):
            await self._authenticate_untraced(method, context)

    async def _authenticate_untraced(self, method: str, context: Context) -> None:
        header: str | bytes | None = None
        forwarded_peer: str | bytes | None = None
        token: str | bytes | None = None
        session: str | bytes | None = None
        for key, item in context.invocation_metadata() or ():
            if key == "authorization":
                header = item
            elif key == FORWARDED_PEER_KEY:
                forwarded_peer = item
            elif key == FORWARDED_TOKEN_KEY:
                token = item
            elif key == SESSION_KEY:
                session = item
        value = header.decode("latin-1") if isinstance(header, bytes) else header
        peer = context.peer()
        from_this_process = False
        if token and self._forwarded_token is not None:
            raw = token.encode("latin-1") if isinstance(token, str) else token
            from_this_process = hmac.compare_digest(raw, self._forwarded_token)
        if from_this_process and forwarded_peer:
            peer = (
                forwarded_peer.decode("latin-1")
                if isinstance(forwarded_peer, bytes)
                else forwarded_peer
            )
        if session and from_this_process and self._session_methods(method):
            text = session.decode("latin-1") if isinstance(session, bytes) else session
            bind_principal(await self._authenticator.authenticate_session(text, peer))
            return
        bind_principal(await self._authenticator.authenticate(value, peer))

    def wrap_unary(self, method: str, inner: Unary) -> Unary:
        async def behaviour(request: Any, context: Context) -> Any:
            await self._authenticate(method, context)
            return await inner(request, context)

        return behaviour

    def wrap_stream(self, method: str, inner: Streaming) -> Streaming:
        async def behaviour(request: Any, context: Context) -> AsyncIterator[Any]:
            await self._authenticate(method, context)
            async for item in inner(request, context):
                yield item

        return behaviour


class TracingInterceptor(_BehaviourInterceptor):
    """Each call as one ``server`` span named by its method, parented by the caller's
    ``traceparent`` metadata; current while the behaviour runs (for a stream: during each step,
    never across a ``yield``), so the other interceptors' and the servicer's spans are its
    children. Outermost; the call's status code is ``rpc.grpc.status_code``."""

    wraps_public = True

    def wrap_unary(self, method: str, inner: Unary) -> Unary:
        attributes = _rpc_attributes(method)

        async def behaviour(request: Any, context: Context) -> Any:
            span = tracing.server(method, context.invocation_metadata() or (), attributes)
            try:
                with tracing.within(span):
                    answer = await inner(request, context)
            except BaseException as error:
                _end_call(span, context, error)
                raise
            _end_call(span, context, None)
            return answer

        return behaviour

    def wrap_stream(self, method: str, inner: Streaming) -> Streaming:
        if not inspect.isasyncgenfunction(inner):
            return cast(Streaming, self.wrap_unary(method, cast(Unary, inner)))
        attributes = _rpc_attributes(method)

        async def behaviour(request: Any, context: Context) -> AsyncIterator[Any]:
            span = tracing.server(method, context.invocation_metadata() or (), attributes)
            answers = inner(request, context)
            try:
                while True:
                    with tracing.within(span):
                        try:
                            answer = await answers.__anext__()
                        except StopAsyncIteration:
                            break
                    yield answer
            except BaseException as error:
                _end_call(span, context, error)
                raise
            finally:
                await answers.aclose()
            _end_call(span, context, None)

        return behaviour

    def wrap_bidi(self, method: str, inner: Bidi) -> Bidi:
        return inner  # reflection: not traced


def _rpc_attributes(method: str) -> dict[str, str]:
    service, _, name = method.lstrip("/").partition("/")
    return {"rpc.system": "grpc", "rpc.service": service, "rpc.method": name}


def _end_call(span: Any, context: Context, error: BaseException | None) -> None:
    if span is None:
        return
    code: Any = context.code()  # a grpc.StatusCode once set, else grpc-core's own int (or None)
    value = code.value[0] if isinstance(code, grpc.StatusCode) else int(code or 0)
    if error is not None and value == 0:  # raised past every interceptor, or cancelled
        value = 1 if isinstance(error, asyncio.CancelledError) else 2
    tracing.finish(span, f"gRPC {value}" if value else "", **{"rpc.grpc.status_code": value})
