"""When the ledger cannot write, nothing looks complete, health says so, and it recovers.

A real ``flexgrpc serve`` (tests/integration/faulty_storage_server.py) whose SQLite commits of
writes fail while a flag file exists, as on a full disk, in front of the provider simulator;
the REST shim through httpx, gRPC through real channels, health through ``grpc.health.v1``.
"""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import httpx
import pytest
from flexinference.v1 import route_pb2, route_pb2_grpc
from google.api import httpbody_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy import make_url, select

from flexgrpc.accounts.store import AccountStore
from flexgrpc.db.engine import make_engine, make_sessionmaker
from flexgrpc.db.migrate import upgrade
from flexgrpc.db.models import UsageRecord
from flexgrpc.sim import SimulatorThread
from tests.compat.conftest import Org, new_org, open_store, server_env
from tests.richstatus import rich_error
from tests.serverproc import ServerProcess, start_server

_SERVER = pathlib.Path(__file__).parent / "faulty_storage_server.py"
_LINE = re.compile(r"^(?P<what>http|metrics) listening on [^\s:]+:(?P<port>\d+)$")
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING

#: Each surface's streamed request, and what its complete answer ends with.
STREAMS = {
    "/v1/chat/completions": (
        '{"model": "gpt-5-mini", "start_within": "default", "stream": true, '
        '"messages": [{"role": "user", "content": "hi"}]}',
        b"data: [DONE]",
    ),
    "/v1/responses": (
        '{"model": "gpt-5-mini", "start_within": "default", "stream": true, "input": "hi"}',
        b"event: response.completed",
    ),
    "/v1/messages": (
        '{"model": "claude-sonnet-4-5", "start_within": "default", "stream": true, '
        '"max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}',
        b"event: message_stop",
    ),
    "/v1/interactions": (
        '{"model": "gemini-3-flash-preview", "start_within": "default", "stream": true, '
        '"input": "hi"}',
        b"event: interaction.completed",
    ),
}


@dataclass
class Stack:
    process: ServerProcess
    http_port: int
    metrics_port: int
    store: AccountStore
    database_url: str
    fault: pathlib.Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, sim: SimulatorThread) -> Iterator[Stack]:
    home = tmp_path_factory.mktemp("storage-faults")
    fault = home / "disk-is-full"
    env = server_env(
        home,
        sim,
        FLEXGRPC_METRICS_PORT="0",
        FLEXGRPC_LEDGER_PROBE_INTERVAL_S="0.2",
        FLEXGRPC_TEST_FAULT_FILE=str(fault),
    )
    store = open_store(env)
    process = start_server(home, env, argv=[sys.executable, str(_SERVER)])
    assert process.process.stdout is not None
    ports: dict[str, int] = {}
    while len(ports) < 2:
        line = process.process.stdout.readline().rstrip("\n")
        assert line, process.logs()[-2000:]
        if match := _LINE.match(line):
            ports[match["what"]] = int(match["port"])
    yield Stack(
        process, ports["http"], ports["metrics"], store, env["FLEXGRPC_DATABASE_URL"], fault
    )
    fault.unlink(missing_ok=True)
    process.stop()


@pytest.fixture
def org(stack: Stack) -> Org:
    return new_org(stack.store)


def _headers(org: Org) -> dict[str, str]:
    return {"authorization": f"Bearer {org.api_key}", "content-type": "application/json"}


@dataclass(frozen=True)
class Answer:
    request_id: str
    body: bytes
    complete: bool


def _stream(stack: Stack, org: Org, path: str) -> Answer:
    body, ending = STREAMS[path]
    with (
        httpx.Client(base_url=stack.url, timeout=60) as http,
        http.stream("POST", path, content=body, headers=_headers(org)) as response,
    ):
        assert response.status_code == 200
        data = response.read()
        request_id = response.headers["x-flexinference-request-id"]
    return Answer(request_id, data, ending in data)


def _await_health(stack: Stack, status: int) -> None:
    """Watch health until it reports ``status`` (a broken server fails the 60 s bound)."""
    with grpc.insecure_channel(stack.process.target) as channel:
        watch = health_pb2_grpc.HealthStub(channel).Watch(
            health_pb2.HealthCheckRequest(service=""), timeout=60
        )
        for reply in watch:
            if reply.status == status:
                watch.cancel()
                return


def _recorded(stack: Stack, request_ids: list[str]) -> set[str]:
    engine = make_engine(stack.database_url)
    try:
        with make_sessionmaker(engine)() as session:
            query = select(UsageRecord.request_id).where(UsageRecord.request_id.in_(request_ids))
            return set(session.scalars(query))
    finally:
        engine.dispose()


