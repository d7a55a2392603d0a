"""An OpenAPI 3.1 description of the REST shim, derived from the same route table it serves.

Every ``RestRoute`` is one operation: the path from its template (each ``*`` of a variable's
pattern becomes a path parameter named after the literal before it, so
``/v1/{name=organizations/*/apiKeys/*}:revoke`` is
``/v1/organizations/{organizationsId}/apiKeys/{apiKeysId}:revoke``), query parameters from the
request fields that neither the path nor the body carries, the typed body and answer from the
messages (``rest/jsonschema.py``), the error envelope of the route's dialect with every status
the code table can give it. The provider surfaces take the provider's JSON, described as an
open object with the router's own fields (``start_within``, ``provider``, ``retry``,
``include_cost``). Served unauthenticated at ``GET /openapi.json``; ``make gen`` writes it to
``docs/openapi.json`` so that a diff shows every API change.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable

from google.protobuf import descriptor

from flexgrpc.domain import ROUTER_FIELDS, ProviderRoute
from flexgrpc.errors import CODES
from flexgrpc.rest.jsonschema import Schema, SchemaSet, is_map
from flexgrpc.rest.routes import RestRoute, RouteTable

OPENAPI_PATH = "/openapi.json"
_SECURITY: list[dict[str, list[str]]] = [{"bearer": []}, {"apiKey": []}, {"googApiKey": []}]
#: Statuses an upstream provider may answer with, kept as they are (SPEC §7).
_PROVIDER_RANGES = ("4XX", "5XX")
_JSON = "application/json"
_SSE = "text/event-stream"
#: Query values that are strings on the wire whatever the field's JSON type.
_QUERY_MESSAGES = frozenset(
    {"google.protobuf.Timestamp", "google.protobuf.Duration", "google.protobuf.FieldMask"}
)

#: The provider surfaces' own request fields that the router reads (the rest pass through).
_SURFACES: dict[str, tuple[str, str, Schema]] = {
    "/v1/responses": ("OpenAI Responses", "input", {}),
    "/v1/chat/completions": ("OpenAI Chat Completions", "messages", {"type": "array"}),
    "/v1/messages": ("Anthropic Messages", "messages", {"type": "array"}),
    "/v1/interactions": ("Google Interactions", "input", {}),
}
#: A few model ids every surface can reach, for clients and fuzzers to start from.
_MODELS = ("gpt-5-mini", "o4-mini", "gemini-3-flash-preview", "claude-sonnet-4-5")
_ROUTER_FIELDS: dict[str, Schema] = {
    "start_within": {
        "type": "string",
        "anyOf": [
            {"enum": ["default", "priority", "auto"]},
            {"pattern": "^[0-9]{2}h-[0-9]{2}m-[0-9]{2}s$"},
        ],
        "description": (
            'When the answer must start: "default", "priority", "auto", or a flex race window '
            '"HHh-MMm-SSs" of 5 s to 600 s ("00h-00m-30s"). Required here, in the '
            "x-flexinference-start-within header, or as the API key's default."
        ),
        "examples": ["00h-00m-30s", "default"],
    },
    "provider": {
        "type": "array",
        "description": "1 to 3 distinct routes: the primary (the only one that may run flex), "
        "then same-model fallbacks tried in order on upstream failure.",
        "items": {"type": "string", "enum": [r.value for r in ProviderRoute]},
        "minItems": 1,
        "maxItems": 3,
    },
    "retry": {
        "type": "object",
        "description": "Retries of the settled tier on 429, 5xx or a connection failure.",
        "properties": {
            "count": {"type": "integer", "minimum": 1, "maximum": 5},
            "backoff": {"type": "string", "enum": ["exponential", "linear"]},
            "jitter": {"type": "boolean"},
        },
        "required": ["count"],
        "additionalProperties": False,
    },
    "include_cost": {
        "type": "boolean",
        "description": "Put usage.cost on a stream's terminal event.",
    },
}
_ERRORS: dict[str, Schema] = {
    "OpenAIError": {
        "type": "object",
        "properties": {
            "error": {
                "type": "object",
                "properties": {
                    "message": {"type": "string"},
                    "type": {"type": "string"},
                    "code": {"type": ["string", "null"]},
                    "param": {"type": ["string", "null"]},
                },
                "required": ["message"],
            }
        },
        "required": ["error"],
    },
    "AnthropicError": {
        "type": "object",
        "properties": {
            "type": {"const": "error"},
            "error": {
                "type": "object",
                "properties": {"type": {"type": "string"}, "message": {"type": "string"}},
                "required": ["type", "message"],
            },
        },
        "required": ["type", "error"],
    },
    "GoogleError": {
        "type": "object",
        "properties": {
            "error": {
                "type": "object",
                "properties": {
                    "code": {"type": "integer"},
                    "message": {"type": "string"},
                    "status": {"type": "string"},
                    "details": {"type": "array", "items": {"type": "object"}},
                },
                "required": ["code", "message"],
            }
        },
        "required": ["error"],
    },
}
#: A server-sent event stream: the whole body, a string (OpenAPI 3.1's reading), or each event
#: (what 3.2's itemSchema says, and what schemathesis checks every event against).
_EVENT: Schema = {
    "anyOf": [
        {"type": "string"},
        {
            "type": "object",
            "properties": {
                "event": {"type": "string"},
                "data": {"type": "string"},
                "id": {"type": "string"},
                "retry": {"type": "integer"},
            },
        },
    ]
}
_ERROR_SCHEMA = {"openai": "OpenAIError", "anthropic": "AnthropicError", "google": "GoogleError"}


def openapi_path(route: RestRoute) -> tuple[str, list[str]]:
    """The OpenAPI path of ``route`` and its path parameters, in order.

    A parameter named after the literal segment before it (``organizationsId``); a variable
    without a pattern keeps its field's name. ``**`` is one parameter for the rest of the path.
    """
    names: list[str] = []
    source = route.template.source
    out: list[str] = []
    index = 0
    while index < len(source):
        start = source.find("{", index)
        if start < 0:
            out.append(source[index:])
            break
        out.append(source[index:start])
        end = source.index("}", start)
        field, _, pattern = source[start + 1 : end].partition("=")
        out.append(_expand(field, pattern, names))
        index = end + 1
    return "".join(out), names


def _expand(field: str, pattern: str, names: list[str]) -> str:
    if not pattern:
        names.append(field.replace(".", "_"))
        return "{" + names[-1] + "}"
    segments = pattern.split("/")
    for i, segment in enumerate(segments):
        if segment in ("*", "**"):
            before = segments[i - 1] if i else field.split(".")[-1]
            names.append(f"{before}Id")
            segments[i] = "{" + names[-1] + "}"
    return "/".join(segments)


def _statuses(route: RestRoute) -> list[str]:
    """Every HTTP status the code table can give this route (405 belongs to no operation)."""
    statuses = {str(spec.http_status) for spec in CODES.values()} - {"405", "200"}
    if route.raw_request_body and route.server_streaming:  # a surface: the provider's own too
        statuses.update(_PROVIDER_RANGES)
    return sorted(statuses)


class _Builder:
    def __init__(self, public_methods: Collection[str]) -> None:
        self.schemas = SchemaSet()
        self.public = public_methods

    def operation(self, route: RestRoute, operation_id: str) -> Schema:
        _, path_names = openapi_path(route)
        operation: Schema = {
            "operationId": operation_id,
            "summary": f"{route.method.containing_service.name}.{route.method.name}",
            "tags": [route.method.containing_service.name],
            "x-flexinference-rpc": route.grpc_path,
            "x-flexinference-template": route.template.source,
            "parameters": [
                {"name": n, "in": "path", "required": True, "schema": _path_schema()}
                for n in path_names
            ]
            + self.query_parameters(route)
            + _header_parameters(route),
            "responses": self.responses(route),
        }
        if route.body:
            operation["requestBody"] = self.request_body(route)
        if route.grpc_path in self.public:
            operation["security"] = []
        return operation

    def query_parameters(self, route: RestRoute) -> list[Schema]:
        if route.body == "*":
            return []
        taken = {v.split(".")[0] for v in route.template.variables} | {route.body}
        parameters: list[Schema] = []
        for field in route.method.input_type.fields:
            if field.name not in taken:
                parameters.extend(self._query(field, field.json_name, depth=0))
        return parameters

    def _query(self, field: descriptor.FieldDescriptor, name: str, depth: int) -> list[Schema]:
        message = field.message_type
        if is_map(field):
            return []
        if message is not None and message.full_name not in _QUERY_MESSAGES:
            if field.is_repeated or depth >= 1:
                return []
            return [
                p for sub in message.fields for p in self._query(sub, f"{name}.{sub.json_name}", 1)
            ]
        schema = self.schemas.field(field)
        parameter: Schema = {"name": name, "in": "query", "schema": schema}
        if field.is_repeated:
            parameter["explode"] = True
        return [parameter]

    def request_body(self, route: RestRoute) -> Schema:
        if route.raw_request_body:
            return {"required": True, "content": {_JSON: {"schema": _raw_body(route)}}}
        message = route.method.input_type
        if route.body == "*":
            taken = {v.split(".")[0] for v in route.template.variables}
            fields = [f for f in message.fields if f.name not in taken]
            schema = self.schemas.object(message, fields, required=True)
        else:
            schema = self.schemas.field(message.fields_by_name[route.body])
        return {"required": True, "content": {_JSON: {"schema": schema}}}

    def responses(self, route: RestRoute) -> Schema:
        error = {"$ref": f"#/components/schemas/{_ERROR_SCHEMA[route.dialect]}"}
        responses: Schema = {"200": self.success(route)}
        for status in _statuses(route):
            responses[status] = {
                "description": "An error, in the envelope of the surface called.",
                "content": {_JSON: {"schema": error}},
            }
        return responses

    def success(self, route: RestRoute) -> Schema:
        if route.raw_response:
            content: Schema = {_JSON: {"schema": {"type": "object"}}}
            if route.server_streaming and route.raw_request_body:
                content[_SSE] = {"schema": _EVENT}
            return {"description": "The provider's own answer, unchanged.", "content": content}
        if route.server_streaming:
            return {
                "description": "Server-sent events, one per message of the stream.",
                "content": {_SSE: {"schema": _EVENT}},
            }
        output = route.method.output_type
        if route.response_body:
            schema = self.schemas.field(output.fields_by_name[route.response_body])
        else:
            schema = self.schemas.message(output)
        return {"description": "OK", "content": {_JSON: {"schema": schema}}}


def _path_schema() -> Schema:
    # One path segment; "-" is the caller's own organization.
    return {"type": "string", "pattern": "^[^/]+$", "examples": ["-"]}


def _header_parameters(route: RestRoute) -> list[Schema]:
    if route.raw_request_body and route.server_streaming:
        return [
            {
                "name": "x-flexinference-start-within",
                "in": "header",
                "description": "start_within, for a client that cannot add a body field.",
                "schema": {"type": "string"},
            }
        ]
    return []


def _raw_body(route: RestRoute) -> Schema:
    surface = _SURFACES.get(route.template.source)
    if surface is None:
        return {"type": "object", "description": "Passed on as raw bytes, unparsed."}
    title, required, required_schema = surface
    properties: Schema = {
        "model": {
            "type": "string",
            # Any id may be sent (the router answers unsupported_model); these are served.
            "anyOf": [{"enum": list(_MODELS)}, {"minLength": 1}],
            "description": "The model id; it picks the provider (gpt-*, o3, o4-mini → OpenAI; "
            "gemini-* → Gemini; claude-* → Anthropic).",
        },
        "stream": {"type": "boolean", "description": "Answer as server-sent events."},
        required: {**required_schema, "description": f"The {title} field the router checks."},
        **{name: _ROUTER_FIELDS[name] for name in sorted(ROUTER_FIELDS)},
    }
    return {
        "type": "object",
        "description": (
            f"The {title} request body, as the provider documents it. The router reads and "
            "removes its own fields; every other field passes through to the provider."
        ),
        "properties": properties,
        "required": ["model"],
        "additionalProperties": True,
    }


def _operation_ids(routes: Iterable[RestRoute]) -> list[tuple[RestRoute, str]]:
    seen: dict[str, int] = {}
    named = []
    for route in routes:
        base = f"{route.method.containing_service.name}_{route.method.name}"
        seen[base] = seen.get(base, 0) + 1
        named.append((route, base if seen[base] == 1 else f"{base}_{seen[base]}"))
    return named


def describe(table: RouteTable, public_methods: Collection[str] = ()) -> Schema:
    """The OpenAPI 3.1 document of ``table``."""
    builder = _Builder(public_methods)
    paths: dict[str, Schema] = {}
    for route, operation_id in _operation_ids(table.routes):
        path, _ = openapi_path(route)
        paths.setdefault(path, {})[route.http_method.lower()] = builder.operation(
            route, operation_id
        )
    paths[OPENAPI_PATH] = {
        "get": {
            "operationId": "openapi",
            "summary": "This description.",
            "security": [],
            "responses": {"200": {"description": "OK", "content": {_JSON: {"schema": {}}}}},
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "flexinference",
            "version": "v1",
            "description": (
                "The REST shim of flexgrpc: the gRPC contract over HTTP/JSON, and the OpenAI, "
                "Anthropic and Google surfaces the official SDKs call. Derived from the "
                "protos' google.api.http annotations, like the routes themselves."
            ),
        },
        "security": _SECURITY,
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted({**_ERRORS, **builder.schemas.schemas}.items())),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "flex_live_… key"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
                "googApiKey": {"type": "apiKey", "in": "header", "name": "x-goog-api-key"},
            },
        },
    }


def render(document: Schema) -> bytes:
    """The document as checked in and served: two-space indent, a final newline."""
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode()


def describe_services(
    services: Iterable[descriptor.ServiceDescriptor], public_methods: Collection[str] = ()
) -> Schema:
    return describe(RouteTable.from_services(services), public_methods)
