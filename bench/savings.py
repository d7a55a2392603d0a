"""Benchmark 2: flex savings the plain race captures against an oracle, and the time it costs.

A seeded workload of gpt-5-mini requests, each with a flex window drawn log-uniformly from 5 s to
120 s (whole seconds, the ``start_within`` grammar), arrives as a Poisson process and runs
concurrently over grpc.aio through ``flexgrpc serve`` against the bundled provider simulator.

Simulator (default): flex start delay ``exp:30s`` (queueing is memoryless: median 20.8 s,
P(<=5 s) 15 %, P(<=30 s) 63 %, P(<=120 s) 98 %, so windows from 5 s to 120 s span "flex almost
never starts" to "flex almost always starts"); flex refusal rate 0.2, refused at once (an OpenAI
429 arrives fast); standard instant; answers sent whole (token_rate 0). ``--time-scale``
multiplies the simulator's delays only -- windows cannot shrink below 5 s -- so it changes the
experiment (flex mean = 30 s x scale), it does not merely speed it up.

Savings. Flex costs half of standard, so a request served on flex saves half its standard cost.
The standard cost is priced from the real usage the router recorded for the request (its
``request routed`` outcome: input, cached input, output incl. reasoning tokens) at gpt-5-mini's
standard list prices; a second count treats every flex-served request as 1 unit.

Oracles. Every request carries ``metadata.bench_id``, which the simulator records in ``body``;
that links the router's outcome (via the ``x-flexinference-request-id`` initial metadata) to
every upstream attempt the simulator saw, with its own drawn ``start_delay`` and outcome.

* oracle (first attempt): knows the first flex attempt's fate. It rides flex when that attempt
  was not refused and would start within the window (dispatch offset + drawn start delay <= W);
  otherwise it goes to standard at receipt. It does not know what retries would draw, so on a
  refused first attempt it goes to standard -- where the race's retry may still win flex. Such
  requests are counted ("race beat the oracle") and the share can exceed 100 %.
* oracle (hindsight): flex exactly when the race ended on flex, standard at once otherwise --
  same savings as the race, no waiting: it isolates the answer-time cost of waiting out windows.

Answer time: p50/p99 of ``time_to_start_ms`` (server, from receipt) and the client-measured time
to the first response message. Oracle times: the flex start when it rides flex (the race's own
measurement when the race won on that same first attempt, else dispatch offset + drawn delay),
else the standard leg's latency (``time_to_start_ms - fallback_after_ms`` of that request when it
fell back, else the run's median of those). Standard-only is a second, short pass with
``start_within: "default"`` against the same simulator.

Policies. ``--policy plain`` (the default) measures the plain race; ``--policy learned`` starts
the server with ``FLEXGRPC_FLEX_POLICY=learned`` (SPEC 3.8: flex races that recent races show
cannot start within the window go to standard at once). The same seed gives the same workload
(arrivals, windows); the simulator's draws follow the same distributions (they are keyed by the
order requests reach it, which a skipped flex attempt shifts). A request the learned policy sends
straight to standard has no flex attempt, so the oracle columns of that run cover only the
requests it raced: compare its savings with the plain run's oracle. Numbers, not assertions.

    .venv/bin/python bench/savings.py [--requests 2000] [--seed 7] [--policy plain|learned]
        [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import math
import random
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc

sys.path.insert(0, __file__.rsplit("/bench/", 1)[0])

from flexinference.v1 import route_pb2, route_pb2_grpc
from google.api import httpbody_pb2

from bench.harness import Stack, percentile, raise_fd_limit, stack

MODEL = "gpt-5-mini"
#: gpt-5-mini standard list prices (OpenAI pricing page, since Aug 2025) in pico-USD per token:
#: $0.25 / 1M input, $0.025 / 1M cached input, $2.00 / 1M output (reasoning billed as output).
#: Flex is exactly half of each, so the saving of a flex answer is standard cost / 2 (exact).
#: Bench-local: the price catalog (SPEC 4) does not exist yet.
PRICE_PICO = {"input": 250_000, "cached": 25_000, "output": 2_000_000}
REQUEST_ID_HEADER = "x-flexinference-request-id"
TIER_HEADER = "x-flexinference-tier"


# -- workload ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Planned:
    bench_id: str
    offset_s: float  # arrival, seconds after the pass starts
    window_s: int


def workload(
    n: int, seed: int, arrival_s: float, min_w: int, max_w: int, prefix: str = "r"
) -> list[Planned]:
    """``n`` requests: Poisson arrivals over about ``arrival_s``, log-uniform windows."""
    rng = random.Random(seed)  # a reproducible workload, not security
    rate = n / arrival_s if arrival_s > 0 else math.inf
    t, out = 0.0, []
    for i in range(n):
        t += rng.expovariate(rate) if math.isfinite(rate) else 0.0
        window = round(math.exp(rng.uniform(math.log(min_w), math.log(max_w))))
        out.append(Planned(f"{prefix}-{seed}-{i:06d}", t, max(min_w, min(max_w, window))))
    return out


def window_text(seconds: int) -> str:
    return f"{seconds // 3600:02d}h-{seconds % 3600 // 60:02d}m-{seconds % 60:02d}s"


@dataclass(frozen=True)
class Policy:
    """How a workload request is asked of the router, and the server's flex policy."""

    name: str
    note: str
    start_within: Callable[[Planned], str]
    server_policy: str = "plain"


