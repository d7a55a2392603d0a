"""``flexgrpc serve`` with the usage ledger switched off (outcomes still counted and logged).

Only for measuring what recording costs (bench/recording_overhead.py); the product always
records every request.
"""

from __future__ import annotations

import asyncio
import signal
import sys

sys.path.insert(0, __file__.rsplit("/bench/", 1)[0])

from flexgrpc import logs
from flexgrpc.config import Settings
from flexgrpc.routing.recording import NoRecordSink
from flexgrpc.server import FlexServer


async def main() -> None:
    settings = Settings.from_env().replace(grpc_port=0, http_port=0)
    logs.configure(settings.log_level)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    server = FlexServer(settings, sink=NoRecordSink())
    await server.start()
    await stop.wait()
    await server.stop()


if __name__ == "__main__":
    asyncio.run(main())
