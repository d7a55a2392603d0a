"""What a caller's JSON may hold beyond what JSON's grammar checks: text that is Unicode.

JSON's grammar lets a string escape half of a UTF-16 surrogate pair on its own (``"\\ud800"``),
and Python's parser keeps it as a lone surrogate, which is no Unicode character: it cannot be
written as UTF-8, so it cannot go upstream, into the database or into a log unchanged (RFC 8259
§8.2 calls its behaviour unpredictable, I-JSON, RFC 7493, forbids it). Such a body is refused,
naming where the surrogate is, rather than "repaired" into different text.
"""

from __future__ import annotations

import re
from typing import Any, Final

#: A ``\\uD800``-``\\uDFFF`` escape: without one, a body decoded as strict UTF-8 holds no
#: surrogate, and nothing needs to be walked (the common case costs one regex scan).
_SURROGATE_ESCAPE: Final = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_SURROGATE: Final = re.compile("[\ud800-\udfff]")


def has_lone_surrogate(text: str) -> bool:
    """Whether ``text`` (a parsed string: pairs are already joined) holds a lone surrogate."""
    return _SURROGATE.search(text) is not None


def lone_surrogate_path(document: Any, text: str) -> str | None:
    """Where the first lone surrogate of ``document`` (parsed from ``text``) is: the path of the
    string or key that holds it, such as ``messages[0].content`` (its surrogates escaped), or
    ``None`` when there is none."""
    if _SURROGATE_ESCAPE.search(text) is None:
        return None
    # Iterative, so that a body nested as deeply as the parser allows cannot exhaust the stack.
    stack: list[tuple[str, Any]] = [("", document)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            if has_lone_surrogate(value):
                return _printable(path) or "the body"
        elif isinstance(value, dict):
            children = []
            for key, child in value.items():
                name = f"{path}.{key}" if path else key
                if has_lone_surrogate(key):
                    return (f"{path}." if path else "") + _printable(key)
                children.append((name, child))
            stack.extend(reversed(children))
        elif isinstance(value, list):
            items = [(f"{path}[{index}]", child) for index, child in enumerate(value)]
            stack.extend(reversed(items))
    return None


def _printable(text: str) -> str:
    """``text`` with its surrogates escaped, safe to put in a message."""
    return _SURROGATE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def surrogate_message(path: str) -> str:
    """The message of a refusal of a lone surrogate at ``path``."""
    return (
        f"{path} holds a lone UTF-16 surrogate escape (\\ud800-\\udfff without its "
        "pair), which is not a Unicode character: send the character itself, or both halves "
        "of its surrogate pair (e.g. \\ud83d\\ude00)"
    )