POLICIES = {
    "plain": Policy(
        "plain race",
        "flex until it starts or the window ends, retrying refusals; then standard",
        lambda p: window_text(p.window_s),
    ),
    "learned": Policy(
        "learned race",
        "the plain race, except windows recent races show flex cannot meet: standard at once",
        lambda p: window_text(p.window_s),
        server_policy="learned",
    ),
}
STANDARD_ONLY = Policy("standard only", 'start_within "default"', lambda p: "default")


# -- driving the router --------------------------------------------------------------------


@dataclass
class Sent:
    planned: Planned
    start_wall: float = 0.0
    request_id: str = ""
    header_tier: str = ""
    body_tier: str = ""
    first_message_ms: float | None = None
    total_ms: float | None = None
    error: str = ""


async def _one(
    stub: route_pb2_grpc.RouteServiceStub, s: Stack, policy: Policy, sent: Sent, t0: float
) -> None:
    p = sent.planned
    await asyncio.sleep(max(0.0, t0 + p.offset_s - time.perf_counter()))
    payload = {
        "model": MODEL,
        "input": f"Summarise support ticket {p.bench_id} in one paragraph.",
        "metadata": {"bench_id": p.bench_id},
        "start_within": policy.start_within(p),
    }
    request = route_pb2.CreateResponseRequest(
        body=httpbody_pb2.HttpBody(
            content_type="application/json", data=json.dumps(payload).encode()
        )
    )
    sent.start_wall = time.time()
    started = time.perf_counter()
    chunks: list[bytes] = []
    try:
        call = stub.CreateResponse(request, metadata=s.metadata, timeout=p.window_s + 120)
        async for message in call:
            if sent.first_message_ms is None:
                sent.first_message_ms = (time.perf_counter() - started) * 1000
            chunks.append(message.data)
        sent.total_ms = (time.perf_counter() - started) * 1000
        metadata = dict(await call.initial_metadata() or ())
        sent.request_id = str(metadata.get(REQUEST_ID_HEADER, ""))
        sent.header_tier = str(metadata.get(TIER_HEADER, ""))
        sent.body_tier = str(json.loads(b"".join(chunks)).get("service_tier", ""))
    except grpc.aio.AioRpcError as error:
        sent.error = f"{error.code().name}: {(error.details() or '')[:160]}"
    except ValueError as error:
        sent.error = f"unparseable answer: {error}"


