"""Fixtures for tests against a real ``flexgrpc serve`` process on SQLite."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import pytest

from flexgrpc.accounts.crypto import ProviderKeyCipher, generate_encryption_key
from flexgrpc.accounts.store import AccountStore
from flexgrpc.db.engine import make_engine, make_sessionmaker
from flexgrpc.db.migrate import upgrade
from tests.serverproc import ServerProcess, start_server


@dataclass(frozen=True)
class Caller:
    organization_id: str
    key_id: str
    api_key: str

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.api_key}"),)


@pytest.fixture(scope="session")
def server_home(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    return tmp_path_factory.mktemp("flexgrpc-server")


@pytest.fixture(scope="session")
def server_env(server_home: pathlib.Path) -> dict[str, str]:
    return {
        "FLEXGRPC_DATABASE_URL": f"sqlite:///{server_home / 'flexgrpc.db'}",
        "FLEXGRPC_ENCRYPTION_KEY": generate_encryption_key(),
        "FLEXGRPC_AUTH_CACHE_TTL_S": "0.2",
        # Many tests fail authentication on purpose; the limiter has its own test.
        "FLEXGRPC_AUTH_FAILURES_PER_MINUTE": "100000",
    }


@pytest.fixture(scope="session")
def server(server_home: pathlib.Path, server_env: dict[str, str]) -> Iterator[ServerProcess]:
    process = start_server(server_home, server_env)
    yield process
    process.stop()


@pytest.fixture(scope="session")
def accounts(server_env: dict[str, str]) -> AccountStore:
    url = server_env["FLEXGRPC_DATABASE_URL"]
    upgrade(url)
    cipher = ProviderKeyCipher.from_setting(server_env["FLEXGRPC_ENCRYPTION_KEY"])
    return AccountStore(make_sessionmaker(make_engine(url)), cipher)


def new_caller(accounts: AccountStore, name: str = "Acme") -> Caller:
    org = accounts.create_organization(name)
    key, secret = accounts.create_api_key(org.id)
    return Caller(org.id, key.id, secret)


@pytest.fixture
def caller(accounts: AccountStore, server: ServerProcess) -> Caller:
    return new_caller(accounts)


@pytest.fixture
def channel(server: ServerProcess) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(server.target) as chan:
        yield chan
