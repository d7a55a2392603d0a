"""``flexgrpc serve`` whose SQLite connections cannot commit a write while a flag file exists.

An injected write failure at the driver, as a full disk or a read-only file gives one: each
connection is a ``sqlite3.Connection`` subclass whose ``commit`` of a transaction that changed
rows raises ``sqlite3.OperationalError("database or disk is full")`` (and rolls back) while
``FLEXGRPC_TEST_FAULT_FILE`` names a file that exists. Reads, and commits that wrote nothing,
keep working. (Making the file read-only with chmod does nothing for root, and mounting a small
full filesystem needs privileges a test does not have.)
"""

from __future__ import annotations

import functools
import os
import pathlib
import sqlite3
import sys
from typing import Any

from flexgrpc import logs
from flexgrpc.config import Settings
from flexgrpc.server import run

_FLAG = pathlib.Path(os.environ["FLEXGRPC_TEST_FAULT_FILE"])


class _FaultyConnection(sqlite3.Connection):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._settled_changes = 0

    def commit(self) -> None:
        if _FLAG.exists() and self.in_transaction and self.total_changes != self._settled_changes:
            raise sqlite3.OperationalError("database or disk is full")
        super().commit()
        self._settled_changes = self.total_changes

    def rollback(self) -> None:
        super().rollback()
        self._settled_changes = self.total_changes


def _connect(connect: Any, *args: Any, **kwargs: Any) -> sqlite3.Connection:
    return connect(*args, factory=_FaultyConnection, **kwargs)  # type: ignore[no-any-return]


# SQLAlchemy's pysqlite dialect connects through sqlite3.dbapi2.
sqlite3.dbapi2.connect = functools.partial(_connect, sqlite3.dbapi2.connect)  # type: ignore[assignment]

if __name__ == "__main__":
    settings = Settings.from_env().replace(grpc_port=0)
    logs.configure(settings.log_level)
    sys.exit(run(settings))
