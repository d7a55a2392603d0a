"""``INSERT … ON CONFLICT DO NOTHING`` of many rows, compiled once, run on the driver's cursor.

The ledger writes one usage record per request and the caller waits for its commit, so every
microsecond of that path is latency. Executing through the ORM session (or Core's execute)
re-derives the statement's execution context for each call and costs about three times the
driver's own work (measured in bench/recording_overhead.py). Here SQLAlchemy still compiles the
statement for the dialect and supplies each column type's bind processor (the same conversions
its execute path applies, so rows read back identically); only the per-call plumbing is skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Engine, Insert
from sqlalchemy.dialects import postgresql, sqlite

from flexgrpc.db.models import Base


class BulkInsert:
    """Inserts rows (tuples of values in ``keys`` order) into ``model``'s table, skipping rows
    whose unique keys already exist."""

    def __init__(self, engine: Engine, model: type[Base], keys: Sequence[str]) -> None:
        dialect = engine.dialect
        statement: Insert
        if dialect.name == "postgresql":
            statement = postgresql.insert(model).on_conflict_do_nothing()
        elif dialect.name == "sqlite":
            statement = sqlite.insert(model).on_conflict_do_nothing()
        else:
            raise ValueError(f"unsupported database dialect {dialect.name!r}")
        compiled = statement.compile(dialect=dialect, column_keys=list(keys))
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
