"""SIGTERM drains: in-flight calls finish, new calls are refused, the process exits 0."""

from __future__ import annotations

import pathlib
import signal
import sys
import threading
import time

import grpc

from flexgrpc.accounts.crypto import generate_encryption_key
from flexgrpc.accounts.store import AccountStore
from flexgrpc.db.engine import make_engine, make_sessionmaker
from flexgrpc.db.migrate import upgrade
from tests.serverproc import start_server


def test_sigterm_drains_an_in_flight_call(tmp_path: pathlib.Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    upgrade(url)
    store = AccountStore(make_sessionmaker(make_engine(url)), None)
    org = store.create_organization("Drain")
    _, api_key = store.create_api_key(org.id)
    server = start_server(
        tmp_path,
        {
            "FLEXGRPC_DATABASE_URL": url,
            "FLEXGRPC_ENCRYPTION_KEY": generate_encryption_key(),
            "FLEXGRPC_SHUTDOWN_GRACE_S": "20",
        },
        argv=[sys.executable, str(pathlib.Path(__file__).parent / "slow_server.py")],
    )
    metadata = (("authorization", f"Bearer {api_key}"),)
    result: dict[str, object] = {}
    with grpc.insecure_channel(server.target) as channel:
        sleep = channel.unary_unary("/flexgrpc.test.Slow/Sleep")

        def in_flight() -> None:
            try:
                result["answer"] = sleep(b"2", metadata=metadata, timeout=30)
            except grpc.RpcError as error:  # pragma: no cover - reported by the assert below
                result["error"] = error

        worker = threading.Thread(target=in_flight)
        worker.start()
        time.sleep(0.5)  # the call is now in flight
        server.process.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        # New calls are refused while draining (new connections too: the listener is closed).
        with grpc.insecure_channel(server.target) as late_channel:
            try:
                late_channel.unary_unary("/flexgrpc.test.Slow/Sleep")(
                    b"0", metadata=metadata, timeout=3
                )
                refused = False
            except grpc.RpcError as error:
                refused = error.code() in (
                    grpc.StatusCode.UNAVAILABLE,
                    grpc.StatusCode.DEADLINE_EXCEEDED,
                )
        worker.join(30)

    assert result.get("answer") == b"slept 2", result
    assert refused
    assert server.process.wait(30) == 0
    logs = server.logs()
    assert "shutdown signal received" in logs
    assert "draining" in logs
    assert "server stopped" in logs
