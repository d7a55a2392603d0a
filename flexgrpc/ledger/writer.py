"""Group commit: records of concurrent requests share one database transaction.

``record`` returns once the row is durable. While one transaction is being written, new
records queue up; the next transaction takes all of them. So throughput grows with load (one
fsync for many records) while each caller still waits only for its own row to be committed.

The records produced in one round of the event loop are handed together to one dedicated
thread that blocks on a queue, and one callback per transaction wakes the loop again. A writer
task on the loop handing each batch to the default thread pool cost ~0.1 ms more per record at
one request at a time (bench/recording_overhead.py); handing records over one by one instead
of per loop round halved the records per transaction under load.

One exception: a request that is alone in the server (nothing else in flight, no record
queued or being written) on a SQLite file commits its record on the event loop itself. The loop
has nothing else to do meanwhile, and the two thread hand-offs cost ~0.2 ms per request on
this machine (bench/README.md, section 6). PostgreSQL never does this (a commit there waits on
a network), and neither does a commit that finds SQLite's write lock held by another
connection: it fails at once and goes to the thread, which waits for the lock.
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

from flexgrpc.domain import RequestRecord
from flexgrpc.ledger.store import LedgerStore, is_lock_conflict

log = logging.getLogger("flexgrpc.ledger")

_Pending = tuple[RequestRecord, "asyncio.Future[None]"]
_STOP: list[_Pending] = []  # queued by ``stop``: write what came before it, then end the thread


def _close(connection: PoolProxiedConnection | None) -> None:
    """Close a writer's connection; one that is already broken is only logged."""
    if connection is not None:
        try:
            connection.close()
        except Exception as exc:
            log.warning("could not close a ledger connection: %s", exc)


class RecordWriter:
    def __init__(
        self,
        store: LedgerStore,
        max_batch: int = 1000,
        on_commit: Callable[[float, int, bool], None] | None = None,
        alone: Callable[[], bool] | None = None,
    ) -> None:
        """``on_commit(seconds, records, ok)`` hears of every group commit (for metrics); it is
        called on the event loop. ``alone()`` says whether the caller's request is the only one
        in flight (then its record may be committed on the loop, see above)."""
        self._store = store
        self._alone = alone if store.local else None
        self._inline: PoolProxiedConnection | None = None  # the loop's own connection
        self._in_thread = 0  # records handed to the thread and not yet settled
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
        #: Of ``batches``, the ones committed on the loop.
        self.inline_batches = 0

    def start(self) -> None:
        """Start the writer thread; ``record`` must then be called on this event loop."""
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(
            target=self._run, name="flexgrpc-record-writer", daemon=True
        )
        self._thread.start()
        self._open = True

    async def record(self, record: RequestRecord) -> None:
        """Store ``record``; return once it is committed (raise if it could not be)."""
        if not self._open or self._loop is None:
            raise RuntimeError("the record writer is not running")
        if (
            self._alone is not None
            and not self._pending
            and not self._in_thread
            and self._alone()
            and self._commit_inline(record)
        ):
            return
        future: asyncio.Future[None] = self._loop.create_future()
        if not self._pending:
            self._loop.call_soon(self._hand_over)
        self._pending.append((record, future))
        # A cancelled caller cancels only its wait: the row is queued and is written anyway.
        await future

    def _commit_inline(self, row: RequestRecord) -> bool:
        """Commit ``row`` here, on the loop; ``False`` if it was not stored (the thread then
        takes it: it waits for a lock held elsewhere, and reports a failure as it would any)."""
        started = time.perf_counter()
        try:
            if self._inline is None:
                self._inline = self._store.connect_without_waiting()
            self._store.write([row], self._inline)
        except Exception as exc:
            if not is_lock_conflict(exc):
                self._release_inline()  # it may be broken
            return False
        self.inline_batches += 1
        self._count(time.perf_counter() - started, 1, ok=True)
        return True

    def _release_inline(self) -> None:
        connection, self._inline = self._inline, None
        _close(connection)

    def _hand_over(self) -> None:
        if self._pending:
            self._in_thread += len(self._pending)
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

    def _write(self, rows: list[RequestRecord]) -> None:
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
        _close(connection)

    def _settle_soon(self, batch: list[_Pending], started: float, error: Exception | None) -> None:
        elapsed = time.perf_counter() - started
        assert self._loop is not None
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
            self._loop.call_soon_threadsafe(self._settle, batch, elapsed, error)

    def _settle(self, batch: list[_Pending], elapsed: float, error: Exception | None) -> None:
        self._in_thread -= len(batch)
        for _, future in batch:
            if future.done():
                continue
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(error)
        self._count(elapsed, len(batch), ok=error is None)

    def _count(self, elapsed: float, records: int, *, ok: bool) -> None:
        if ok:
            self.batches += 1
            self.written += records
        if self._on_commit is not None:
            self._on_commit(elapsed, records, ok)

    async def stop(self) -> None:
        """Write what is queued, then stop."""
        self._open = False
        self._release_inline()
        if self._thread is None:
            return
        self._hand_over()
        self._queue.put(_STOP)
        await asyncio.to_thread(self._thread.join)
        # The last transactions' callbacks were queued before the join returned: let them run.
        await asyncio.sleep(0)
