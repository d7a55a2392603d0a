"""``google.api.http`` path templates: parsed once, matched as one anchored regular expression.

The grammar (google/api/http.proto)::

    Template = "/" Segments [ Verb ] ;
    Segments = Segment { "/" Segment } ;
    Segment  = "*" | "**" | LITERAL | Variable ;
    Variable = "{" FieldPath [ "=" Segments ] "}" ;
    Verb     = ":" LITERAL ;

``*`` matches one path segment, ``**`` the rest of the path (last segment only); a variable
without a pattern is ``*``. Matching runs on the raw (still percent-encoded) path so that an
encoded ``/`` inside a variable stays inside it; variable values are decoded afterwards.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass

_FIELD_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_LITERAL = re.compile(r"^[^/{}*:=]+$")
_ONE_SEGMENT = "[^/]+"
_REST_OF_PATH = ".+"


class TemplateError(ValueError):
    """A path template that the grammar does not allow."""


@dataclass(frozen=True, slots=True)
class PathTemplate:
    """One parsed template: its source, variables (field paths) and compiled pattern."""

    source: str
    variables: tuple[str, ...]
    verb: str
    literal_segments: int
    pattern: re.Pattern[str]

    @property
    def is_literal(self) -> bool:
        """True when the template has no variables or wildcards (matched by string equality)."""
        return not self.variables and "*" not in self.source

    def match(self, raw_path: str) -> dict[str, str] | None:
        """The decoded variable values if ``raw_path`` matches, else ``None``."""
        found = self.pattern.match(raw_path)
        if found is None:
            return None
        return {
            field: urllib.parse.unquote(found[f"v{i}"]) for i, field in enumerate(self.variables)
        }


def _split_verb(body: str, source: str) -> tuple[str, str]:
    """Separate the trailing ``:verb`` (a colon outside braces, in the last segment)."""
    depth = 0
    colon = -1
    for i, char in enumerate(body):
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth < 0:
                raise TemplateError(f"{source}: unbalanced braces")
        elif char == "/" and depth == 0:
            colon = -1
        elif char == ":" and depth == 0:
            colon = i
    if depth != 0:
        raise TemplateError(f"{source}: unbalanced braces")
    if colon < 0:
        return body, ""
    verb = body[colon + 1 :]
    if not _LITERAL.match(verb):
        raise TemplateError(f"{source}: bad verb {verb!r}")
    return body[:colon], verb


def _split_segments(body: str) -> list[str]:
    """Split on ``/`` outside braces."""
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    for char in body:
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        if char == "/" and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def _segments_pattern(segments: list[str], source: str, *, nested: bool) -> tuple[str, int]:
    """Regex for plain segments (no variables) and how many of them are literal."""
    out: list[str] = []
    literal = 0
    for index, segment in enumerate(segments):
        if segment == "*":
            out.append(_ONE_SEGMENT)
        elif segment == "**":
            if index != len(segments) - 1:
                raise TemplateError(f"{source}: `**` must be the last segment")
            out.append(_REST_OF_PATH)
        elif _LITERAL.match(segment):
            out.append(re.escape(segment))
            literal += 1
        else:
            where = "inside a variable" if nested else ""
            raise TemplateError(f"{source}: bad segment {segment!r} {where}".rstrip())
    return "/".join(out), literal


def parse_template(source: str) -> PathTemplate:
    """Parse ``source`` (for example ``/v1/{name=organizations/*}:close``)."""
    if not source.startswith("/"):
        raise TemplateError(f"{source}: a template starts with `/`")
    body, verb = _split_verb(source[1:], source)
    variables: list[str] = []
    pieces: list[str] = []
    literal_segments = 0
    segments = _split_segments(body)
    for index, segment in enumerate(segments):
        if segment.startswith("{") and segment.endswith("}"):
            field, _, inner = segment[1:-1].partition("=")
            if not _FIELD_PATH.match(field):
                raise TemplateError(f"{source}: bad field path {field!r}")
            if field in variables:
                raise TemplateError(f"{source}: variable {field!r} appears twice")
            inner_segments = _split_segments(inner) if inner else ["*"]
            if "**" in inner_segments and index != len(segments) - 1:
                raise TemplateError(f"{source}: `**` must be in the last segment")
            if any("{" in s for s in inner_segments):
                raise TemplateError(f"{source}: variables cannot nest")
            pattern, literal = _segments_pattern(inner_segments, source, nested=True)
            pieces.append(f"(?P<v{len(variables)}>{pattern})")
            variables.append(field)
            literal_segments += literal
        else:
            pattern, literal = _segments_pattern([segment], source, nested=False)
            if segment == "**" and index != len(segments) - 1:
                raise TemplateError(f"{source}: `**` must be the last segment")
            pieces.append(pattern)
            literal_segments += literal
    regex = "^/" + "/".join(pieces) + (":" + re.escape(verb) if verb else "") + "$"
    return PathTemplate(source, tuple(variables), verb, literal_segments, re.compile(regex))
