"""Deadline adherence: how soon after the window W a race whose flex never starts falls back.

The simulator holds every flex attempt ``--flex-delay`` seconds (default 600, i.e. never within
the window) and answers the standard tier at once. M races (default 1,000) start together with
W = 5 s; each must give up on flex when W is spent, close the flex connection (the provider
stops work) and dispatch the standard tier at once: SPEC section 3 asks for dispatch no later
than W + 50 ms (p99) after receipt. A baseline of single races (M = 1, one at a time) in the
same run shows the floor. Reported per phase:

* fallback dispatch minus W, from the server's own records (``fallback_after_ms - W`` of each
  "request routed" line): p50/p99/max, the headline (target p99 <= 50 ms);
* a cross-check on the simulator's clock, which is the machine's wall clock like the server's
  ``create_time`` (receipt): the standard request's arrival at the provider minus receipt minus
  W (linked through the request id the client got and a unique input text per request, which
  the simulator records); and, as a sanity check needing no linking, each standard arrival
  relative to the first flex arrival of its round (this includes the spread of arrivals);
* that every flex attempt was cancelled (simulator outcome ``client_disconnected``, and how long
  after W the simulator saw the disconnect) and every request answered on standard.

Numbers, not timed assertions: the exit status is 1 only when a request failed or was not
answered as expected (a correctness problem), 2 when the benchmark could not run.

    .venv/bin/python bench/deadline_adherence.py [--races 1000] [--baseline-runs 3] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import math
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import grpc
import httpx

sys.path.insert(0, __file__.rsplit("/bench/", 1)[0])

from flexinference.v1 import route_pb2_grpc

from bench.harness import Stack, percentile, raise_fd_limit, stack
from bench.race_concurrency import (
    CHANNEL_OPTIONS,
    RaceResult,
    check_alive,
    fd_limit,
    one_race,
    race_request,
    window_text,
)
from flexgrpc.sim.config import SimConfig

if TYPE_CHECKING:  # the asyncio stub type exists only in the .pyi
    from flexinference.v1.route_pb2_grpc import RouteServiceAsyncStub as Stub

#: Defaults of the full run, and of ``--quick`` (which changes only flags not given).
FULL = {"races": 1000, "baseline_runs": 3}
QUICK = {"races": 100, "baseline_runs": 1}


@dataclass
class Phase:
    """One or more rounds of races with the same shape, and what was recorded about them."""

    label: str  # short, for the summary table
    title: str  # longer, for the phase's own block
    results: list[RaceResult] = field(default_factory=list)
    outcomes: list[dict[str, Any]] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)
    #: Per round: the simulator's first flex arrival, so rounds are not mixed up.
    first_flex: list[float] = field(default_factory=list)
    wall_s: list[float] = field(default_factory=list)
    #: Per answered race: the whole call (from the round's launch) minus W, in ms.
    client_late: list[float] = field(default_factory=list)
    unsettled: int = 0  # rounds whose records did not all settle in time


async def run_round(
    s: Stack,
    stubs: list[Stub],
    phase: Phase,
    label: str,
    m: int,
    window_s: int,
) -> None:
    """``m`` races at once; adds their results and records to ``phase``."""
    check_alive(s)
    await asyncio.to_thread(s.reset_sim)
    logged_before = len(await asyncio.to_thread(s.outcomes))
    tags = [f"{label} {i}" for i in range(m)]
    requests = [race_request(window_text(window_s), tag) for tag in tags]
    launched = time.perf_counter()
    results = await asyncio.gather(
        *(
            one_race(stubs[i % len(stubs)], requests[i], s.metadata, window_s + 30.0, tags[i])
            for i in range(m)
        )
    )
    phase.wall_s.append(time.perf_counter() - launched)
    phase.client_late += [
        (r.finished_at - launched) * 1000 - window_s * 1000 for r in results if r.ok
    ]

    # Wait (bounded) until the server has logged every outcome and the simulator has closed
    # every record: the flex ones end when the simulator notices the disconnect.
    outcomes: list[dict[str, Any]] = []
    records: list[dict[str, Any]] = []
    settle_by = time.monotonic() + 15
    while True:
        outcomes = (await asyncio.to_thread(s.outcomes))[logged_before:]
        records = await asyncio.to_thread(s.sim_records)
        settled = len(outcomes) >= m and all(r.get("outcome") for r in records)
        if settled or time.monotonic() > settle_by:
            break
        await asyncio.sleep(0.25)
    phase.unsettled += not settled
    flex_arrivals = [r["arrival_time"] for r in records if r.get("service_tier") == "flex"]
    if flex_arrivals:
        first = min(flex_arrivals)
        phase.first_flex.append(first)
        for record in records:
            record["_first_flex"] = first
    phase.results.extend(results)
    phase.outcomes.extend(outcomes)
    phase.records.extend(records)


@dataclass
class Figures:
    """What one phase measured, in milliseconds; "receipt" is the server's ``create_time`` of
    the request (wall clock, like the simulator's), linked to the simulator's records through
    the request id the client got and the unique input text the simulator recorded."""

    server_late: list[float]  # fallback_after_ms - W
    standard_late: list[float]  # sim: standard arrival - receipt - W
    vs_first_flex: list[float]  # sim: standard arrival - first flex arrival of the round - W
    flex_spread: list[float]  # sim: flex arrival - first flex arrival of the round
    flex_dispatch: list[float]  # sim: flex arrival - receipt
    disconnect_late: list[float]  # sim: flex disconnect seen - receipt - W
    client_late: list[float]  # client: whole call - W (the ramp and the standard answer too)


def _receipts(phase: Phase) -> dict[str, float]:
    """Input text -> wall-clock receipt at the server, for every answered race."""
    created = {
        o.get("request_id"): dt.datetime.fromisoformat(o["create_time"]).timestamp()
        for o in phase.outcomes
        if o.get("create_time")
    }
    return {r.tag: created[r.request_id] for r in phase.results if r.request_id in created}


def figures(phase: Phase, window_s: int) -> Figures:
    w = window_s * 1000
    receipts = _receipts(phase)
    standard: list[tuple[Any, dict[str, Any]]] = []
    flex: list[tuple[Any, dict[str, Any]]] = []
    for record in phase.records:
        body = record.get("body")
        tag = body.get("input") if isinstance(body, dict) else None
        if "_first_flex" not in record:
            continue
        (flex if record.get("service_tier") == "flex" else standard).append((tag, record))

    def since_receipt(
        pairs: list[tuple[Any, dict[str, Any]]], key: str, minus: float
    ) -> list[float]:
        return [
            (record[key] - receipts[tag]) * 1000 - minus
            for tag, record in pairs
            if tag in receipts and record.get(key) is not None
        ]

    return Figures(
        server_late=[
            o["fallback_after_ms"] - w
            for o in phase.outcomes
            if o.get("fallback_after_ms") is not None
        ],
        standard_late=since_receipt(standard, "arrival_time", w),
        vs_first_flex=[(r["arrival_time"] - r["_first_flex"]) * 1000 - w for _, r in standard],
        flex_spread=[(r["arrival_time"] - r["_first_flex"]) * 1000 for _, r in flex],
        flex_dispatch=since_receipt(flex, "arrival_time", 0),
        disconnect_late=since_receipt(flex, "disconnect_time", w),
        client_late=phase.client_late,
    )


def dist(values: list[float]) -> str:
    if not values:
        return "no values"
    return (
        f"p50 {percentile(values, 50):8.2f}   p99 {percentile(values, 99):8.2f}   "
        f"max {max(values):8.2f}   min {min(values):8.2f} ms   n={len(values)}"
    )


def checks(phase: Phase) -> tuple[bool, list[str]]:
    """Correctness of a phase, and the lines that describe it."""
    n = len(phase.results)
    ok = [r for r in phase.results if r.ok]
    failures = Counter(f"{r.code}: {r.detail[:120]}" for r in phase.results if not r.ok)
    tiers = Counter(r.tier for r in ok)
    answers = Counter(r.service_tier for r in ok)
    routed = Counter(f"{o.get('outcome')}/{o.get('served_tier')}" for o in phase.outcomes)
    attempts = Counter(o.get("flex_attempts") for o in phase.outcomes)
    flex = Counter(r.get("outcome") for r in phase.records if r.get("service_tier") == "flex")
    standard = Counter(
        f"{r.get('service_tier')}:{r.get('outcome')}"
        for r in phase.records
        if r.get("service_tier") != "flex"
    )
    on_standard = sum(r.tier == "standard" for r in ok)
    fell_back = sum(
        o.get("outcome") == "fell_back" and o.get("served_tier") == "standard"
        for o in phase.outcomes
    )
    cancelled = flex.get("client_disconnected", 0)
    good = (
        len(ok) == n
        and on_standard == n
        and fell_back == n
        and cancelled == n
        and sum(flex.values()) == n
        and sum(standard.values()) == n
        and attempts == Counter({1: n})
    )
    lines = [
        f"answered         {len(ok)}/{n}; tier metadata {dict(tiers)}; answer service_tier "
        f"{dict(answers)}",
        f"server outcomes  {len(phase.outcomes)} logged: {dict(routed)}; flex_attempts "
        f"{dict(attempts)}",
        f"sim flex         {sum(flex.values())} attempts: {dict(flex)} (cancelled {cancelled}/{n})",
        f"sim standard     {sum(standard.values())} requests: {dict(standard)}",
    ]
    lines += [f"  FAILED {count} x {text}" for text, count in failures.most_common(5)]
    if phase.unsettled:
        lines.append(f"  {phase.unsettled} round(s) did not settle within 15 s after the answers")
    return good, lines


def print_phase(phase: Phase, fig: Figures, window_s: int) -> bool:
    good, lines = checks(phase)
    spread = f"{max(fig.flex_spread):.1f} ms" if fig.flex_spread else "n/a"
    rows = (
        (f"fallback dispatch - W (server: fallback_after_ms - {window_s * 1000})", fig.server_late),
        ("sim: standard arrival - receipt - W (the fallback as the provider sees it)",
         fig.standard_late),
        (f"sim: standard arrival - first flex arrival of the round - W (flex arrivals span "
         f"{spread})", fig.vs_first_flex),
        ("sim: flex arrival - receipt (flex dispatch, for context)", fig.flex_dispatch),
        ("sim: flex disconnect seen - receipt - W (the flex attempt cancelled)",
         fig.disconnect_late),
        ("client: whole call - W (launch ramp and standard answer included)", fig.client_late),
    )  # fmt: skip
    print(f"\n--- {phase.title} ---")
    for title, values in rows:
        print(f"{title}\n  {dist(values)}")
    for line in lines:
        print(line)
    print(f"wall time per round: {', '.join(f'{w:.2f} s' for w in phase.wall_s)}")
    return good


async def measure(args: argparse.Namespace, s: Stack, channels: list[grpc.aio.Channel]) -> int:
    stubs = [route_pb2_grpc.RouteServiceStub(channel) for channel in channels]
    w = args.window
    print(
        f"flex never starts (fixed:{args.flex_delay}s), W = {window_text(w)}; baseline "
        f"{args.baseline_runs} single race(s), then {args.races} races at once over "
        f"{len(channels)} channels; open-file limits: client {fd_limit()}, server "
        f"{fd_limit(s.server.process.pid)}, simulator {fd_limit(s.sim.process.pid)}"
    )
    # Warm-up: fixed-tier requests on every channel, and one race that falls back.
    warm = Phase("warm-up", "warm-up")
    default = race_request("default", "warm-up")
    fixed, _ = await asyncio.gather(
        asyncio.gather(
            *(one_race(stubs[i % len(stubs)], default, s.metadata, 30) for i in range(20))
        ),
        run_round(s, stubs, warm, "warm-up", 1, w),
    )
    bad = [r for r in [*fixed, *warm.results] if not r.ok]
    if bad:
        raise RuntimeError(f"warm-up failed: {bad[0].code} {bad[0].detail}")

    baseline = Phase(
        f"baseline M=1 x{args.baseline_runs}",
        f"baseline: M=1, {args.baseline_runs} single race(s) one after another",
    )
    for k in range(args.baseline_runs):
        await run_round(s, stubs, baseline, f"single {k}", 1, w)
    loaded = Phase(f"M={args.races} at once", f"M={args.races} races at once")
    started = time.perf_counter()
    await run_round(s, stubs, loaded, "loaded", args.races, w)
    print(f"(the M round took {time.perf_counter() - started:.1f} s including settling)")

    results = []
    for phase in (baseline, loaded):
        fig = figures(phase, w)
        results.append((phase, fig, print_phase(phase, fig, w)))

    print(f"\n=== deadline_adherence summary (W = {w * 1000} ms, flex never starts) ===")
    print("ms after W            server: fallback dispatch    sim: standard arrival     correct")
    print(f"{'':18} {'p50':>9} {'p99':>9} {'max':>9}   {'p50':>7} {'p99':>7} {'max':>7}")

    def cells(values: list[float], width: int) -> str:
        figures = (percentile(values, 50), percentile(values, 99), max(values, default=math.nan))
        return " ".join(f"{v:{width}.1f}" for v in figures)

    for phase, fig, good in results:
        print(
            f"{phase.label[:18]:18} {cells(fig.server_late, 9)}   {cells(fig.standard_late, 7)}"
            f"     {'yes' if good else 'NO'}"
        )
    loaded_p99 = percentile(results[-1][1].server_late, 99)
    print(
        f"target p99 <= 50 ms at M={args.races}: "
        f"{'met' if loaded_p99 <= 50 else 'MISSED'} ({loaded_p99:.2f} ms)"
    )
    correct = all(good for _, _, good in results)
    print(
        "result: "
        + (
            "every flex attempt cancelled, every request answered on standard"
            if correct
            else "CORRECTNESS PROBLEMS (see the phases above)"
        )
    )
    return 0 if correct else 1


async def run(args: argparse.Namespace) -> int:
    config = SimConfig(seed=args.seed).with_tier("flex", start_delay=f"fixed:{args.flex_delay}s")
    with stack() as s:
        s.configure_sim(config.to_dict())
        channels = [
            grpc.aio.insecure_channel(s.target, options=CHANNEL_OPTIONS)
            for _ in range(args.channels)
        ]
        try:
            return await measure(args, s, channels)
        finally:
            for channel in channels:
                await channel.close()
            print(f"\nlogs: {s.server.log} and {s.sim.log}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add = parser.add_argument
    add("--races", type=int, help="M, races at once (1000; quick 100)")
    add("--baseline-runs", type=int, help="single races, one at a time (3; quick 1)")
    add("--window", type=int, default=5, help="W, the start_within window in seconds (5)")
    add("--flex-delay", type=int, default=600, help="seconds before flex would start (600)")
    add("--channels", type=int, default=4, help="client channels, one connection each (4)")
    add("--seed", type=int, default=7, help="simulator seed (7)")
    add("--quick", action="store_true", help="a short smoke run (M=100, 1 baseline race)")
    args = parser.parse_args()
    for name, value in (QUICK if args.quick else FULL).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.races < 1 or args.baseline_runs < 1 or args.channels < 1:
        parser.error("--races, --baseline-runs and --channels must be positive")
    if not 5 <= args.window <= 600 or args.flex_delay <= args.window + 5:
        parser.error("W must be 5..600 s, and flex must not start within it (--flex-delay)")
    raise_fd_limit()
    try:
        status = asyncio.run(run(args))
    except (RuntimeError, httpx.HTTPError) as exc:  # the stack is already torn down
        print(f"deadline_adherence: {exc}", file=sys.stderr)
        status = 2
    sys.exit(status)


if __name__ == "__main__":
    main()
