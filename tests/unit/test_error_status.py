"""The code table and its translation into gRPC status details."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from flexgrpc.api.status import STATUS_DETAILS_KEY, status_proto, trailers_for
from flexgrpc.errors import CODES, ERROR_DOMAIN, FlexError

SPEC_TABLE = {
    "missing_api_key": (401, grpc.StatusCode.UNAUTHENTICATED),
    "invalid_api_key": (401, grpc.StatusCode.UNAUTHENTICATED),
    "payment_required": (402, grpc.StatusCode.FAILED_PRECONDITION),
    "request_too_large": (413, grpc.StatusCode.INVALID_ARGUMENT),
    "rate_limit_exceeded": (429, grpc.StatusCode.RESOURCE_EXHAUSTED),
    "missing_model": (400, grpc.StatusCode.INVALID_ARGUMENT),
    "missing_start_within": (400, grpc.StatusCode.INVALID_ARGUMENT),
    "invalid_start_within": (400, grpc.StatusCode.INVALID_ARGUMENT),
    "service_tier_not_allowed": (400, grpc.StatusCode.INVALID_ARGUMENT),
    "model_not_flex_capable": (400, grpc.StatusCode.INVALID_ARGUMENT),
    "flex_unsupported_for_anthropic": (400, grpc.StatusCode.INVALID_ARGUMENT),
    "auto_unsupported_for_gemini": (400, grpc.StatusCode.INVALID_ARGUMENT),
    "no_byok_key": (400, grpc.StatusCode.FAILED_PRECONDITION),
    "no_gemini_key": (400, grpc.StatusCode.FAILED_PRECONDITION),
    "no_anthropic_key": (400, grpc.StatusCode.FAILED_PRECONDITION),
}


@pytest.mark.parametrize(("code", "expected"), SPEC_TABLE.items())
def test_codes_follow_the_spec_table(code: str, expected: tuple[int, grpc.StatusCode]) -> None:
    spec = CODES[code]
    assert (spec.http_status, spec.grpc_status) == expected


def test_an_unknown_code_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown error code"):
        FlexError("no_such_code", "x")


def _details(status: status_pb2.Status) -> list[str]:
    return [d.type_url.rsplit("/", 1)[-1] for d in status.details]


def test_a_status_has_exactly_one_error_info() -> None:
    status = status_proto(FlexError("invalid_api_key", "bad key", metadata={"hint": "x"}))
    assert status.code == grpc.StatusCode.UNAUTHENTICATED.value[0]
    assert status.message == "bad key"
    assert _details(status) == ["google.rpc.ErrorInfo"]
    info = error_details_pb2.ErrorInfo()
    status.details[0].Unpack(info)
    assert (info.reason, info.domain, dict(info.metadata)) == (
        "invalid_api_key",
        ERROR_DOMAIN,
        {"hint": "x"},
    )


def test_field_errors_add_bad_request_and_rate_limits_add_retry_info() -> None:
    status = status_proto(FlexError("invalid_start_within", "bad", field="start_within"))
    assert _details(status) == ["google.rpc.ErrorInfo", "google.rpc.BadRequest"]
    bad = error_details_pb2.BadRequest()
    status.details[1].Unpack(bad)
    assert bad.field_violations[0].field == "start_within"

    limited = FlexError("rate_limit_exceeded", "slow down", retry_after_s=7)
    trailers = dict(trailers_for(limited))
    assert trailers["retry-after"] == "7"
    decoded = status_pb2.Status.FromString(trailers[STATUS_DETAILS_KEY])  # type: ignore[arg-type]
    assert _details(decoded) == ["google.rpc.ErrorInfo", "google.rpc.RetryInfo"]
