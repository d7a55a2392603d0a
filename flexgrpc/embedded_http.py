"""uvicorn embedded in an event loop this process owns: the REST shim and the simulator.

No lifespan, no signal handlers (the embedding process owns SIGTERM/SIGINT), no access log (one
line per request is the caller's business), a logger of the caller's choosing, and a socket
bound here: uvicorn exits the whole process when it cannot bind, which an embedded server must
never do.
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


def _protocol(logger: logging.Logger) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol logging to ``logger``, without an access log."""

    class QuietProtocol(HttpToolsProtocol):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.logger = logger
            self.access_log = False

    return QuietProtocol


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


class HttpListener:
    """Serves one ASGI app on a real port, in the running event loop, until ``stop``."""

    def __init__(self, app: Any, *, logger: logging.Logger, name: str) -> None:
        self._app = app
        self._logger = logger
        self._name = name
        self._server: _EmbeddedServer | None = None
        self._task: asyncio.Task[None] | None = None
        self.port = 0

    @property
    def running(self) -> bool:
        return self._server is not None

    async def start(self, host: str, port: int) -> int:
        """Listen on ``host:port`` and return the port bound; ``OSError`` if it cannot."""
        listener = bind(host, port)
        config = uvicorn.Config(
            self._app,
            host=host,  # only for uvicorn's own messages: the socket is bound above
            port=listener.getsockname()[1],
            interface="asgi3",
            http=_protocol(self._logger),
            ws="none",
            lifespan="off",
            loop="none",
            log_config=None,
            access_log=True,  # False would silence uvicorn.access process-wide; see _protocol
            proxy_headers=False,
            server_header=False,
            backlog=8192,
        )
        server = _EmbeddedServer(config)
        task = asyncio.create_task(server.serve(sockets=[listener]), name=self._name)
        while not server.started:
            if task.done():
                listener.close()
                task.result()  # raises what stopped it
                raise OSError(f"cannot listen on {host}:{port}")
            await asyncio.sleep(0.002)
        self._server, self._task = server, task
        self.port = listener.getsockname()[1]
        return self.port

    async def stop(self, grace: float | None = None) -> None:
        """Stop accepting; requests in flight get ``grace`` seconds (default: none), then cut."""
        server, task = self._server, self._task
        if server is None or task is None:
            return
        if grace is not None:
            server.config.timeout_graceful_shutdown = max(1, round(grace))
        server.exit_now()
        await task
        self._server = self._task = None