async def drive(s: Stack, policy: Policy, plan: Sequence[Planned]) -> list[Sent]:
    """Send every planned request at its arrival time, all concurrently; wait for all."""
    sent = [Sent(p) for p in plan]
    options = [("grpc.max_receive_message_length", 16 * 1024 * 1024)]
    async with grpc.aio.insecure_channel(s.target, options=options) as channel:
        stub = route_pb2_grpc.RouteServiceStub(channel)
        await channel.channel_ready()
        t0 = time.perf_counter()
        progress = asyncio.create_task(_progress(sent, t0))
        await asyncio.gather(*(_one(stub, s, policy, x, t0) for x in sent))
        progress.cancel()
    return sent


async def _progress(sent: Sequence[Sent], t0: float) -> None:
    while True:
        await asyncio.sleep(15)
        done = sum(1 for x in sent if x.total_ms is not None or x.error)
        began = sum(1 for x in sent if x.start_wall)
        elapsed = time.perf_counter() - t0
        print(f"  ... {elapsed:5.0f} s: {began} sent, {done} answered", file=sys.stderr)


def wait_for_records(s: Stack, ids: set[str], expect_outcomes: int) -> tuple[list, list]:
    """Outcomes and simulator records, once logged and closed (or after 15 s)."""
    deadline = time.monotonic() + 15
    while True:
        outcomes = s.outcomes()
        records = [r for r in s.sim_records() if _bench_id(r) in ids]
        settled = len(outcomes) >= expect_outcomes and all(r["outcome"] for r in records)
        if settled or time.monotonic() > deadline:
            return outcomes, records
        time.sleep(0.5)


def _bench_id(record: dict[str, Any]) -> str | None:
    body = record.get("body")
    meta = body.get("metadata") if isinstance(body, dict) else None
    return meta.get("bench_id") if isinstance(meta, dict) else None


# -- analysis ------------------------------------------------------------------------------


def standard_cost_pico(usage: dict[str, Any] | None) -> int | None:
    """Standard-tier cost of an OpenAI Responses usage block, in pico-USD (None: no usage)."""
    if not isinstance(usage, dict) or "input_tokens" not in usage:
        return None
    prompt = int(usage.get("input_tokens") or 0)
    cached = int((usage.get("input_tokens_details") or {}).get("cached_tokens") or 0)
    output = int(usage.get("output_tokens") or 0)  # includes reasoning tokens
    return (
        (prompt - cached) * PRICE_PICO["input"]
        + cached * PRICE_PICO["cached"]
        + output * PRICE_PICO["output"]
    )


@dataclass
class Row:
    """One race request, joined across client, router outcome and simulator records."""

    sent: Sent
    outcome: dict[str, Any] | None
    flex: list[dict[str, Any]]  # flex attempts the simulator saw, in arrival order
    standard: list[dict[str, Any]]
    create_wall: float | None = None
    oracle_flex: bool = False
    oracle_ms: float | None = None
    standard_leg_ms: float | None = None

    @property
    def o(self) -> dict[str, Any]:
        """The router's outcome record ({} when there is none)."""
        return self.outcome or {}

    @property
    def kind(self) -> str:
        return str(self.o.get("outcome", "no outcome"))

    @property
    def window_ms(self) -> int:
        return self.sent.planned.window_s * 1000

    @property
    def saving_pico(self) -> int | None:
        cost = standard_cost_pico((self.outcome or {}).get("usage"))
        return None if cost is None else cost // 2


def join(sent: Sequence[Sent], outcomes: Sequence[dict], records: Sequence[dict]) -> list[Row]:
    by_request = {o["request_id"]: o for o in outcomes}
    by_bench: dict[str, list[dict]] = defaultdict(list)
    for record in records:
        by_bench[str(_bench_id(record))].append(record)
    rows = []
    for x in sent:
        attempts = sorted(by_bench.get(x.planned.bench_id, []), key=lambda r: r["arrival_time"])
        row = Row(
            x,
            by_request.get(x.request_id) if x.request_id else None,
            [r for r in attempts if r.get("service_tier") == "flex"],
            [r for r in attempts if r.get("service_tier") != "flex"],
        )
        if row.outcome is not None:
            row.create_wall = dt.datetime.fromisoformat(row.outcome["create_time"]).timestamp()
        rows.append(row)
    return rows


