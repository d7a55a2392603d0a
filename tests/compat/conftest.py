"""A real ``flexgrpc serve`` (gRPC + REST shim) against the bundled provider simulator.

The official SDKs are the clients; nothing here knows how the shim is built. One server and one
simulator serve the whole directory; each test gets a fresh simulator configuration.
"""

from __future__ import annotations

import pathlib
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from flexgrpc.accounts.crypto import ProviderKeyCipher, generate_encryption_key
from flexgrpc.accounts.store import AccountStore
from flexgrpc.db.engine import make_engine, make_sessionmaker
from flexgrpc.db.migrate import upgrade
from flexgrpc.sim import SimConfig, SimulatorThread, run_in_thread
from tests.serverproc import ServerProcess, start_server

OPENAI_MODEL = "gpt-5-mini"
GEMINI_MODEL = "gemini-3-flash-preview"
CLAUDE_MODEL = "claude-sonnet-4-5"
WINDOW = "00h-00m-30s"

_HTTP_LINE = re.compile(r"^http listening on (?P<host>[^\s:]+):(?P<port>\d+)$")


@dataclass
class RestServer:
    process: ServerProcess
    http_port: int
    store: AccountStore

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def grpc_target(self) -> str:
        return self.process.target


@dataclass(frozen=True)
class Org:
    organization_id: str
    api_key: str


def start_rest_server(home: pathlib.Path, env: dict[str, str]) -> tuple[ServerProcess, int]:
    """``flexgrpc serve`` on free ports; the REST port is read from its second listen line."""
    process = start_server(home, env)
    assert process.process.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = process.process.stdout.readline().rstrip("\n")
        process.stdout_lines.append(line)
        match = _HTTP_LINE.match(line)
        if match:
            return process, int(match["port"])
        if not line:
            break
    process.stop()
    raise RuntimeError(f"no http listen line: {process.stdout_lines!r} {process.logs()[-2000:]}")


def server_env(home: pathlib.Path, sim: SimulatorThread, **extra: str) -> dict[str, str]:
    return {
        "FLEXGRPC_DATABASE_URL": f"sqlite:///{home / 'compat.db'}",
        "FLEXGRPC_ENCRYPTION_KEY": generate_encryption_key(),
        "FLEXGRPC_OPENAI_BASE_URL": f"{sim.url}/v1",
        "FLEXGRPC_ANTHROPIC_BASE_URL": f"{sim.url}/v1",
        "FLEXGRPC_GEMINI_BASE_URL": f"{sim.url}/v1beta",
        "FLEXGRPC_LOG_LEVEL": "INFO",
        **extra,
    }


def open_store(env: dict[str, str]) -> AccountStore:
    url = env["FLEXGRPC_DATABASE_URL"]
    upgrade(url)
    cipher = ProviderKeyCipher.from_setting(env["FLEXGRPC_ENCRYPTION_KEY"])
    return AccountStore(make_sessionmaker(make_engine(url)), cipher)


def new_org(store: AccountStore, name: str = "Compat Co", *, provider_keys: bool = True) -> Org:
    org = store.create_organization(name)
    _, api_key = store.create_api_key(org.id)
    if provider_keys:
        store.set_provider_key(org.id, "openai", "sk-test-" + "a" * 32)
        store.set_provider_key(org.id, "gemini", "AIza" + "b" * 35)
        store.set_provider_key(org.id, "anthropic", "sk-ant-" + "c" * 32)
    return Org(org.id, api_key)


@pytest.fixture(scope="session")
def sim() -> Iterator[SimulatorThread]:
    with run_in_thread(SimConfig(seed=7)) as thread:
        yield thread


@pytest.fixture(autouse=True)
def _fresh_sim(sim: SimulatorThread) -> None:
    sim.config = SimConfig(seed=7)
    sim.reset()


@pytest.fixture(scope="session")
def rest(tmp_path_factory: pytest.TempPathFactory, sim: SimulatorThread) -> Iterator[RestServer]:
    home = tmp_path_factory.mktemp("compat")
    env = server_env(
        home,
        sim,
        # Many tests fail authentication on purpose; the limiter has its own test and server.
        FLEXGRPC_AUTH_FAILURES_PER_MINUTE="100000",
        FLEXGRPC_HTTP_BODY_TIMEOUT_S="1.5",
    )
    store = open_store(env)
    process, port = start_rest_server(home, env)
    yield RestServer(process, port, store)
    process.stop()


@pytest.fixture
def org(rest: RestServer) -> Org:
    return new_org(rest.store)
