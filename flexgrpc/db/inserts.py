"""``INSERT … ON CONFLICT DO NOTHING``: the one way rows that must be written at most once are
inserted (usage records, ledger legs, billing accounts, webhook events, stored answers).

``IgnoringInsert`` compiles the statement once for a dialect and supplies each column type's
bind processor (the same conversions SQLAlchemy's execute path applies, so rows read back
identically). The ledger writes one usage record per request and the caller waits for its
commit, so its hot path runs the compiled statement on the driver's cursor itself
(``sql`` + ``parameters``): executing through the ORM session or Core's execute re-derives the
execution context per call and costs about three times the driver's own work
(bench/recording_overhead.py). Everyone else calls ``insert_ignoring_conflicts`` inside their
own transaction and learns how many rows were new.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Dialect, Insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from flexgrpc.db.models import Base


@functools.cache
def _statement(dialect_name: str, model: type[Base]) -> Insert:
    if dialect_name == "postgresql":
        return postgresql.insert(model).on_conflict_do_nothing()
    if dialect_name == "sqlite":
        return sqlite.insert(model).on_conflict_do_nothing()
    raise ValueError(f"unsupported database dialect {dialect_name!r}")


class IgnoringInsert:
    """Inserts rows (tuples of values in ``keys`` order) into ``model``'s table, skipping rows
    whose unique keys already exist."""

    def __init__(self, dialect: Dialect, model: type[Base], keys: Sequence[str]) -> None:
        compiled = _statement(dialect.name, model).compile(dialect=dialect, column_keys=list(keys))
        self.sql = compiled.string
        self._keys = tuple(keys)
        # The driver's parameter style decides the shape: positional (sqlite's "?") takes
        # tuples in the statement's order; named (psycopg's "%(name)s") takes mappings.
        self._positional = compiled.positional
        order = compiled.positiontup if compiled.positional else None
        self._order = tuple(order) if order is not None else self._keys
        plan: list[tuple[int, Callable[[Any], Any] | None]] = []
        for key in self._order:
            column_type = model.__table__.c[key].type.dialect_impl(dialect)
            plan.append((self._keys.index(key), column_type.bind_processor(dialect)))
        self._plan = tuple(plan)

    def parameters(self, rows: Sequence[Sequence[Any]]) -> list[Any]:
        """``rows`` (values in ``keys`` order) converted for the driver's ``executemany``."""
        plan, order = self._plan, self._order
        converted: list[Any] = []
        for row in rows:
            values = [row[at] if process is None else process(row[at]) for at, process in plan]
            converted.append(
                tuple(values) if self._positional else dict(zip(order, values, strict=True))
            )
        return converted


def insert_ignoring_conflicts(
    session: Session | Connection, model: type[Base], rows: Sequence[Mapping[str, Any]]
) -> int:
    """Insert ``rows`` in the caller's transaction, skipping any that collide with a unique
    key; the number inserted."""
    if not rows:
        return 0
    connection = session.connection() if isinstance(session, Session) else session
    statement = _statement(connection.dialect.name, model)
    inserted = 0
    # One row at a time: the rowcount of an executemany is not reliable on every driver, and
    # SQLAlchemy reports an INSERT's rowcount only when asked to (psycopg otherwise says -1).
    for row in rows:
        result = connection.execute(
            statement.values(**row), execution_options={"preserve_rowcount": True}
        )
        inserted += max(result.rowcount, 0)
    return inserted