def decide_oracle(rows: Sequence[Row]) -> None:
    """Fill each row's oracle choice (first flex attempt known) and its time to start."""
    legs = []
    for row in rows:
        o = row.outcome or {}
        if o.get("outcome") == "fell_back" and o.get("fallback_after_ms") is not None:
            row.standard_leg_ms = o["time_to_start_ms"] - o["fallback_after_ms"]
            legs.append(row.standard_leg_ms)
    typical_leg = statistics.median(legs) if legs else None
    for row in rows:
        if not row.flex or row.create_wall is None:
            continue
        first = row.flex[0]
        offset_ms = (first["arrival_time"] - row.create_wall) * 1000
        start_ms = offset_ms + (first["start_delay"] or 0.0) * 1000
        can_start = first["outcome"] not in ("refused", "error") and start_ms <= row.window_ms
        row.oracle_flex = can_start
        o = row.outcome or {}
        if can_start:
            same = o.get("outcome") == "flex_won" and o.get("flex_attempts") == 1
            row.oracle_ms = float(o["time_to_start_ms"]) if same else start_ms
        else:
            leg = row.standard_leg_ms if row.standard_leg_ms is not None else typical_leg
            row.oracle_ms = leg


@dataclass
class Column:
    policy: str
    served: int  # requests answered
    flex_served: int
    fallbacks: int | None  # None: not a dispatch policy (an oracle never waits to fall back)
    saving_pico: int
    unpriced_flex: int  # flex answers without usage (counted in units only)
    tts_ms: list[float]
    client_ms: list[float]


def race_column(policy: Policy, rows: Sequence[Row]) -> Column:
    ok = [r for r in rows if r.kind in ("flex_won", "fell_back")]
    flex = [r for r in ok if r.kind == "flex_won"]
    return Column(
        policy.name,
        len(ok),
        len(flex),
        sum(1 for r in ok if r.kind == "fell_back"),
        sum(r.saving_pico or 0 for r in flex),
        sum(1 for r in flex if r.saving_pico is None),
        [float(r.outcome["time_to_start_ms"]) for r in ok if r.outcome],
        [r.sent.first_message_ms for r in ok if r.sent.first_message_ms is not None],
    )


def oracle_column(rows: Sequence[Row]) -> Column:
    known = [r for r in rows if r.oracle_ms is not None and r.kind in ("flex_won", "fell_back")]
    flex = [r for r in known if r.oracle_flex]
    return Column(
        "oracle (first attempt)",
        len(known),
        len(flex),
        None,
        sum(r.saving_pico or 0 for r in flex),
        sum(1 for r in flex if r.saving_pico is None),
        [r.oracle_ms for r in known if r.oracle_ms is not None],
        [],
    )


def hindsight_column(rows: Sequence[Row], typical_leg: float | None) -> Column:
    ok = [r for r in rows if r.kind in ("flex_won", "fell_back")]
    flex = [r for r in ok if r.kind == "flex_won"]
    times = []
    for r in ok:
        if r.kind == "flex_won":
            times.append(float(r.o["time_to_start_ms"]))
        elif r.standard_leg_ms is not None or typical_leg is not None:
            times.append(r.standard_leg_ms if r.standard_leg_ms is not None else typical_leg)
    return Column(
        "oracle (hindsight)",
        len(ok),
        len(flex),
        None,
        sum(r.saving_pico or 0 for r in flex),
        sum(1 for r in flex if r.saving_pico is None),
        times,
        [],
    )


