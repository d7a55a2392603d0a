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


def bind(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A TCP socket bound to ``host:port`` (0: a free port), not yet listening.

    ``reuse_port``: ``SO_REUSEPORT``, so that several processes (the server's workers) listen
    on the same port and the kernel spreads connections between them."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise OSError(f"cannot listen on {host}:{port}: {exc}") from exc
    listener = socket.socket(family, kind, proto)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        listener.bind(address)
    except OSError as exc:
        listener.close()
        raise OSError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    return listener


def _protocol(logger: logging.Logger, header_timeout_s: float) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol logging to ``logger``, without an access log, and with a
    deadline for each request's headers.

    uvicorn has no such deadline: a client that opens a connection and sends nothing, or a
    header a byte at a time (slowloris), holds the connection forever, and its keep-alive timer
    is dropped as soon as any byte arrives. Here the deadline runs from the connection (or the
    end of the previous response) until the request's headers are complete; when it passes,
    the connection is closed. Bodies have their own deadline in the app.
    """

    class QuietProtocol(HttpToolsProtocol):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.logger = logger
            self.access_log = False
            self._header_deadline: asyncio.TimerHandle | None = None

        def _arm_header_deadline(self) -> None:
            self._disarm_header_deadline()
            self._header_deadline = self.loop.call_later(header_timeout_s, self._headers_late)

        def _disarm_header_deadline(self) -> None:
            if self._header_deadline is not None:
                self._header_deadline.cancel()
                self._header_deadline = None

        def _headers_late(self) -> None:
            self._header_deadline = None
            if not self.transport.is_closing():
                self.logger.debug("closing a connection whose request headers did not arrive")
                self.transport.close()

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm_header_deadline()

        def on_headers_complete(self) -> None:
            self._disarm_header_deadline()
            super().on_headers_complete()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            # The next request on this connection gets a deadline too, unless its headers
            # already arrived (a pipelined request, now running).
            if not self.transport.is_closing() and self.cycle is None and not self.pipeline:
                self._arm_header_deadline()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm_header_deadline()
            super().connection_lost(exc)

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

    def __init__(
        self, app: Any, *, logger: logging.Logger, name: str, header_timeout_s: float = 10.0
    ) -> None:
        self._app = app
        self._header_timeout = header_timeout_s
        self._logger = logger
        self._name = name
        self._server: _EmbeddedServer | None = None
        self._task: asyncio.Task[None] | None = None
        self.port = 0

    @property
    def running(self) -> bool:
        return self._server is not None

    async def start(self, host: str, port: int, *, reuse_port: bool = False) -> int:
        """Listen on ``host:port`` and return the port bound; ``OSError`` if it cannot
        (``reuse_port``: share the port with other processes, see ``bind``)."""
        listener = bind(host, port, reuse_port=reuse_port)
        config = uvicorn.Config(
            self._app,
            host=host,  # only for uvicorn's own messages: the socket is bound above
            port=listener.getsockname()[1],
            interface="asgi3",
            http=_protocol(self._logger, self._header_timeout),
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
