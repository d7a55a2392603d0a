"""Turns a ``FlexError`` into a gRPC status with exactly one ``google.rpc.ErrorInfo`` (AIP-193).

Field errors also carry a ``google.rpc.BadRequest``; rate limits a ``google.rpc.RetryInfo`` and a
``retry-after`` trailer. The details travel in the standard ``grpc-status-details-bin`` trailer,
which grpcio-status, grpcurl and the REST shim all read.
"""

from __future__ import annotations

from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

from flexgrpc.errors import ERROR_DOMAIN, FlexError

STATUS_DETAILS_KEY = "grpc-status-details-bin"

Trailers = tuple[tuple[str, str | bytes], ...]


def _pack(message: object) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)  # type: ignore[arg-type]
    return packed


def status_proto(error: FlexError) -> status_pb2.Status:
    """The ``google.rpc.Status`` for ``error``."""
    spec = error.spec
    info = error_details_pb2.ErrorInfo(
        reason=error.code, domain=ERROR_DOMAIN, metadata=error.metadata
    )
    details = [_pack(info)]
    if error.field is not None:
        violation = error_details_pb2.BadRequest.FieldViolation(
            field=error.field, description=error.message, reason=error.code
        )
        details.append(_pack(error_details_pb2.BadRequest(field_violations=[violation])))
    if error.retry_after_s is not None:
        delay = duration_pb2.Duration(seconds=error.retry_after_s)
        details.append(_pack(error_details_pb2.RetryInfo(retry_delay=delay)))
    code: int = spec.grpc_status.value[0]
    assert code_pb2.Code.Name(code)  # the grpc and google.rpc code numbers agree
    return status_pb2.Status(code=code, message=error.message, details=details)


def trailers_for(error: FlexError) -> Trailers:
    """Trailing metadata that carries ``error``'s rich status (and ``retry-after``, and the
    ``x-flexinference-*`` metadata of its answer)."""
    trailers: list[tuple[str, str | bytes]] = [
        (STATUS_DETAILS_KEY, status_proto(error).SerializeToString())
    ]
    if error.retry_after_s is not None:
        trailers.append(("retry-after", str(error.retry_after_s)))
    trailers.extend(error.answer_metadata)
    return tuple(trailers)