def standard_column(sent: Sequence[Sent], outcomes: Sequence[dict]) -> Column:
    by_request = {o["request_id"]: o for o in outcomes}
    mine = [by_request[x.request_id] for x in sent if x.request_id in by_request]
    return Column(
        STANDARD_ONLY.name,
        sum(1 for o in mine if o["outcome"] == "free_tier"),
        0,
        0,
        0,
        0,
        [float(o["time_to_start_ms"]) for o in mine if o.get("time_to_start_ms") is not None],
        [x.first_message_ms for x in sent if x.first_message_ms is not None],
    )


# -- printing ------------------------------------------------------------------------------


def _usd(pico: int) -> str:
    return f"${pico / 1e12:.6f}"


def _pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:6.1f} %" if whole else "     n/a"


def _p(values: Sequence[float], q: float) -> str:
    return "-" if not values else f"{percentile(values, q) / 1000:.3f} s"


def print_table(columns: Sequence[Column], oracle: Column) -> None:
    """One row per policy; shares are of the first-attempt oracle's savings."""
    print(
        f"\n{'policy':<24}{'answered':>9}{'on flex':>8}{'win rate':>10}{'fallbacks':>10}"
        f"{'saved USD':>12}{'of oracle':>11}{'units of oracle':>16}"
        f"{'tts p50':>10}{'tts p99':>10}{'client p50':>11}{'client p99':>11}"
    )
    for c in columns:
        fallbacks = "-" if c.fallbacks is None else str(c.fallbacks)
        print(
            f"{c.policy:<24}{c.served:>9}{c.flex_served:>8}{_pct(c.flex_served, c.served):>10}"
            f"{fallbacks:>10}{_usd(c.saving_pico):>12}"
            f"{_pct(c.saving_pico, oracle.saving_pico):>11}"
            f"{_pct(c.flex_served, oracle.flex_served):>16}"
            f"{_p(c.tts_ms, 50):>10}{_p(c.tts_ms, 99):>10}"
            f"{_p(c.client_ms, 50):>11}{_p(c.client_ms, 99):>11}"
        )
    print(
        "  tts = time_to_start_ms from the router's outcome (receipt to first output); client = "
        "time to the first response message at the client (non-streamed: the whole answer)."
    )


def checks(rows: Sequence[Row], outcomes: Sequence[dict], sent: Sequence[Sent]) -> list[str]:
    """Anything that looks like a router defect, with counts and examples."""
    found: list[str] = []

    def report(label: str, bad: Sequence[Row], show: Callable[[Row], str]) -> None:
        if bad:
            examples = "; ".join(show(r) for r in bad[:3])
            found.append(f"{label}: {len(bad)} (e.g. {examples})")

    errors = Counter(x.error.split(":")[0] for x in sent if x.error)
    if errors:
        found.append(f"RPC errors: {dict(errors)}; e.g. {next(x.error for x in sent if x.error)}")
    report(
        "answered without a routing outcome record",
        [r for r in rows if r.outcome is None and not r.sent.error],
        lambda r: f"{r.sent.planned.bench_id} request_id={r.sent.request_id or '?'}",
    )
    linked = {r.outcome["request_id"] for r in rows if r.outcome}
    stray = [o for o in outcomes if o["request_id"] not in linked]
    if stray:
        found.append(f"outcome records matching no request of this pass: {len(stray)}")
    report(
        "served tier disagrees with the race outcome / header / answer body / simulator",
        [r for r in rows if r.outcome and _tier_mismatch(r)],
        lambda r: (
            f"{r.sent.planned.bench_id} {r.kind} served={r.o['served_tier']} "
            f"header={r.sent.header_tier} body={r.sent.body_tier}"
        ),
    )
    report(
        "flex_attempts differs from the flex requests the simulator saw",
        [r for r in rows if r.outcome and r.outcome.get("flex_attempts") != len(r.flex)],
        lambda r: f"{r.sent.planned.bench_id} router={r.o['flex_attempts']} sim={len(r.flex)}",
    )
    report(
        "flex won after the window",
        [r for r in rows if r.kind == "flex_won" and r.o["time_to_start_ms"] > r.window_ms],
        lambda r: f"{r.sent.planned.bench_id} tts={r.o['time_to_start_ms']} ms W={r.window_ms} ms",
    )
    report(
        "fell back although a flex attempt would have started >50 ms inside the window",
        [r for r in rows if r.kind == "fell_back" and _abandoned(r, margin_ms=50)],
        lambda r: f"{r.sent.planned.bench_id} W={r.window_ms} ms",
    )
    report(
        "upstream attempts still open at the end (not cancelled)",
        [r for r in rows if any(a["outcome"] is None for a in r.flex + r.standard)],
        lambda r: r.sent.planned.bench_id,
    )
    report(
        "fell back but the last flex attempt was not closed by the router",
        [
            r
            for r in rows
            if r.kind == "fell_back"
            and r.flex
            and r.flex[-1]["outcome"] not in ("client_disconnected", "refused", "error")
        ],
        lambda r: f"{r.sent.planned.bench_id} last flex outcome={r.flex[-1]['outcome']}",
    )
    return found


