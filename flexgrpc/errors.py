"""The single table of error codes (SPEC §7) and the domain error every layer raises.

Domain code raises ``FlexError(code, message, ...)``; one gRPC interceptor turns it into a status
with exactly one ``google.rpc.ErrorInfo`` (and a ``BadRequest`` for field errors); the REST shim
derives its envelope from that status. Nothing else decides HTTP or gRPC codes.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import grpc

#: ``ErrorInfo.domain`` for every error this service raises (AIP-193).
ERROR_DOMAIN = "flexinference.v1"


class ErrorType(enum.StrEnum):
    """The ``type`` that OpenAI- and Anthropic-shaped envelopes carry."""

    AUTHENTICATION = "authentication_error"
    BILLING = "billing_error"
    INVALID_REQUEST = "invalid_request_error"
    RATE_LIMIT = "rate_limit_error"
    NOT_FOUND = "not_found_error"
    PERMISSION = "permission_error"
    API = "api_error"


@dataclass(frozen=True, slots=True)
class CodeSpec:
    http_status: int
    grpc_status: grpc.StatusCode
    error_type: ErrorType


_BAD = CodeSpec(400, grpc.StatusCode.INVALID_ARGUMENT, ErrorType.INVALID_REQUEST)
_PRECONDITION = CodeSpec(400, grpc.StatusCode.FAILED_PRECONDITION, ErrorType.INVALID_REQUEST)

#: code -> (HTTP status, gRPC status, envelope type). The one place these are decided.
CODES: dict[str, CodeSpec] = {
    "missing_api_key": CodeSpec(401, grpc.StatusCode.UNAUTHENTICATED, ErrorType.AUTHENTICATION),
    "invalid_api_key": CodeSpec(401, grpc.StatusCode.UNAUTHENTICATED, ErrorType.AUTHENTICATION),
    "permission_denied": CodeSpec(403, grpc.StatusCode.PERMISSION_DENIED, ErrorType.PERMISSION),
    "payment_required": CodeSpec(402, grpc.StatusCode.FAILED_PRECONDITION, ErrorType.BILLING),
    "request_too_large": CodeSpec(413, grpc.StatusCode.INVALID_ARGUMENT, ErrorType.INVALID_REQUEST),
    "rate_limit_exceeded": CodeSpec(429, grpc.StatusCode.RESOURCE_EXHAUSTED, ErrorType.RATE_LIMIT),
    # The organization's concurrent flex races are at its cap and it refuses the excess.
    "flex_race_slots_exhausted": CodeSpec(
        429, grpc.StatusCode.RESOURCE_EXHAUSTED, ErrorType.RATE_LIMIT
    ),
    "not_found": CodeSpec(404, grpc.StatusCode.NOT_FOUND, ErrorType.NOT_FOUND),
    # The REST shim's own refusals (a method the path does not have, a body that is not JSON, an
    # upload that stalled) and a call that ran out of its deadline.
    "method_not_allowed": CodeSpec(405, grpc.StatusCode.UNIMPLEMENTED, ErrorType.INVALID_REQUEST),
    "unsupported_media_type": CodeSpec(
        415, grpc.StatusCode.INVALID_ARGUMENT, ErrorType.INVALID_REQUEST
    ),
    "request_timeout": CodeSpec(408, grpc.StatusCode.DEADLINE_EXCEEDED, ErrorType.INVALID_REQUEST),
    "deadline_exceeded": CodeSpec(504, grpc.StatusCode.DEADLINE_EXCEEDED, ErrorType.API),
    "invalid_argument": _BAD,
    "invalid_json": _BAD,
    # A page token that fails verification (altered, forged, another request's or server's).
    "invalid_page_token": _BAD,
    "missing_model": _BAD,
    "unsupported_model": _BAD,
    "missing_start_within": _BAD,
    "invalid_start_within": _BAD,
    "service_tier_not_allowed": _BAD,
    "model_not_flex_capable": _BAD,
    "flex_unsupported_for_anthropic": _BAD,
    "auto_unsupported_for_gemini": _BAD,
    "invalid_provider": _BAD,
    "invalid_retry": _BAD,
    "invalid_include_cost": _BAD,
    "missing_input": _BAD,
    "missing_messages": _BAD,
    "missing_contents": _BAD,
    "unsupported_surface_pair": _BAD,
    # A feature of the caller's request that the provider reached cannot express.
    "unsupported_feature": _BAD,
    "route_not_available": _BAD,
    "no_byok_key": _PRECONDITION,
    "no_gemini_key": _PRECONDITION,
    "no_anthropic_key": _PRECONDITION,
    # A provider's refusal or failure; the HTTP status is the provider's (see FlexError).
    "upstream_error": CodeSpec(502, grpc.StatusCode.UNAVAILABLE, ErrorType.API),
    "unimplemented": CodeSpec(501, grpc.StatusCode.UNIMPLEMENTED, ErrorType.API),
    "internal_error": CodeSpec(500, grpc.StatusCode.INTERNAL, ErrorType.API),
    "unavailable": CodeSpec(503, grpc.StatusCode.UNAVAILABLE, ErrorType.API),
}


def _spec_for_http_status(status: int) -> CodeSpec:
    """gRPC status and envelope type for a provider's HTTP status (SPEC §7: keep the provider's)."""
    table = {
        400: (grpc.StatusCode.INVALID_ARGUMENT, ErrorType.INVALID_REQUEST),
        401: (grpc.StatusCode.FAILED_PRECONDITION, ErrorType.AUTHENTICATION),
        403: (grpc.StatusCode.PERMISSION_DENIED, ErrorType.PERMISSION),
        404: (grpc.StatusCode.NOT_FOUND, ErrorType.NOT_FOUND),
        408: (grpc.StatusCode.DEADLINE_EXCEEDED, ErrorType.API),
        409: (grpc.StatusCode.ABORTED, ErrorType.INVALID_REQUEST),
        413: (grpc.StatusCode.INVALID_ARGUMENT, ErrorType.INVALID_REQUEST),
        422: (grpc.StatusCode.INVALID_ARGUMENT, ErrorType.INVALID_REQUEST),
        429: (grpc.StatusCode.RESOURCE_EXHAUSTED, ErrorType.RATE_LIMIT),
        504: (grpc.StatusCode.DEADLINE_EXCEEDED, ErrorType.API),
    }
    grpc_status, kind = table.get(
        status,
        (grpc.StatusCode.INVALID_ARGUMENT, ErrorType.INVALID_REQUEST)
        if 400 <= status < 500
        else (grpc.StatusCode.UNAVAILABLE, ErrorType.API),
    )
    return CodeSpec(status, grpc_status, kind)


class FlexError(Exception):
    """A domain error with a code from ``CODES``.

    ``message`` says what was wrong, the rule, and how to fix it. ``field`` names the request field
    at fault (it becomes a ``google.rpc.BadRequest`` violation). ``metadata`` lands in
    ``ErrorInfo.metadata``; ``retry_after_s`` becomes a ``RetryInfo`` / ``Retry-After``.
    ``http_status`` overrides the table for ``upstream_error``, which keeps the provider's status.
    ``answer_metadata`` holds ``x-flexinference-*`` pairs that go with the error answer as every
    answer has them (gRPC trailing metadata, REST headers), such as the retry count.
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        field: str | None = None,
        metadata: dict[str, str] | None = None,
        retry_after_s: int | None = None,
        http_status: int | None = None,
    ) -> None:
        if code not in CODES:
            raise ValueError(f"unknown error code {code!r}: add it to flexgrpc.errors.CODES")
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.metadata = dict(metadata or {})
        self.retry_after_s = retry_after_s
        self.http_status = http_status
        self.answer_metadata: tuple[tuple[str, str], ...] = ()

    @property
    def spec(self) -> CodeSpec:
        if self.http_status is not None and self.http_status != CODES[self.code].http_status:
            return _spec_for_http_status(self.http_status)
        return CODES[self.code]

    def __repr__(self) -> str:
        return f"FlexError({self.code!r}, {self.message!r})"
