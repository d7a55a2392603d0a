"""What the per-organization rate limit costs a request: no limiter, in memory, through Redis.

The router awaits ``RateLimiter.admit(organization, limits)`` once per routed request, before
anything else; this measures exactly that await, in one process and one event loop, for the
three limiters in one run, interleaved in rounds so that a noisy neighbour slows all three alike.
Each request is admitted (the limit is far above the rate here: a refusal costs the same
round trip, and the refusal path is tested, not benched). Requests come one at a time
(concurrency 1: the latency a request pays) and then 64 at a time (the throughput one process
gets out of one Redis connection pool).

Redis is a ``redis-server`` of the bench's own on a free port (``--redis-url`` for another),
so that its ``INFO commandstats`` counts only the bench's commands: the round trips per request
are the client commands Redis received divided by the requests (the script's own commands,
run inside Redis, are listed apart). The target: <= 0.05 ms a request in memory, one round trip
through Redis.

With ``--end-to-end`` it then measures whole routed requests too: a fixed-tier, non-streamed
Chat Completions call over gRPC to real servers against the simulator (``bench/harness.py``),
one at a time, interleaved: an organization without limits (no limiter call), one with a
(never reached) limit on a server that keeps it in memory, and the same organization on a
second server on the same database that keeps it in that Redis.

    .venv/bin/python bench/rate_limiter.py [--requests 20000] [--rounds 5] [--redis-url URL]
        [--end-to-end [--routed 600]]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

sys.path.insert(0, __file__.rsplit("/bench/", 1)[0])

import redis
from flexinference.v1 import route_pb2, route_pb2_grpc
from google.api import httpbody_pb2
from grpc import aio

from bench.harness import Stack, percentile, second_server, stack
from flexgrpc.accounts.crypto import ProviderKeyCipher
from flexgrpc.accounts.limiters import redis_client
from flexgrpc.accounts.limits import OrganizationLimits
from flexgrpc.accounts.rate_limiter import (
    MemoryRateLimiter,
    NoRateLimiter,
    RateLimiter,
    RedisRateLimiter,
)
from flexgrpc.accounts.store import AccountStore
from flexgrpc.db.engine import make_engine, make_sessionmaker

#: High enough that every request is admitted, so each pays the full check.
LIMITS = OrganizationLimits(requests_per_minute=1_000_000, request_burst=1_000_000)
#: Commands Lua runs inside Redis for the script: not round trips.
SCRIPT_COMMANDS = frozenset({"time", "hmget", "hset", "pexpire"})
ORGANIZATIONS = [f"org_{i:04d}" for i in range(100)]


@contextlib.contextmanager
def own_redis() -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed: pass --redis-url")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [binary, "--port", str(port), "--save", "", "--appendonly", "no", "--bind", "127.0.0.1"],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis(port=port).ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(10)


async def one_at_a_time(limiter: RateLimiter, requests: int) -> list[float]:
    """Seconds per request, each timed alone."""
    times = []
    clock = time.perf_counter
    for i in range(requests):
        org = ORGANIZATIONS[i % len(ORGANIZATIONS)]
        started = clock()
        await limiter.admit(org, LIMITS)
        times.append(clock() - started)
    return times


async def concurrently(limiter: RateLimiter, requests: int, concurrency: int = 64) -> float:
    """Requests per second with ``concurrency`` callers."""
    per_worker = requests // concurrency

    async def worker(w: int) -> None:
        for i in range(per_worker):
            await limiter.admit(ORGANIZATIONS[(w + i) % len(ORGANIZATIONS)], LIMITS)

    started = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    return per_worker * concurrency / (time.perf_counter() - started)


def commandstats(url: str) -> dict[str, int]:
    stats = redis.Redis.from_url(url).info("commandstats")
    return {name.removeprefix("cmdstat_"): int(value["calls"]) for name, value in stats.items()}


async def run(args: argparse.Namespace, url: str) -> None:
    client = redis_client(url, 1.0)
    limiters: dict[str, RateLimiter] = {
        "none": NoRateLimiter(),
        "memory": MemoryRateLimiter(),
        "redis": RedisRateLimiter(client, prefix=f"bench:{uuid.uuid4().hex[:8]}:"),
    }
    for limiter in limiters.values():  # warm up (and load the script into Redis)
        await one_at_a_time(limiter, 200)
    redis.Redis.from_url(url).config_resetstat()
    latencies: dict[str, list[float]] = {name: [] for name in limiters}
    redis_requests = 0
    for _ in range(args.rounds):
        for name, limiter in limiters.items():
            latencies[name] += await one_at_a_time(limiter, args.requests // args.rounds)
            if name == "redis":
                redis_requests += args.requests // args.rounds
    calls = commandstats(url)
    calls.pop("config|resetstat", None)
    calls.pop("info", None)
    rates = {name: await concurrently(limiter, args.requests) for name, limiter in limiters.items()}
    await client.aclose()

    base = statistics.fmean(latencies["none"])
    print(f"{args.requests} admits per limiter, concurrency 1, {args.rounds} interleaved rounds")
    print(f"{'limiter':8} {'mean ms':>9} {'p50 ms':>8} {'p99 ms':>8} {'+mean ms':>9} {'c64 /s':>9}")
    for name, times in latencies.items():
        ordered = sorted(times)
        mean = statistics.fmean(times)
        print(
            f"{name:8} {mean * 1000:9.4f} {ordered[len(ordered) // 2] * 1000:8.4f} "
            f"{ordered[int(len(ordered) * 0.99)] * 1000:8.4f} {(mean - base) * 1000:9.4f} "
            f"{rates[name]:9.0f}"
        )
    client_commands = {k: v for k, v in calls.items() if k not in SCRIPT_COMMANDS}
    inside = {k: v for k, v in calls.items() if k in SCRIPT_COMMANDS}
    print(
        f"redis: {sum(client_commands.values())} client commands for {redis_requests} requests "
        f"= {sum(client_commands.values()) / redis_requests:.3f} round trips per request "
        f"{client_commands}; run inside Redis by the script: {inside}"
    )


def _limited_key(s: Stack) -> str:
    """An API key of a second organization, with provider keys and a limit it never reaches."""
    with open(f"/proc/{s.server.process.pid}/environ", "rb") as handle:
        found = dict(p.decode().split("=", 1) for p in handle.read().split(b"\0") if b"=" in p)
    store = AccountStore(
        make_sessionmaker(make_engine(found["FLEXGRPC_DATABASE_URL"])),
        ProviderKeyCipher.from_setting(found["FLEXGRPC_ENCRYPTION_KEY"]),
    )
    org = store.create_organization("limited")
    store.set_provider_key(org.id, "openai", "sk-bench-" + "0" * 32)
    store.set_limits(org.id, LIMITS)
    return store.create_api_key(org.id)[1]


async def _routed(target: str, key: str, count: int) -> list[float]:
    body = json.dumps(
        {"model": "gpt-5-mini", "messages": [{"role": "user", "content": "hi"}],
         "start_within": "default"}
    ).encode()  # fmt: skip
    request = route_pb2.CreateChatCompletionRequest(
        body=httpbody_pb2.HttpBody(content_type="application/json", data=body)
    )
    metadata = (("authorization", f"Bearer {key}"),)
    times = []
    async with aio.insecure_channel(target) as channel:
        stub = route_pb2_grpc.RouteServiceStub(channel)
        for _ in range(count):
            started = time.perf_counter()
            async for _message in stub.CreateChatCompletion(request, metadata=metadata):
                pass
            times.append(time.perf_counter() - started)
    return times


def end_to_end(args: argparse.Namespace, url: str) -> None:
    with stack() as s:
        limited = _limited_key(s)
        shared, _ = second_server(
            s, "redis", {"FLEXGRPC_REDIS_URL": url, "FLEXGRPC_REDIS_KEY_PREFIX": "bench-e2e:"}
        )
        try:
            cases = {
                "none": (s.target, s.api_key),
                "memory": (s.target, limited),
                "redis": (f"127.0.0.1:{shared.port}", limited),
            }
            for target, key in cases.values():  # warm up
                asyncio.run(_routed(target, key, 50))
            times: dict[str, list[float]] = {name: [] for name in cases}
            for _ in range(args.rounds):
                for name, (target, key) in cases.items():
                    times[name] += asyncio.run(_routed(target, key, args.routed // args.rounds))
        finally:
            shared.stop()
    base = statistics.median(times["none"])
    print(f"routed: {args.routed} fixed-tier Chat Completions per case over gRPC, c=1")
    print(f"{'limiter':8} {'p50 ms':>8} {'p90 ms':>8} {'+p50 ms':>8}")
    for name, values in times.items():
        p50 = statistics.median(values)
        print(
            f"{name:8} {p50 * 1000:8.3f} {percentile(values, 90) * 1000:8.3f} "
            f"{(p50 - base) * 1000:+8.3f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--redis-url", help="default: a redis-server of the bench's own")
    parser.add_argument("--end-to-end", action="store_true", help="also whole routed requests")
    parser.add_argument("--routed", type=int, default=600, help="routed requests per case")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack_:
        url = args.redis_url or stack_.enter_context(own_redis())
        asyncio.run(run(args, url))
        if args.end_to_end:
            end_to_end(args, url)


if __name__ == "__main__":
    main()
