"""Flex races at scale: thousands in flight at once in one server process.

N races (default 5,000) start together. The simulator holds every flex attempt ``--flex-delay``
seconds (default 30) before its first output event, inside a 60 s window, and answers the
standard tier at once; so all N wait in the server together, then all win on flex. Measured in
one run, on one server process:

* server RSS idle (after a warm-up) and at the peak with all N open at the simulator (checked
  with ``GET /_sim/requests``), and the growth per in-flight race (target <= 100 KB);
* the server's event-loop lag seen from outside: the round trip of ``grpc.health.v1.Health/Check``
  every 50 ms on a channel of its own, on the idle server (baseline) and while the N wait
  (target p99 <= 50 ms); the ramp (while the N arrive) and the completion are shown apart;
* that every race then completes, served on flex with outcome ``flex_won`` (the answer's
  metadata and ``service_tier``, the server's "request routed" records, the simulator's records),
  the relay delay (answer at the client minus the end of the flex answer at the simulator,
  linked by a unique input text per race), and the wall time.

The races are spread round-robin over ``--channels`` client channels, each its own HTTP/2
connection (local subchannel pools), well under the server's ``grpc.max_concurrent_streams``.
Numbers, not timed assertions: the exit status is 1 only when races failed or were not served
as expected (a correctness problem), 2 when the benchmark could not run.

    .venv/bin/python bench/race_concurrency.py [--races 5000] [--channels 4] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pathlib
import re
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import grpc
import httpx

sys.path.insert(0, __file__.rsplit("/bench/", 1)[0])

from flexinference.v1 import route_pb2, route_pb2_grpc
from google.api import httpbody_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bench.harness import ROOT, Proc, Stack, percentile, raise_fd_limit, stack
from flexgrpc.sim.config import SimConfig

if TYPE_CHECKING:  # the asyncio stub type exists only in the .pyi
    from flexinference.v1.route_pb2_grpc import RouteServiceAsyncStub as Stub

MODEL = "gpt-5-mini"
TIER_HEADER = "x-flexinference-tier"
REQUEST_ID_HEADER = "x-flexinference-request-id"
#: Each client channel gets its own subchannel, hence its own TCP/HTTP2 connection.
CHANNEL_OPTIONS = [("grpc.use_local_subchannel_pool", 1)]
#: Long, so that a stalled server shows as one long probe rather than as failures.
PROBE_TIMEOUT_S = 10.0
#: The steady phase ends this long before the first flex attempt is due to start.
STEADY_MARGIN_S = 1.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def window_text(seconds: int) -> str:
    """``start_within`` for a window of ``seconds`` (``00h-01m-00s``)."""
    return f"{seconds // 3600:02d}h-{seconds % 3600 // 60:02d}m-{seconds % 60:02d}s"


def server_stream_limit() -> int | None:
    """``grpc.max_concurrent_streams`` as flexgrpc/server.py sets it (``None`` if not found)."""
    source = (ROOT / "flexgrpc" / "server.py").read_text()
    match = re.search(r'"grpc\.max_concurrent_streams",\s*([\d_]+)', source)
    return int(match[1].replace("_", "")) if match else None


def open_fds(proc: Proc) -> int:
    return len(os.listdir(f"/proc/{proc.process.pid}/fd"))


def fd_limit(pid: int | str = "self") -> int:
    """The soft RLIMIT_NOFILE of a process (``self``: this one)."""
    limits = pathlib.Path(f"/proc/{pid}/limits").read_text()
    return int(re.search(r"Max open files\s+(\d+)", limits)[1])  # type: ignore[index]


def cpu_seconds(proc: Proc) -> float:
    """User + system CPU time of the process so far."""
    stat = pathlib.Path(f"/proc/{proc.process.pid}/stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def connections_to(port: int) -> int:
    """Established TCP connections (IPv4, or v4-mapped IPv6 as gRPC opens them) whose remote
    end is ``port``: the client side of each connection to the server."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in pathlib.Path(table).read_text().splitlines()[1:]:
            parts = line.split()
            if parts[3] == "01" and int(parts[2].rsplit(":", 1)[1], 16) == port:
                count += 1
    return count


