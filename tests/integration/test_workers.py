"""``flexgrpc serve --workers N``: the workers share the ports, a dead one is replaced, SIGTERM
drains them all, and configurations they cannot serve are refused at start."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import threading
import time
from typing import Any

import grpc
import httpx
import pytest
from flexinference.v1 import route_pb2_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from flexgrpc.accounts.crypto import ProviderKeyCipher, generate_encryption_key
from flexgrpc.accounts.store import AccountStore
from flexgrpc.db.engine import make_engine, make_sessionmaker
from flexgrpc.db.migrate import upgrade
from flexgrpc.sim import SimConfig, SimulatorThread
from tests.integration.conftest import Caller, new_caller
from tests.integration.test_route import OPENAI_MODEL, responses
from tests.serverproc import ServerProcess, start_server

#: Generous bounds for things that happen "soon" on a busy 2-core machine; never the assertion.
PATIENCE_S = 60.0


def log_lines(server: ServerProcess) -> list[dict[str, Any]]:
    return [json.loads(line) for line in server.logs().splitlines() if line.startswith("{")]


def eventually(what: str, check: Any, bound: float = PATIENCE_S) -> Any:
    deadline = time.monotonic() + bound
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.1)


def worker_pids(server: ServerProcess) -> list[int]:
    (started,) = [line for line in log_lines(server) if line["message"] == "workers started"]
    return list(started["pids"])


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) counts as gone.
    stat = pathlib.Path(f"/proc/{pid}/stat")
    return not stat.exists() or stat.read_text().split(") ")[1][0] != "Z"


def http_port(server: ServerProcess) -> int:
    assert server.process.stdout is not None
    line = server.process.stdout.readline().strip()
    assert line.startswith("http listening on "), line
    return int(line.rsplit(":", 1)[1])


def logged(server: ServerProcess, message: str, **fields: Any) -> list[dict[str, Any]]:
    return [
        line
        for line in log_lines(server)
        if line["message"] == message and all(line.get(k) == v for k, v in fields.items())
    ]


def route_once(target: str, caller: Caller, start_within: str = "default") -> dict[str, str]:
    """One request on a connection of its own (the kernel picks the worker per connection)."""
    with grpc.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)]) as ch:
        stub = route_pb2_grpc.RouteServiceStub(ch)
        _, metadata, _ = responses(
            stub, caller, model=OPENAI_MODEL, input="hi", start_within=start_within
        )
    return metadata


def healthy(target: str, connections: int = 6) -> bool:
    """The health service says SERVING on each of ``connections`` new connections."""
    for _ in range(connections):
        with grpc.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)]) as ch:
            answer = health_pb2_grpc.HealthStub(ch).Check(
                health_pb2.HealthCheckRequest(service="flexinference.v1.RouteService"), timeout=10
            )
            if answer.status != health_pb2.HealthCheckResponse.SERVING:
                return False
    return True


def answered(target: str, caller: Caller, connections: int = 6) -> bool:
    """Each of ``connections`` new connections gets an answer."""
    for _ in range(connections):
        route_once(target, caller)
    return True


@pytest.fixture
def stack(tmp_path: pathlib.Path, sim: SimulatorThread) -> dict[str, Any]:
    sim.config = SimConfig(seed=11)
    sim.reset()
    url = f"sqlite:///{tmp_path / 'workers.db'}"
    secret = generate_encryption_key()
    upgrade(url)
    sessions = make_sessionmaker(make_engine(url))
    store = AccountStore(sessions, ProviderKeyCipher.from_setting(secret))
    caller = new_caller(store, "Many Cores Ltd")
    store.set_provider_key(caller.organization_id, "openai", "sk-test-" + "a" * 32)
    env = {
        "FLEXGRPC_DATABASE_URL": url,
        "FLEXGRPC_ENCRYPTION_KEY": secret,
        "FLEXGRPC_OPENAI_BASE_URL": f"{sim.url}/v1",
        "FLEXGRPC_LOG_LEVEL": "INFO",
        "FLEXGRPC_WORKERS": "2",
        "FLEXGRPC_SHUTDOWN_GRACE_S": "20",
    }
    return {"env": env, "caller": caller, "sessions": sessions, "tmp": tmp_path}


def test_workers_share_the_ports_a_dead_one_is_replaced_and_sigterm_drains_them(
    stack: dict[str, Any], sim: SimulatorThread
) -> None:
    caller: Caller = stack["caller"]
    server = start_server(stack["tmp"], stack["env"], timeout=PATIENCE_S)
    try:
        rest = f"http://127.0.0.1:{http_port(server)}"
        first = worker_pids(server)
        assert len(first) == 2
        assert answered(server.target, caller)
        assert healthy(server.target)

        # Kill each original worker in turn: the other one (then the replacement) answers,
        # and the supervisor says what happened and starts a new one on the same ports.
        for n, pid in enumerate(first, start=1):
            os.kill(pid, signal.SIGKILL)
            eventually(
                f"worker {pid}'s death is logged",
                lambda pid=pid: logged(server, "worker exited; replacing it", pid=pid),
            )
            assert answered(server.target, caller)
            eventually(
                "the replacement listens",
                lambda n=n: len(logged(server, "server started")) == 2 + n,
            )
        (death,) = logged(server, "worker exited; replacing it", pid=first[0])
        assert (death["level"], death["signal"], death["worker"]) == ("WARNING", "SIGKILL", 0)
        replacements = [
            line["pid"] for line in log_lines(server) if line["message"] == "worker started"
        ]
        assert len(replacements) == 2
        assert not set(replacements) & set(first)
        # Only replacements are left, and both ports still answer.
        assert answered(server.target, caller)
        assert healthy(server.target)
        health = httpx.get(
            f"{rest}/v1/organizations/-", headers={"authorization": f"Bearer {caller.api_key}"}
        )
        assert health.status_code == 200

        # SIGTERM to the supervisor: requests in flight on every worker finish, then all exit.
        sim.config = SimConfig(seed=11).with_tier("flex", start_delay="fixed:2s")
        before = len(sim.records)
        results: list[Any] = []

        def one() -> None:
            try:
                metadata = route_once(server.target, caller, start_within="00h-00m-30s")
                results.append(metadata["x-flexinference-tier"])
            except grpc.RpcError as error:  # pragma: no cover - reported by the assert below
                results.append(error)

        callers = [threading.Thread(target=one) for _ in range(6)]
        for thread in callers:
            thread.start()
        eventually("six requests are in flight upstream", lambda: len(sim.records) - before >= 6)
        server.process.send_signal(signal.SIGTERM)
        for thread in callers:
            thread.join(PATIENCE_S)
        assert results == ["flex"] * 6
        assert server.process.wait(PATIENCE_S) == 0
        lines = log_lines(server)
        assert sum(line["message"] == "server stopped" for line in lines) == 2
        assert [line["clean"] for line in lines if line["message"] == "workers stopped"] == [True]
        assert not any(alive(pid) for pid in replacements)
    finally:
        server.stop(signal.SIGKILL)
        for pid in worker_pids(server):
            if alive(pid):  # pragma: no cover - only when the test failed midway
                os.kill(pid, signal.SIGKILL)


def test_workers_whose_supervisor_dies_drain_and_exit(stack: dict[str, Any]) -> None:
    server = start_server(stack["tmp"], stack["env"], timeout=PATIENCE_S)
    pids = worker_pids(server)
    assert answered(server.target, stack["caller"], connections=2)
    server.process.send_signal(signal.SIGKILL)
    server.process.wait(PATIENCE_S)
    eventually("the orphaned workers exit", lambda: not any(alive(pid) for pid in pids))
    stopped = [line for line in log_lines(server) if line["message"] == "server stopped"]
    assert sorted(line["worker"] for line in stopped) == [0, 1]


def serve_exits(
    tmp: pathlib.Path, env: dict[str, str], *argv: str
) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable,
        "-m",
        "flexgrpc.cli",
        "serve",
        "--grpc-port",
        "0",
        "--http-port",
        "0",
    ]
    return subprocess.run(
        [*command, *argv],
        env={**os.environ, **env}, cwd=tmp, capture_output=True, text=True, timeout=PATIENCE_S,
        check=False,
    )  # fmt: skip


def test_an_in_memory_sqlite_database_is_refused_with_several_workers(
    stack: dict[str, Any],
) -> None:
    env = {**stack["env"], "FLEXGRPC_DATABASE_URL": "sqlite://"}
    refused = serve_exits(stack["tmp"], env)
    assert refused.returncode == 1
    assert (
        refused.stderr.strip()
        .splitlines()[-1]
        .startswith("flexgrpc: --workers above 1 needs a database the workers share")
    )
    assert refused.stdout == ""


def test_the_supervisor_exits_when_a_worker_cannot_start(stack: dict[str, Any]) -> None:
    catalog = stack["tmp"] / "prices.json"
    catalog.write_text("{not json")
    env = {**stack["env"], "FLEXGRPC_PRICE_CATALOG": str(catalog)}
    refused = serve_exits(stack["tmp"], env, "--workers", "2")
    assert refused.returncode == 1
    assert "could not start: the price catalog is invalid" in refused.stderr
    assert "listening on" not in refused.stdout


def test_a_port_another_server_listens_on_is_refused(stack: dict[str, Any]) -> None:
    import socket

    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        refused = serve_exits(stack["tmp"], stack["env"], "--grpc-port", port)
    assert refused.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in refused.stderr
