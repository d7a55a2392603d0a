"""``grpc.health.v1.Health/List`` answers every service's status (the gRPC fuzz test found it
unimplemented, with a traceback logged per call)."""

from __future__ import annotations

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from flexgrpc.server import SERVICE_NAMES
from tests.serverproc import ServerProcess


def test_list_answers_every_service_as_check_does(
    server: ServerProcess, channel: grpc.Channel
) -> None:
    stub = health_pb2_grpc.HealthStub(channel)
    listed = stub.List(health_pb2.HealthListRequest(), timeout=10).statuses
    assert set(listed) >= {"", *SERVICE_NAMES}
    for name in ("", *SERVICE_NAMES):
        checked = stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=10)
        assert listed[name].status == checked.status == health_pb2.HealthCheckResponse.SERVING
    assert "NotImplementedError" not in server.logs()
