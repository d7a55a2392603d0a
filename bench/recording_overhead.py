"""What recording each request durably costs: the same calls against two servers in one run,
one with the ledger (every record committed before the answer ends) and one without.

    .venv/bin/python bench/recording_overhead.py [--requests 2000] [--seconds 10] [--quick]
        [--start-within default|00h-00m-30s]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

import grpc

sys.path.insert(0, __file__.rsplit("/bench/", 1)[0])

from flexinference.v1 import route_pb2, route_pb2_grpc
from google.api import httpbody_pb2

from bench.harness import percentile, raise_fd_limit, second_server, stack

BODY = {"model": "gpt-5-mini", "input": "hi", "start_within": "00h-00m-30s"}


async def timed(stub: route_pb2_grpc.RouteServiceStub, metadata: object) -> float:
    request = route_pb2.CreateResponseRequest(
        body=httpbody_pb2.HttpBody(content_type="application/json", data=json.dumps(BODY).encode())
    )
    started = time.perf_counter()
    async for _ in stub.CreateResponse(request, metadata=metadata, timeout=30):  # type: ignore[arg-type]
        pass
    return (time.perf_counter() - started) * 1000


async def run(args: argparse.Namespace) -> None:
    with stack() as s:
        bare, _ = second_server(
            s,
            "bare",
            {},
            [sys.executable, __file__.replace("recording_overhead.py", "server_without_ledger.py")],
        )
        try:
            async with (
                grpc.aio.insecure_channel(s.target) as recorded_channel,
                grpc.aio.insecure_channel(f"127.0.0.1:{bare.port}") as bare_channel,
            ):
                recorded = route_pb2_grpc.RouteServiceStub(recorded_channel)
                plain = route_pb2_grpc.RouteServiceStub(bare_channel)
                for _ in range(50):
                    await timed(recorded, s.metadata)
                    await timed(plain, s.metadata)
                a: list[float] = []
                b: list[float] = []
                for _ in range(args.requests):
                    a.append(await timed(plain, s.metadata))
                    b.append(await timed(recorded, s.metadata))
                print(f"concurrency 1, {args.requests} requests each "
                      f"(start_within {BODY['start_within']}), interleaved")  # fmt: skip
                for name, values in (("no ledger", a), ("ledger", b)):
                    print(f"  {name:<10} p50 {percentile(values, 50):7.3f} ms  "
                          f"p99 {percentile(values, 99):7.3f} ms")  # fmt: skip
                print(f"  recording adds p50 {percentile(b, 50) - percentile(a, 50):7.3f} ms  "
                      f"p99 {percentile(b, 99) - percentile(a, 99):7.3f} ms")  # fmt: skip
                for name, stub in (("no ledger", plain), ("ledger", recorded)):
                    done = 0
                    stop_at = time.perf_counter() + args.seconds

                    async def worker(
                        stub: route_pb2_grpc.RouteServiceStub = stub, stop_at: float = stop_at
                    ) -> None:
                        nonlocal done
                        while time.perf_counter() < stop_at:
                            await timed(stub, s.metadata)
                            done += 1

                    started = time.perf_counter()
                    await asyncio.gather(*(worker() for _ in range(64)))
                    rate = done / (time.perf_counter() - started)
                    print(f"  concurrency 64, {name:<10} {rate:7.0f} req/s")
        finally:
            bare.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--start-within", default=BODY["start_within"])
    args = parser.parse_args()
    BODY["start_within"] = args.start_within
    if args.quick:
        args.requests, args.seconds = 300, 3.0
    raise_fd_limit()
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
