"""Values drawn from JSON Schemas validate against them, and the same RNG state gives the
same value."""

from __future__ import annotations

import datetime
import enum
import json
import random
from typing import Any, Literal

import jsonschema
import pydantic
import pytest

from flexgrpc.sim.schema_instances import instance


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Address(pydantic.BaseModel):
    street: str
    city: str
    zip_code: str = pydantic.Field(pattern=r"^\d{5}(-\d{4})?$")


class Node(pydantic.BaseModel):
    label: str
    children: list[Node] = []


class Cat(pydantic.BaseModel):
    kind: Literal["cat"]
    lives: int = pydantic.Field(ge=1, le=9)


class Dog(pydantic.BaseModel):
    kind: Literal["dog"]
    good: bool


class Person(pydantic.BaseModel):
    name: str
    age: int = pydantic.Field(ge=0, lt=130)
    score: float = pydantic.Field(gt=0, le=1)
    email: str | None = None
    color: Color
    addresses: list[Address] = pydantic.Field(min_length=1, max_length=3)
    tags: set[str] = set()
    counts: dict[str, int] = {}
    born: datetime.datetime
    pet: Cat | Dog = pydantic.Field(discriminator="kind")
    tree: Node
    nick: str = pydantic.Field(min_length=3, max_length=5)


SCHEMAS: dict[str, dict[str, Any]] = {
    "pydantic_person": Person.model_json_schema(),
    "pydantic_recursive": Node.model_json_schema(),
    "strict_mode": {
        "type": "object",
        "properties": {
            "steps": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "explanation": {"type": "string"},
                        "output": {"type": "string"},
                    },
                    "required": ["explanation", "output"],
                    "additionalProperties": False,
                },
            },
            "final_answer": {"type": "string"},
        },
        "required": ["steps", "final_answer"],
        "additionalProperties": False,
    },
    "recursive_root_ref": {
        "type": "object",
        "properties": {
            "value": {"type": "integer"},
            "next": {"anyOf": [{"$ref": "#"}, {"type": "null"}]},
        },
        "required": ["value", "next"],
    },
    "numbers": {
        "type": "object",
        "properties": {
            "exclusive": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
            "draft4": {"type": "integer", "minimum": 5, "exclusiveMinimum": True, "maximum": 7},
            "step": {"type": "integer", "multipleOf": 5, "minimum": 1, "maximum": 30},
            "half": {"type": "number", "multipleOf": 0.5, "minimum": 1, "maximum": 3},
            "negative": {"type": "integer", "maximum": -10},
        },
        "required": ["exclusive", "draft4", "step", "half", "negative"],
    },
    "strings": {
        "type": "object",
        "properties": {
            "uuid": {"type": "string", "format": "uuid"},
            "email": {"type": "string", "format": "email"},
            "when": {"type": "string", "format": "date-time"},
            "day": {"type": "string", "format": "date"},
            "site": {"type": "string", "format": "uri"},
            "ip": {"type": "string", "format": "ipv4"},
            "code": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]{2,4}$"},
            "short": {"type": "string", "maxLength": 2},
            "long": {"type": "string", "minLength": 30},
            "fixed": {"const": "v1"},
        },
        "required": ["uuid", "email", "when", "day", "site", "ip", "code", "short", "long"],
    },
    "arrays": {
        "type": "object",
        "properties": {
            "unique": {
                "type": "array",
                "items": {"type": "integer", "minimum": 0, "maximum": 4},
                "uniqueItems": True,
                "minItems": 3,
            },
            "tuple": {
                "type": "array",
                "prefixItems": [{"type": "string"}, {"type": "boolean"}],
                "items": False,
            },
            "empty_ok": {"type": "array", "maxItems": 0},
        },
        "required": ["unique", "tuple", "empty_ok"],
    },
    "combinators": {
        "type": "object",
        "properties": {
            "merged": {
                "allOf": [
                    {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
                    {"properties": {"b": {"type": "integer"}}, "required": ["b"]},
                ]
            },
            "either": {"oneOf": [{"type": "string", "enum": ["x"]}, {"type": "integer"}]},
            "typed_list": {"type": ["string", "integer", "null"]},
        },
        "required": ["merged", "either", "typed_list"],
        "minProperties": 3,
    },
    "free_map": {"type": "object", "additionalProperties": {"type": "number"}, "minProperties": 2},
    "definitions_draft7": {
        "definitions": {"id": {"type": "string", "format": "uuid"}},
        "type": "array",
        "items": {"$ref": "#/definitions/id"},
        "minItems": 1,
    },
}


def _validator(schema: dict[str, Any]) -> jsonschema.protocols.Validator:
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, format_checker=jsonschema.FormatChecker())


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_drawn_values_validate_against_the_schema(name: str) -> None:
    schema = SCHEMAS[name]
    validator = _validator(schema)
    for seed in range(150):
        value = instance(schema, random.Random(seed))
        errors = [error.message for error in validator.iter_errors(value)]
        assert not errors, f"seed {seed}: {json.dumps(value)[:300]}: {errors}"


def test_pydantic_accepts_what_is_drawn_from_its_schema() -> None:
    for seed in range(50):
        Person.model_validate(instance(Person.model_json_schema(), random.Random(seed)))


def test_the_same_rng_state_gives_the_same_value_and_another_seed_another() -> None:
    schema = SCHEMAS["pydantic_person"]
    first = instance(schema, random.Random(7))
    assert instance(schema, random.Random(7)) == first
    assert any(instance(schema, random.Random(seed)) != first for seed in range(8, 12))


def test_optional_properties_are_sometimes_present_and_sometimes_not() -> None:
    seen = [("email" in instance(Person.model_json_schema(), random.Random(s))) for s in range(40)]
    assert any(seen)
    assert not all(seen)


def test_recursion_ends() -> None:
    for seed in range(50):
        depth, node = 0, instance(SCHEMAS["recursive_root_ref"], random.Random(seed))
        while node is not None:
            depth, node = depth + 1, node["next"]
        assert depth <= 12


def test_gemini_openapi_schemas_are_understood() -> None:
    schema = {
        "type": "OBJECT",
        "properties": {
            "name": {"type": "STRING"},
            "count": {"type": "INTEGER", "minimum": 2, "maximum": 4},
            "maybe": {"type": "NUMBER", "nullable": True},
            "items": {"type": "ARRAY", "items": {"type": "BOOLEAN"}},
        },
        "required": ["name", "count", "maybe", "items"],
        "propertyOrdering": ["items", "count", "name", "maybe"],
    }
    for seed in range(30):
        value = instance(schema, random.Random(seed))
        assert list(value) == ["items", "count", "name", "maybe"]
        assert isinstance(value["name"], str)
        assert 2 <= value["count"] <= 4
        assert value["maybe"] is None or isinstance(value["maybe"], float)
        assert all(isinstance(item, bool) for item in value["items"])


def test_strings_read_like_words_and_names_like_names() -> None:
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "city": {"type": "string"}},
        "required": ["name", "city"],
    }
    value = instance(schema, random.Random(1))
    assert len(value["name"].split()) == 2
    assert value["city"][0].isupper()
    assert instance({"type": "string"}, random.Random(2)).replace(" ", "").isalpha()


def test_an_empty_or_true_schema_gives_some_value() -> None:
    assert instance({}, random.Random(0)) is not None
    assert instance(True, random.Random(0)) is not None
