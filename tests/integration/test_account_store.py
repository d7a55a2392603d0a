"""Organizations, API keys, provider keys and migrations on real SQLite and PostgreSQL databases."""

from __future__ import annotations

import datetime as dt
import logging
import os
import pathlib
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, event, inspect, text
from sqlalchemy.exc import IntegrityError

from flexgrpc.accounts.api_keys import check_api_key_format, generate_api_key
from flexgrpc.accounts.crypto import ProviderKeyCipher, generate_encryption_key
from flexgrpc.accounts.store import AccountStore, Principal
from flexgrpc.db.engine import make_engine, make_sessionmaker, normalize_database_url
from flexgrpc.db.migrate import current_revision, head_revision, upgrade
from flexgrpc.db.models import Base
from flexgrpc.errors import FlexError

ROOT = pathlib.Path(__file__).resolve().parents[2]
OPENAI_SECRET = "sk-proj-T3BlbkFJx9c2VjcmV0LWtleS1mb3ItdGVzdHM"


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    upgrade(database_url)
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def encryption_key() -> str:
    return generate_encryption_key()


@pytest.fixture
def store(engine: Engine, encryption_key: str) -> AccountStore:
    return AccountStore(make_sessionmaker(engine), ProviderKeyCipher.from_setting(encryption_key))


def count_statements(engine: Engine) -> list[str]:
    """Every SQL statement the engine sends from now on (real instrumentation, not a mock)."""
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(args[2])

    event.listen(engine, "before_cursor_execute", record)
    return statements


# API keys ----------------------------------------------------------------------------------


def test_created_key_authenticates_as_its_organization(store: AccountStore) -> None:
    org = store.create_organization("Acme")
    info, token = store.create_api_key(org.id)

    assert check_api_key_format(token)
    assert info.organization_id == org.id
    assert info.id.startswith("key_")
    assert len(info.id) == 20
    assert org.id.startswith("org_")
    assert len(org.id) == 20
    assert token.startswith(info.display_prefix.rstrip("…"))
    assert not info.revoked
    assert store.authenticate(token) == Principal(organization_id=org.id, api_key_id=info.id)


def test_key_info_never_carries_the_key_or_its_hash(store: AccountStore) -> None:
    org = store.create_organization("Acme")
    info, token = store.create_api_key(org.id)
    for shown in (info, *store.list_api_keys(org.id)):
        assert token not in repr(shown)
        assert token[14:] not in repr(shown)
        assert not hasattr(shown, "hash")


def test_malformed_tokens_are_rejected_without_a_database_query(
    store: AccountStore, engine: Engine
) -> None:
    real = generate_api_key()
    statements = count_statements(engine)
    for token in (
        "",
        "Bearer x",
        real[:-1],
        real.upper(),
        real[:-1] + "g",
        "flex_live_" + "0" * 30,
    ):
        assert store.authenticate(token) is None
    assert statements == []


def test_unknown_well_formed_key_does_not_authenticate(store: AccountStore, engine: Engine) -> None:
    statements = count_statements(engine)
    assert store.authenticate(generate_api_key()) is None
    assert [s for s in statements if s.startswith("SELECT")] == [statements[-1]]
    assert "api_keys.hash" in statements[-1]


def test_revoked_key_no_longer_authenticates(store: AccountStore) -> None:
    org = store.create_organization("Acme")
    kept, kept_token = store.create_api_key(org.id)
    revoked, revoked_token = store.create_api_key(org.id)

    result = store.revoke_api_key(revoked.id)

    assert result.revoked
    assert store.authenticate(revoked_token) is None
    assert store.authenticate(kept_token) == Principal(org.id, kept.id)
    listed = {key.id: key.revoked for key in store.list_api_keys(org.id)}
    assert listed == {kept.id: False, revoked.id: True}


def test_revoke_is_idempotent(store: AccountStore) -> None:
    org = store.create_organization("Acme")
    info, _ = store.create_api_key(org.id)
    first = store.revoke_api_key(info.id)
    second = store.revoke_api_key(info.id)
    assert first.revoke_time is not None
    assert second == first


def test_revoking_an_unknown_key_is_not_found(store: AccountStore) -> None:
    with pytest.raises(FlexError) as caught:
        store.revoke_api_key("key_0000000000000000")
    assert caught.value.code == "not_found"


def test_revoking_another_organizations_key_is_not_found_and_changes_nothing(
    store: AccountStore,
) -> None:
    owner = store.create_organization("Owner")
    other = store.create_organization("Other")
    info, token = store.create_api_key(owner.id)
    with pytest.raises(FlexError) as caught:
        store.revoke_api_key(info.id, organization_id=other.id)
    assert caught.value.code == "not_found"
    assert store.authenticate(token) == Principal(owner.id, info.id)


def test_creating_a_key_for_an_unknown_organization_is_not_found(store: AccountStore) -> None:
    with pytest.raises(FlexError) as caught:
        store.create_api_key("org_0000000000000000")
    assert caught.value.code == "not_found"


# Organizations -----------------------------------------------------------------------------


