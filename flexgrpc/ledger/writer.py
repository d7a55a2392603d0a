"""Group commit: records of concurrent requests share one database transaction.

``record`` returns once the row is durable. While one transaction is being written, new
records queue up; the next transaction takes all of them. So throughput grows with load (one
fsync for many records) while each caller still waits only for its own row to be committed.

The records produced in one round of the event loop are handed together to one dedicated
thread that blocks on a queue, and one callback per transaction wakes the loop again. A writer
task on the loop handing each batch to the default thread pool cost ~0.1 ms more per record at
one request at a time (bench/recording_overhead.py); handing records over one by one instead
of per loop round halved the records per transaction under load.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable

from sqlalchemy.pool import PoolProxiedConnection

from flexgrpc.ledger.records import UsageRow
from flexgrpc.ledger.store import LedgerStore

log = logging.getLogger("flexgrpc.ledger")

_Pending = tuple[UsageRow, "asyncio.Future[None]"]
_STOP: list[_Pending] = []  # queued by ``stop``: write what came before it, then end the thread


class RecordWriter:
    def __init__(
        self,
        store: LedgerStore,
        max_batch: int = 1000,
        on_commit: Callable[[float, int, bool], None] | None = None,
    ) -> None:
        """``on_commit(seconds, records, ok)`` hears of every group commit (for metrics); it is
        called on the event loop."""
        self._store = store
        self._max_batch = max_batch
        self._on_commit = on_commit
        self._pending: list[_Pending] = []
        self._queue: queue.SimpleQueue[list[_Pending]] = queue.SimpleQueue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._connection: PoolProxiedConnection | None = None  # the thread's own
        self._open = False
        self.batches = 0
        self.written = 0

    def start(self) -> None:
        """Start the writer thread; ``record`` must then be called on this event loop."""
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(
            target=self._run, name="flexgrpc-record-writer", daemon=True
        )
        self._thread.start()
        self._open = True

    async def record(self, row: UsageRow) -> None:
        """Store ``row``; return once it is committed (raise if it could not be)."""
        if not self._open or self._loop is None:
            raise RuntimeError("the record writer is not running")
        future: asyncio.Future[None] = self._loop.create_future()
        if not self._pending:
            self._loop.call_soon(self._hand_over)
        self._pending.append((row, future))
        # A cancelled caller cancels only its wait: the row is queued and is written anyway.
        await future

    def _hand_over(self) -> None:
        if self._pending:
            self._queue.put(self._pending)
            self._pending = []

    def _run(self) -> None:
        while True:
            batch = self._queue.get()
            stopping = batch is _STOP
            # Take everything queued meanwhile: one transaction for all of it.
            while not stopping and len(batch) < self._max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                stopping = more is _STOP
                batch = batch + more
            for start in range(0, len(batch), self._max_batch):
                self._commit(batch[start : start + self._max_batch])
            if stopping:
                self._release()
                return

    def _commit(self, batch: list[_Pending]) -> None:
        started = time.perf_counter()
        try:
            self._write([row for row, _ in batch])
        except Exception as exc:
            if len(batch) == 1:
                log.error("could not store the usage record of %s", batch[0][0].request_id,
                          exc_info=exc)  # fmt: skip
                self._settle_soon(batch, started, exc)
                return
            # One bad record must not fail the others that shared its transaction: write each
            # alone, so only the records that cannot be stored report an error.
            for one in batch:
                self._commit([one])
            return
        self._settle_soon(batch, started, None)

    def _write(self, rows: list[UsageRow]) -> None:
        """One transaction on the thread's kept connection (kept because checking one out of
        the pool and back in per transaction cost as much as converting the record)."""
        kept = self._connection is not None
        for attempt in (1, 2):
            if self._connection is None:
                self._connection = self._store.connect()  # the pool pings it first
            try:
                self._store.write(rows, self._connection)
                return
            except Exception:
                self._release()  # it may be broken
                # A kept connection may have died since its last transaction (a database
                # restart) where a fresh checkout would have been pinged: try once more on a
                # fresh one. Inserts skip existing rows, so a repeat writes nothing twice.
                if not kept or attempt == 2:
                    raise

    def _release(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.close()
            except Exception as exc:
                log.warning("could not return the ledger connection to the pool: %s", exc)

    def _settle_soon(self, batch: list[_Pending], started: float, error: Exception | None) -> None:
        elapsed = time.perf_counter() - started
        assert self._loop is not None
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
            self._loop.call_soon_threadsafe(self._settle, batch, elapsed, error)

    def _settle(self, batch: list[_Pending], elapsed: float, error: Exception | None) -> None:
        if error is None:
            self.batches += 1
            self.written += len(batch)
        for _, future in batch:
            if future.done():
                continue
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(error)
        if self._on_commit is not None:
            self._on_commit(elapsed, len(batch), error is None)

    async def stop(self) -> None:
        """Write what is queued, then stop."""
        self._open = False
        if self._thread is None:
            return
        self._hand_over()
        self._queue.put(_STOP)
        await asyncio.to_thread(self._thread.join)
        # The last transactions' callbacks were queued before the join returned: let them run.
        await asyncio.sleep(0)