def _abandoned(row: Row, margin_ms: float) -> bool:
    """A flex attempt that was not refused and whose drawn start fell inside the window."""
    if row.create_wall is None:
        return False
    for attempt in row.flex:
        if attempt["outcome"] in ("refused", "error") or attempt["start_delay"] is None:
            continue
        start_ms = (attempt["arrival_time"] + attempt["start_delay"] - row.create_wall) * 1000
        if start_ms <= row.window_ms - margin_ms:
            return True
    return False


def _tier_mismatch(row: Row) -> bool:
    o = row.outcome or {}
    expected = {"flex_won": "flex", "fell_back": "standard", "free_tier": "standard"}.get(
        o.get("outcome", "")
    )
    if expected is None:
        return False
    body = {"flex": "flex", "default": "standard"}.get(row.sent.body_tier, row.sent.body_tier)
    served_records = [a for a in row.flex + row.standard if a.get("outcome") == "completed"]
    sim = {"flex": "flex", "default": "standard"}.get(
        served_records[-1].get("served_tier") if served_records else "", "?"
    )
    return not (o.get("served_tier") == row.sent.header_tier == body == sim == expected)


def report_run(
    args: argparse.Namespace,
    plan: Sequence[Planned],
    rows: Sequence[Row],
    outcomes: Sequence[dict],
    race_sent: Sequence[Sent],
    std_rows: Sequence[Row],
    std_outcomes: Sequence[dict],
    elapsed_s: float,
) -> None:
    windows = [p.window_s for p in plan]
    print(
        f"\nworkload: {len(plan)} requests (seed {args.seed}), Poisson arrivals over "
        f"{plan[-1].offset_s:.0f} s, windows log-uniform {args.min_window}-{args.max_window} s "
        f"(median {statistics.median(windows):.0f} s); race pass took {elapsed_s:.0f} s"
    )
    print(
        f"simulator: flex start delay {args.flex_start_delay}, flex refusal rate "
        f"{args.flex_refusal_rate} (refusal delay {args.flex_refusal_delay}), standard "
        f"{args.standard_start_delay}, time scale {args.time_scale}"
    )
    print(
        "savings: half the standard cost of each flex-served request, from the usage in its "
        "routing outcome, at gpt-5-mini standard list prices ($0.25 in / $0.025 cached / "
        "$2.00 out per 1M); 'units' counts each flex-served request as 1."
    )
    policy = POLICIES[args.policy]
    print(f"policy: {policy.name}: {policy.note} (FLEXGRPC_FLEX_POLICY={policy.server_policy})")
    decide_oracle(rows)
    legs = [r.standard_leg_ms for r in rows if r.standard_leg_ms is not None]
    typical = statistics.median(legs) if legs else None
    oracle = oracle_column(rows)
    hindsight = hindsight_column(rows, typical)
    race = race_column(policy, rows)
    standard = standard_column([r.sent for r in std_rows], std_outcomes)
    print_table([race, oracle, hindsight, standard], oracle)

    kinds = Counter(r.kind for r in rows)
    print(f"\nrace outcomes: {dict(kinds)}")
    attempts = Counter((r.outcome or {}).get("flex_attempts", 0) for r in rows)
    print(f"flex attempts per request: {dict(sorted(attempts.items()))}")
    skipped = [r for r in rows if r.kind == "fell_back" and not r.flex]
    print(
        f"sent straight to standard by the flex policy (no flex attempt): {len(skipped)}"
        + (
            f", windows p50 {percentile([r.window_ms / 1000 for r in skipped], 50):.0f} s"
            if skipped
            else ""
        )
    )
    cross = Counter((r.kind, "flex" if r.oracle_flex else "standard") for r in rows if r.flex)
    print("race outcome x oracle (first attempt) choice:")
    for (kind, choice), count in sorted(cross.items()):
        print(f"  {kind:<11} / oracle {choice:<8} {count:6}")
    beat = [r for r in rows if r.kind == "flex_won" and not r.oracle_flex]
    beat_refused = sum(1 for r in beat if r.flex and r.flex[0]["outcome"] == "refused")
    print(
        f"race beat the oracle (flex won, oracle chose standard): {len(beat)} "
        f"({beat_refused} after a refused first attempt, won by a retry); worth "
        f"{_usd(sum(r.saving_pico or 0 for r in beat))}"
    )
    lost = [r for r in rows if r.kind == "fell_back" and r.oracle_flex]
    print(
        f"oracle beat the race (oracle flex, race fell back): {len(lost)}; worth "
        f"{_usd(sum(r.saving_pico or 0 for r in lost))} (priced with the standard answer's usage)"
    )
    late = [
        (r.outcome or {})["fallback_after_ms"] - r.window_ms
        for r in rows
        if r.kind == "fell_back" and (r.outcome or {}).get("fallback_after_ms") is not None
    ]
    if late:
        print(
            f"fallback dispatch after the window end (SPEC: <= 50 ms p99): p50 "
            f"{percentile(late, 50):.1f} ms, p99 {percentile(late, 99):.1f} ms, "
            f"max {max(late):.1f} ms, min {min(late):.1f} ms (n={len(late)})"
        )
        early = [v for v in late if v < -1000]
        if early:
            print(f"  fell back more than 1 s before the window ended: {len(early)}")
    lags = [
        (r.flex[-1]["disconnect_time"] - r.create_wall) * 1000 - r.o["fallback_after_ms"]
        for r in rows
        if r.kind == "fell_back"
        and r.flex
        and r.create_wall is not None
        and r.flex[-1].get("disconnect_time") is not None
        and r.o.get("fallback_after_ms") is not None
    ]
    if lags:
        print(
            f"flex attempt seen closed by the simulator, after the fallback dispatch: p50 "
            f"{percentile(lags, 50):.1f} ms, p99 {percentile(lags, 99):.1f} ms, "
            f"max {max(lags):.1f} ms (n={len(lags)})"
        )
    if legs:
        print(
            f"standard leg after a fallback (tts - fallback_after_ms): p50 "
            f"{percentile(legs, 50):.1f} ms, p99 {percentile(legs, 99):.1f} ms"
        )
    wasted = [
        min(r.window_ms, (r.outcome or {}).get("fallback_after_ms") or r.window_ms) / 1000
        for r in rows
        if r.kind == "fell_back"
    ]
    if wasted:
        print(
            f"time spent waiting on flex before falling back: total {sum(wasted):.0f} s, "
            f"mean {statistics.fmean(wasted):.1f} s per fallback"
        )
    unpriced = race.unpriced_flex + oracle.unpriced_flex
    if unpriced:
        print(f"flex answers without usage (saving counted in units only): {unpriced}")
    problems = checks(rows, outcomes, race_sent)
    std_problems = [
        f"standard-only pass: {p}"
        for p in checks(std_rows, std_outcomes, [r.sent for r in std_rows])
    ]
    print("\nrouter checks: " + ("none found" if not problems + std_problems else ""))
    for line in problems + std_problems:
        print(f"  ! {line}")


