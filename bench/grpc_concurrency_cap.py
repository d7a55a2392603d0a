"""Reproduces the in-flight RPC cap seen in bench/race_concurrency.py with bare grpc.aio.

No flexgrpc code: one grpc.aio server whose only method sleeps, and N concurrent unary calls
over 4 channels. With grpc-core's defaults about 2,700 complete and the rest fail CANCELLED at
once (calls waiting to be picked up by the server beyond 1,000 soft / 3,000 hard are refused);
with ``--raise-pending-limits`` (what flexgrpc's server sets) all complete.

    .venv/bin/python bench/grpc_concurrency_cap.py [--calls 5000] [--raise-pending-limits]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import resource

import grpc


async def _sleep(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
    await asyncio.sleep(float(request.decode()))
    return b"ok"


async def main(calls: int, seconds: float, raise_limits: bool) -> None:
    limits = [
        ("grpc.server.max_pending_requests", 100_000),
        ("grpc.server.max_pending_requests_hard_limit", 100_000),
    ]
    server = grpc.aio.server(options=limits if raise_limits else [])
    handler = grpc.unary_unary_rpc_method_handler(_sleep)
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("t.S", {"S": handler})])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channels = [grpc.aio.insecure_channel(f"127.0.0.1:{port}") for _ in range(4)]

    async def one(i: int) -> str:
        try:
            await channels[i % 4].unary_unary("/t.S/S")(str(seconds).encode(), timeout=120)
        except grpc.aio.AioRpcError as error:
            return error.code().name
        return "OK"

    results = collections.Counter(await asyncio.gather(*(one(i) for i in range(calls))))
    print(f"{calls} concurrent calls sleeping {seconds} s: {dict(results)}")
    await server.stop(0)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--sleep", type=float, default=15.0)
    parser.add_argument("--raise-pending-limits", action="store_true")
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(main(args.calls, args.sleep, args.raise_pending_limits))
