"""Each provider's error envelope and status for the errors the simulator produces.

* OpenAI: ``{"error": {"message", "type", "param", "code"}}``. A flex capacity refusal is
  ``429`` whose message starts with "Resource unavailable" (the flex-processing guide documents
  "429 Resource Unavailable", not billed); ``code`` is ``resource_unavailable``, which tells it
  apart from an ordinary rate limit (``rate_limit_exceeded``).
* Anthropic: ``{"type": "error", "error": {"type", "message"}, "request_id"}``; capacity is
  ``529 overloaded_error``.
* Google: ``{"error": {"code", "message", "status"}}``; flex capacity is ``503 UNAVAILABLE``
  ("The model is overloaded") per the flex-inference guide, or ``429 RESOURCE_EXHAUSTED``.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class ErrorReply:
    status: int
    body: dict[str, Any]


class ErrorDialect(abc.ABC):
    #: Status of a capacity refusal when the tier configuration does not set one.
    capacity_status: int

    @abc.abstractmethod
    def missing_key(self, request_id: str) -> ErrorReply: ...

    @abc.abstractmethod
    def malformed_json(self, request_id: str) -> ErrorReply: ...

    @abc.abstractmethod
    def invalid(self, message: str, param: str | None, request_id: str) -> ErrorReply: ...

    @abc.abstractmethod
    def capacity(self, status: int | None, request_id: str) -> ErrorReply: ...

    @abc.abstractmethod
    def server(self, status: int, request_id: str) -> ErrorReply: ...


class OpenAIErrors(ErrorDialect):
    capacity_status = 429

    @staticmethod
    def _reply(
        status: int, message: str, type_: str, param: str | None = None, code: str | None = None
    ) -> ErrorReply:
        return ErrorReply(
            status, {"error": {"message": message, "type": type_, "param": param, "code": code}}
        )

    def missing_key(self, request_id: str) -> ErrorReply:
        return self._reply(
            401,
            "You didn't provide an API key. You need to provide your API key in an "
            "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            "invalid_request_error",
        )

    def malformed_json(self, request_id: str) -> ErrorReply:
        return self._reply(
            400,
            "We could not parse the JSON body of your request. (HINT: This likely means you "
            "aren't using your HTTP library correctly. The OpenAI API expects a JSON payload.)",
            "invalid_request_error",
        )

    def invalid(self, message: str, param: str | None, request_id: str) -> ErrorReply:
        code = "invalid_value" if param == "service_tier" else None
        return self._reply(400, message, "invalid_request_error", param, code)

    def capacity(self, status: int | None, request_id: str) -> ErrorReply:
        return self._reply(
            status or self.capacity_status,
            "Resource unavailable: there is not enough flex capacity to serve this request "
            "right now. You have not been charged. Please retry later, or use "
            "service_tier='auto'.",
            "rate_limit_error",
            code="resource_unavailable",
        )

    def server(self, status: int, request_id: str) -> ErrorReply:
        return self._reply(
            status,
            "The server had an error while processing your request. Sorry about that!",
            "server_error",
        )


class AnthropicErrors(ErrorDialect):
    capacity_status = 529

    @staticmethod
    def _reply(status: int, type_: str, message: str, request_id: str) -> ErrorReply:
        return ErrorReply(
            status,
            {
                "type": "error",
                "error": {"type": type_, "message": message},
                "request_id": request_id,
            },
        )

    def missing_key(self, request_id: str) -> ErrorReply:
        return self._reply(401, "authentication_error", "x-api-key header is required", request_id)

    def malformed_json(self, request_id: str) -> ErrorReply:
        return self._reply(
            400, "invalid_request_error", "The request body is not valid JSON.", request_id
        )

    def invalid(self, message: str, param: str | None, request_id: str) -> ErrorReply:
        text = f"{param}: {message}" if param and not message.startswith(param) else message
        return self._reply(400, "invalid_request_error", text, request_id)

    def capacity(self, status: int | None, request_id: str) -> ErrorReply:
        status = status or self.capacity_status
        if status == 429:
            return self._reply(
                429, "rate_limit_error", "Rate limited. Please retry later.", request_id
            )
        return self._reply(status, "overloaded_error", "Overloaded", request_id)

    def server(self, status: int, request_id: str) -> ErrorReply:
        if status == 529:
            return self._reply(529, "overloaded_error", "Overloaded", request_id)
        return self._reply(status, "api_error", "Internal server error", request_id)


_GOOGLE_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


class GoogleErrors(ErrorDialect):
    capacity_status = 503

    @staticmethod
    def _reply(status: int, message: str) -> ErrorReply:
        return ErrorReply(
            status,
            {
                "error": {
                    "code": status,
                    "message": message,
                    "status": _GOOGLE_STATUS.get(status, "UNKNOWN"),
                }
            },
        )

    def missing_key(self, request_id: str) -> ErrorReply:
        return self._reply(
            401,
            "Method doesn't allow unregistered callers (callers without established identity). "
            "Please use API Key or other form of API consumer identity to call this API.",
        )

    def malformed_json(self, request_id: str) -> ErrorReply:
        return self._reply(400, "Invalid JSON payload received. Unable to parse the request body.")

    def invalid(self, message: str, param: str | None, request_id: str) -> ErrorReply:
        return self._reply(400, message)

    def capacity(self, status: int | None, request_id: str) -> ErrorReply:
        status = status or self.capacity_status
        if status == 429:
            return self._reply(429, "Resource has been exhausted (e.g. check quota).")
        return self._reply(status, "The model is overloaded. Please try again later.")

    def server(self, status: int, request_id: str) -> ErrorReply:
        if status == 503:
            return self._reply(503, "The service is currently unavailable.")
        return self._reply(
            status,
            "An internal error has occurred. Please retry or report in "
            "https://developers.generativeai.google/guide/troubleshooting",
        )