def check_alive(s: Stack) -> None:
    for name, proc in (("server", s.server), ("simulator", s.sim)):
        if proc.process.poll() is not None:
            tail = proc.log.read_text()[-3000:]
            raise RuntimeError(f"the {name} exited ({proc.process.returncode}); log tail:\n{tail}")


# -- one race -----------------------------------------------------------------------------------


@dataclass
class RaceResult:
    ok: bool
    code: str = ""
    detail: str = ""
    tier: str = ""
    request_id: str = ""
    service_tier: str = ""
    finished_at: float = 0.0  # perf_counter
    finished_unix: float = 0.0  # time.time(), comparable with the simulator's records
    tag: str = ""  # the request's unique input text, which the simulator records


def race_request(start_within: str, text: str) -> route_pb2.CreateResponseRequest:
    body = {"model": MODEL, "input": text, "start_within": start_within}
    return route_pb2.CreateResponseRequest(
        body=httpbody_pb2.HttpBody(content_type="application/json", data=json.dumps(body).encode())
    )


async def one_race(
    stub: Stub,
    request: route_pb2.CreateResponseRequest,
    metadata: tuple[tuple[str, str], ...],
    deadline_s: float,
    tag: str = "",
) -> RaceResult:
    """One CreateResponse call to its end; never raises for an RPC error (see ``ok``)."""
    call: Any = stub.CreateResponse(request, metadata=metadata, timeout=deadline_s)
    data = bytearray()
    try:
        async for message in call:
            data += message.data
        initial = dict(await call.initial_metadata())
    except grpc.aio.AioRpcError as error:
        detail = (error.details() or "")[:300]
        return RaceResult(
            False, error.code().name, detail, finished_at=time.perf_counter(), tag=tag
        )
    except asyncio.CancelledError:
        call.cancel()
        raise
    finished, finished_unix = time.perf_counter(), time.time()
    try:
        answer = json.loads(bytes(data))
    except ValueError:
        text = bytes(data[:300]).decode(errors="replace")
        return RaceResult(
            False, "BAD_ANSWER", text, finished_at=finished, finished_unix=finished_unix, tag=tag
        )
    return RaceResult(
        True,
        tier=str(initial.get(TIER_HEADER, "")),
        request_id=str(initial.get(REQUEST_ID_HEADER, "")),
        service_tier=str(answer.get("service_tier", "")) if isinstance(answer, dict) else "",
        finished_at=finished,
        finished_unix=finished_unix,
        tag=tag,
    )


# -- the prober ---------------------------------------------------------------------------------


@dataclass
class Probe:
    started: float
    phase: str
    rtt_ms: float  # a failed probe counts with the time it took (see ``failed``)
    rss_kb: int
    cpu_s: float
    client_lag_ms: float  # how late the client's own sleep woke before this probe
    failed: bool = False


@dataclass
class Prober:
    """Health/Check every ``interval`` s on its own channel, with the server's RSS and CPU."""

    channel: grpc.aio.Channel
    server: Proc
    interval: float = 0.05
    phase: str = "baseline"
    samples: list[Probe] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="prober")

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        stub = health_pb2_grpc.HealthStub(self.channel)
        request = health_pb2.HealthCheckRequest()
        next_at = time.perf_counter()
        lag_ms = 0.0
        while not self._stop.is_set():
            if self.server.process.poll() is not None:
                self.errors["server exited"] += 1
                return
            try:  # read before the probe, so that they belong to its start time
                rss, cpu = self.server.rss_kb(), cpu_seconds(self.server)
            except (OSError, TypeError):  # the process is gone
                self.errors["server exited"] += 1
                return
            phase, started = self.phase, time.perf_counter()
            failed = False
            try:
                await stub.Check(request, timeout=PROBE_TIMEOUT_S)
            except grpc.aio.AioRpcError as error:
                self.errors[error.code().name] += 1
                failed = True
            rtt = (time.perf_counter() - started) * 1000
            self.samples.append(Probe(started, phase, rtt, rss, cpu, lag_ms, failed))
            next_at += self.interval
            delay = next_at - time.perf_counter()
            if delay <= 0:  # a slow probe: the next one goes at once, none are stacked
                next_at, lag_ms = time.perf_counter(), 0.0
                continue
            slept_from = time.perf_counter()
            await asyncio.sleep(delay)
            lag_ms = max(0.0, (time.perf_counter() - slept_from - delay) * 1000)

    def of(self, *phases: str) -> list[Probe]:
        return [p for p in self.samples if p.phase in phases]


