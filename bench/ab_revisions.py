"""A/B of two revisions of the server in one run: what a change did to the Route RPC at c=1.

    .venv/bin/python bench/ab_revisions.py BASE_REV [--requests 2000] [--start-within default]

Checks BASE_REV out into a temporary git worktree and starts a server from it and one from this
working tree, on one database and one simulator (bench/harness.py), then sends the same
non-streamed Responses request to both, alternating, over gRPC and over REST (the shim in
process). On this shared, noisy machine, run-to-run drift is larger than most single changes;
interleaving both in one run is what makes a difference of a tenth of a millisecond visible.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import pathlib
import subprocess
import sys
import tempfile
import time

import aiohttp
import grpc

sys.path.insert(0, __file__.rsplit("/bench/", 1)[0])

from flexinference.v1 import route_pb2, route_pb2_grpc
from google.api import httpbody_pb2

from bench.harness import Stack, percentile, raise_fd_limit, second_server, stack

ROOT = pathlib.Path(__file__).resolve().parents[1]


def serve_from(root: pathlib.Path) -> list[str]:
    """``flexgrpc serve`` importing the package from ``root`` (not the installed checkout)."""
    code = (
        f"import sys; sys.path.insert(0, {str(root)!r}); "
        "from flexgrpc.cli import main; sys.exit(main())"
    )
    return [sys.executable, "-c", code, "serve", "--grpc-port", "0"]


async def by_grpc(stub: route_pb2_grpc.RouteServiceStub, s: Stack, body: bytes) -> float:
    request = route_pb2.CreateResponseRequest(
        body=httpbody_pb2.HttpBody(content_type="application/json", data=body)
    )
    started = time.perf_counter()
    async for _ in stub.CreateResponse(request, metadata=s.metadata, timeout=30):  # type: ignore[arg-type]
        pass
    return (time.perf_counter() - started) * 1000


async def by_rest(http: aiohttp.ClientSession, port: int, s: Stack, body: bytes) -> float:
    headers = {"authorization": f"Bearer {s.api_key}", "content-type": "application/json"}
    started = time.perf_counter()
    async with http.post(f"http://127.0.0.1:{port}/v1/responses", data=body, headers=headers) as r:
        await r.read()
        if r.status != 200:
            raise RuntimeError(f"REST answered {r.status}")
    return (time.perf_counter() - started) * 1000


async def run(base: pathlib.Path, args: argparse.Namespace) -> None:
    body = json.dumps(
        {"model": "gpt-5-mini", "input": "hi", "start_within": args.start_within}
    ).encode()
    with stack() as s:
        old, old_http = second_server(s, "base", {}, serve_from(base))
        new, new_http = second_server(s, "new", {}, serve_from(ROOT))
        try:
            async with (
                grpc.aio.insecure_channel(f"127.0.0.1:{old.port}") as old_channel,
                grpc.aio.insecure_channel(f"127.0.0.1:{new.port}") as new_channel,
                aiohttp.ClientSession() as http,
            ):
                stubs = {
                    "base": route_pb2_grpc.RouteServiceStub(old_channel),
                    "new": route_pb2_grpc.RouteServiceStub(new_channel),
                }
                ports = {"base": old_http, "new": new_http}
                times: dict[str, list[float]] = {}
                for n in range(100 + args.requests):
                    for name in ("base", "new"):
                        grpc_ms = await by_grpc(stubs[name], s, body)
                        rest_ms = await by_rest(http, ports[name], s, body)
                        if n >= 100:  # the first hundred warm both up
                            times.setdefault(f"grpc {name}", []).append(grpc_ms)
                            times.setdefault(f"rest {name}", []).append(rest_ms)
        finally:
            old.stop()
            new.stop()
    print(f"c=1, {args.requests} requests each (start_within {args.start_within}), interleaved")
    for name, values in times.items():
        p50, p90 = percentile(values, 50), percentile(values, 90)
        print(f"  {name:<9} p50 {p50:7.3f} ms  p90 {p90:7.3f} ms")
    for surface in ("grpc", "rest"):
        delta = percentile(times[f"{surface} new"], 50) - percentile(times[f"{surface} base"], 50)
        print(f"  {surface}: this tree minus base, p50 {delta:+.3f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("base", help="the git revision to compare this working tree against")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--start-within", default="default")
    args = parser.parse_args()
    raise_fd_limit()
    with tempfile.TemporaryDirectory(prefix="flexgrpc-ab-") as scratch:
        base = pathlib.Path(scratch) / "base"
        git = ["git", "-C", str(ROOT), "worktree"]
        subprocess.run([*git, "add", "--detach", "--quiet", str(base), args.base], check=True)
        try:
            asyncio.run(run(base, args))
        finally:
            subprocess.run([*git, "remove", "--force", str(base)], check=False)


if __name__ == "__main__":
    main()
