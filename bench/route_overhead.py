"""Benchmark 1: what the Route RPC adds over calling the provider (the simulator) directly.

Both paths are measured from the same client process, interleaved, against the same simulator
process: `direct` is a non-streamed HTTP call to the simulator (what a caller would do without
the router); `routed` is the gRPC CreateResponse call through `flexgrpc serve`, which streams
upstream, detects the start, assembles the non-streamed answer and records the outcome.
Two more paths bound it: `unrecorded` is the same call to a second server on the same database
and simulator with the usage ledger switched off (bench/server_without_ledger.py), so the
Route RPC's own work shows apart from the durable record (bench/recording_overhead.py measures
that); `floor` is bench/grpc_relay_floor.py, a bare grpc.aio servicer that relays the body to
the simulator in one non-streamed call, which is what any grpc.aio relay costs before doing
any routing work. Prints p50/p99 latency at concurrency 1 and 64 and requests/s at 64,
for a fixed tier and for a flex race whose flex starts at once. Numbers, not assertions;
compare within one run.

    .venv/bin/python bench/route_overhead.py [--requests 2000] [--seconds 10] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import pathlib
import statistics
import sys
import time
from collections.abc import Awaitable, Callable

import grpc
import httpx

sys.path.insert(0, __file__.rsplit("/bench/", 1)[0])

from flexinference.v1 import route_pb2, route_pb2_grpc
from google.api import httpbody_pb2

from bench.harness import Stack, percentile, raise_fd_limit, relay_floor, second_server, stack

MODEL = "gpt-5-mini"
Call = Callable[[], Awaitable[None]]


def _calls(s: Stack, http: httpx.AsyncClient, stub: route_pb2_grpc.RouteServiceStub,
           unrecorded_stub: route_pb2_grpc.RouteServiceStub,
           floor_stub: route_pb2_grpc.RouteServiceStub,
           start_within: str) -> tuple[Call, Call, Call, Call]:  # fmt: skip
    tier = "flex" if start_within != "default" else "default"
    direct_body = {"model": MODEL, "input": "hi", "service_tier": tier}
    routed_body = httpbody_pb2.HttpBody(
        content_type="application/json",
        data=json.dumps({"model": MODEL, "input": "hi", "start_within": start_within}).encode(),
    )
    request = route_pb2.CreateResponseRequest(body=routed_body)

    async def direct() -> None:
        reply = await http.post(
            f"{s.sim_url}/v1/responses",
            json=direct_body,
            headers={"authorization": "Bearer sk-bench"},
        )
        reply.raise_for_status()

    async def routed() -> None:
        async for _ in stub.CreateResponse(request, metadata=s.metadata, timeout=30):
            pass

    async def unrecorded() -> None:
        async for _ in unrecorded_stub.CreateResponse(request, metadata=s.metadata, timeout=30):
            pass

    async def floor() -> None:
        async for _ in floor_stub.CreateResponse(request, timeout=30):
            pass

    return direct, routed, unrecorded, floor


async def _timed(call: Call) -> float:
    started = time.perf_counter()
    await call()
    return (time.perf_counter() - started) * 1000


async def sequential(calls: tuple[Call, ...], n: int) -> list[list[float]]:
    """Concurrency 1, the paths taking turns so drift hits all equally."""
    times: list[list[float]] = [[] for _ in calls]
    for _ in range(n):
        for call, found in zip(calls, times, strict=True):
            found.append(await _timed(call))
    return times


async def saturate(call: Call, workers: int, seconds: float) -> tuple[float, list[float]]:
    """``workers`` concurrent loops for ``seconds``: requests/s and latencies."""
    latencies: list[float] = []
    stop_at = time.perf_counter() + seconds

    async def worker() -> None:
        while time.perf_counter() < stop_at:
            latencies.append(await _timed(call))

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(workers)))
    return len(latencies) / (time.perf_counter() - started), latencies


def _row(name: str, values: list[float]) -> str:
    return (
        f"  {name:<8} p50 {percentile(values, 50):7.3f} ms   p99 {percentile(values, 99):7.3f} ms"
        f"   mean {statistics.fmean(values):7.3f} ms   n={len(values)}"
    )


async def run(args: argparse.Namespace) -> None:
    with stack() as s:
        floor_server = relay_floor(s)
        without_ledger = pathlib.Path(__file__).with_name("server_without_ledger.py")
        bare, _ = second_server(s, "unrecorded", {}, [sys.executable, str(without_ledger)])
        limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
        try:
            async with (
                httpx.AsyncClient(limits=limits, timeout=30) as http,
                grpc.aio.insecure_channel(s.target) as channel,
                grpc.aio.insecure_channel(f"127.0.0.1:{bare.port}") as bare_channel,
                grpc.aio.insecure_channel(f"127.0.0.1:{floor_server.port}") as floor_channel,
            ):
                stub = route_pb2_grpc.RouteServiceStub(channel)
                bare_stub = route_pb2_grpc.RouteServiceStub(bare_channel)
                floor_stub = route_pb2_grpc.RouteServiceStub(floor_channel)
                print(f"server idle RSS {s.server.rss_kb() / 1024:.1f} MiB")
                cases = (
                    ("fixed tier (default)", "default"),
                    ("flex race, flex starts at once", "00h-00m-30s"),
                )
                for label, start_within in cases:
                    calls = _calls(s, http, stub, bare_stub, floor_stub, start_within)
                    await _measure(label, calls, args)
                print(f"\nserver RSS after the run {s.server.rss_kb() / 1024:.1f} MiB")
                print(f"routing outcomes logged: {len(s.outcomes())}")
        finally:
            floor_server.stop()
            bare.stop()


async def _measure(
    label: str, calls: tuple[Call, Call, Call, Call], args: argparse.Namespace
) -> None:
    names = ("direct", "routed", "unrecorded", "floor")
    await sequential(calls, 50)  # warm-up: connections, caches
    times = dict(zip(names, await sequential(calls, args.requests), strict=True))
    a = times["direct"]
    print(f"\n{label}: concurrency 1, {args.requests} requests each, interleaved")
    for name in names:
        print(_row(name, times[name]))
    for name in names[1:]:
        values = times[name]
        added50 = percentile(values, 50) - percentile(a, 50)
        added99 = percentile(values, 99) - percentile(a, 99)
        print(f"  {name} adds  p50 {added50:7.3f} ms   p99 {added99:7.3f} ms")
    print(f"\n{label}: concurrency 64, {args.seconds:.0f} s each")
    rates = {}
    for name, call in zip(names, calls, strict=True):
        rates[name], latencies = await saturate(call, 64, args.seconds)
        print(_row(name, latencies) + f"   {rates[name]:8.0f} req/s")
    print(f"  routed/direct throughput ratio {rates['routed'] / rates['direct']:.2f}, "
          f"routed/floor {rates['routed'] / rates['floor']:.2f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="per path at concurrency 1")
    parser.add_argument("--seconds", type=float, default=10.0, help="per path at concurrency 64")
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    args = parser.parse_args()
    if args.quick:
        args.requests, args.seconds = 200, 3.0
    raise_fd_limit()
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
