"""What the REST shim adds over calling the same RPC over gRPC, in process and over loopback.

The shim reaches the servicers through the server's interceptors either in process
(``FLEXGRPC_REST_TRANSPORT=in-process``, the default) or over a loopback ``grpc.aio`` channel to
the server's own port (``loopback``). Two measurements, numbers not assertions, within one run:

1. ``loopback hop`` (one process, one event loop, no router): a trivial unary RPC and a
   one-message server stream over a loopback channel, against awaiting the same handler directly.
2. ``end to end`` (real server processes and the simulator): the same Chat Completions request
   over gRPC (``CreateChatCompletion``), over REST in process and over REST on a second server
   whose shim uses loopback (``POST /v1/chat/completions``, from a minimal keep-alive HTTP/1.1
   client so client libraries do not dominate), interleaved at concurrency 1, then each at
   concurrency 64; non-streamed and streamed; and the cheap typed ``GetOrganization`` (no
   upstream), where the shim's share is largest.

    .venv/bin/python bench/rest_overhead.py [--requests 1000] [--seconds 5] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

sys.path.insert(0, __file__.rsplit("/bench/", 1)[0])

from flexinference.v1 import accounts_pb2, accounts_pb2_grpc, route_pb2, route_pb2_grpc
from google.api import httpbody_pb2
from grpc import aio

from bench.harness import Stack, percentile, raise_fd_limit, second_server, stack

Call = Callable[[], Awaitable[None]]
MODEL = "gpt-5-mini"


# ---- a minimal HTTP/1.1 keep-alive client --------------------------------------------------


class RawHttp:
    """One keep-alive connection; reads content-length or chunked answers in full."""

    def __init__(self, port: int) -> None:
        self._port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(self, head: bytes, body: bytes) -> int:
        if self._writer is None or self._writer.is_closing():
            self._reader, self._writer = await asyncio.open_connection("127.0.0.1", self._port)
        assert self._reader is not None
        self._writer.write(head + body)
        status_line = await self._reader.readline()
        length = -1
        chunked = False
        while (line := await self._reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value:
                chunked = True
        if chunked:
            while True:
                size = int((await self._reader.readline()).split(b";")[0], 16)
                await self._reader.readexactly(size + 2)
                if size == 0:
                    break
        elif length > 0:
            await self._reader.readexactly(length)
        return int(status_line.split()[1])


def post(path: str, api_key: str, payload: dict[str, Any]) -> tuple[bytes, bytes]:
    body = json.dumps(payload).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nhost: bench\r\ncontent-type: application/json\r\n"
        f"authorization: Bearer {api_key}\r\ncontent-length: {len(body)}\r\n\r\n"
    ).encode()
    return head, body


def get(path: str, api_key: str) -> tuple[bytes, bytes]:
    return f"GET {path} HTTP/1.1\r\nhost: bench\r\nx-goog-api-key: {api_key}\r\n\r\n".encode(), b""


# ---- measuring -----------------------------------------------------------------------------


async def _timed(call: Call) -> float:
    started = time.perf_counter()
    await call()
    return (time.perf_counter() - started) * 1000


async def sequential(a: Call, b: Call, n: int) -> tuple[list[float], list[float]]:
    """Concurrency 1, alternating, so drift hits both paths equally."""
    xs, ys = [], []
    for _ in range(n):
        xs.append(await _timed(a))
        ys.append(await _timed(b))
    return xs, ys


async def saturate(
    make: Callable[[], Call], workers: int, seconds: float
) -> tuple[float, list[float]]:
    """``workers`` loops (each with its own ``make()`` call, e.g. its own connection)."""
    latencies: list[float] = []
    stop_at = time.perf_counter() + seconds

    async def worker() -> None:
        call = make()
        while time.perf_counter() < stop_at:
            latencies.append(await _timed(call))

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(workers)))
    return len(latencies) / (time.perf_counter() - started), latencies


def row(name: str, values: list[float], rate: float | None = None) -> str:
    text = (
        f"  {name:<6} p50 {percentile(values, 50):7.3f} ms   p99 {percentile(values, 99):7.3f} ms"
        f"   mean {statistics.fmean(values):7.3f} ms   n={len(values)}"
    )
    return text + (f"   {rate:7.0f} req/s" if rate is not None else "")


# ---- 1. the loopback hop -------------------------------------------------------------------


async def loopback_hop(n: int, seconds: float) -> None:
    async def unary(request: bytes, context: Any) -> bytes:
        return request

    async def stream(request: bytes, context: Any) -> Any:
        yield request

    handler = grpc.method_handlers_generic_handler(
        "bench.Echo",
        {
            "Unary": grpc.unary_unary_rpc_method_handler(unary),
            "Stream": grpc.unary_stream_rpc_method_handler(stream),
        },
    )
    server = aio.server()
    server.add_generic_rpc_handlers([handler])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    payload = b"x" * 200
    async with aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        call_unary = channel.unary_unary("/bench.Echo/Unary")
        call_stream = channel.unary_stream("/bench.Echo/Stream")

        async def direct() -> None:
            await unary(payload, None)

        async def over_unary() -> None:
            await call_unary(payload)

        async def over_stream() -> None:
            async for _ in call_stream(payload):
                pass

        await sequential(over_unary, over_stream, 200)
        a, b = await sequential(over_unary, over_stream, n)
        d, _ = await sequential(direct, direct, n)
        print("\n1. loopback hop, one process and loop, trivial handler, concurrency 1")
        print(row("direct", d))
        print(row("unary", a))
        print(row("stream", b))
        rate_u, lat_u = await saturate(lambda: over_unary, 64, seconds)
        rate_s, lat_s = await saturate(lambda: over_stream, 64, seconds)
        print("   concurrency 64 (the loop does both the client and the server side)")
        print(row("unary", lat_u, rate_u))
        print(row("stream", lat_s, rate_s))
    await server.stop(0)


# ---- 2. end to end -------------------------------------------------------------------------


async def end_to_end(n: int, seconds: float) -> None:
    with stack(server_env={"FLEXGRPC_LOG_LEVEL": "WARNING"}) as s:
        assert s.server.process.stdout is not None
        http_line = s.server.process.stdout.readline().strip()
        ports = {"rest": int(http_line.rsplit(":", 1)[1])}
        loopback, ports["rest/lb"] = second_server(
            s, "loopback", {"FLEXGRPC_REST_TRANSPORT": "loopback"}
        )
        try:
            await _end_to_end(s, ports, n, seconds)
        finally:
            loopback.stop()


async def _end_to_end(s: Stack, ports: dict[str, int], n: int, seconds: float) -> None:
    print(
        "\n2. end to end: grpc, rest (in process) and rest/lb (loopback, a second server);"
        f" server idle RSS {s.server.rss_kb() / 1024:.1f} MiB"
    )
    metadata = s.metadata
    async with aio.insecure_channel(s.target) as channel:
        route = route_pb2_grpc.RouteServiceStub(channel)
        accounts = accounts_pb2_grpc.AccountServiceStub(channel)
        for label, stream in (("chat, non-streamed", False), ("chat, streamed", True)):
            payload = {
                "model": MODEL,
                "messages": [{"role": "user", "content": "hi"}],
                "start_within": "default",
                "stream": stream,
            }
            request = route_pb2.CreateChatCompletionRequest(
                body=httpbody_pb2.HttpBody(
                    content_type="application/json", data=json.dumps(payload).encode()
                )
            )
            head, body = post("/v1/chat/completions", s.api_key, payload)

            async def over_grpc(request: Any = request) -> None:
                async for _ in route.CreateChatCompletion(request, metadata=metadata):
                    pass

            await report(label, over_grpc, rest_calls(ports, head, body), n, seconds)

        org_request = accounts_pb2.GetOrganizationRequest(name="organizations/-")
        head, body = get("/v1/organizations/-", s.api_key)

        async def org_grpc() -> None:
            await accounts.GetOrganization(org_request, metadata=metadata)

        await report(
            "GetOrganization (typed, no upstream)",
            org_grpc,
            rest_calls(ports, head, body),
            n,
            seconds,
        )
    print(f"\nserver RSS after the run {s.server.rss_kb() / 1024:.1f} MiB")


def rest_calls(ports: dict[str, int], head: bytes, body: bytes) -> dict[str, Callable[[], Call]]:
    """Per REST path, a maker of calls that each keep their own connection."""

    def maker(port: int) -> Callable[[], Call]:
        def make() -> Call:
            client = RawHttp(port)

            async def call() -> None:
                assert await client.request(head, body) == 200

            return call

        return make

    return {name: maker(port) for name, port in ports.items()}


async def report(
    label: str,
    over_grpc: Call,
    rest: dict[str, Callable[[], Call]],
    n: int,
    seconds: float,
) -> None:
    paths: dict[str, Call] = {"grpc": over_grpc, **{name: make() for name, make in rest.items()}}
    for _ in range(100):  # warm-up
        for call in paths.values():
            await _timed(call)
    samples: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(n):  # concurrency 1, round-robin, so drift hits every path equally
        for name, call in paths.items():
            samples[name].append(await _timed(call))
    print(f"\n  {label}: concurrency 1, {n} each, interleaved")
    grpc_p50, grpc_p99 = percentile(samples["grpc"], 50), percentile(samples["grpc"], 99)
    for name, values in samples.items():
        added = (
            ""
            if name == "grpc"
            else f"   added p50 {percentile(values, 50) - grpc_p50:6.3f}"
            f" p99 {percentile(values, 99) - grpc_p99:6.3f}"
        )
        print(row(name, values) + added)
    print(f"  concurrency 64, {seconds:.0f} s each")
    rates: dict[str, float] = {}
    for name in paths:
        make = (lambda: over_grpc) if name == "grpc" else rest[name]
        rates[name], latencies = await saturate(make, 64, seconds)
        print(row(name, latencies, rates[name]))
    print(
        "  throughput vs grpc: "
        + ", ".join(f"{name} {rates[name] / rates['grpc']:.2f}" for name in rest)
    )


async def run(args: argparse.Namespace) -> None:
    await loopback_hop(args.requests, args.seconds)
    await end_to_end(args.requests, args.seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=1000, help="per path at concurrency 1")
    parser.add_argument("--seconds", type=float, default=5.0, help="per path at concurrency 64")
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    args = parser.parse_args()
    if args.quick:
        args.requests, args.seconds = 200, 2.0
    raise_fd_limit()
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
