"""One generic transcoder: HTTP request → request message, response message → HTTP body.

Naming policy (typed RPCs). Answers use the proto3 JSON mapping: lowerCamelCase field names,
enums by name, 64-bit integers as strings, ``Timestamp`` / ``Duration`` as RFC 3339 / ``"1.5s"``
strings, and fields at their default value left out. Requests accept both lowerCamelCase and
the proto's snake_case names, in the body and in query parameters (``pageSize`` or
``page_size``; nested fields as ``a.b``, repeated fields by repeating the parameter). Unknown
body fields are refused (``invalid_argument``); unknown query parameters are ignored.

``google.api.HttpBody`` fields (the compatibility RPCs, webhooks) carry the raw bytes and the
request's ``Content-Type`` both ways; nothing is parsed on the way.
"""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

from google.protobuf import descriptor, json_format
from google.protobuf.message import Message

from flexgrpc.errors import FlexError
from flexgrpc.json_text import lone_surrogate_path, surrogate_message
from flexgrpc.rest.routes import RestRoute

_Field = descriptor.FieldDescriptor
_TRUE = frozenset({"true", "1"})
_FALSE = frozenset({"false", "0"})
_FLOATS = frozenset({_Field.TYPE_FLOAT, _Field.TYPE_DOUBLE})
_SPECIAL_FLOATS = frozenset({"NaN", "Infinity", "-Infinity"})
_DONE = b"data: [DONE]\n\n"
#: What ``json_format.ParseDict`` raises for a document that does not fit the message: a
#: ``ParseError`` mostly, but an ``Any`` whose ``@type`` is not a string (``{"@type": {}}``)
#: escapes as the ``AttributeError`` / ``TypeError`` of the code that reads it, and a
#: body nested deeper than the parser's stack as ``RecursionError``.
_MISFIT = (json_format.ParseError, AttributeError, TypeError, RecursionError)


def _field(message: descriptor.Descriptor, name: str) -> _Field | None:
    found = message.fields_by_name.get(name)
    if found is not None:
        return found
    return next((f for f in message.fields if f.json_name == name), None)


def _coerce(field: _Field, value: str, name: str) -> Any:
    """A query or path string as the JSON value ``json_format`` expects for ``field``."""
    if field.type == _Field.TYPE_BOOL:
        lowered = value.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise FlexError(
            "invalid_argument", f"{name} must be true or false, got {value!r}.", field=name
        )
    if field.type in _FLOATS and value not in _SPECIAL_FLOATS:
        try:
            return float(value)
        except ValueError:
            raise FlexError(
                "invalid_argument", f"{name} must be a number, got {value!r}.", field=name
            ) from None
    if field.type == _Field.TYPE_ENUM and value.lstrip("-").isdigit():
        return int(value)
    return value  # integers, strings, bytes (base64), and well-known types parse from strings


def _drop_aliases(target: dict[str, Any], field: _Field) -> None:
    target.pop(field.name, None)
    target.pop(field.json_name, None)


def _set_path(
    root: descriptor.Descriptor, target: dict[str, Any], path: str, value: str, *, strict: bool
) -> None:
    """Set the field at dotted ``path`` in the JSON-shaped ``target`` (proto field names).

    ``strict`` (path variables): an unknown field is a programming error in the annotation;
    otherwise (query parameters) it is ignored.
    """
    message = root
    names = path.split(".")
    for depth, name in enumerate(names):
        field = _field(message, name)
        if field is None:
            if strict:
                raise FlexError("invalid_argument", f"{path} is not a field of the request.")
            return
        last = depth == len(names) - 1
        if last:
            if field.message_type is not None and field.message_type.GetOptions().map_entry:
                return  # maps are not settable from a query string
            coerced = _coerce(field, value, path)
            existing = target.get(field.name)
            if field.is_repeated and not strict:
                _drop_aliases(target, field)
                target[field.name] = [*(existing if isinstance(existing, list) else []), coerced]
            else:
                _drop_aliases(target, field)
                target[field.name] = coerced
            return
        if field.message_type is None or field.is_repeated:
            if strict:
                raise FlexError("invalid_argument", f"{path} is not a settable field.")
            return
        child = target.get(field.name, target.get(field.json_name))
        if not isinstance(child, dict):
            child = {}
        _drop_aliases(target, field)
        target[field.name] = child
        target = child
        message = field.message_type