def lag_row(label: str, probes: list[Probe]) -> str:
    rtts = [p.rtt_ms for p in probes]
    failed = sum(p.failed for p in probes)
    if not rtts:
        return f"  {label:<22} no probes"
    cpu = ""
    if len(probes) > 1 and probes[-1].started > probes[0].started:
        share = (probes[-1].cpu_s - probes[0].cpu_s) / (probes[-1].started - probes[0].started)
        cpu = f"   server CPU {share * 100:4.0f}%"
    client = percentile([p.client_lag_ms for p in probes], 99)
    return (
        f"  {label:<22} p50 {percentile(rtts, 50):7.2f}   p99 {percentile(rtts, 99):7.2f}"
        f"   max {max(rtts):8.2f} ms   n={len(rtts)}"
        + (f" ({failed} failed, counted at their duration)" if failed else "")
        + f"{cpu}   client sleep lag p99 {client:.1f} ms"
    )


# -- the run ------------------------------------------------------------------------------------


@dataclass
class SimView:
    open_flex: int
    flex: int
    other: int
    first_flex_arrival: float | None


def sim_view(records: list[dict[str, Any]]) -> SimView:
    flex = [r for r in records if r.get("service_tier") == "flex"]
    return SimView(
        open_flex=sum(r.get("outcome") is None for r in flex),
        flex=len(flex),
        other=len(records) - len(flex),
        first_flex_arrival=min((r["arrival_time"] for r in flex), default=None),
    )


async def warm_up(s: Stack, stubs: list[Stub], n: int) -> None:
    """Races whose flex starts at once, over every channel, so that nothing is cold."""
    request = race_request("00h-00m-30s", "warm-up")
    results = await asyncio.gather(
        *(one_race(stubs[i % len(stubs)], request, s.metadata, 30) for i in range(n))
    )
    failed = [r for r in results if not r.ok]
    if failed:
        raise RuntimeError(f"warm-up failed: {failed[0].code} {failed[0].detail}")


