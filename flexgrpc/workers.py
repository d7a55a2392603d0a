"""``flexgrpc serve --workers N``: N server processes on the same ports, supervised.

The supervisor (the ``serve`` process) applies the migrations once, reserves the gRPC and REST
ports, and spawns the workers (``multiprocessing`` "spawn": a fresh interpreter each, since
grpc and ``fork`` do not mix). Each worker is a whole ``FlexServer`` with its own ledger
writer, listening with ``SO_REUSEPORT`` on the shared ports, so the kernel spreads connections
between them. The supervisor prints the ``listening on`` lines once every worker listens (or
exits 1 with the first worker's reason if one cannot start), replaces a worker that dies (one
JSON log line each way), and on SIGTERM or SIGINT passes SIGTERM to every worker, which
drain within the grace period; a worker that has not finished by then is killed.

A worker whose supervisor dies (SIGKILL, say) drains and exits by itself: the supervisor's
sentinel, an inherited pipe, turns readable.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import multiprocessing
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any, Final

from flexgrpc import logs
from flexgrpc.config import Settings
from flexgrpc.db.engine import is_sqlite_memory, normalize_database_url
from flexgrpc.db.migrate import upgrade
from flexgrpc.server import FlexServer, serve

log = logging.getLogger("flexgrpc.workers")

#: A replacement for a worker that lived less than this is started after a growing pause
#: (a worker that cannot stay up must not be respawned in a tight loop).
_STEADY_S: Final = 10.0
_MAX_PAUSE_S: Final = 30.0
#: How long after the grace period a draining worker is waited for before it is killed.
_KILL_AFTER_GRACE_S: Final = 5.0


class WorkersRefused(SystemExit):
    """A configuration that several workers cannot serve; the message says why."""


def check_store(settings: Settings) -> None:
    """Refuse a database that several processes cannot share without losing records."""
    url = normalize_database_url(settings.database_url)
    if url.get_backend_name() != "sqlite":
        return
    if is_sqlite_memory(url):
        raise WorkersRefused(
            "flexgrpc: --workers above 1 needs a database the workers share: an in-memory "
            "SQLite database would be one per worker, and each would lose its records when it "
            "stops. Use a SQLite file (sqlite:///flexgrpc.db) or PostgreSQL."
        )


def reserve_port(host: str, port: int) -> socket.socket:
    """A socket bound with ``SO_REUSEPORT`` to ``host:port`` (0: a free port), never listening.

    It holds the port for the supervisor's lifetime, so a port picked here stays ours while
    workers come and go; the kernel hands connections only to the workers' listening sockets.
    A port some other process already listens on is refused, as one server would refuse it.
    """
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    if port != 0:
        # Without SO_REUSEPORT, so that another server sharing the port with its own workers
        # makes this fail instead of silently splitting its connections with ours.
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                raise SystemExit(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    reservation = socket.socket(family, kind, proto)
    reservation.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    reservation.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        reservation.bind(address)
    except OSError as exc:
        reservation.close()
        raise SystemExit(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return reservation


def worker_main(settings: Settings, index: int, ready: Connection) -> None:
    """A worker process: one ``FlexServer`` on the shared ports, until SIGTERM."""
    # A terminal's Ctrl-C reaches the whole process group; the supervisor passes it on as
    # SIGTERM, once, so the workers do not act on it themselves.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logs.configure(settings.log_level, settings.log_format, {"worker": index})
    parent = multiprocessing.parent_process()

    def started(server: FlexServer) -> None:
        with contextlib.suppress(OSError):  # a supervisor already gone: its sentinel says so
            ready.send(("ready", server.metrics_port))
        ready.close()

    try:
        asyncio.run(
            serve(
                settings,
                worker=started,
                supervisor_gone=parent.sentinel if parent is not None else None,
            )
        )
    except SystemExit as exc:
        with contextlib.suppress(OSError):
            ready.send(("failed", str(exc.code)))
        sys.exit(1)


@dataclass
class _Worker:
    index: int
    process: BaseProcess
    ready: Connection | None
    started: float
    listening: bool = False
    metrics_port: int | None = None


def _describe_exit(code: int | None) -> dict[str, Any]:
    if code is not None and code < 0:
        return {"exit_code": code, "signal": signal.Signals(-code).name}
    return {"exit_code": code}


class Supervisor:
    """Starts ``settings.workers`` workers, keeps that many running, drains them on SIGTERM."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._context = multiprocessing.get_context("spawn")
        self._workers: dict[int, _Worker] = {}
        self._restart_at: dict[int, float] = {}
        self._quick_deaths: dict[int, int] = {}
        self._stopping = False
        self._wake_r, self._wake_w = socket.socketpair()

    def run(self) -> int:
        s = self.settings
        check_store(s)
        upgrade(s.database_url)  # once, here: the workers never migrate
        grpc_reservation = reserve_port(s.grpc_host, s.grpc_port)
        http_reservation = reserve_port(s.http_host, s.http_port)
        self.settings = s = dataclasses.replace(
            s,
            grpc_port=grpc_reservation.getsockname()[1],
            http_port=http_reservation.getsockname()[1],
        )
        with grpc_reservation, http_reservation, self._signals():
            for index in range(s.workers):
                self._spawn(index)
            failure = self._await_listening()
            if self._stopping:  # told to stop while starting: no failure, nothing announced
                return self._drain()
            if failure is not None:
                self._drain()
                print(f"flexgrpc: {failure}", file=sys.stderr)
                return 1
            self._announce()
            while not self._stopping:
                self._supervise_once()
            return self._drain()

    @contextlib.contextmanager
    def _signals(self) -> Any:
        self._wake_w.setblocking(False)
        previous_fd = signal.set_wakeup_fd(self._wake_w.fileno())

        def stop(signum: int, frame: object) -> None:
            self._stopping = True

        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            signal.set_wakeup_fd(previous_fd)

    def _worker_settings(self, index: int) -> Settings:
        s = self.settings
        # Each worker has its own metrics (its own registry), on consecutive ports from the one
        # set (0: a free port each); a scrape sums them.
        metrics_port = s.metrics_port + index if s.metrics_port else s.metrics_port
        return dataclasses.replace(s, metrics_port=metrics_port)

    def _spawn(self, index: int) -> None:
        receiver, sender = self._context.Pipe(duplex=False)
        process = self._context.Process(
            target=worker_main,
            args=(self._worker_settings(index), index, sender),
            name=f"flexgrpc-worker-{index}",
            daemon=True,
        )
        process.start()
        sender.close()  # the worker holds the only sending end: its exit reads as EOF here
        self._workers[index] = _Worker(index, process, receiver, time.monotonic())

    def _await_listening(self) -> str | None:
        """Wait until every worker listens (or a stop signal); the first failure's reason, if
        one cannot."""
        while not self._stopping and not all(w.listening for w in self._workers.values()):
            waiting = [w for w in self._workers.values() if not w.listening]
            wait([self._wake_r, *(w.ready for w in waiting if w.ready is not None)])
            self._drain_wakeups()
            for worker in waiting:
                failure = self._read_ready(worker)
                if failure is not None:
                    return f"worker {worker.index} could not start: {failure}"
        return None

    def _read_ready(self, worker: _Worker) -> str | None:
        """Take the worker's ready message if it came; a reason if it failed instead."""
        conn = worker.ready
        if conn is None or not conn.poll():
            return None
        try:
            message = conn.recv()
        except EOFError:
            worker.process.join(5)
            message = ("failed", f"exited ({_describe_exit(worker.process.exitcode)})")
        conn.close()
        worker.ready = None
        if message[0] != "ready":
            return str(message[1]).removeprefix("flexgrpc: ")
        worker.listening = True
        worker.metrics_port = message[1]
        if message[1] is not None:
            log.info("worker metrics", extra={"worker": worker.index, "metrics_port": message[1]})
        return None

    def _announce(self) -> None:
        s = self.settings
        workers = sorted(self._workers.values(), key=lambda w: w.index)
        pids = [w.process.pid for w in workers]
        # Logged before the listen lines, so that whoever waits for them finds the pids.
        log.info(
            "workers started",
            extra={
                "workers": len(pids),
                "pids": pids,
                "grpc_port": s.grpc_port,
                "http_port": s.http_port,
            },
        )
        print(f"grpc listening on {s.grpc_host}:{s.grpc_port}", flush=True)
        print(f"http listening on {s.http_host}:{s.http_port}", flush=True)
        for worker in workers:
            if worker.metrics_port is not None:
                print(f"metrics listening on {s.metrics_host}:{worker.metrics_port}", flush=True)

    def _supervise_once(self) -> None:
        now = time.monotonic()
        due = [i for i, at in self._restart_at.items() if at <= now]
        for index in due:
            del self._restart_at[index]
            self._spawn(index)
            log.info(
                "worker started", extra={"worker": index, "pid": self._workers[index].process.pid}
            )
        timeout = max(0.0, min(self._restart_at.values()) - now) if self._restart_at else None
        waiting = [w.ready for w in self._workers.values() if w.ready is not None]
        sentinels = [w.process.sentinel for w in self._workers.values()]
        wait([self._wake_r, *waiting, *sentinels], timeout)
        self._drain_wakeups()
        for worker in list(self._workers.values()):
            failure = self._read_ready(worker) if not worker.listening else None
            if failure is not None:
                log.error(
                    "worker could not start", extra={"worker": worker.index, "reason": failure}
                )
            if not worker.process.is_alive():
                self._replace(worker)

    def _replace(self, worker: _Worker) -> None:
        worker.process.join()
        del self._workers[worker.index]
        lived = time.monotonic() - worker.started
        quick = self._quick_deaths.get(worker.index, 0) + 1 if lived < _STEADY_S else 0
        self._quick_deaths[worker.index] = quick
        pause = min(_MAX_PAUSE_S, 0.5 * 2 ** (quick - 1)) if quick else 0.0
        log.warning(
            "worker exited; replacing it",
            extra={
                "worker": worker.index,
                "pid": worker.process.pid,
                **_describe_exit(worker.process.exitcode),
                "lived_s": round(lived, 3),
                "restart_in_s": pause,
            },
        )
        if not self._stopping:
            self._restart_at[worker.index] = time.monotonic() + pause

    def _drain_wakeups(self) -> None:
        self._wake_r.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            while self._wake_r.recv(4096):
                pass

    def _drain(self) -> int:
        """SIGTERM to every worker; wait out the grace period, then kill what is left."""
        workers = [w for w in self._workers.values() if w.process.is_alive()]
        log.info(
            "draining workers",
            extra={"workers": len(workers), "grace_s": self.settings.shutdown_grace_s},
        )
        for worker in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker.process.pid or 0, signal.SIGTERM)
        deadline = time.monotonic() + self.settings.shutdown_grace_s + _KILL_AFTER_GRACE_S
        clean = True
        for worker in workers:
            worker.process.join(max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                log.error(
                    "worker did not drain in time; killing it", extra={"worker": worker.index}
                )
                worker.process.kill()
                worker.process.join()
            clean = clean and worker.process.exitcode == 0
        log.info("workers stopped", extra={"clean": clean})
        return 0 if clean else 1


def run(settings: Settings) -> int:
    """Serve with ``settings.workers`` processes (``flexgrpc serve --workers``)."""
    try:
        return Supervisor(settings).run()
    except SystemExit as exc:
        print(exc, file=sys.stderr)
        return 1
