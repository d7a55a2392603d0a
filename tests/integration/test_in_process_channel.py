"""The REST shim's two ways to the servicers behave the same: a loopback gRPC channel to a real
server, and the in-process channel. Each test runs against both, through the same interceptors.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from grpc import aio

from flexgrpc.api.in_process import HandlerRegistry, InProcessChannel
from flexgrpc.api.interceptors import Context, ErrorInterceptor, Streaming, Unary
from flexgrpc.errors import FlexError
from flexgrpc.rest.envelopes import from_rpc_error

SERVICE = "test.Stand"
_caller: contextvars.ContextVar[str] = contextvars.ContextVar("caller")


class CallerInterceptor(ErrorInterceptor):
    """Binds the ``caller`` metadata for the servicer, as the auth interceptor binds a principal."""

    def wrap_unary(self, method: str, inner: Unary) -> Unary:
        async def behaviour(request: Any, context: Context) -> Any:
            _caller.set(dict(context.invocation_metadata() or ()).get("caller", "nobody"))
            return await inner(request, context)

        return behaviour

    def wrap_stream(self, method: str, inner: Streaming) -> Streaming:
        async def behaviour(request: Any, context: Context) -> AsyncIterator[Any]:
            _caller.set(dict(context.invocation_metadata() or ()).get("caller", "nobody"))
            async for item in inner(request, context):
                yield item

        return behaviour


class Stand:
    """A stand-in service that remembers what happened to it."""

    def __init__(self) -> None:
        self.produced = 0
        self.cancelled = asyncio.Event()

    async def echo(self, request: bytes, context: Context) -> bytes:
        await context.send_initial_metadata((("x-flexinference-tier", "flex"),))
        context.set_trailing_metadata((("x-flexinference-cost", "42"),))
        return request + b"|" + _caller.get("unbound").encode()

    async def count(self, request: bytes, context: Context) -> AsyncIterator[bytes]:
        for _ in range(int(request)):
            self.produced += 1
            yield b"x" * 100

    async def refuse(self, request: bytes, context: Context) -> bytes:
        raise FlexError("invalid_start_within", "start_within must look like 00h-00m-30s.")

    async def give_up(self, request: bytes, context: Context) -> bytes:
        error = FlexError(
            "upstream_error",
            "openai answered: busy",
            metadata={"http_status": "503"},
            http_status=503,
        )
        error.answer_metadata = (("x-flexinference-retries", "2"),)
        raise error

    async def crash(self, request: bytes, context: Context) -> bytes:
        raise RuntimeError("a bug")

    async def hang(self, request: bytes, context: Context) -> AsyncIterator[bytes]:
        try:
            yield b"started"
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            self.cancelled.set()
            raise


def handlers(stand: Stand) -> grpc.GenericRpcHandler:
    return grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "Echo": grpc.unary_unary_rpc_method_handler(stand.echo),
            "Count": grpc.unary_stream_rpc_method_handler(stand.count),
            "Refuse": grpc.unary_unary_rpc_method_handler(stand.refuse),
            "GiveUp": grpc.unary_unary_rpc_method_handler(stand.give_up),
            "Crash": grpc.unary_unary_rpc_method_handler(stand.crash),
            "Hang": grpc.unary_stream_rpc_method_handler(stand.hang),
        },
    )


@pytest.fixture(params=["loopback", "in-process"])
async def channel(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Any, Stand]]:
    stand = Stand()
    interceptors: list[aio.ServerInterceptor] = [ErrorInterceptor(), CallerInterceptor()]
    if request.param == "in-process":
        registry = HandlerRegistry()
        registry.add_generic_rpc_handlers([handlers(stand)])
        yield InProcessChannel(registry, interceptors), stand
        return
    server = aio.server(interceptors=interceptors)
    server.add_generic_rpc_handlers([handlers(stand)])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with aio.insecure_channel(f"127.0.0.1:{port}") as loopback:
        yield loopback, stand
    await server.stop(0)


def method(name: str) -> str:
    return f"/{SERVICE}/{name}"


async def failure(ch: Any, name: str) -> aio.AioRpcError:
    """The error a unary call of ``name`` ends with."""
    with pytest.raises(aio.AioRpcError) as caught:
        await ch.unary_unary(method(name))(b"")
    return caught.value


async def test_answer_metadata_and_the_interceptors_binding(channel: tuple[Any, Stand]) -> None:
    ch, _ = channel
    call = ch.unary_unary(method("Echo"))(b"hi", metadata=(("caller", "alice"),))
    assert await call == b"hi|alice"
    assert ("x-flexinference-tier", "flex") in list(await call.initial_metadata())
    assert ("x-flexinference-cost", "42") in list(await call.trailing_metadata())


async def test_a_domain_error_arrives_as_its_status_with_error_info(
    channel: tuple[Any, Stand],
) -> None:
    error = await failure(channel[0], "Refuse")
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == "start_within must look like 00h-00m-30s."
    # The REST shim's reading of it: from the status details over loopback, from the domain
    # error itself in process (no serialised google.rpc.Status to parse back).
    http = from_rpc_error(error)
    assert (http.http_status, http.code) == (400, "invalid_start_within")


async def test_an_error_answer_keeps_its_flexinference_metadata_as_rest_headers(
    channel: tuple[Any, Stand],
) -> None:
    error = await failure(channel[0], "GiveUp")
    http = from_rpc_error(error)
    assert http.http_status == 503
    assert (b"x-flexinference-retries", b"2") in http.headers(0)


async def test_an_unexpected_exception_is_an_internal_error_without_its_text(
    channel: tuple[Any, Stand],
) -> None:
    error = await failure(channel[0], "Crash")
    assert error.code() is grpc.StatusCode.INTERNAL
    assert "a bug" not in (error.details() or "")


async def test_a_stream_ends_with_eof(channel: tuple[Any, Stand]) -> None:
    ch, _ = channel
    call = ch.unary_stream(method("Count"))(b"3")
    received = []
    while (message := await call.read()) is not aio.EOF:
        received.append(message)
    assert received == [b"x" * 100] * 3


async def test_a_reader_that_stops_reading_holds_the_servicer_back(
    channel: tuple[Any, Stand],
) -> None:
    ch, stand = channel
    call = ch.unary_stream(method("Count"))(b"100000")  # 10 MB if nothing held it back
    await call.read()
    await asyncio.sleep(0.5)
    assert stand.produced < 100_000
    call.cancel()


async def test_the_deadline_cancels_the_servicer(channel: tuple[Any, Stand]) -> None:
    ch, stand = channel
    call = ch.unary_stream(method("Hang"))(b"", timeout=0.3)
    assert await call.read() == b"started"
    with pytest.raises(aio.AioRpcError) as caught:
        await call.read()
    assert caught.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    await asyncio.wait_for(stand.cancelled.wait(), 2)


async def test_cancel_reaches_the_servicer(channel: tuple[Any, Stand]) -> None:
    ch, stand = channel
    call = ch.unary_stream(method("Hang"))(b"")
    assert await call.read() == b"started"
    call.cancel()
    await asyncio.wait_for(stand.cancelled.wait(), 2)


async def test_an_unknown_method_is_unimplemented(channel: tuple[Any, Stand]) -> None:
    assert (await failure(channel[0], "Nope")).code() is grpc.StatusCode.UNIMPLEMENTED


async def test_calls_beyond_the_limit_are_refused_like_a_grpc_server_does() -> None:
    stand = Stand()
    registry = HandlerRegistry()
    registry.add_generic_rpc_handlers([handlers(stand)])
    channel = InProcessChannel(registry, [ErrorInterceptor()], max_concurrent=1)
    busy = channel.unary_stream(method("Hang"))(b"")
    assert await busy.read() == b"started"
    error = await failure(channel, "Echo")
    assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    busy.cancel()
    with pytest.raises(aio.AioRpcError):
        await busy.read()  # CANCELLED: the call has ended and left the limit
    assert await channel.unary_unary(method("Echo"))(b"again") == b"again|unbound"


async def test_messages_already_produced_can_be_taken_without_waiting() -> None:
    """What lets the REST shim send events that arrived together in one write: after the first
    message, those the servicer has produced are there at once; the end of the call is not."""
    stand = Stand()
    registry = HandlerRegistry()
    registry.add_generic_rpc_handlers([handlers(stand)])
    call = InProcessChannel(registry, [ErrorInterceptor()]).unary_stream(method("Count"))(b"3")
    assert call.read_ready() is None  # the servicer has not run yet
    first = await call.read()
    taken = [first]
    while (ready := call.read_ready()) is not None:
        taken.append(ready)
    assert taken == [b"x" * 100] * 3
    assert await call.read() is aio.EOF
    assert call.read_ready() is None
