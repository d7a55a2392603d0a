"""REST and gRPC, streamed and not, at concurrency 1 and 64, per worker count, beside the floor.

    .venv/bin/python bench/scale.py                      # --workers 1,2 --seconds 5 --requests 300
    .venv/bin/python bench/scale.py --seconds 3 --requests 150   # a shorter run

One simulator and one SQLite ledger; on them, in one run:

- the Python floor (``bench/peers/python_floor.py``: uvicorn + an aiohttp relay, no work) for
  REST, and ``bench/grpc_relay_floor.py`` (grpc.aio + aiohttp, no work) for gRPC non-streamed;
- ``flexgrpc serve`` with each ``--workers N`` asked for (N > 1 only when ``serve`` accepts
  ``--workers``; otherwise skipped with the reason printed);
- ``flexgrpc serve`` with tracing on (``FLEXGRPC_TRACING=discard``: every request sampled, every
  span made and ended, then dropped), against the 1-worker server, at concurrency 64; beside
  it the tracing floor: the CPU that making and ending a request's spans (``SPANS_PER_REQUEST``,
  bare: one root and its children, none made current, no attributes) costs the OpenTelemetry
  SDK alone, with the same provider (``flexgrpc.tracing.make_provider("discard")``: its limits,
  sampler and processor), measured in this process. ``--tracing-only`` runs just this part.

The same Chat Completions request (``"start_within": "default"``, 40 output tokens, 43 events
when streamed). At concurrency 1 each target is called in turn with the simulator directly, so
*added* is the target's p50 minus the direct p50 of the same rounds. At concurrency 64, req/s
over ``--seconds``, and the CPU the target's processes (with every child, so every worker)
spent per request (``psutil``). The client is this one Python process; the machine's cores are
shared by it, the simulator and the target, so compare within a run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import pathlib
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import psutil
from flexinference.v1 import route_pb2, route_pb2_grpc
from google.api import httpbody_pb2
from grpc import aio

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from bench.harness import Proc, Stack, percentile, relay_floor, second_server, stack
from bench.rest_overhead import RawHttp, post
from flexgrpc import tracing

#: Spans a traced request of this bench makes (a fixed tier, not translated): the server span
#: (REST or gRPC), authenticate, route, race, the upstream POST, price, ledger.commit
#: (tests/integration/test_tracing.py asserts the tree).
SPANS_PER_REQUEST = 7

MODEL = "gpt-5-mini"
Call = Callable[[], Awaitable[None]]
MakeCall = Callable[[], Call]


def payload(stream: bool, routed: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "hi"}],
        "stream": stream,
    }
    if routed:
        body["start_within"] = "default"
    return body


@dataclass
class Target:
    """Something that answers the request: its processes, and how to call it."""

    name: str
    pid: int
    calls: dict[tuple[str, bool], MakeCall]  # (transport, streamed) -> a call maker
    records: bool = False  # it writes a usage record per request

    def cpu_s(self) -> float:
        """CPU seconds so far of the process and all its children (workers)."""
        root = psutil.Process(self.pid)
        total = 0.0
        for proc in (root, *root.children(recursive=True)):
            try:
                times = proc.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system
        return total


def rest_maker(port: int, head: bytes, body: bytes) -> MakeCall:
    def make() -> Call:
        client = RawHttp(port)

        async def call() -> None:
            status = await client.request(head, body)
            assert status == 200, status

        return call

    return make


class GrpcCalls:
    """Calls over one channel per target (HTTP/2 multiplexes the 64 at once)."""

    def __init__(self, target: str, metadata: tuple[tuple[str, str], ...]) -> None:
        self.channel = aio.insecure_channel(target)
        self.stub = route_pb2_grpc.RouteServiceStub(self.channel)
        self.metadata = metadata
        self.messages = 0
        self.streams = 0

    def chat(self, stream: bool) -> MakeCall:
        data = json.dumps(payload(stream)).encode()
        request = route_pb2.CreateChatCompletionRequest(
            body=httpbody_pb2.HttpBody(content_type="application/json", data=data)
        )

        async def call() -> None:
            count = 0
            async for _ in self.stub.CreateChatCompletion(request, metadata=self.metadata):
                count += 1
            if stream:
                self.messages += count
                self.streams += 1

        return lambda: call

    def relay_floor(self) -> MakeCall:
        """bench/grpc_relay_floor.py serves CreateResponse (non-streamed)."""
        data = json.dumps({"model": MODEL, "input": "hi"}).encode()
        request = route_pb2.CreateResponseRequest(
            body=httpbody_pb2.HttpBody(content_type="application/json", data=data)
        )

        async def call() -> None:
            async for _ in self.stub.CreateResponse(request):
                pass

        return lambda: call


async def timed(call: Call) -> float:
    started = time.perf_counter()
    await call()
    return (time.perf_counter() - started) * 1000


async def saturate(make: MakeCall, workers: int, seconds: float) -> tuple[int, float, list[float]]:
    latencies: list[float] = []
    stop_at = time.perf_counter() + seconds

    async def worker() -> None:
        call = make()
        while time.perf_counter() < stop_at:
            latencies.append(await timed(call))

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(workers)))
    return len(latencies), time.perf_counter() - started, latencies


def wait_for_port(port: int, process: subprocess.Popen[Any]) -> None:
    for _ in range(300):
        if process.poll() is not None:
            raise RuntimeError(f"exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_accepts_workers() -> bool:
    found = subprocess.run(
        [sys.executable, "-m", "flexgrpc.cli", "serve", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    return "--workers" in found.stdout


#: Requests answered by flexgrpc servers (each must leave one usage record).
ROUTED = [0]


def counted(make: MakeCall) -> MakeCall:
    def counted_make() -> Call:
        call = make()

        async def counted_call() -> None:
            await call()
            ROUTED[0] += 1

        return counted_call

    return counted_make


def flexgrpc_target(s: Stack, name: str, grpc_port: int, http_port: int, pid: int) -> Target:
    calls: dict[tuple[str, bool], MakeCall] = {}
    grpc_calls = GrpcCalls(f"127.0.0.1:{grpc_port}", s.metadata)
    for stream in (False, True):
        head, body = post("/v1/chat/completions", s.api_key, payload(stream))
        calls["rest", stream] = counted(rest_maker(http_port, head, body))
        calls["grpc", stream] = counted(grpc_calls.chat(stream))
    target = Target(name, pid, calls, records=True)
    target.grpc = grpc_calls  # type: ignore[attr-defined]
    return target


@dataclass
class Row:
    target: str
    transport: str
    streamed: bool
    added_p50: float | None = None
    rate: float | None = None
    p50_64: float | None = None
    cpu_ms: float | None = None
    requests: int = 0


async def concurrency_1(
    targets: list[Target], direct: dict[bool, MakeCall], n: int, rows: dict[Any, Row]
) -> None:
    for stream in (False, True):
        keys = [(t, tr) for t in targets for tr in ("rest", "grpc") if (tr, stream) in t.calls]
        calls = {(t.name, tr): t.calls[tr, stream]() for t, tr in keys}
        baseline = direct[stream]()
        for call in (*calls.values(), baseline):  # warm-up
            for _ in range(20):
                await call()
        samples: dict[Any, list[float]] = {key: [] for key in calls}
        straight: list[float] = []
        for _ in range(n):  # round-robin, so drift hits every target alike
            straight.append(await timed(baseline))
            for key, call in calls.items():
                samples[key].append(await timed(call))
        floor = percentile(straight, 50)
        for (name, transport), values in samples.items():
            row = rows.setdefault((name, transport, stream), Row(name, transport, stream))
            row.added_p50 = percentile(values, 50) - floor
            row.requests += n + 20
        print(f"  c=1 {'streamed' if stream else 'non-streamed'}: direct p50 {floor:.3f} ms")


async def concurrency_64(
    target: Target, seconds: float, rows: dict[Any, Row], label: str | None = None
) -> None:
    for (transport, stream), make in target.calls.items():
        name = label or target.name
        before = target.cpu_s()
        count, elapsed, latencies = await saturate(make, 64, seconds)
        spent = target.cpu_s() - before
        row = rows.setdefault((name, transport, stream), Row(name, transport, stream))
        row.rate = count / elapsed
        row.p50_64 = percentile(latencies, 50)
        row.cpu_ms = spent / count * 1000 if count else None
        row.requests += count
        print(
            f"  c=64 {name:>22} {transport:4} {'streamed' if stream else 'whole':8} "
            f"{row.rate:8.0f} req/s  p50 {row.p50_64:7.2f} ms  cpu {row.cpu_ms or 0:.3f} ms/req"
        )


def tracing_floor_ms(requests: int = 5000, rounds: int = 5) -> float:
    """CPU ms per request of ``SPANS_PER_REQUEST`` bare SDK spans (a root, the rest its
    children, each started and ended), with the provider ``discard`` makes; the best of
    ``rounds`` (the least disturbed by the machine's other work)."""
    provider = tracing.make_provider("discard")
    assert provider is not None
    tracer = provider.get_tracer("floor")
    from opentelemetry import trace

    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(requests):
            root = tracer.start_span("root")
            under = trace.set_span_in_context(root)
            for _ in range(SPANS_PER_REQUEST - 1):
                tracer.start_span("child", context=under).end()
            root.end()
        best = min(best, (time.process_time() - started) / requests * 1000)
    provider.shutdown()
    return best


async def tracing_cost(off: Target, ons: list[Target], seconds: float) -> None:
    """Each target of ``ons`` (tracing on) against ``off``, cell by cell, interleaved, twice."""
    rates: dict[Any, list[float]] = {}
    cpu: dict[Any, list[float]] = {}
    floors: list[float] = []
    for _ in range(2):
        floors.append(tracing_floor_ms())
        for target in (off, *ons):
            for key, make in target.calls.items():
                before = target.cpu_s()
                count, elapsed, _ = await saturate(make, 64, seconds)
                rates.setdefault((target.name, key), []).append(count / elapsed)
                cpu.setdefault((target.name, key), []).append(
                    (target.cpu_s() - before) / max(count, 1) * 1000
                )
    floor = min(floors)
    print(
        f"\ntracing floor: {SPANS_PER_REQUEST} bare SDK spans per request cost {floor:.3f} ms "
        f"of CPU (this process; runs {', '.join(f'{f:.3f}' for f in floors)} ms)"
    )
    print(
        "\n| tracing on | transport | answer | req/s off | req/s on | on / off | CPU/req off "
        "| CPU/req on | added | added / floor |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for on in ons:
        for key in off.calls:
            a, b = (sum(rates[t.name, key]) / 2 for t in (off, on))
            ca, cb = (sum(cpu[t.name, key]) / 2 for t in (off, on))
            transport, stream = key
            print(
                f"| {on.name} | {transport} | {'streamed' if stream else 'whole'} | {a:,.0f} "
                f"| {b:,.0f} | {b / a:.2f} | {ca:.3f} ms | {cb:.3f} ms | {cb - ca:.3f} ms "
                f"| {(cb - ca) / floor:.1f}x |"
            )


def table(rows: dict[Any, Row], floor_cpu: dict[bool, float]) -> None:
    print(
        "\n| target | transport | answer | added p50 at c=1 | req/s at c=64 | p50 at c=64 "
        "| CPU per request at c=64 | CPU vs floor |"
    )
    print("|---|---|---|---|---|---|---|---|")

    def text(value: float | None, fmt: str) -> str:
        return "—" if value is None else format(value, fmt)

    for row in rows.values():
        floor = floor_cpu.get(row.streamed)
        ratio = row.cpu_ms / floor if row.cpu_ms and floor else None
        print(
            f"| {row.target} | {row.transport} | {'streamed' if row.streamed else 'whole'} "
            f"| {text(row.added_p50, '.3f')} ms | {text(row.rate, ',.0f')} "
            f"| {text(row.p50_64, '.2f')} ms | {text(row.cpu_ms, '.3f')} ms "
            f"| {text(ratio, '.2f')}x |"
        )


def usage_records(s: Stack) -> int:
    with sqlite3.connect(s.home / "bench.db") as db:
        return int(db.execute("SELECT count(*) FROM usage_records").fetchone()[0])


def start_python_floor(s: Stack) -> tuple[subprocess.Popen[Any], int]:
    port = free_port()
    script = pathlib.Path(__file__).with_name("peers") / "python_floor.py"
    command = [sys.executable, str(script), "--port", str(port), "--upstream", f"{s.sim_url}/v1"]
    process = subprocess.Popen(command, stderr=(s.home / "python_floor.log").open("w"))
    wait_for_port(port, process)
    return process, port


async def run(args: argparse.Namespace) -> None:
    workers = [int(w) for w in args.workers.split(",")]
    quiet = {"FLEXGRPC_LOG_LEVEL": "WARNING"}
    with stack(server_env=quiet) as s:
        assert s.server.process.stdout is not None
        http_port = int(s.server.process.stdout.readline().strip().rsplit(":", 1)[1])
        others: list[Proc] = []
        floor, floor_port = start_python_floor(s)
        grpc_floor = relay_floor(s)
        try:
            targets: list[Target] = []
            for n in workers:
                if n == 1:
                    targets.append(
                        flexgrpc_target(
                            s, "flexgrpc, 1 worker", s.server.port, http_port, s.server.process.pid
                        )
                    )
                    continue
                if not serve_accepts_workers():
                    print(f"skipped --workers {n}: this `flexgrpc serve` has no --workers flag")
                    continue
                argv = [sys.executable, "-m", "flexgrpc.cli", "serve", "--grpc-port", "0",
                        "--workers", str(n)]  # fmt: skip
                proc, port = second_server(s, f"workers-{n}", quiet, argv)
                others.append(proc)
                targets.append(
                    flexgrpc_target(s, f"flexgrpc, {n} workers", proc.port, port, proc.process.pid)
                )
            if args.baseline:
                # Another checkout's server (say the main branch), as a 1-worker target.
                code = (
                    f"import sys; sys.path.insert(0, {args.baseline!r}); "
                    "from flexgrpc.cli import main; sys.argv[0] = 'flexgrpc'; sys.exit(main())"
                )
                argv = [sys.executable, "-c", code, "serve", "--grpc-port", "0"]
                proc, port = second_server(s, "baseline", quiet, argv)
                others.append(proc)
                name = f"baseline {pathlib.Path(args.baseline).name}, 1 worker"
                targets.append(flexgrpc_target(s, name, proc.port, port, proc.process.pid))
            traced_proc, traced_http = second_server(s, "traced", {**quiet,
                                                     "FLEXGRPC_TRACING": "discard"})  # fmt: skip
            others.append(traced_proc)
            traced = flexgrpc_target(s, "flexgrpc, tracing on", traced_proc.port, traced_http,
                                     traced_proc.process.pid)  # fmt: skip
            ons = [traced]
            if args.tracing_baseline:
                # Another checkout's server with tracing on (say main, before a change).
                code = (
                    f"import sys; sys.path.insert(0, {args.tracing_baseline!r}); "
                    "from flexgrpc.cli import main; sys.argv[0] = 'flexgrpc'; sys.exit(main())"
                )
                argv = [sys.executable, "-c", code, "serve", "--grpc-port", "0"]
                env = {**quiet, "FLEXGRPC_TRACING": "discard"}
                proc, port = second_server(s, "traced-baseline", env, argv)
                others.append(proc)
                name = f"{pathlib.Path(args.tracing_baseline).name}, tracing on"
                ons.append(flexgrpc_target(s, name, proc.port, port, proc.process.pid))
            floor_calls: dict[tuple[str, bool], MakeCall] = {}
            direct: dict[bool, MakeCall] = {}
            sim_port = s.sim.port
            for stream in (False, True):
                head, body = post("/v1/chat/completions", "sk-floor", payload(stream, False))
                floor_calls["rest", stream] = rest_maker(floor_port, head, body)
                head, body = post("/v1/chat/completions", "sk-direct", payload(stream, False))
                direct[stream] = rest_maker(sim_port, head, body)
            python_floor = Target("Python floor (uvicorn + aiohttp)", floor.pid, floor_calls)
            grpc_relay = GrpcCalls(f"127.0.0.1:{grpc_floor.port}", ())
            relay = Target(
                "gRPC floor (grpc.aio + aiohttp)",
                grpc_floor.process.pid,
                {("grpc", False): grpc_relay.relay_floor()},
            )
            everyone = [python_floor, relay, *targets]
            rows: dict[Any, Row] = {}
            if not args.tracing_only:
                print(f"concurrency 1, {args.requests} rounds (every target, then the simulator)")
                await concurrency_1(everyone, direct, args.requests, rows)
                print(f"concurrency 64, {args.seconds:g} s each")
                for target in everyone:
                    await concurrency_64(target, args.seconds, rows)
            print("tracing off / on, c=64, interleaved twice")
            await tracing_cost(targets[0], ons, args.seconds)
            if not args.tracing_only:
                floor_cpu = {
                    stream: rows[python_floor.name, "rest", stream].cpu_ms or 0.0
                    for stream in (False, True)
                }
                table(rows, floor_cpu)
            for target in (*targets, *ons):
                grpc_calls = target.grpc  # type: ignore[attr-defined]
                if grpc_calls.streams:
                    print(
                        f"{target.name}: {grpc_calls.messages / grpc_calls.streams:.1f} gRPC "
                        "messages per streamed answer (43 events)"
                    )
            await asyncio.sleep(1)  # the last records' commits
            print(
                f"usage records in the ledger: {usage_records(s):,}; requests answered by "
                f"flexgrpc servers in this run: {ROUTED[0]:,}"
            )
        finally:
            for proc in others:
                proc.stop()
            grpc_floor.stop()
            floor.terminate()
            floor.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    parser.add_argument("--seconds", type=float, default=5.0, help="per cell at concurrency 64")
    parser.add_argument("--requests", type=int, default=300, help="rounds at concurrency 1")
    parser.add_argument(
        "--baseline", help="also measure the server of another checkout (a directory), 1 worker"
    )
    parser.add_argument(
        "--tracing-only",
        action="store_true",
        help="only tracing off against on (and the tracing floor), not the other tables",
    )
    parser.add_argument(
        "--tracing-baseline",
        help="also measure tracing on in the server of another checkout (a directory)",
    )
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
