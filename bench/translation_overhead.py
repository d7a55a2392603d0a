"""Benchmark 12: what translation adds, a translated pair against its native pair.

A caller surface reaching a provider whose API is not its own is translated twice (the
caller's body into the upstream's, the upstream's answer and events back). Each case here
sends the same model the same prompt through two gRPC RPCs of one server: the native one,
whose body goes upstream as it is, and a translated one, whose body is rewritten for the
same upstream API. The simulator answers with a fixed number of output tokens, so both
paths carry the same answer; the only difference is the translation. Streamed and not;
concurrency 1 with the two paths interleaved (p50/p99), then concurrency 64 (requests/s) in
alternating slices.
Numbers, not assertions; compare within one run.

    .venv/bin/python bench/translation_overhead.py [--requests 1000] [--seconds 8] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc

sys.path.insert(0, __file__.rsplit("/bench/", 1)[0])

from flexinference.v1 import route_pb2, route_pb2_grpc
from google.api import httpbody_pb2

from bench.harness import Stack, percentile, raise_fd_limit, stack
from bench.route_overhead import saturate, sequential

Call = Callable[[], Awaitable[None]]
FLEX_WINDOW = "00h-00m-30s"


@dataclass(frozen=True)
class Case:
    label: str
    model: str
    start_within: str
    native: str  # the surface whose API the upstream speaks
    translated: str


CASES = (
    Case("gpt-5-mini, flex race (Chat API upstream)", "gpt-5-mini", FLEX_WINDOW,
         "chat", "messages"),
    Case("claude-sonnet-4-5, default tier (Messages upstream)", "claude-sonnet-4-5", "default",
         "messages", "chat"),
    Case("gemini-3-flash-preview, flex race (Interactions upstream)", "gemini-3-flash-preview",
         FLEX_WINDOW, "interactions", "chat"),
    Case("gpt-5-mini from generateContent, flex race (Chat API upstream)", "gpt-5-mini",
         FLEX_WINDOW, "chat", "generate_content"),
)  # fmt: skip


def body(surface: str, model: str, start_within: str, stream: bool) -> dict[str, Any]:
    """The smallest everyday request of ``surface``: one user turn, at most 64 output tokens."""
    common: dict[str, Any] = {"model": model, "start_within": start_within, "stream": stream}
    if surface == "chat":
        return {**common, "messages": [{"role": "user", "content": "hi"}],
                "max_completion_tokens": 64}  # fmt: skip
    if surface == "messages":
        return {**common, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 64}
    if surface == "interactions":
        return {**common, "input": "hi", "generation_config": {"max_output_tokens": 64}}
    if surface == "generate_content":  # the model is in the path and the RPC says streaming
        return {"start_within": start_within, "stream": stream, "model": model,
                "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
                "generationConfig": {"maxOutputTokens": 64}}  # fmt: skip
    raise ValueError(surface)


def rpc(s: Stack, stub: route_pb2_grpc.RouteServiceStub, surface: str, payload: dict[str, Any]
        ) -> Call:  # fmt: skip
    if surface == "generate_content":
        return generate_content_rpc(s, stub, payload)
    data = httpbody_pb2.HttpBody(content_type="application/json", data=json.dumps(payload).encode())
    method, request = {
        "chat": (stub.CreateChatCompletion, route_pb2.CreateChatCompletionRequest(body=data)),
        "messages": (stub.CreateMessage, route_pb2.CreateMessageRequest(body=data)),
        "interactions": (stub.CreateInteraction, route_pb2.CreateInteractionRequest(body=data)),
    }[surface]

    async def call() -> None:
        async for _ in method(request, metadata=s.metadata, timeout=30):
            pass

    return call


def generate_content_rpc(
    s: Stack, stub: route_pb2_grpc.RouteServiceStub, payload: dict[str, Any]
) -> Call:
    """generateContent takes the model in its own field and streams by its RPC."""
    fields = dict(payload)
    model, stream = fields.pop("model"), fields.pop("stream")
    data = httpbody_pb2.HttpBody(content_type="application/json", data=json.dumps(fields).encode())

    async def call() -> None:
        if stream:
            request = route_pb2.StreamGenerateContentRequest(model=model, body=data, alt="sse")
            async for _ in stub.StreamGenerateContent(request, metadata=s.metadata, timeout=30):
                pass
        else:
            unary = route_pb2.GenerateContentRequest(model=model, body=data)
            async for _ in stub.GenerateContent(unary, metadata=s.metadata, timeout=30):
                pass

    return call


async def alternating(a: Call, b: Call, seconds: float, rounds: int = 8) -> tuple[float, float]:
    """Requests/s of ``a`` and of ``b`` at concurrency 64, taking turns in ``rounds`` slices so
    that what drifts over a run (the ledger's size, the machine's other load) hits both."""
    done = {a: 0.0, b: 0.0}
    for _ in range(rounds):
        for call in (a, b):
            rate, _ = await saturate(call, 64, seconds / rounds)
            done[call] += rate * seconds / rounds
    return done[a] / seconds, done[b] / seconds


async def measure(s: Stack, stub: route_pb2_grpc.RouteServiceStub, case: Case, stream: bool,
                  args: argparse.Namespace) -> None:  # fmt: skip
    native = rpc(s, stub, case.native, body(case.native, case.model, case.start_within, stream))
    translated = rpc(
        s, stub, case.translated, body(case.translated, case.model, case.start_within, stream)
    )
    mode = "streamed" if stream else "whole"
    await sequential((native, translated), 50)  # warm-up: connections, caches
    a, b = await sequential((native, translated), args.requests)
    print(f"\n{case.label}, {mode}")
    print(f"  c=1  {case.native:>12} p50 {percentile(a, 50):7.3f} ms  p99 {percentile(a, 99):7.3f}"
          f" ms   {case.translated:>12} p50 {percentile(b, 50):7.3f} ms  p99"
          f" {percentile(b, 99):7.3f} ms   translation adds p50"
          f" {percentile(b, 50) - percentile(a, 50):+7.3f} ms")  # fmt: skip
    native_rate, translated_rate = await alternating(native, translated, args.seconds)
    ratio = translated_rate / native_rate
    print(f"  c=64 {case.native:>12} {native_rate:8.0f} req/s   {case.translated:>12}"
          f" {translated_rate:8.0f} req/s   translated/native {ratio:.3f}")  # fmt: skip


async def run(args: argparse.Namespace) -> None:
    with stack(["--output-tokens", "32"]) as s:
        async with grpc.aio.insecure_channel(s.target) as channel:
            stub = route_pb2_grpc.RouteServiceStub(channel)
            for case in CASES:
                for stream in (False, True):
                    await measure(s, stub, case, stream, args)
        tiers = {}
        for outcome in s.outcomes():
            tiers[outcome.get("served_tier")] = tiers.get(outcome.get("served_tier"), 0) + 1
        print(f"\nrouting outcomes logged by served tier: {tiers}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=1000, help="per path at concurrency 1")
    parser.add_argument("--seconds", type=float, default=8.0, help="per path at concurrency 64")
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    args = parser.parse_args()
    if args.quick:
        args.requests, args.seconds = 100, 2.0
    raise_fd_limit()
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