def test_organizations_round_trip_with_utc_timestamps(store: AccountStore) -> None:
    before = dt.datetime.now(dt.UTC)
    org = store.create_organization("  Acme Corp  ")
    fetched = store.get_organization(org.id)

    assert fetched == org
    assert fetched.display_name == "Acme Corp"
    assert fetched.create_time.tzinfo is dt.UTC
    assert before <= fetched.create_time <= dt.datetime.now(dt.UTC)
    assert store.get_organization("org_0000000000000000") is None
    assert [o.id for o in store.list_organizations()] == [org.id]


@pytest.mark.parametrize("name", ["", "   ", "x" * 201])
def test_organization_needs_a_display_name(store: AccountStore, name: str) -> None:
    with pytest.raises(FlexError) as caught:
        store.create_organization(name)
    assert caught.value.code == "invalid_argument"
    assert caught.value.field == "display_name"


# Provider keys -----------------------------------------------------------------------------


def raw_database_bytes(engine: Engine, database_url: str) -> bytes:
    """Every stored provider_keys value, plus the SQLite files themselves, as bytes."""
    chunks: list[bytes] = []
    with engine.connect() as connection:
        for row in connection.execute(text("SELECT * FROM provider_keys")):
            for value in row:
                chunks.append(value if isinstance(value, bytes) else str(value).encode())
    database = normalize_database_url(database_url).database
    if database_url.startswith("sqlite") and database:
        for suffix in ("", "-wal"):
            path = pathlib.Path(database + suffix)
            if path.exists():
                chunks.append(path.read_bytes())
    return b"\n".join(chunks)


def test_provider_key_round_trips_and_is_stored_encrypted(
    store: AccountStore, engine: Engine, database_url: str
) -> None:
    org = store.create_organization("Acme")
    info = store.set_provider_key(org.id, "openai", OPENAI_SECRET)

    assert info.provider == "openai"
    assert info.update_time.tzinfo is dt.UTC
    assert store.get_provider_key(org.id, "openai") == OPENAI_SECRET
    assert store.get_provider_key(org.id, "gemini") is None
    stored = raw_database_bytes(engine, database_url)
    assert b"provider_keys" in stored or b"openai" in stored  # we did read the row
    assert OPENAI_SECRET.encode() not in stored
    assert OPENAI_SECRET[8:].encode() not in stored


def test_provider_key_is_replaced_listed_and_deleted(store: AccountStore) -> None:
    org = store.create_organization("Acme")
    store.set_provider_key(org.id, "openai", "sk-old-key-000000000000")
    store.set_provider_key(org.id, "openai", OPENAI_SECRET)
    store.set_provider_key(org.id, "anthropic", "sk-ant-api03-abcdefghijklmnop")

    assert store.get_provider_key(org.id, "openai") == OPENAI_SECRET
    assert store.list_provider_keys(org.id) == ["anthropic", "openai"]
    assert store.delete_provider_key(org.id, "openai") is True
    assert store.delete_provider_key(org.id, "openai") is False
    assert store.get_provider_key(org.id, "openai") is None


def test_wrong_encryption_key_counts_as_missing_and_logs_without_the_secret(
    store: AccountStore, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    org = store.create_organization("Acme")
    store.set_provider_key(org.id, "openai", OPENAI_SECRET)
    restarted = AccountStore(
        make_sessionmaker(engine), ProviderKeyCipher.from_setting(generate_encryption_key())
    )

    with caplog.at_level(logging.WARNING, logger="flexgrpc.accounts.store"):
        assert restarted.get_provider_key(org.id, "openai") is None

    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert org.id in warnings[0].getMessage()
    assert "openai" in warnings[0].getMessage()
    for record in caplog.records:
        everything = record.getMessage() + repr(record.__dict__)
        assert OPENAI_SECRET not in everything
        assert OPENAI_SECRET[8:] not in everything


def test_without_an_encryption_key_stored_keys_count_as_missing(
    store: AccountStore, engine: Engine
) -> None:
    org = store.create_organization("Acme")
    store.set_provider_key(org.id, "gemini", "AIzaSyA-0123456789abcdefghijklmnopqrs")
    assert AccountStore(make_sessionmaker(engine)).get_provider_key(org.id, "gemini") is None


def test_a_row_copied_to_another_organization_does_not_decrypt(
    store: AccountStore, engine: Engine
) -> None:
    victim = store.create_organization("Victim")
    attacker = store.create_organization("Attacker")
    store.set_provider_key(victim.id, "openai", OPENAI_SECRET)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO provider_keys (organization_id, provider, ciphertext, nonce, "
                "update_time) SELECT :attacker, provider, ciphertext, nonce, update_time "
                "FROM provider_keys WHERE organization_id = :victim"
            ),
            {"attacker": attacker.id, "victim": victim.id},
        )
    assert store.get_provider_key(attacker.id, "openai") is None
    assert store.get_provider_key(victim.id, "openai") == OPENAI_SECRET


