"""``flexgrpc serve`` plus one extra RPC that sleeps, to observe draining on SIGTERM.

The drain mechanism is the server's own; the slow method only gives it an in-flight call to
drain (the Route service's long flex races arrive with a later issue).
"""

from __future__ import annotations

import asyncio
import sys

import grpc

from flexgrpc import logs
from flexgrpc.config import Settings
from flexgrpc.server import run


async def _sleep(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
    await asyncio.sleep(float(request.decode()))
    return b"slept " + request


SLOW = grpc.method_handlers_generic_handler(
    "flexgrpc.test.Slow", {"Sleep": grpc.unary_unary_rpc_method_handler(_sleep)}
)

if __name__ == "__main__":
    settings = Settings.from_env().replace(grpc_port=0)
    logs.configure(settings.log_level)
    sys.exit(run(settings, [SLOW]))
