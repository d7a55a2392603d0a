"""JSON values drawn from a JSON Schema, every random choice from the caller's RNG.

``instance(schema, rng)`` returns a value valid against ``schema`` for the subset that tool
parameters and structured outputs use in practice: what OpenAI strict mode and Pydantic's
``model_json_schema()`` produce, and Gemini's OpenAPI-flavoured ``Schema`` (upper-case type
names, ``nullable``, ``propertyOrdering``):

* ``type`` (a name or a list of names), ``enum``, ``const``, ``nullable``;
* objects: ``properties``, ``required`` (optional properties appear about half the time),
  ``additionalProperties`` (a schema gives a free-form map; otherwise no extra keys),
  ``minProperties``;
* arrays: ``items``, ``prefixItems``, ``minItems``, ``maxItems``, ``uniqueItems``;
* strings: ``minLength``, ``maxLength``, ``format`` (date-time, date, time, email, uri, uuid,
  ipv4, ipv6, hostname, duration), ``pattern`` (through ``rstr``, which draws from our RNG);
* integers and numbers: ``minimum``, ``maximum``, ``exclusiveMinimum``, ``exclusiveMaximum``
  (both the boolean and the numeric spelling), ``multipleOf``;
* ``anyOf`` / ``oneOf`` (one branch), ``allOf`` (merged), ``$ref`` into ``$defs`` /
  ``definitions`` or any local JSON pointer, recursion included: past a depth the generator
  takes the way out (a ``null`` branch, no optional properties, the fewest items).

Why not a library: ``jsf`` draws from the ``random`` module and a global ``Faker`` (no per-call
RNG, so a seed could only be had by reseeding process-wide state) and builds Pydantic models per
schema; ``hypothesis-jsonschema`` is a test-time strategy engine, not a cheap seeded generator.
Anything outside the subset (``not``, ``if``/``then``, ``patternProperties``, ...) is ignored,
which gives a plausible value that may not validate.
"""

from __future__ import annotations

import random
import re
import string
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import rstr

#: Words strings are made of, so that generated answers read like text, not noise.
_WORDS = (
    "amber",
    "harbor",
    "quiet",
    "river",
    "signal",
    "meadow",
    "copper",
    "lantern",
    "orbit",
    "willow",
    "summit",
    "cedar",
    "ember",
    "falcon",
    "glacier",
    "pixel",
)
_FIRST_NAMES = ("Ada", "Grace", "Alan", "Linus", "Barbara", "Ken", "Margaret", "Dennis")
_LAST_NAMES = ("Lovelace", "Hopper", "Turing", "Torvalds", "Liskov", "Thompson", "Hamilton")
_CITIES = ("Paris", "Lisbon", "Kyoto", "Nairobi", "Toronto", "Oslo", "Santiago", "Hanoi")
_COUNTRIES = ("France", "Portugal", "Japan", "Kenya", "Canada", "Norway", "Chile", "Vietnam")

#: Beyond this depth of nested values the generator stops growing the value.
_MAX_DEPTH = 6
_TYPES = ("object", "array", "string", "integer", "number", "boolean", "null")