def _writable_metric(stack: Stack) -> str:
    metrics = httpx.get(f"http://127.0.0.1:{stack.metrics_port}/metrics").text
    return next(
        line for line in metrics.splitlines() if line.startswith("flexgrpc_ledger_writable ")
    )


def test_an_unwritable_ledger_ends_streams_in_band_turns_health_and_recovers(
    stack: Stack, org: Org
) -> None:
    answers = [_stream(stack, org, path) for path in sorted(STREAMS)]
    assert all(answer.complete for answer in answers)

    stack.fault.touch()  # from now on the disk is "full"
    broken = {path: _stream(stack, org, path) for path in sorted(STREAMS)}
    for path, answer in broken.items():
        assert not answer.complete, path
        assert b"event: error" in answer.body or b'"error"' in answer.body, path
        assert b"could not be recorded" in answer.body, path
    chat = broken["/v1/chat/completions"].body
    assert b"data: [DONE]" not in chat
    assert chat.rstrip().splitlines()[-1].startswith(b'data: {"error"')
    assert b"response.completed" not in broken["/v1/responses"].body
    assert b"message_stop" not in broken["/v1/messages"].body
    assert b"interaction.completed" not in broken["/v1/interactions"].body
    answers += broken.values()

    _await_health(stack, NOT_SERVING)
    assert _writable_metric(stack) == "flexgrpc_ledger_writable 0.0"
    assert "the ledger cannot write (database or disk is full)" in stack.process.logs()

    # gRPC: the same in-band event, then UNAVAILABLE (a retry can succeed once it can write).
    body, _ = STREAMS["/v1/chat/completions"]
    request = route_pb2.CreateChatCompletionRequest(
        body=httpbody_pb2.HttpBody(content_type="application/json", data=body.encode())
    )
    chunks: list[bytes] = []

    def read_all() -> None:
        with grpc.insecure_channel(stack.process.target) as channel:
            stub = route_pb2_grpc.RouteServiceStub(channel)
            metadata = (("authorization", f"Bearer {org.api_key}"),)
            for message in stub.CreateChatCompletion(request, metadata=metadata, timeout=60):
                chunks.append(message.data)

    with pytest.raises(grpc.RpcError) as caught:
        read_all()
    error = rich_error(caught.value)
    assert (error.code, error.reason) == (grpc.StatusCode.UNAVAILABLE, "unavailable")
    assert b"could not be recorded" in b"".join(chunks)
    assert b"data: [DONE]" not in b"".join(chunks)

    # A non-streamed answer is refused whole: 503, never the answer without its record.
    with httpx.Client(base_url=stack.url, timeout=60) as http:
        whole = http.post(
            "/v1/chat/completions",
            content=body.replace('"stream": true', '"stream": false'),
            headers=_headers(org),
        )
    assert whole.status_code == 503
    assert whole.json()["error"]["code"] == "unavailable"

    stack.fault.unlink()  # space again
    _await_health(stack, SERVING)
    assert _writable_metric(stack) == "flexgrpc_ledger_writable 1.0"
    assert "the ledger can write again" in stack.process.logs()
    recovered = [_stream(stack, org, path) for path in sorted(STREAMS)]
    assert all(answer.complete for answer in recovered)
    answers += recovered

    # No answer the client saw as complete lacks its record.
    complete = [answer.request_id for answer in answers if answer.complete]
    assert _recorded(stack, complete) == set(complete)
    assert "Traceback" not in "".join(
        line for line in stack.process.logs().splitlines() if not line.startswith("{")
    )


def _read_only(url: str) -> str:
    """``url``, migrated, as a URL the server can only read through: SQLite opened read-only,
    or a PostgreSQL database whose sessions default to read-only transactions (as on a hot
    standby)."""
    upgrade(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return f"sqlite:///file:{parsed.database}?mode=ro&uri=true"
    engine = make_engine(url).execution_options(isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.exec_driver_sql(
            f'ALTER DATABASE "{parsed.database}" SET default_transaction_read_only = on'
        )
    engine.dispose()
    return url


def test_serve_refuses_a_read_only_database_in_one_line(
    tmp_path: pathlib.Path, database_url: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "flexgrpc.cli", "serve", "--grpc-port", "0", "--http-port", "0"],
        cwd=tmp_path,
        env={**os.environ, "FLEXGRPC_DATABASE_URL": _read_only(database_url)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "grpc listening" not in done.stdout
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("flexgrpc: the database cannot be written (")
    assert "read" in last.lower()  # the driver's reason: read-only, in its own words
