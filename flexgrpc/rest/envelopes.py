"""REST error answers, derived from a gRPC status and its details (SPEC §7).

The HTTP status comes from the code table by ``ErrorInfo.reason`` (for ``upstream_error``, the
provider's own status, which the router keeps in ``ErrorInfo.metadata["http_status"]``); the
envelope is the one of the surface called:

- OpenAI: ``{"error": {"message", "type", "code", "param"}}``
- Anthropic: ``{"type": "error", "error": {"type", "message"}}``
- Google: ``{"error": {"code", "message", "status", "details"}}``

The shim's own errors (unknown path, body too large, malformed JSON, …) are ``FlexError``s turned
into the same status first, so both paths give identical answers.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import any_pb2, json_format
from google.rpc import error_details_pb2, status_pb2

from flexgrpc.api.in_process import InProcessRpcError
from flexgrpc.api.status import STATUS_DETAILS_KEY, status_proto
from flexgrpc.errors import CODES, ErrorType, FlexError

_S = grpc.StatusCode
#: A status without ErrorInfo (raised by gRPC itself, not by our code): the closest table code.
_FALLBACK = {
    _S.CANCELLED: "unavailable",
    _S.UNKNOWN: "internal_error",
    _S.INVALID_ARGUMENT: "invalid_argument",
    _S.DEADLINE_EXCEEDED: "deadline_exceeded",
    _S.NOT_FOUND: "not_found",
    _S.ALREADY_EXISTS: "invalid_argument",
    _S.PERMISSION_DENIED: "permission_denied",
    _S.RESOURCE_EXHAUSTED: "rate_limit_exceeded",
    _S.FAILED_PRECONDITION: "invalid_argument",
    _S.ABORTED: "invalid_argument",
    _S.OUT_OF_RANGE: "invalid_argument",
    _S.UNIMPLEMENTED: "unimplemented",
    _S.INTERNAL: "internal_error",
    _S.UNAVAILABLE: "unavailable",
    _S.DATA_LOSS: "internal_error",
    _S.UNAUTHENTICATED: "invalid_api_key",
}
_STATUS_BY_NUMBER = {code.value[0]: code for code in _S}
_JSON = (b"content-type", b"application/json")
_FLEX_PREFIX = "x-flexinference-"

Metadata = Iterable[tuple[str, str | bytes]]


@dataclass(frozen=True, slots=True)
class HttpError:
    """An error as the REST shim answers it."""

    http_status: int
    code: str
    message: str
    grpc_status: grpc.StatusCode
    error_type: ErrorType
    param: str | None = None
    retry_after: str | None = None
    details: tuple[any_pb2.Any, ...] = ()
    #: The answer's ``x-flexinference-*`` headers (such as ``x-flexinference-retries``).
    flex_headers: tuple[tuple[str, str], ...] = ()

    def body(self, dialect: str) -> bytes:
        document: dict[str, Any]
        if dialect == "openai":
            document = {
                "error": {
                    "message": self.message,
                    "type": self.error_type.value,
                    "code": self.code,
                    "param": self.param,
                }
            }
        elif dialect == "anthropic":
            kind = self._anthropic_type()
            document = {"type": "error", "error": {"type": kind, "message": self.message}}
        else:
            document = {
                "error": {
                    "code": self.http_status,
                    "message": self.message,
                    "status": self.grpc_status.name,
                    "details": [json_format.MessageToDict(d) for d in self.details],
                }
            }
        return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()

    def _anthropic_type(self) -> str:
        if self.http_status == 413:
            return "request_too_large"
        if self.http_status == 529:
            return "overloaded_error"
        if self.http_status >= 500:
            return ErrorType.API.value
        return self.error_type.value

    def headers(self, body_length: int) -> list[tuple[bytes, bytes]]:
        headers = [_JSON, (b"content-length", str(body_length).encode())]
        if self.retry_after is not None:
            headers.append((b"retry-after", self.retry_after.encode()))
        headers.extend((key.encode(), value.encode()) for key, value in self.flex_headers)
        return headers


def _unpack(status: status_pb2.Status) -> tuple[Any, Any, Any]:
    info = bad_request = retry = None
    for detail in status.details:
        if info is None and detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
        elif bad_request is None and detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
        elif retry is None and detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            retry = error_details_pb2.RetryInfo()
            detail.Unpack(retry)
    return info, bad_request, retry


def _provider_status(info: error_details_pb2.ErrorInfo) -> int | None:
    raw = info.metadata.get("http_status", "")
    if raw.isdigit() and 400 <= int(raw) <= 599:
        return int(raw)
    return None


def from_status(code: grpc.StatusCode, message: str, trailing: Metadata | None) -> HttpError:
    """The REST error for a gRPC status ``code`` with its trailing metadata."""
    status = status_pb2.Status()
    retry_after: str | None = None
    flex: list[tuple[str, str]] = []
    for key, value in trailing or ():
        if key.startswith(_FLEX_PREFIX) and isinstance(value, str):
            flex.append((key, value))
        elif key == STATUS_DETAILS_KEY and isinstance(value, bytes):
            try:
                status.ParseFromString(value)
            except Exception:  # a malformed details trailer: fall back to the bare status
                status = status_pb2.Status()
        elif key == "retry-after":
            retry_after = value.decode("latin-1") if isinstance(value, bytes) else value
    info, bad_request, retry = _unpack(status)
    if status.code and status.code in _STATUS_BY_NUMBER:
        code = _STATUS_BY_NUMBER[status.code]
    reason = (
        info.reason
        if info is not None and info.reason in CODES
        else _FALLBACK.get(code, "internal_error")
    )
    provider_status = _provider_status(info) if info is not None else None
    spec = FlexError(reason, "", http_status=provider_status).spec
    if retry_after is None and retry is not None and retry.HasField("retry_delay"):
        delay = retry.retry_delay
        retry_after = str(max(1, math.ceil(delay.seconds + delay.nanos / 1e9)))
    param = None
    if bad_request is not None and bad_request.field_violations:
        param = bad_request.field_violations[0].field or None
    return HttpError(
        http_status=spec.http_status,
        code=reason,
        message=status.message or message or f"The call failed with {code.name}.",
        grpc_status=code,
        error_type=spec.error_type,
        param=param,
        retry_after=retry_after,
        details=tuple(status.details),
        flex_headers=tuple(flex),
    )


def from_flex_error(error: FlexError) -> HttpError:
    """The REST error for a ``FlexError``: the shim's own, or one an in-process call failed
    with (the same answer ``from_status`` derives from that error's gRPC status)."""
    spec = error.spec
    return HttpError(
        http_status=spec.http_status,
        code=error.code,
        message=error.message,
        grpc_status=spec.grpc_status,
        error_type=spec.error_type,
        param=error.field or None,
        retry_after=str(error.retry_after_s) if error.retry_after_s is not None else None,
        details=tuple(status_proto(error).details),
        flex_headers=error.answer_metadata,
    )


def from_rpc_error(error: grpc.aio.AioRpcError) -> HttpError:
    """The REST error for a failed call: from its domain error when it ran in process,
    else from its status and trailing metadata."""
    failure = error.failure if isinstance(error, InProcessRpcError) else None
    if failure is not None:
        return from_flex_error(failure)
    return from_status(error.code(), error.details() or "", error.trailing_metadata())