class _Drawer:
    def __init__(self, root: Mapping[str, Any], rng: random.Random) -> None:
        self.root = root
        self.rng = rng
        # rstr's xeger is unannotated; it draws every choice from the RNG it is given.
        self.xeger: Callable[[str], str] = rstr.Rstr(rng).xeger

    # -- schema plumbing --------------------------------------------------------------------

    def resolve(self, schema: Any) -> Mapping[str, Any]:
        """Follow ``$ref`` chains (local pointers only); keep sibling keywords."""
        seen = 0
        while isinstance(schema, Mapping) and isinstance(schema.get("$ref"), str) and seen < 32:
            target = self._pointer(schema["$ref"])
            siblings = {k: v for k, v in schema.items() if k != "$ref"}
            schema = {**target, **siblings} if siblings else target
            seen += 1
        if schema is True or not isinstance(schema, Mapping):
            return {}
        return schema

    def _pointer(self, ref: str) -> Mapping[str, Any]:
        if not ref.startswith("#"):
            return {}
        node: Any = self.root
        for raw in ref[1:].lstrip("/").split("/") if ref not in ("#", "#/") else []:
            part = raw.replace("~1", "/").replace("~0", "~")
            if isinstance(node, Mapping) and part in node:
                node = node[part]
            elif isinstance(node, Sequence) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                return {}
        return node if isinstance(node, Mapping) else {}

    def merge_all_of(self, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        parts = schema.get("allOf")
        if not isinstance(parts, list):
            return schema
        merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
        for part in parts:
            resolved = self.merge_all_of(self.resolve(part))
            for key, value in resolved.items():
                if key == "properties" and isinstance(value, Mapping):
                    merged["properties"] = {**merged.get("properties", {}), **value}
                elif key == "required" and isinstance(value, list):
                    merged["required"] = [*merged.get("required", []), *value]
                else:
                    merged.setdefault(key, value)
        return merged

    @staticmethod
    def types(schema: Mapping[str, Any]) -> list[str]:
        declared = schema.get("type")
        names = declared if isinstance(declared, list) else [declared] if declared else []
        found = [str(name).lower() for name in names if str(name).lower() in _TYPES]
        if schema.get("nullable") is True and "null" not in found:
            found.append("null")
        if found:
            return found
        # No type: infer it from the keywords present.
        if "properties" in schema or "additionalProperties" in schema or "required" in schema:
            return ["object"]
        if "items" in schema or "prefixItems" in schema:
            return ["array"]
        if any(k in schema for k in ("minLength", "maxLength", "pattern", "format")):
            return ["string"]
        if any(k in schema for k in ("minimum", "maximum", "multipleOf")):
            return ["number"]
        return ["string"]

    # -- values -----------------------------------------------------------------------------

    def value(self, schema: Any, depth: int, name: str = "") -> Any:
        resolved = self.merge_all_of(self.resolve(schema))
        if "const" in resolved:
            return resolved["const"]
        enum = resolved.get("enum")
        if isinstance(enum, list) and enum:
            choices = [item for item in enum if item is not None] if depth > _MAX_DEPTH else enum
            return self.rng.choice(choices or enum)
        for key in ("anyOf", "oneOf"):
            branches = resolved.get(key)
            if isinstance(branches, list) and branches:
                rest = {k: v for k, v in resolved.items() if k != key}
                return self.value(self._branch(branches, rest, depth), depth, name)
        kinds = self.types(resolved)
        kind = self._pick_kind(kinds, depth)
        if kind == "object":
            return self.object(resolved, depth)
        if kind == "array":
            return self.array(resolved, depth, name)
        if kind == "integer":
            return self.integer(resolved)
        if kind == "number":
            return self.number(resolved)
        if kind == "boolean":
            return self.rng.random() < 0.5
        if kind == "null":
            return None
        return self.string(resolved, name)

    def _pick_kind(self, kinds: list[str], depth: int) -> str:
        if len(kinds) == 1:
            return kinds[0]
        if depth > _MAX_DEPTH and "null" in kinds:
            return "null"
        # A nullable value is usually present: pick null only now and then.
        present = [kind for kind in kinds if kind != "null"]
        if present and (len(present) == len(kinds) or self.rng.random() < 0.8):
            return self.rng.choice(present)
        return "null"

    def _branch(self, branches: list[Any], rest: Mapping[str, Any], depth: int) -> Any:
        if depth > _MAX_DEPTH:
            for branch in branches:
                if "null" in self.types(self.resolve(branch)):
                    return branch
        nulls = [b for b in branches if self.types(self.resolve(b)) == ["null"]]
        others = [b for b in branches if b not in nulls]
        if nulls and others and self.rng.random() < 0.8:
            chosen = self.rng.choice(others)
        else:
            chosen = self.rng.choice(branches)
        if not rest or any(k in rest for k in ("anyOf", "oneOf")):
            return chosen
        return {"allOf": [dict(rest), chosen]}

    def object(self, schema: Mapping[str, Any], depth: int) -> dict[str, Any]:
        properties = schema.get("properties")
        properties = properties if isinstance(properties, Mapping) else {}
        required = schema.get("required")
        needed = set(required) if isinstance(required, list) else set()
        order = schema.get("propertyOrdering")
        names = [n for n in order if n in properties] if isinstance(order, list) else []
        names += [n for n in properties if n not in names]
        result: dict[str, Any] = {}
        for prop in names:
            if prop in needed or (depth < _MAX_DEPTH and self.rng.random() < 0.5):
                result[prop] = self.value(properties[prop], depth + 1, prop)
        for prop in sorted(needed - set(result)):
            # Required but not described: any plausible scalar will do.
            result[prop] = self.string({}, prop)
        extra = schema.get("additionalProperties")
        wanted = schema.get("minProperties")
        minimum = wanted if isinstance(wanted, int) else 0
        if isinstance(extra, Mapping) and not properties:
            minimum = max(minimum, 1 if depth < _MAX_DEPTH else 0)
            count = self.rng.randint(minimum, max(minimum, 3 if depth < _MAX_DEPTH else 0))
        else:
            count = max(0, minimum - len(result))
        if count and extra is not False:
            free_schema = extra if isinstance(extra, Mapping) else {}
            for key in self._keys(count, set(result)):
                result[key] = self.value(free_schema, depth + 1, key)
        return result

    def _keys(self, count: int, taken: set[str]) -> list[str]:
        keys: list[str] = []
        while len(keys) < count:
            key = self.rng.choice(_WORDS)
            if key in taken or key in keys:
                key = f"{key}_{len(keys) + len(taken)}"
            keys.append(key)
        return keys

    def array(self, schema: Mapping[str, Any], depth: int, name: str) -> list[Any]:
        prefix = schema.get("prefixItems")
        prefix = prefix if isinstance(prefix, list) else []
        items = schema.get("items", {})
        low = schema.get("minItems")
        high = schema.get("maxItems")
        low = low if isinstance(low, int) else 0
        cap = high if isinstance(high, int) else max(low, 3)
        if depth >= _MAX_DEPTH:
            count = max(low, 0 if items is not False else len(prefix))
        else:
            count = self.rng.randint(max(low, 1 if cap else 0), max(low, min(cap, low + 3)))
        if items is False:
            count = min(count, len(prefix))
        count = max(count, min(len(prefix), cap))
        unique = schema.get("uniqueItems") is True
        values: list[Any] = []
        attempts = 0
        while len(values) < count and attempts < count * 10 + 10:
            attempts += 1
            position = len(values)
            item_schema = prefix[position] if position < len(prefix) else items
            item = self.value(item_schema, depth + 1, name.rstrip("s"))
            if unique and item in values:
                continue
            values.append(item)
        return values

    def integer(self, schema: Mapping[str, Any]) -> int:
        low, high = self._bounds(schema, integer=True)
        step = schema.get("multipleOf")
        if isinstance(step, int) and not isinstance(step, bool) and step > 0:
            first = -(-int(low) // step)
            last = int(high) // step
            return self.rng.randint(first, max(first, last)) * step
        return self.rng.randint(int(low), max(int(low), int(high)))

    def number(self, schema: Mapping[str, Any]) -> float | int:
        step = schema.get("multipleOf")
        if isinstance(step, int | float) and not isinstance(step, bool) and step > 0:
            low, high = self._bounds(schema, integer=False)
            first = int(-(-low // step))
            last = int(high // step)
            multiple = self.rng.randint(first, max(first, last)) * step
            return round(multiple, 10) if isinstance(step, float) else multiple
        low, high = self._bounds(schema, integer=False)
        value = round(self.rng.uniform(low, high), 2)
        if not self._in_range(value, schema):
            value = self.rng.uniform(low, high)
        return value if self._in_range(value, schema) else (low + high) / 2

    @staticmethod
    def _in_range(value: float, schema: Mapping[str, Any]) -> bool:
        def bound(key: str) -> float | None:
            raw = schema.get(key)
            return (
                float(raw) if isinstance(raw, int | float) and not isinstance(raw, bool) else None
            )

        low, high = bound("minimum"), bound("maximum")
        above, below = bound("exclusiveMinimum"), bound("exclusiveMaximum")
        return (
            (low is None or value >= low)
            and (high is None or value <= high)
            and (above is None or value > above)
            and (below is None or value < below)
        )

    @staticmethod
    def _bounds(schema: Mapping[str, Any], *, integer: bool) -> tuple[float, float]:
        def number(key: str) -> float | None:
            value = schema.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                return float(value)
            return None

        nudge = 1.0 if integer else 0.01
        low, high = number("minimum"), number("maximum")
        exclusive_low, exclusive_high = number("exclusiveMinimum"), number("exclusiveMaximum")
        # Draft 4 spells exclusivity as a boolean beside minimum/maximum.
        if schema.get("exclusiveMinimum") is True and low is not None:
            exclusive_low, low = low, None
        if schema.get("exclusiveMaximum") is True and high is not None:
            exclusive_high, high = high, None
        if exclusive_low is not None:
            low = max(low if low is not None else exclusive_low + nudge, exclusive_low + nudge)
        if exclusive_high is not None:
            high = min(high if high is not None else exclusive_high - nudge, exclusive_high - nudge)
        if integer:
            low = float(-(-low // 1)) if low is not None else None
            high = float(high // 1) if high is not None else None
        if low is None and high is None:
            low, high = 0.0, 100.0
        elif low is None:
            assert high is not None
            low = min(0.0, high) if high >= 0 else high - 100
        elif high is None:
            high = low + 100
        return low, max(low, high)

    def string(self, schema: Mapping[str, Any], name: str) -> str:
        low = schema.get("minLength")
        high = schema.get("maxLength")
        low = low if isinstance(low, int) and low > 0 else 0
        high = high if isinstance(high, int) and high >= low else None
        pattern = schema.get("pattern")
        if isinstance(pattern, str):
            text = self._from_pattern(pattern, low, high)
            if text is not None:
                return text
        fmt = schema.get("format")
        text = self._formatted(fmt) if isinstance(fmt, str) else None
        if text is None:
            text = self._plausible(name.lower())
        return self._fit(text, low, high)

    def _from_pattern(self, pattern: str, low: int, high: int | None) -> str | None:
        for _ in range(8):
            try:
                text = self.xeger(pattern)
            except (re.error, ValueError, IndexError):
                return None
            # xeger drops anchors and writes text the whole pattern matches, which satisfies
            # JSON Schema's unanchored search as well.
            if len(text) >= low and (high is None or len(text) <= high):
                return text
        return None

    def _plausible(self, name: str) -> str:
        rng = self.rng
        if name in ("name", "full_name", "fullname", "author", "person", "username"):
            return f"{rng.choice(_FIRST_NAMES)} {rng.choice(_LAST_NAMES)}"
        if name in ("first_name", "firstname", "given_name"):
            return rng.choice(_FIRST_NAMES)
        if name in ("last_name", "lastname", "surname", "family_name"):
            return rng.choice(_LAST_NAMES)
        if name in ("city", "location", "place", "town"):
            return rng.choice(_CITIES)
        if name == "country":
            return rng.choice(_COUNTRIES)
        if name == "email":
            return f"{rng.choice(_FIRST_NAMES).lower()}@example.com"
        if name in ("url", "link", "website", "homepage"):
            return f"https://example.com/{rng.choice(_WORDS)}"
        if name in ("id", "uuid") or name.endswith("_id"):
            return self._formatted("uuid") or ""
        count = rng.randint(1, 4)
        words = " ".join(rng.choice(_WORDS) for _ in range(count))
        return words.capitalize() if count > 2 else words

    def _formatted(self, fmt: str) -> str | None:
        rng = self.rng
        year, month, day = rng.randint(2020, 2027), rng.randint(1, 12), rng.randint(1, 28)
        hour, minute, second = rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59)
        date = f"{year:04d}-{month:02d}-{day:02d}"
        clock = f"{hour:02d}:{minute:02d}:{second:02d}"
        if fmt == "date-time":
            return f"{date}T{clock}Z"
        if fmt == "date":
            return date
        if fmt == "time":
            return f"{clock}Z"
        if fmt in ("email", "idn-email"):
            return f"{rng.choice(_FIRST_NAMES).lower()}.{rng.choice(_WORDS)}@example.com"
        if fmt in ("uri", "url", "iri", "uri-reference", "iri-reference"):
            return f"https://example.com/{rng.choice(_WORDS)}/{rng.randint(1, 999)}"
        if fmt == "uuid":
            value = rng.getrandbits(128)
            digits = f"{value:032x}"
            digits = digits[:12] + "4" + digits[13:16] + "89ab"[value % 4] + digits[17:]
            return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"
        if fmt == "ipv4":
            return ".".join(str(rng.randint(1, 254)) for _ in range(4))
        if fmt == "ipv6":
            return ":".join(f"{rng.getrandbits(16):x}" for _ in range(8))
        if fmt in ("hostname", "idn-hostname"):
            return f"{rng.choice(_WORDS)}.example.com"
        if fmt == "duration":
            return f"PT{rng.randint(1, 59)}M"
        return None

    def _fit(self, text: str, low: int, high: int | None) -> str:
        while len(text) < low:
            text += self.rng.choice(string.ascii_lowercase)
        if high is not None and len(text) > high:
            text = text[:high]
        return text


def instance(schema: Mapping[str, Any] | bool, rng: random.Random) -> Any:
    """A value valid against ``schema`` (the subset in the module docstring), drawn from
    ``rng``: the same schema and RNG state give the same value."""
    root = schema if isinstance(schema, Mapping) else {}
    return _Drawer(root, rng).value(root, 0)
