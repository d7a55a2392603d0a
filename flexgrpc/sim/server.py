"""Run the simulator: ``Simulator`` in the current event loop, ``run_in_thread`` beside sync code.

Both serve the ASGI app with uvicorn, embedded: no lifespan, no access log, no signal handlers
(the host process keeps its own), and its own logger (``flexgrpc.sim.http``), so that several
servers in one process do not disturb each other's logging.

    async with Simulator(SimConfig(seed=7).with_tier("flex", refusal_rate=0.5)) as sim:
        httpx.post(f"{sim.url}/v1/responses", ...)

    with run_in_thread(SimConfig(time_scale=0.01)) as sim:   # sync tests
        ...
"""

from __future__ import annotations

import asyncio
import logging
import threading
from types import TracebackType

from flexgrpc.embedded_http import HttpListener
from flexgrpc.sim.app import SimulatorApp
from flexgrpc.sim.config import SimConfig
from flexgrpc.sim.records import RequestLog, RequestRecord

_HTTP_LOG = logging.getLogger("flexgrpc.sim.http")


class _DeliberateCutFilter(logging.Filter):
    """Drops uvicorn's complaint about a response left unfinished: the simulator leaves one
    unfinished only on purpose (a dropped connection, a client gone, a server stopping)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != "ASGI callable returned without completing response."


_HTTP_LOG.addFilter(_DeliberateCutFilter())


class Simulator:
    """The provider simulator on a real port. ``config`` can be replaced while it runs."""

    def __init__(self, config: SimConfig | None = None, *, max_records: int = 100_000) -> None:
        self._log = RequestLog(max_records)
        self.app = SimulatorApp(config or SimConfig(), self._log)
        self._listener = HttpListener(self.app, logger=_HTTP_LOG, name="flexgrpc-sim")
        self._host = ""
        self._port = 0

    @property
    def config(self) -> SimConfig:
        return self.app.config

    @config.setter
    def config(self, config: SimConfig) -> None:
        if not isinstance(config, SimConfig):
            raise TypeError(f"config must be a SimConfig, got {type(config).__name__}")
        self.app.config = config

    @property
    def records(self) -> list[RequestRecord]:
        """A snapshot of the records, oldest first (each is live: it fills in as it ends)."""
        return self._log.snapshot()

    def reset(self) -> None:
        """Forget the records and restart request numbering (and so the random sequence)."""
        self._log.reset()

    @property
    def port(self) -> int:
        """The port bound (still readable after ``stop``)."""
        if not self._port:
            raise RuntimeError("the simulator has not started; await start() first")
        return self._port

    @property
    def url(self) -> str:
        """``http://host:port``, the base URL for every provider's client."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}"

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen on ``host:port`` (0 = a free port) and return the port bound.

        Raises ``OSError`` when the address cannot be bound.
        """
        if self._listener.running:
            raise RuntimeError("the simulator is already running")
        self.app.resume()
        try:
            self._port = await self._listener.start(host, port)
        except OSError as exc:
            raise OSError(f"the simulator could not listen on {host}:{port}: {exc}") from exc
        self._host = host
        return self._port

    async def stop(self) -> None:
        """Cut every open stream, stop listening, and return once the server is down."""
        if not self._listener.running:
            return
        self.app.stop()
        await self._listener.stop()

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()


def _new_event_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvicorn[standard] brings uvloop
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


class SimulatorThread:
    """A ``Simulator`` running in a background thread with its own event loop (uvloop)."""

    def __init__(
        self,
        simulator: Simulator,
        loop: asyncio.AbstractEventLoop,
        thread: threading.Thread,
    ) -> None:
        self.simulator = simulator
        self._loop = loop
        self._thread = thread

    @property
    def url(self) -> str:
        return self.simulator.url

    @property
    def port(self) -> int:
        return self.simulator.port

    @property
    def config(self) -> SimConfig:
        return self.simulator.config

    @config.setter
    def config(self, config: SimConfig) -> None:
        self.simulator.config = config

    @property
    def records(self) -> list[RequestRecord]:
        return self.simulator.records

    def reset(self) -> None:
        self.simulator.reset()

    def stop(self) -> None:
        """Stop the server and join the thread (safe to call twice)."""
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()

    def __enter__(self) -> SimulatorThread:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def run_in_thread(
    config: SimConfig | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    max_records: int = 100_000,
) -> SimulatorThread:
    """Start a simulator in a daemon thread and return once it listens."""
    simulator = Simulator(config, max_records=max_records)
    loop = _new_event_loop()
    ready = threading.Event()
    failure: list[BaseException] = []

    def main() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(simulator.start(host, port))
        except BaseException as exc:
            failure.append(exc)
            ready.set()
            loop.close()
            return
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(simulator.stop())
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    thread = threading.Thread(target=main, name="flexgrpc-sim", daemon=True)
    thread.start()
    ready.wait()
    if failure:
        thread.join()
        raise failure[0]
    return SimulatorThread(simulator, loop, thread)