def test_storing_a_provider_key_needs_an_encryption_key(engine: Engine) -> None:
    plain = AccountStore(make_sessionmaker(engine))
    org = plain.create_organization("Acme")
    with pytest.raises(FlexError) as caught:
        plain.set_provider_key(org.id, "openai", OPENAI_SECRET)
    assert caught.value.code == "invalid_argument"
    assert "FLEXGRPC_ENCRYPTION_KEY is not set" in caught.value.message


@pytest.mark.parametrize("provider", ["google", "OpenAI", "", "vertex"])
def test_unknown_provider_is_invalid(store: AccountStore, provider: str) -> None:
    org = store.create_organization("Acme")
    with pytest.raises(FlexError) as caught:
        store.set_provider_key(org.id, provider, OPENAI_SECRET)
    assert caught.value.code == "invalid_argument"
    assert caught.value.field == "provider"


@pytest.mark.parametrize(
    "secret",
    ["", OPENAI_SECRET + "\n", f" {OPENAI_SECRET}", "sk-two words", "sk-tab\tkey", "x" * 513],
)
def test_malformed_provider_secret_is_invalid_and_not_echoed(
    store: AccountStore, secret: str
) -> None:
    org = store.create_organization("Acme")
    with pytest.raises(FlexError) as caught:
        store.set_provider_key(org.id, "openai", secret)
    assert caught.value.code == "invalid_argument"
    if secret.strip():
        assert secret.strip() not in caught.value.message
    assert store.get_provider_key(org.id, "openai") is None


def test_provider_key_for_an_unknown_organization_is_not_found(store: AccountStore) -> None:
    with pytest.raises(FlexError) as caught:
        store.set_provider_key("org_0000000000000000", "openai", OPENAI_SECRET)
    assert caught.value.code == "not_found"


# Database engine and migrations ------------------------------------------------------------


def test_sqlite_is_durable_and_enforces_foreign_keys(tmp_path: pathlib.Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'pragmas.db'}")
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()


def test_relative_sqlite_path_is_relative_to_the_working_directory(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    upgrade("sqlite:///relative.db")
    assert (tmp_path / "relative.db").is_file()
    assert current_revision("sqlite:///relative.db") == head_revision()


def test_foreign_keys_are_enforced(engine: Engine) -> None:
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO api_keys (id, organization_id, hash, display_prefix, create_time) "
                "VALUES ('key_x', 'org_missing', 'h', 'p', CURRENT_TIMESTAMP)"
            )
        )


def test_ddl_rolls_back_with_its_transaction(engine: Engine) -> None:
    # SQLite DDL is transactional only because SQLAlchemy, not sqlite3, emits BEGIN.
    with engine.connect() as connection:
        transaction = connection.begin()
        connection.exec_driver_sql("CREATE TABLE rolled_back (id INTEGER)")
        transaction.rollback()
        assert "rolled_back" not in inspect(connection).get_table_names()


def test_in_memory_sqlite_keeps_its_data_across_connections() -> None:
    engine = make_engine("sqlite://")
    try:
        upgrade(engine)
        store = AccountStore(make_sessionmaker(engine))
        org = store.create_organization("Acme")
        assert store.get_organization(org.id) == org
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("given", "driver"),
    [
        ("postgres://u:p@h:5432/db", "postgresql+psycopg"),
        ("postgresql://u:p@h/db", "postgresql+psycopg"),
        ("postgresql+psycopg://u:p@h/db", "postgresql+psycopg"),
        ("postgres+psycopg://u:p@h/db", "postgresql+psycopg"),
        ("postgresql+asyncpg://u:p@h/db", "postgresql+asyncpg"),
        ("sqlite:///relative.db", "sqlite"),
        ("sqlite:////abs/path.db", "sqlite"),
        ("sqlite://", "sqlite"),
    ],
)
def test_database_urls_are_normalised(given: str, driver: str) -> None:
    assert normalize_database_url(given).drivername == driver


def test_unsupported_database_url_is_refused_without_echoing_the_password() -> None:
    with pytest.raises(ValueError, match="unsupported database backend") as caught:
        normalize_database_url("mysql://user:hunter2@host/db")
    assert "hunter2" not in str(caught.value)


def test_migrations_are_idempotent(database_url: str) -> None:
    assert current_revision(database_url) is None
    upgrade(database_url)
    upgrade(database_url)
    assert current_revision(database_url) == head_revision()


def test_concurrent_upgrades_from_separate_processes_succeed(database_url: str) -> None:
    # Separate processes, as replicas starting together would be; each waits until the same
    # instant after its imports, so the upgrades overlap.
    start_at = time.time() + 2.0
    script = (
        "import sys, time\n"
        "from flexgrpc.db.migrate import upgrade\n"
        "time.sleep(max(0.0, float(sys.argv[2]) - time.time()))\n"
        "upgrade(sys.argv[1])\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", script, database_url, str(start_at)],
            cwd=ROOT,
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    failures = [p.communicate(timeout=60)[1] for p in processes if p.wait(timeout=60) != 0]
    assert failures == []
    assert current_revision(database_url) == head_revision()


def test_models_match_the_migrations(database_url: str) -> None:
    upgrade(database_url)
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "compare_server_default": True}
            )
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()
