"""Reproduces the in-flight RPC cap seen in bench/race_concurrency.py with bare grpc.aio.

No flexgrpc code: one grpc.aio server whose only method sleeps, and N concurrent unary calls
over 4 channels. Here about 2,700 complete and the rest fail CANCELLED at once, with the server
idle, whatever the server options tried (see bench/README.md).

    .venv/bin/python bench/grpc_concurrency_cap.py [--calls 5000] [--sleep 15]
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


async def main(calls: int, seconds: float) -> None:
    server = grpc.aio.server()
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
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(main(args.calls, args.sleep))
