"""Fixtures for tests against a real ``flexgrpc serve`` process on SQLite."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import pytest
from flexinference.v1 import route_pb2_grpc
from sqlalchemy import orm as sa_orm

from flexgrpc.accounts.crypto import ProviderKeyCipher, generate_encryption_key
from flexgrpc.accounts.store import AccountStore
from flexgrpc.db.engine import make_engine, make_sessionmaker
from flexgrpc.db.migrate import upgrade
from flexgrpc.sim import SimConfig, SimulatorThread, run_in_thread
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


# --- the routing stack: the provider simulator and a server that routes to it ------------


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorThread]:
    with run_in_thread(SimConfig(seed=7)) as thread:
        yield thread


@pytest.fixture
def fresh_sim(sim: SimulatorThread) -> SimulatorThread:
    sim.config = SimConfig(seed=7)
    sim.reset()
    return sim


@pytest.fixture(scope="module")
def routed(
    tmp_path_factory: pytest.TempPathFactory, sim: SimulatorThread
) -> Iterator[tuple[ServerProcess, AccountStore, str]]:
    home = tmp_path_factory.mktemp("route")
    url = f"sqlite:///{home / 'route.db'}"
    secret = generate_encryption_key()
    upgrade(url)
    store = AccountStore(
        make_sessionmaker(make_engine(url)), ProviderKeyCipher.from_setting(secret)
    )
    server = start_server(
        home,
        {
            "FLEXGRPC_DATABASE_URL": url,
            "FLEXGRPC_ENCRYPTION_KEY": secret,
            "FLEXGRPC_OPENAI_BASE_URL": f"{sim.url}/v1",
            "FLEXGRPC_ANTHROPIC_BASE_URL": f"{sim.url}/v1",
            "FLEXGRPC_GEMINI_BASE_URL": f"{sim.url}/v1beta",
            "FLEXGRPC_LOG_LEVEL": "INFO",
        },
    )
    yield server, store, server.target
    server.stop()


@pytest.fixture(scope="module")
def records(
    routed: tuple[ServerProcess, AccountStore, str],
) -> Iterator[sa_orm.sessionmaker[sa_orm.Session]]:
    engine = make_engine(f"sqlite:///{routed[0].stderr_path.parent / 'route.db'}")
    yield make_sessionmaker(engine)
    engine.dispose()


@pytest.fixture
def org(routed: tuple[ServerProcess, AccountStore, str], fresh_sim: SimulatorThread) -> Caller:
    _, store, _ = routed
    caller = new_caller(store, "Router Co")
    store.set_provider_key(caller.organization_id, "openai", "sk-test-" + "a" * 32)
    store.set_provider_key(caller.organization_id, "gemini", "AIza" + "b" * 35)
    store.set_provider_key(caller.organization_id, "anthropic", "sk-ant-" + "c" * 32)
    return caller


@pytest.fixture
def stub(
    routed: tuple[ServerProcess, AccountStore, str],
) -> Iterator[route_pb2_grpc.RouteServiceStub]:
    with grpc.insecure_channel(routed[2]) as channel:
        yield route_pb2_grpc.RouteServiceStub(channel)