async def run(args: argparse.Namespace) -> int:
    limit = server_stream_limit()
    per_channel = -(-args.races // args.channels)
    if limit is not None and per_channel > limit:
        raise RuntimeError(
            f"{per_channel} streams per channel exceed the server's max_concurrent_streams "
            f"{limit}: use --channels {-(-args.races // limit)} or more"
        )
    window = window_text(args.window)
    config = SimConfig(seed=args.seed).with_tier("flex", start_delay=f"fixed:{args.flex_delay}s")
    with stack() as s:
        channels = [
            grpc.aio.insecure_channel(s.target, options=CHANNEL_OPTIONS)
            for _ in range(args.channels)
        ]
        probe_channel = grpc.aio.insecure_channel(s.target, options=CHANNEL_OPTIONS)
        try:
            return await measure(args, s, channels, probe_channel, config, window, limit)
        finally:
            for channel in (*channels, probe_channel):
                await channel.close()
            print(f"\nlogs: {s.server.log} and {s.sim.log}")


async def measure(
    args: argparse.Namespace,
    s: Stack,
    channels: list[grpc.aio.Channel],
    probe_channel: grpc.aio.Channel,
    config: SimConfig,
    window: str,
    limit: int | None,
) -> int:
    n = args.races
    stubs = [route_pb2_grpc.RouteServiceStub(channel) for channel in channels]
    server_fds, sim_fds = fd_limit(s.server.process.pid), fd_limit(s.sim.process.pid)
    print(
        f"{n} flex races over {len(channels)} channels (<= {-(-n // len(channels))} streams "
        f"each; server max_concurrent_streams {limit}), flex starts after {args.flex_delay} s, "
        f"window {window}; open-file limits: client {fd_limit()}, server {server_fds}, "
        f"simulator {sim_fds}"
    )
    if n + 200 > min(server_fds, sim_fds):
        print(f"WARNING: {n} upstream connections come close to an open-file limit")

    await warm_up(s, stubs, args.warmup)
    await asyncio.to_thread(s.configure_sim, config.to_dict())
    await asyncio.to_thread(s.reset_sim)
    logged_before = len(s.outcomes())
    await asyncio.sleep(1.0)
    check_alive(s)
    fds_idle = open_fds(s.server)
    connections = connections_to(s.server.port)

    prober = Prober(probe_channel, s.server, args.probe_interval)
    prober.start()
    await asyncio.sleep(args.baseline)
    rss_idle = int(statistics.median(p.rss_kb for p in prober.of("baseline")))
    print(f"idle: server RSS {rss_idle / 1024:.1f} MiB, {fds_idle} fds; baseline probed")

    # Launch all N at once.
    prober.phase = "ramp"
    timeout = args.window + 30.0
    tags = [f"race {i}" for i in range(n)]
    requests = [race_request(window, tag) for tag in tags]
    launched, launched_unix = time.perf_counter(), time.time()
    tasks = [
        asyncio.create_task(
            one_race(stubs[i % len(stubs)], requests[i], s.metadata, timeout, tags[i])
        )
        for i in range(n)
    ]

    # Ramp: until the simulator holds all N flex attempts open (or they are about to start).
    view = SimView(0, 0, 0, None)
    max_open, steady_at, fds_peak = 0, None, 0
    ramp_deadline = time.time() + args.flex_delay - STEADY_MARGIN_S
    while True:
        await asyncio.sleep(args.poll)
        check_alive(s)
        view = sim_view(await asyncio.to_thread(s.sim_records))
        max_open = max(max_open, view.open_flex)
        if view.first_flex_arrival is not None:
            ramp_deadline = view.first_flex_arrival + args.flex_delay - STEADY_MARGIN_S
        if view.open_flex >= n:
            steady_at = time.perf_counter()
            break
        if time.time() >= ramp_deadline or all(t.done() for t in tasks):
            break
    ramp_s = (steady_at or time.perf_counter()) - launched
    if steady_at is None:
        print(
            f"WARNING: only {max_open} of {n} flex attempts were open at the simulator at once "
            f"({sum(t.done() for t in tasks)} races already ended); no steady phase"
        )
    else:
        prober.phase = "steady"
        fds_peak = open_fds(s.server)
        connections = connections_to(s.server.port)
        print(
            f"all {n} flex attempts open at the simulator {ramp_s:.1f} s after launch; "
            f"server {fds_peak} fds; {connections} client connections to the server"
        )
        # Steady: all N wait; probe until just before the first flex attempt starts.
        await asyncio.sleep(max(0.0, ramp_deadline - time.time()))
    ended_in_steady = sum(t.done() for t in tasks)
    prober.phase = "completion"

    # Completion: every race should now win on flex.
    done, pending = await asyncio.wait(tasks, timeout=args.window + 60.0)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    results = [t.result() for t in done if not t.cancelled() and t.exception() is None]
    crashed = [t.exception() for t in done if not t.cancelled() and t.exception() is not None]
    wall_s = max((r.finished_at for r in results), default=time.perf_counter()) - launched
    prober.phase = "after"
    await asyncio.sleep(min(2.0, args.baseline))
    await prober.stop()
    rss_after = s.server.rss_kb()

    # What the server and the simulator recorded.
    outcomes: list[dict[str, Any]] = []
    records: list[dict[str, Any]] = []
    settle_by = time.monotonic() + 15
    while time.monotonic() < settle_by:
        outcomes = s.outcomes()[logged_before:]
        records = await asyncio.to_thread(s.sim_records)
        if len(outcomes) >= n and all(r.get("outcome") for r in records):
            break
        await asyncio.sleep(0.5)

    if args.json:
        dump = {
            "launched_perf": launched,
            "launched_unix": launched_unix,
            "probes": [vars(p) for p in prober.samples],
            "finished_perf": sorted(r.finished_at for r in results),
            "outcomes": outcomes,
            "sim_records": records,
        }
        await asyncio.to_thread(pathlib.Path(args.json).write_text, json.dumps(dump, default=str))
    return report(
        args, prober, results, crashed, len(pending), outcomes, records,
        rss_idle=rss_idle, rss_after=rss_after, fds_idle=fds_idle, fds_peak=fds_peak,
        max_open=max_open, steady=steady_at is not None, ended_in_steady=ended_in_steady,
        ramp_s=ramp_s, wall_s=wall_s, connections=connections,
    )  # fmt: skip


def relay_delays_ms(results: list[RaceResult], records: list[dict[str, Any]]) -> list[float]:
    """Per race: when the caller had its answer minus when the simulator finished sending the
    flex answer (linked by the unique input text); the router's relay time, queueing included."""
    ended = {
        r["body"].get("input"): r["end_time"]
        for r in records
        if isinstance(r.get("body"), dict) and r.get("end_time") and r.get("outcome")
    }
    return [(r.finished_unix - ended[r.tag]) * 1000 for r in results if r.tag in ended and r.tag]


def report(
    args: argparse.Namespace,
    prober: Prober,
    results: list[RaceResult],
    crashed: list[BaseException | None],
    timed_out: int,
    outcomes: list[dict[str, Any]],
    records: list[dict[str, Any]],
    *,
    rss_idle: int,
    rss_after: int,
    fds_idle: int,
    fds_peak: int,
    max_open: int,
    steady: bool,
    ended_in_steady: int,
    ramp_s: float,
    wall_s: float,
    connections: int,
) -> int:
    n = args.races
    in_flight = prober.of("steady") if steady else prober.of("ramp")
    rss_peak = max((p.rss_kb for p in in_flight), default=rss_idle)
    rss_max = max((p.rss_kb for p in prober.samples), default=rss_idle)
    per_race_kb = (rss_peak - rss_idle) / n
    ok = [r for r in results if r.ok]
    failures = Counter(f"{r.code}: {r.detail[:120]}" for r in results if not r.ok)
    tiers = Counter(r.tier for r in ok)
    answer_tiers = Counter(r.service_tier for r in ok)
    mine = {o.get("request_id"): o for o in outcomes}
    matched = [mine[r.request_id] for r in ok if r.request_id in mine]
    routed = Counter(f"{o.get('outcome')}/{o.get('served_tier')}" for o in outcomes)
    starts = [o["time_to_start_ms"] for o in matched if o.get("time_to_start_ms") is not None]
    attempts = Counter(o.get("flex_attempts") for o in outcomes)
    sim_counts = Counter(f"{r.get('service_tier')}:{r.get('outcome')}" for r in records)
    relay = relay_delays_ms(ok, records)
    steady_rtts = [p.rtt_ms for p in in_flight]
    p99 = percentile(steady_rtts, 99)

    flex_ok = sum(1 for r in ok if r.tier == "flex" and r.service_tier == "flex")
    won = sum(
        1 for o in matched if o.get("outcome") == "flex_won" and o.get("served_tier") == "flex"
    )
    correct = flex_ok == n and won == n and not crashed and timed_out == 0 and ended_in_steady == 0

    print("\n=== race_concurrency summary ===")
    print(
        f"races               N={n} over {args.channels} channels ({connections} client "
        f"connections to the server incl. the probe's); flex starts after {args.flex_delay} s, "
        f"window {args.window} s"
    )
    print(
        f"open at the sim     {max_open} of {n} flex attempts open at once"
        + ("" if steady else "  (NOT all N: no steady phase; in-flight figures use the ramp)")
    )
    print(
        f"server RSS          idle {rss_idle / 1024:.1f} MiB, with N in flight (peak) "
        f"{rss_peak / 1024:.1f} MiB, max in run {rss_max / 1024:.1f} MiB, after "
        f"{rss_after / 1024:.1f} MiB"
    )
    print(
        f"RSS per race        {per_race_kb:.1f} KiB per in-flight race   (target <= 100 KB: "
        f"{'met' if per_race_kb <= 100 else 'MISSED'})"
    )
    print(f"server fds          idle {fds_idle}, with N in flight {fds_peak}")
    print(f"event-loop lag      Health/Check round trip every {args.probe_interval * 1000:.0f} ms")
    print(lag_row("baseline (idle)", prober.of("baseline")))
    print(lag_row("ramp (N arriving)", prober.of("ramp")))
    print(lag_row(f"steady ({n} waiting)", prober.of("steady")))
    print(lag_row("completion", prober.of("completion")))
    print(
        f"  target p99 <= 50 ms while in flight: "
        f"{'met' if p99 <= 50 else 'MISSED'} ({p99:.2f} ms)"
        + (f"; probe errors {dict(prober.errors)}" if prober.errors else "")
    )
    print(
        f"completed           {len(ok)}/{n} answered, {flex_ok} on flex (metadata and answer); "
        f"tiers {dict(tiers)}, answer service_tier {dict(answer_tiers)}"
    )
    if failures or crashed or timed_out or ended_in_steady:
        print(
            f"  FAILED: {sum(failures.values())} errors, {len(crashed)} client exceptions, "
            f"{timed_out} not done in time, {ended_in_steady} ended before flex could start"
        )
        for text, count in failures.most_common(5):
            print(f"    {count:6d} x {text}")
        for exc in crashed[:3]:
            print(f"    client exception: {exc!r}")
    print(
        f"server outcomes     {len(outcomes)} logged; matched to answers {len(matched)}; "
        f"flex_won on flex {won}; {dict(routed)}; flex_attempts {dict(attempts)}"
    )
    if starts:
        print(
            f"time to start       p50 {percentile(starts, 50):.0f}  p99 "
            f"{percentile(starts, 99):.0f}  max {max(starts):.0f} ms (flex held "
            f"{args.flex_delay * 1000} ms)"
        )
    if relay:
        print(
            f"relay delay         p50 {percentile(relay, 50):.0f}  p99 {percentile(relay, 99):.0f}"
            f"  max {max(relay):.0f} ms: the answer at the client minus the end of the flex "
            f"answer at the simulator (n={len(relay)})"
        )
    print(f"simulator records   {dict(sim_counts)}")
    print(
        f"wall time           {wall_s:.1f} s from launch to the last answer (ramp {ramp_s:.1f} s)"
    )
    print(f"result              {'all races correct' if correct else 'CORRECTNESS PROBLEMS'}")
    return 0 if correct else 1


#: Defaults of the full run, and of ``--quick`` (which changes only flags not given).
FULL = {"races": 5000, "flex_delay": 30, "window": 60, "baseline": 10.0, "poll": 1.0}
QUICK = {"races": 300, "flex_delay": 8, "window": 20, "baseline": 3.0, "poll": 0.5}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add = parser.add_argument
    add("--races", type=int, help="flex races in flight at once (5000; quick 300)")
    add("--channels", type=int, default=4, help="client channels, one connection each (4)")
    add("--flex-delay", type=int, help="seconds before flex starts (30; quick 8)")
    add("--window", type=int, help="start_within window in seconds (60; quick 20)")
    add("--baseline", type=float, help="seconds of probing the idle server (10; quick 3)")
    add("--probe-interval", type=float, default=0.05, help="seconds between probes (0.05)")
    add("--poll", type=float, help="seconds between simulator polls in the ramp (1; quick 0.5)")
    add("--warmup", type=int, default=40, help="warm-up races, flex starting at once (40)")
    add("--seed", type=int, default=7, help="simulator seed (7)")
    add("--json", metavar="PATH", help="also write the raw samples and records here")
    add("--quick", action="store_true", help="a short smoke run (300 races, flex after 8 s)")
    args = parser.parse_args()
    for name, value in (QUICK if args.quick else FULL).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.races < 1 or args.channels < 1:
        parser.error("--races and --channels must be positive")
    if not 5 <= args.window <= 600 or args.flex_delay + 5 > args.window:
        parser.error("the window must be 5..600 s and leave flex (--flex-delay) 5 s to start")
    if args.flex_delay <= STEADY_MARGIN_S + args.poll:
        parser.error("--flex-delay is too short to see all races in flight")
    raise_fd_limit()
    try:
        status = asyncio.run(run(args))
    except (RuntimeError, httpx.HTTPError) as exc:  # the stack is already torn down
        print(f"race_concurrency: {exc}", file=sys.stderr)
        status = 2
    sys.exit(status)


if __name__ == "__main__":
    main()
