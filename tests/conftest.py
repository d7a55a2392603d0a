"""Fixtures shared by every test directory. Each section belongs to one area; append, don't mix."""

from __future__ import annotations

import os
import pathlib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from flexgrpc.db.engine import normalize_database_url

# =============================================================================================
# Databases (flexgrpc.db, flexgrpc.accounts)
#
# `database_url` runs a test once on SQLite (a temporary file) and once on PostgreSQL (a fresh,
# uniquely named database per test, created from FLEXGRPC_TEST_POSTGRES_URL and dropped after).
# =============================================================================================

POSTGRES_URL_ENV = "FLEXGRPC_TEST_POSTGRES_URL"


@contextmanager
def fresh_postgres_database(base_url: str) -> Iterator[str]:
    """A new, empty PostgreSQL database on the server of ``base_url``; dropped on exit."""
    admin_url = normalize_database_url(base_url)
    name = f"flexgrpc_test_{uuid.uuid4().hex[:16]}"
    # CREATE/DROP DATABASE cannot run inside a transaction; NullPool leaves no idle connection.
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            yield admin_url.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                # A leaked connection (a test that forgot to dispose its engine) must not keep
                # the database alive.
                connection.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": name},
                )
                connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
    finally:
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> Iterator[str]:
    """The URL of an empty database, private to this test."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'flexgrpc.db'}"
        return
    base_url = os.environ.get(POSTGRES_URL_ENV)
    if not base_url:
        pytest.skip(f"{POSTGRES_URL_ENV} is not set: PostgreSQL store tests skipped")
    with fresh_postgres_database(base_url) as url:
        yield url


# =============================================================================================
