"""Where a parsed JSON body holds a lone surrogate, named as a field path."""

from __future__ import annotations

import json

import pytest

from flexgrpc.json_text import lone_surrogate_path


def _path(text: str) -> str | None:
    return lone_surrogate_path(json.loads(text), text)


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ('{"messages": [{"content": "a"}, {"content": "\\ud800"}]}', "messages[1].content"),
        ('{"input": "\\udfff tail"}', "input"),
        ('{"a": {"\\ud800": 1}}', "a.\\ud800"),
        ('["\\ud800"]', "[0]"),
        ('"\\udc00"', "the body"),
    ],
)
def test_a_lone_surrogate_is_found_and_named(text: str, path: str) -> None:
    assert _path(text) == path


@pytest.mark.parametrize(
    "text",
    ['{"emoji": "\\ud83d\\ude00"}', '{"text": "\\\\ud800 is how it is written"}', '{"é": "ü"}'],
)
def test_pairs_escaped_backslashes_and_plain_text_pass(text: str) -> None:
    assert _path(text) is None


def test_a_deeply_nested_body_is_walked_without_recursion() -> None:
    depth = 5000
    text = "[" * depth + '"\\ud800"' + "]" * depth
    document: object = "\ud800"
    for _ in range(depth):
        document = [document]
    assert lone_surrogate_path(document, text) == "[0]" * depth
