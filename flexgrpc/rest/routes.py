"""The route table, derived from the ``google.api.http`` annotations of the served services.

One ``RestRoute`` per HTTP binding (additional bindings included): the path template, the body
mapping, the gRPC method it calls and how errors and streams are presented
(``flexinference.v1.rest_dialect``). Adding an annotated RPC adds a route; nothing here names a
method.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from flexinference.v1 import options_pb2
from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor, message_factory

from flexgrpc.rest.template import PathTemplate, parse_template

HTTP_BODY = "google.api.HttpBody"

_DIALECTS = {
    options_pb2.ERROR_DIALECT_UNSPECIFIED: "google",
    options_pb2.ERROR_DIALECT_OPENAI: "openai",
    options_pb2.ERROR_DIALECT_ANTHROPIC: "anthropic",
    options_pb2.ERROR_DIALECT_GOOGLE: "google",
}
_FRAMINGS = {
    options_pb2.STREAM_FRAMING_UNSPECIFIED: "",
    options_pb2.STREAM_FRAMING_DONE_SENTINEL: "done_sentinel",
    options_pb2.STREAM_FRAMING_NAMED_EVENTS: "named_events",
    options_pb2.STREAM_FRAMING_DATA_EVENTS: "data_events",
}


@dataclass(frozen=True, slots=True)
class RestRoute:
    """One HTTP binding of one gRPC method."""

    http_method: str
    template: PathTemplate
    #: ``""`` (no body), ``"*"`` (the whole request message) or a top-level field name.
    body: str
    #: A field of the response to answer with instead of the whole message (``""``: all).
    response_body: str
    method: descriptor.MethodDescriptor = field(repr=False)
    #: ``openai``, ``anthropic`` or ``google``: the error envelope of this route.
    dialect: str
    #: ``""``, ``done_sentinel`` or ``named_events``.
    framing: str
    request_class: Any = field(repr=False)
    response_class: Any = field(repr=False)

    @property
    def grpc_path(self) -> str:
        """``/package.Service/Method``, as gRPC names the method on the wire."""
        return f"/{self.method.containing_service.full_name}/{self.method.name}"

    @property
    def server_streaming(self) -> bool:
        return bool(self.method.server_streaming)

    @property
    def raw_request_body(self) -> bool:
        """The body is passed as raw bytes into a ``google.api.HttpBody``."""
        if self.body == "*":
            return bool(self.method.input_type.full_name == HTTP_BODY)
        if not self.body:
            return False
        target = self.method.input_type.fields_by_name[self.body]
        return target.message_type is not None and target.message_type.full_name == HTTP_BODY

    @property
    def raw_response(self) -> bool:
        """The answer is a ``google.api.HttpBody``: its bytes are the HTTP body."""
        output: descriptor.Descriptor | None = self.method.output_type
        if self.response_body and output is not None:
            output = output.fields_by_name[self.response_body].message_type
        return output is not None and output.full_name == HTTP_BODY


class RouteError(ValueError):
    """An annotation the shim cannot serve (a bad template or a body field that is not there)."""


def _bindings(rule: http_pb2.HttpRule) -> Iterator[http_pb2.HttpRule]:
    yield rule
    for extra in rule.additional_bindings:
        yield from _bindings(extra)


def _verb_and_path(rule: http_pb2.HttpRule) -> tuple[str, str]:
    kind = rule.WhichOneof("pattern")
    if kind is None:
        raise RouteError("an http rule without a pattern")
    if kind == "custom":
        return rule.custom.kind.upper(), rule.custom.path
    return kind.upper(), str(getattr(rule, kind))


def routes_for_method(method: descriptor.MethodDescriptor) -> list[RestRoute]:
    """Every route of ``method`` (none when it has no ``google.api.http`` annotation)."""
    options = method.GetOptions()
    if not options.HasExtension(annotations_pb2.http):
        return []
    dialect = options.Extensions[options_pb2.rest_dialect]
    routes = []
    for rule in _bindings(options.Extensions[annotations_pb2.http]):
        http_method, path = _verb_and_path(rule)
        where = f"{method.full_name} {http_method} {path}"
        try:
            template = parse_template(path)
        except ValueError as exc:
            raise RouteError(f"{where}: {exc}") from None
        fields = method.input_type.fields_by_name
        if rule.body not in ("", "*") and rule.body not in fields:
            raise RouteError(f"{where}: body field {rule.body!r} is not in the request")
        for variable in template.variables:
            if variable.split(".")[0] not in fields:
                raise RouteError(f"{where}: path variable {variable!r} is not in the request")
        if rule.response_body and rule.response_body not in method.output_type.fields_by_name:
            raise RouteError(f"{where}: response_body {rule.response_body!r} is not a field")
        if method.client_streaming:
            raise RouteError(f"{where}: client-streaming methods have no REST form")
        routes.append(
            RestRoute(
                http_method=http_method,
                template=template,
                body=rule.body,
                response_body=rule.response_body,
                method=method,
                dialect=_DIALECTS.get(dialect.error_dialect, "google"),
                framing=_FRAMINGS.get(dialect.stream_framing, ""),
                request_class=message_factory.GetMessageClass(method.input_type),
                response_class=message_factory.GetMessageClass(method.output_type),
            )
        )
    return routes


@dataclass(frozen=True, slots=True)
class Matched:
    route: RestRoute
    variables: dict[str, str]


@dataclass(frozen=True, slots=True)
class WrongMethod:
    """The path exists, under other HTTP methods."""

    allowed: tuple[str, ...]
    dialect: str


class RouteTable:
    """Finds the route of an HTTP method and raw path.

    Literal templates are looked up in a dict; templated ones are tried in order of
    specificity: a ``:verb`` first, then more literal segments, then fewer variables.
    """

    def __init__(self, routes: Iterable[RestRoute]) -> None:
        self.routes: tuple[RestRoute, ...] = tuple(routes)
        self._literal: dict[str, dict[str, RestRoute]] = {}
        templated: list[RestRoute] = []
        seen: set[tuple[str, str]] = set()
        for route in self.routes:
            key = (route.http_method, route.template.source)
            if key in seen:
                raise RouteError(f"two methods bind {key[0]} {key[1]}")
            seen.add(key)
            if route.template.is_literal:
                self._literal.setdefault(route.template.source, {})[route.http_method] = route
            else:
                templated.append(route)
        templated.sort(
            key=lambda r: (
                not r.template.verb,
                -r.template.literal_segments,
                len(r.template.variables),
            )
        )
        self._templated = tuple(templated)

    @classmethod
    def from_services(cls, services: Iterable[descriptor.ServiceDescriptor]) -> RouteTable:
        return cls(
            route
            for service in services
            for method in service.methods
            for route in routes_for_method(method)
        )

    def dialect_under(self, raw_path: str) -> str:
        """The error dialect of the surface a path lies under (``/v1/messages/…`` answers in
        Anthropic's shape): that of the route whose literal start is the longest whole-segment
        prefix of ``raw_path``; Google's where none is."""
        best, best_length = "google", 0
        for route in self.routes:
            prefix = _literal_start(route.template.source)
            if len(prefix) > best_length and (
                raw_path == prefix or raw_path.startswith(prefix.rstrip("/") + "/")
            ):
                best, best_length = route.dialect, len(prefix)
        return best

    def match(self, http_method: str, raw_path: str) -> Matched | WrongMethod | None:
        by_method = self._literal.get(raw_path)
        if by_method is not None:
            route = by_method.get(http_method)
            if route is not None:
                return Matched(route, {})
        allowed: dict[str, RestRoute] = dict(by_method or {})
        for route in self._templated:
            if route.http_method != http_method and route.http_method in allowed:
                continue
            variables = route.template.match(raw_path)
            if variables is None:
                continue
            if route.http_method == http_method:
                return Matched(route, variables)
            allowed.setdefault(route.http_method, route)
        if not allowed:
            return None
        first = next(iter(allowed.values()))
        return WrongMethod(tuple(sorted(allowed)), first.dialect)


def _literal_start(source: str) -> str:
    """The segments of a path template before its first variable, wildcard or verb."""
    segments = []
    for segment in source.split("/")[1:]:
        if "{" in segment or "*" in segment or ":" in segment:
            break
        segments.append(segment)
    return "/" + "/".join(segments) if segments else ""
