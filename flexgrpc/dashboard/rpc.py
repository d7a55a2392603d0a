"""The dashboard's calls: public RPCs through the server's own channel and interceptors.

Each page acts as the signed-in session: the call carries the session's token (which the auth
interceptor honours only from this process, next to the per-process forwarded token) and the
browser's address (so the failed-authentication limit counts per browser). A call is therefore
exactly the RPC that grpcurl or the REST shim would make, with the same checks and errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
from google.protobuf import message

from flexgrpc.api.interceptors import FORWARDED_PEER_KEY, FORWARDED_TOKEN_KEY, SESSION_KEY
from flexgrpc.errors import FlexError
from flexgrpc.rest.envelopes import from_rpc_error

M = TypeVar("M", bound=message.Message)

#: Every dashboard call is short; a hung servicer must not hang the page.
_TIMEOUT_S = 30.0


@dataclass
class RpcFailure(Exception):
    """An RPC's error as a page shows it: the HTTP status of the spec's code and its message."""

    http_status: int
    code: str
    message: str
    field: str | None = None


def failure_of(error: grpc.aio.AioRpcError) -> RpcFailure:
    found = from_rpc_error(error)
    return RpcFailure(found.http_status, found.code, found.message, found.param)


def failure_from(error: FlexError) -> RpcFailure:
    return RpcFailure(error.spec.http_status, error.code, error.message, error.field)


class DashboardRpc:
    """Calls methods of the public services on ``channel`` (in process or loopback)."""

    def __init__(self, channel: Any, forwarded_token: str) -> None:
        self._channel = channel
        self._forwarded_token = forwarded_token
        self._callables: dict[str, Any] = {}

    async def call(self, method: str, request: message.Message, reply: type[M], *,
                   session_token: str, peer: str) -> M:  # fmt: skip
        """Call ``/flexinference.v1.<method>`` as the session; ``RpcFailure`` on error."""
        path = f"/flexinference.v1.{method}"
        callable_ = self._callables.get(path)
        if callable_ is None:
            callable_ = self._callables[path] = self._channel.unary_unary(
                path,
                request_serializer=type(request).SerializeToString,
                response_deserializer=reply.FromString,
            )
        metadata = (
            (SESSION_KEY, session_token),
            (FORWARDED_PEER_KEY, peer),
            (FORWARDED_TOKEN_KEY, self._forwarded_token),
        )
        try:
            answer = await callable_(request, metadata=metadata, timeout=_TIMEOUT_S)
        except grpc.aio.AioRpcError as error:
            raise failure_of(error) from None
        assert isinstance(answer, reply)
        return answer
