"""JSON Schemas (2020-12, as OpenAPI 3.1 uses them) of protobuf messages in the proto3 JSON
mapping, exactly as ``rest/transcode.py`` reads and writes them.

Names are the lowerCamelCase ``json_name`` (what answers carry; requests accept the proto's
snake_case too); enums by name; 64-bit integers as decimal strings; ``Timestamp`` as an RFC 3339
``date-time`` string, ``Duration`` as ``"1.5s"``, ``FieldMask`` as a comma-separated string;
bytes as base64; maps as objects. Each message is one named schema, referenced by its full
proto name, so recursive messages need no special case.
"""

from __future__ import annotations

from typing import Any

from google.api import field_behavior_pb2
from google.protobuf import descriptor

_F = descriptor.FieldDescriptor
Schema = dict[str, Any]

_INT32 = {"type": "integer", "format": "int32", "minimum": -(2**31), "maximum": 2**31 - 1}
_UINT32 = {"type": "integer", "format": "int32", "minimum": 0, "maximum": 2**32 - 1}
_INT64 = {"type": "string", "format": "int64", "pattern": "^-?[0-9]{1,19}$"}
_UINT64 = {"type": "string", "format": "int64", "pattern": "^[0-9]{1,20}$"}
#: Floats are JSON numbers, or one of the strings proto3 JSON uses for the special values.
_FLOAT = {"anyOf": [{"type": "number"}, {"enum": ["NaN", "Infinity", "-Infinity"]}]}
_SCALARS: dict[int, Schema] = {
    _F.TYPE_DOUBLE: _FLOAT,
    _F.TYPE_FLOAT: _FLOAT,
    _F.TYPE_INT32: _INT32,
    _F.TYPE_SINT32: _INT32,
    _F.TYPE_SFIXED32: _INT32,
    _F.TYPE_UINT32: _UINT32,
    _F.TYPE_FIXED32: _UINT32,
    _F.TYPE_INT64: _INT64,
    _F.TYPE_SINT64: _INT64,
    _F.TYPE_SFIXED64: _INT64,
    _F.TYPE_UINT64: _UINT64,
    _F.TYPE_FIXED64: _UINT64,
    _F.TYPE_BOOL: {"type": "boolean"},
    _F.TYPE_STRING: {"type": "string"},
    _F.TYPE_BYTES: {"type": "string", "contentEncoding": "base64"},
}
#: Well-known types whose JSON form is not an object of their fields.
_WELL_KNOWN: dict[str, Schema] = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {"type": "string", "pattern": "^-?[0-9]{1,12}(\\.[0-9]{1,9})?s$"},
    "google.protobuf.FieldMask": {"type": "string"},
    "google.protobuf.Empty": {"type": "object", "additionalProperties": False},
    "google.protobuf.Any": {
        "type": "object",
        "properties": {"@type": {"type": "string"}},
        "required": ["@type"],
    },
}


def schema_name(message: descriptor.Descriptor) -> str:
    return message.full_name


def ref(message: descriptor.Descriptor) -> Schema:
    return {"$ref": f"#/components/schemas/{schema_name(message)}"}


def behaviors(field: descriptor.FieldDescriptor) -> set[int]:
    """The field's ``google.api.field_behavior`` values (REQUIRED, OUTPUT_ONLY, …)."""
    return set(field.GetOptions().Extensions[field_behavior_pb2.field_behavior])


def is_map(field: descriptor.FieldDescriptor) -> bool:
    message = field.message_type
    return message is not None and message.GetOptions().map_entry


class SchemaSet:
    """The named schemas of every message reached so far (``components.schemas``)."""

    def __init__(self) -> None:
        self.schemas: dict[str, Schema] = {}

    def message(self, message: descriptor.Descriptor) -> Schema:
        """A schema for ``message``: inline for a well-known type, else a reference."""
        if message.full_name in _WELL_KNOWN:
            return dict(_WELL_KNOWN[message.full_name])
        name = schema_name(message)
        if name not in self.schemas:
            self.schemas[name] = {}  # placeholder first: a recursive field finds the name
            self.schemas[name] = self.object(message, message.fields)
        return ref(message)

    def object(
        self, message: descriptor.Descriptor, fields: Any, *, required: bool = False
    ) -> Schema:
        """An object schema of ``fields`` of ``message``; ``required``: mark REQUIRED fields."""
        properties = {field.json_name: self.field(field) for field in fields}
        schema: Schema = {"type": "object", "properties": properties, "additionalProperties": False}
        oneofs = [o.name for o in message.oneofs if len(o.fields) > 1]
        if oneofs:
            schema["description"] = "At most one field of each of: " + ", ".join(oneofs) + "."
        if required:
            needed = [f.json_name for f in fields if field_behavior_pb2.REQUIRED in behaviors(f)]
            if needed:
                schema["required"] = needed
        return schema

    def field(self, field: descriptor.FieldDescriptor) -> Schema:
        if field.message_type is not None and is_map(field):
            value = field.message_type.fields_by_name["value"]
            return {"type": "object", "additionalProperties": self.single(value)}
        single = self.single(field)
        schema = {"type": "array", "items": single} if field.is_repeated else single
        if field_behavior_pb2.OUTPUT_ONLY in behaviors(field):
            schema = {**schema, "readOnly": True}
        return schema

    def single(self, field: descriptor.FieldDescriptor) -> Schema:
        """The schema of one value of ``field`` (an element, when it is repeated)."""
        if field.message_type is not None:
            return self.message(field.message_type)
        if field.enum_type is not None:
            return {"type": "string", "enum": [v.name for v in field.enum_type.values]}
        return dict(_SCALARS[field.type])
