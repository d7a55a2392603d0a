"""localstripe (a stateful Stripe emulator from PyPI) served on 127.0.0.1 from a thread.

Its aiohttp app is served on loopback only, on a free port; its habit of pickling every change
to /tmp/localstripe.pickle is switched off (tests share nothing through /tmp). The store is
process-global, so ``reset`` empties it between tests.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

_RUNNING: str | None = None


@contextmanager
def run_localstripe() -> Iterator[str]:
    """localstripe on 127.0.0.1:<free port>, emptied; yields its base URL.

    One server per test process: localstripe's aiohttp app is module-global and binds to the
    first event loop that serves it, so later users share that server (each gets it reset).
    Its thread is a daemon and ends with the process.
    """
    global _RUNNING
    if _RUNNING is None:
        _RUNNING = _start()
    reset(_RUNNING)
    yield _RUNNING


def _start() -> str:
    from aiohttp import web
    from localstripe import resources, server

    resources.Store.dump_to_disk = lambda self: None  # type: ignore[method-assign]
    resources.store.clear()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="localstripe", daemon=True)
    thread.start()
    runner = web.AppRunner(server.app)

    async def start() -> int:
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        sockets: Any = site._server.sockets  # type: ignore[union-attr]
        return int(sockets[0].getsockname()[1])

    port = asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=30)
    return f"http://127.0.0.1:{port}"


def reset(base_url: str) -> None:
    httpx.delete(f"{base_url}/_config/data").raise_for_status()


def register_webhook(base_url: str, url: str, secret: str) -> None:
    httpx.post(
        f"{base_url}/_config/webhooks/flexgrpc", data={"url": url, "secret": secret}
    ).raise_for_status()