def _json_document(body: bytes) -> Any:
    if not body.strip():
        return {}
    fix = "send a JSON object with Content-Type: application/json"
    try:
        # Strict UTF-8 first: json.loads(bytes) would let encoded surrogates (ED A0 80) through.
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FlexError(
            "invalid_json", f"The request body is not valid UTF-8 (at byte {exc.start}); {fix}."
        ) from None
    try:
        document = json.loads(text)
    except (ValueError, RecursionError) as exc:
        detail = (
            f" ({exc.msg} at line {exc.lineno}, column {exc.colno})"
            if isinstance(exc, json.JSONDecodeError)
            else ""
        )
        raise FlexError(
            "invalid_json", f"The request body is not valid JSON{detail}; {fix}."
        ) from None
    surrogate = lone_surrogate_path(document, text)
    if surrogate is not None:
        raise FlexError("invalid_json", surrogate_message(surrogate) + ".", field=surrogate)
    return document


def build_request(
    route: RestRoute,
    variables: dict[str, str],
    query_string: bytes,
    body: bytes,
    content_type: str,
) -> Message:
    """The request message for ``route`` from the path variables, query and body."""
    request: Message = route.request_class()
    if route.body == "*" and route.raw_request_body:
        request.content_type = content_type  # type: ignore[attr-defined]
        request.data = body  # type: ignore[attr-defined]
        return request
    root = route.method.input_type
    document = _body_document(route, body)
    if route.body != "*" and query_string:
        _add_query(route, document, query_string)
    for path, value in variables.items():
        _set_path(root, document, path, value, strict=True)
    if document:
        try:
            json_format.ParseDict(document, request)
        except _MISFIT as exc:
            message = str(exc).split("\n", 1)[0]
            raise FlexError(
                "invalid_argument", f"The request does not fit {root.full_name}: {message}"
            ) from None
    if route.body and route.body != "*" and route.raw_request_body:
        target = getattr(request, route.body)
        target.content_type = content_type
        target.data = body
    return request


def _body_document(route: RestRoute, body: bytes) -> dict[str, Any]:
    """The JSON-shaped request the body describes (raw ``HttpBody`` bodies are not parsed)."""
    if route.body == "*":
        parsed = _json_document(body)
        if not isinstance(parsed, dict):
            raise FlexError("invalid_json", "The request body must be a JSON object.")
        return parsed
    if route.body and not route.raw_request_body:
        field = route.method.input_type.fields_by_name[route.body]
        return {field.name: _json_document(body)}
    return {}


def _add_query(route: RestRoute, document: dict[str, Any], query_string: bytes) -> None:
    """Query parameters into ``document``, except those naming the body field."""
    root = route.method.input_type
    pairs = urllib.parse.parse_qsl(query_string.decode("utf-8", "replace"), keep_blank_values=True)
    body_names: tuple[str, ...] = ()
    if route.body:
        body_names = (route.body, root.fields_by_name[route.body].json_name)
    for name, value in pairs:
        if name.split(".", 1)[0] not in body_names:
            _set_path(root, document, name, value, strict=False)


def _json(message: Message) -> bytes:
    document = json_format.MessageToDict(message)
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def _answer(route: RestRoute, message: Message) -> Message:
    return getattr(message, route.response_body) if route.response_body else message


def encode_response(route: RestRoute, message: Message) -> tuple[str, bytes]:
    """(content type, body) of a unary answer or of one message of a raw stream."""
    answer = _answer(route, message)
    if route.raw_response:
        return answer.content_type or "application/octet-stream", answer.data  # type: ignore[attr-defined]
    return "application/json", _json(answer)


def sse_event(route: RestRoute, message: Message) -> bytes:
    """One server-sent event for a message of a typed stream.

    With named events the event name is the oneof member that is set (``settled``, ``chunk``,
    ``completed``), so a client can dispatch on it; the data is the message's JSON.
    """
    answer = _answer(route, message)
    data = _json(answer)
    if route.framing == "named_events":
        name = "message"
        oneofs = answer.DESCRIPTOR.oneofs
        if len(oneofs) == 1:
            name = answer.WhichOneof(oneofs[0].name) or name
        return b"event: " + name.encode() + b"\ndata: " + data + b"\n\n"
    return b"data: " + data + b"\n\n"


def sse_terminator(route: RestRoute) -> bytes:
    """What ends a typed stream: ``data: [DONE]`` for the sentinel framing, else nothing."""
    return _DONE if route.framing == "done_sentinel" else b""
