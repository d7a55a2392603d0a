"""Handlers for services whose implementation arrives with a later issue.

They are real, reflected, authenticated methods that answer ``UNIMPLEMENTED`` with an
``ErrorInfo`` (reason ``unimplemented``) naming what is missing, and nothing else.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
from google.protobuf import descriptor, message_factory

from flexgrpc.errors import FlexError


def _error(method: descriptor.MethodDescriptor, arrives_with: str) -> FlexError:
    return FlexError(
        "unimplemented",
        f"{method.full_name} is part of the contract but not implemented yet; it arrives with "
        f"{arrives_with}.",
        metadata={"method": method.full_name},
    )


def _handler(
    method: descriptor.MethodDescriptor, arrives_with: str
) -> grpc.RpcMethodHandler[Any, Any]:
    request_cls = message_factory.GetMessageClass(method.input_type)
    response_cls = message_factory.GetMessageClass(method.output_type)
    if method.server_streaming:

        async def stream(_request: Any, _context: Any) -> AsyncIterator[Any]:
            raise _error(method, arrives_with)
            yield  # pragma: no cover - makes this an async generator

        return grpc.unary_stream_rpc_method_handler(
            stream,
            request_deserializer=request_cls.FromString,
            response_serializer=response_cls.SerializeToString,
        )

    async def unary(_request: Any, _context: Any) -> Any:
        raise _error(method, arrives_with)

    return grpc.unary_unary_rpc_method_handler(
        unary,
        request_deserializer=request_cls.FromString,
        response_serializer=response_cls.SerializeToString,
    )


def unimplemented_service(
    service: descriptor.ServiceDescriptor, arrives_with: str
) -> grpc.GenericRpcHandler:
    """A handler answering every method of ``service`` with ``unimplemented``."""
    handlers = {m.name: _handler(m, arrives_with) for m in service.methods}
    return grpc.method_handlers_generic_handler(service.full_name, handlers)
