"""``grpc.health.v1.Health``: the reference servicer, plus the ``List`` method the current
health.proto has and the reference servicer does not implement.

Without it a ``List`` call (grpcurl's, a load balancer's) answered UNIMPLEMENTED through an
uncaught ``NotImplementedError``, with a traceback in the log for every call (found by the gRPC
fuzz test).
"""

from __future__ import annotations

from typing import Any

from grpc_health.v1 import health, health_pb2


class HealthServicer(health.aio.HealthServicer):  # type: ignore[misc]
    async def List(
        self, request: health_pb2.HealthListRequest, context: Any
    ) -> health_pb2.HealthListResponse:
        """Every service's status, as ``Check`` would answer it for that service."""
        statuses = dict(self._server_status)  # the reference servicer's one table of statuses
        return health_pb2.HealthListResponse(
            statuses={
                name: health_pb2.HealthCheckResponse(status=status)
                for name, status in statuses.items()
            }
        )