# -- main ----------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> None:
    sim_args = [
        "--seed", str(args.seed),
        "--time-scale", str(args.time_scale),
        "--flex-start-delay", args.flex_start_delay,
        "--flex-refusal-rate", str(args.flex_refusal_rate),
        "--flex-refusal-delay", args.flex_refusal_delay,
        "--standard-start-delay", args.standard_start_delay,
    ]  # fmt: skip
    plan = workload(args.requests, args.seed, args.arrival_seconds, args.min_window,
                    args.max_window)  # fmt: skip
    std_n = min(args.standard_requests, args.requests)
    std_arrival = min(10.0, args.arrival_seconds * std_n / args.requests)
    std_plan = workload(std_n, args.seed + 1, std_arrival, args.min_window, args.max_window,
                        prefix="std")  # fmt: skip
    policy = POLICIES[args.policy]
    server_env = {"FLEXGRPC_FLEX_POLICY": policy.server_policy, "FLEXGRPC_WORKERS": args.workers}
    with stack(sim_args, server_env) as s:
        print(
            f"race pass: {len(plan)} requests over ~{args.arrival_seconds:.0f} s, windows up to "
            f"{args.max_window} s (expect ~{args.arrival_seconds + args.max_window:.0f} s)",
            file=sys.stderr,
        )
        started = time.perf_counter()
        race_sent = await drive(s, policy, plan)
        elapsed = time.perf_counter() - started
        ids = {p.bench_id for p in plan}
        outcomes, records = wait_for_records(s, ids, len(plan))
        print(f"standard-only pass: {std_n} requests", file=sys.stderr)
        std_sent = await drive(s, STANDARD_ONLY, std_plan)
        std_ids = {p.bench_id for p in std_plan}
        all_outcomes, std_records = wait_for_records(s, std_ids, len(plan) + std_n)
        race_ids = {o["request_id"] for o in outcomes}
        std_outcomes = [o for o in all_outcomes if o["request_id"] not in race_ids]
        rows = join(race_sent, outcomes, records)
        std_rows = join(std_sent, std_outcomes, std_records)
        report_run(args, plan, rows, outcomes, race_sent, std_rows, std_outcomes, elapsed)
        print(f"\nlogs: {s.home}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--arrival-seconds", type=float, help="Poisson arrivals spread over about this long"
    )
    parser.add_argument("--min-window", type=int, default=5, help="seconds (>= 5)")
    parser.add_argument("--max-window", type=int, default=120, help="seconds (<= 600)")
    parser.add_argument("--flex-start-delay", default="exp:30s")
    parser.add_argument("--flex-refusal-rate", type=float, default=0.2)
    parser.add_argument("--flex-refusal-delay", default="none")
    parser.add_argument("--standard-start-delay", default="none")
    parser.add_argument("--time-scale", type=float, default=1.0, help="simulator delays only")
    parser.add_argument(
        "--standard-requests", type=int, default=200, help="size of the standard-only pass"
    )
    parser.add_argument("--policy", choices=sorted(POLICIES), default="plain")
    parser.add_argument(
        "--workers",
        default="1",
        help="server processes (serve --workers): the learned policy is per worker",
    )
    parser.add_argument("--quick", action="store_true", help="~200 requests over ~20 s")
    args = parser.parse_args()
    if args.quick:
        args.requests = min(args.requests, 200)
    if args.arrival_seconds is None:
        args.arrival_seconds = 20.0 if args.quick else 180.0
    if not 5 <= args.min_window <= args.max_window <= 600:
        parser.error("windows must satisfy 5 <= --min-window <= --max-window <= 600")
    if args.requests < 1:
        parser.error("--requests must be positive")
    raise_fd_limit()
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
