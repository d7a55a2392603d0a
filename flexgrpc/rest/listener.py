"""The HTTP listener: uvicorn (httptools), embedded in the server's own event loop.

No lifespan, no signal handlers (the server owns SIGTERM/SIGINT and drains both listeners),
no access log (every routed request is already recorded), and its own logger.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Generator
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_HTTP_LOG = logging.getLogger("flexgrpc.rest.http")


class _LifecycleFilter(logging.Filter):
    """Drops uvicorn's own start/stop chatter; the server logs its lifecycle itself."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING


logging.getLogger("uvicorn.error").addFilter(_LifecycleFilter())


class _ShimHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the shim's logger and no access log."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.logger = _HTTP_LOG
        self.access_log = False


class _EmbeddedServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._exit_now = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield  # the embedding process owns the signals

    def exit_now(self) -> None:
        self.should_exit = True
        self._exit_now.set()

    async def main_loop(self) -> None:
        # Wake at once on exit_now() rather than on uvicorn's next 0.1 s tick.
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 1) % 864_000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._exit_now.wait(), 0.1)


def bind(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (0: a free port), not yet listening."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise OSError(f"cannot listen on {host}:{port}: {exc}") from exc
    listener = socket.socket(family, kind, proto)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(address)
    except OSError as exc:
        listener.close()
        raise OSError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    return listener


class HttpListener:
    """Serves one ASGI app on a real port until ``stop``."""

    def __init__(self, app: Any) -> None:
        self._app = app
        self._server: _EmbeddedServer | None = None
        self._task: asyncio.Task[None] | None = None
        self.port = 0

    async def start(self, host: str, port: int) -> int:
        """Listen on ``host:port`` and return the port bound; ``OSError`` if it cannot."""
        listener = bind(host, port)  # bound here: uvicorn exits the process when it cannot bind
        config = uvicorn.Config(
            self._app,
            host=host,
            port=listener.getsockname()[1],
            interface="asgi3",
            http=_ShimHttpProtocol,
            ws="none",
            lifespan="off",
            loop="none",
            log_config=None,
            access_log=True,  # False would silence uvicorn.access process-wide; see the protocol
            proxy_headers=False,
            server_header=False,
            backlog=8192,
        )
        server = _EmbeddedServer(config)
        task = asyncio.create_task(server.serve(sockets=[listener]), name="flexgrpc-http")
        while not server.started:
            if task.done():
                listener.close()
                task.result()
                raise OSError(f"cannot listen on {host}:{port}")
            await asyncio.sleep(0.002)
        self._server, self._task = server, task
        self.port = listener.getsockname()[1]
        return self.port

    async def stop(self, grace: float) -> None:
        """Stop accepting, let requests in flight finish within ``grace``, then cut them."""
        server, task = self._server, self._task
        if server is None or task is None:
            return
        server.config.timeout_graceful_shutdown = max(1, round(grace))
        server.exit_now()
        await task
        self._server = self._task = None
