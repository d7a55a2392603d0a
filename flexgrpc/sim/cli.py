"""``flexgrpc simulate``: serve the provider simulator from the command line.

Flags edit a configuration (``--config FILE`` in the ``GET /_sim/config`` JSON shape, or the
defaults): run-wide flags (``--seed``, ``--time-scale``, ...) set ``SimConfig`` fields;
``--token-rate``, ``--output-tokens``, ``--error-rate``, ``--error-status`` and ``--drop-rate``
set that field on every tier; ``--{flex,standard,priority}-{refusal-rate,refusal-delay,
start-delay}`` on one tier; and ``--serve-tier-instead REQUESTED=SERVED`` (repeatable)
substitutes the tier served. Flags edit the tiers of every provider; per-provider overrides
live in the ``--config`` file. ``auto`` requests behave like ``standard`` unless configured
(``--serve-tier-instead auto=priority`` starts ``auto`` from ``standard``'s behaviour).

    flexgrpc simulate --port 8100 --seed 7 --time-scale 0.1 \\
        --flex-refusal-rate 0.2 --flex-start-delay exp:20s --standard-start-delay fixed:300ms \\
        --token-rate 50 --serve-tier-instead priority=standard
"""

from __future__ import annotations

import argparse
import asyncio
import json
import pathlib
from typing import Any

from flexgrpc.sim.config import SERVED_TIERS, TIERS, SimConfig, parse_delay
from flexgrpc.sim.server import Simulator

_PER_TIER = ("flex", "standard", "priority")


def _parsed(text: str, kind: type[float] | type[int], what: str) -> float:
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None


def _rate(text: str) -> float:
    value = _parsed(text, float, "a number")
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text!r} is not between 0 and 1")
    return value


def _non_negative(text: str) -> float:
    value = _parsed(text, float, "a number")
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is negative")
    return value


def _positive_int(text: str) -> int:
    value = int(_parsed(text, int, "an integer"))
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return value


def _delay(text: str) -> str:
    try:
        parse_delay(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _substitution(text: str) -> tuple[str, str]:
    requested, sep, served = text.partition("=")
    if not sep or requested not in TIERS or served not in SERVED_TIERS:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not REQUESTED=SERVED with REQUESTED in {', '.join(TIERS)} and "
            f"SERVED in {', '.join(SERVED_TIERS)} (e.g. flex=standard)"
        )
    return requested, served


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the simulator's flags to ``parser`` (see the module docstring)."""
    parser.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=0, help="listen port; 0 picks a free one (printed)"
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="JSON configuration to start from (the shape of GET /_sim/config); flags override",
    )
    run_wide = parser.add_argument_group("whole run")
    run_wide.add_argument("--seed", type=int, help="seed of every random draw (default 0)")
    run_wide.add_argument(
        "--time-scale",
        type=_non_negative,
        help="multiply every delay, e.g. 0.01 for a 100x faster run (default 1)",
    )
    run_wide.add_argument(
        "--default-output-tokens",
        type=_positive_int,
        help="output tokens when neither the tier nor the request says (default 40)",
    )
    run_wide.add_argument(
        "--cached-share", type=_rate, help="share of requests reporting cached input tokens"
    )
    run_wide.add_argument(
        "--reasoning-share", type=_rate, help="share of reasoning-model requests that reason"
    )
    every_tier = parser.add_argument_group("every tier")
    every_tier.add_argument(
        "--token-rate", type=_non_negative, help="output tokens per second; 0 = all at once"
    )
    every_tier.add_argument("--output-tokens", type=_positive_int, help="output tokens per answer")
    every_tier.add_argument(
        "--error-rate", type=_rate, help="share of requests failing with a 5xx before they start"
    )
    every_tier.add_argument("--error-status", type=int, help="status of those errors (500)")
    every_tier.add_argument(
        "--drop-rate", type=_rate, help="share of answers whose connection drops mid-way"
    )
    every_tier.add_argument(
        "--serve-tier-instead",
        type=_substitution,
        action="append",
        metavar="REQUESTED=SERVED",
        help="serve (and echo) SERVED when REQUESTED is asked for, e.g. flex=standard",
    )
    for tier in _PER_TIER:
        group = parser.add_argument_group(f"{tier} tier")
        group.add_argument(
            f"--{tier}-refusal-rate", type=_rate, help="share refused for capacity (429/503/529)"
        )
        group.add_argument(
            f"--{tier}-refusal-delay", type=_delay, help="wait before a refusal, e.g. fixed:1s"
        )
        group.add_argument(
            f"--{tier}-start-delay",
            type=_delay,
            help="wait before the first output event: none, fixed:2s, exp:3s, uniform:1s-20s",
        )


def config_from_args(args: argparse.Namespace) -> SimConfig:
    """The configuration the flags describe (``ValueError`` on a bad ``--config`` file)."""
    config = SimConfig()
    path = getattr(args, "config", None)
    if path:
        try:
            data = json.loads(pathlib.Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"cannot read the configuration file {path}: {exc}") from None
        config = SimConfig.from_dict(data)
    run_wide = _given(
        args, "seed", "time_scale", "default_output_tokens", "cached_share", "reasoning_share"
    )
    if run_wide:
        config = config.replace(**run_wide)
    every = _given(args, "token_rate", "output_tokens", "error_rate", "error_status", "drop_rate")
    if every:
        for tier in sorted(set(_PER_TIER) | set(config.tiers)):
            config = config.with_tier(tier, **every)
    for tier in _PER_TIER:
        flags = {
            f"{tier}_{field}": field for field in ("refusal_rate", "refusal_delay", "start_delay")
        }
        changes = {flags[flag]: value for flag, value in _given(args, *flags).items()}
        if changes:
            config = config.with_tier(tier, **changes)
    for requested, served in getattr(args, "serve_tier_instead", None) or []:
        config = config.with_tier(requested, serve_tier_instead=served)
    return config


def _given(args: argparse.Namespace, *names: str) -> dict[str, Any]:
    """The flags among ``names`` that were given, by name."""
    return {name: value for name in names if (value := getattr(args, name, None)) is not None}


async def run(args: argparse.Namespace) -> None:
    """Serve until cancelled; print ``simulator listening on HOST:PORT`` once listening."""
    try:
        config = config_from_args(args)
    except ValueError as exc:
        raise SystemExit(f"flexgrpc simulate: {exc}") from None
    simulator = Simulator(config)
    port = await simulator.start(args.host, args.port)
    print(f"simulator listening on {args.host}:{port}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await simulator.stop()
