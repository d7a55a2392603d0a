"""``start_within`` (SPEC §2.1): what a caller asks for, from the JSON body or the typed controls.

The JSON value is exactly one of ``"default"``, ``"priority"``, ``"auto"`` or a flex window
``"HHh-MMm-SSs"`` (two ASCII digits each, minutes and seconds 00-59, total 5 s to 600 s). The
grammar is strict and case-sensitive: ``"Auto"``, ``" auto"``, ``"00H-00M-30S"`` and ``"30s"`` are
rejected with a message that names the rule and a valid example, never guessed at. A router that
silently reinterprets a deadline is worse than one that asks for the right spelling once.

gRPC callers may give the same thing as ``RoutingControls.tier`` or ``RoutingControls.flex_window``
(a ``google.protobuf.Duration``, whole milliseconds only); both spellings build the same
``StartWithin``. Clients that cannot add a body field (the Vercel AI SDK drops unknown ones) send
the same grammar in the ``x-flexinference-start-within`` header or gRPC metadata, or use an API
key that stores a default in it.
"""

from __future__ import annotations

import json
import re
from typing import Final

from flexinference.v1 import types_pb2

from flexgrpc.domain import FixedTier, StartWithin
from flexgrpc.errors import FlexError

FIELD: Final = "start_within"
#: The request header (REST) and gRPC metadata key that carries the same value.
HEADER: Final = "x-flexinference-start-within"
#: The field path of the typed spelling in a gRPC request (``Create*Request.routing``).
TYPED_TIER_FIELD: Final = "routing.tier"
TYPED_WINDOW_FIELD: Final = "routing.flex_window"

MIN_WINDOW_MS: Final = 5_000
MAX_WINDOW_MS: Final = 600_000

# Explicit ASCII classes, not \d: Python's \d also matches other scripts' digits ("٣٠").
_WINDOW_SHAPE: Final = re.compile(r"([0-9]{2})h-([0-9]{2})m-([0-9]{2})s")
_FIXED_TIERS: Final = {tier.value: tier for tier in FixedTier}
_TYPED_TIERS: Final = {
    types_pb2.START_TIER_DEFAULT: FixedTier.DEFAULT,
    types_pb2.START_TIER_PRIORITY: FixedTier.PRIORITY,
    types_pb2.START_TIER_AUTO: FixedTier.AUTO,
}

#: The rule, as every ``invalid_start_within`` message states it.
RULE: Final = (
    'use "default", "priority", "auto", or a flex race window "HHh-MMm-SSs" (two digits each, '
    'e.g. "00h-00m-30s") from 5 s ("00h-00m-05s") to 600 s ("00h-10m-00s")'
)

#: The rule for the typed spelling, as its ``invalid_start_within`` messages state it.
TYPED_RULE: Final = (
    "set routing.tier to START_TIER_DEFAULT, START_TIER_PRIORITY or START_TIER_AUTO, or set "
    "routing.flex_window to whole milliseconds from 5 s to 600 s (e.g. seconds=30)"
)

#: The most characters of caller input an error message repeats.
MAX_ECHO_CHARS: Final = 60


def preview_value(value: object) -> str:
    """How an error message shows a caller's JSON value: short, ASCII-safe, never its whole text.

    Strings are quoted and cut to ``MAX_ECHO_CHARS`` characters (escapes included, so control
    and bidi characters cannot reach a log or a terminal); containers are described, not shown.
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        text = repr(value) if isinstance(value, float) else _int_text(value)
        return _cut(text)
    if isinstance(value, str):
        quoted = json.dumps(value, ensure_ascii=True)
        if len(quoted) <= MAX_ECHO_CHARS + 2:
            return quoted
        return quoted[: MAX_ECHO_CHARS + 1] + '…"'
    if isinstance(value, list):
        return f"a list of {len(value)} item{'s' if len(value) != 1 else ''}"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


def json_type_name(value: object) -> str:
    """The JSON type of a parsed value, as an error message names it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


def describe_value(value: object) -> str:
    """A caller's value for "got …" in a message: its JSON type and a short preview."""
    if value is None or isinstance(value, list | dict):
        return preview_value(value)
    return f"{json_type_name(value)} {preview_value(value)}"


def _int_text(value: int) -> str:
    # str() of a huge int is quadratic and capped by sys.int_max_str_digits: describe it instead.
    if value.bit_length() > 200:
        return "a very large number"
    return str(value)


def _cut(text: str) -> str:
    return text if len(text) <= MAX_ECHO_CHARS else text[: MAX_ECHO_CHARS - 1] + "…"


def _invalid(problem: str, *, field: str = FIELD, rule: str = RULE) -> FlexError:
    return FlexError("invalid_start_within", f"{problem}; {rule}.", field=field)


def parse_start_within(value: object) -> StartWithin:
    """The ``StartWithin`` for the JSON value of ``start_within``.

    Raises ``FlexError("invalid_start_within")`` for anything outside the grammar: a non-string,
    another spelling or case, surrounding spaces, a malformed or out-of-range window.
    """
    if not isinstance(value, str):
        hint = ""
        if isinstance(value, int | float) and not isinstance(value, bool):
            hint = ' (a window is a string, e.g. "00h-00m-30s" for 30 seconds)'
        raise _invalid(f"start_within must be a string, got {describe_value(value)}{hint}")
    tier = _FIXED_TIERS.get(value)
    if tier is not None:
        return StartWithin(tier=tier)
    match = _WINDOW_SHAPE.fullmatch(value)
    if match is None:
        raise _invalid(_why_malformed(value))
    hours, minutes, seconds = (int(part) for part in match.groups())
    if minutes > 59 or seconds > 59:
        raise _invalid(
            f"start_within {preview_value(value)} has minutes or seconds above 59 "
            f'(write 90 s as "00h-01m-30s")'
        )
    window_ms = ((hours * 60 + minutes) * 60 + seconds) * 1000
    if not MIN_WINDOW_MS <= window_ms <= MAX_WINDOW_MS:
        raise _invalid(
            f"start_within {preview_value(value)} is a {window_ms // 1000} s window, "
            f"outside 5 s to 600 s"
        )
    return StartWithin(window_ms=window_ms)


def _why_malformed(value: str) -> str:
    shown = preview_value(value)
    if value.strip() != value:
        return f"start_within {shown} has surrounding whitespace"
    lowered = value.lower()
    if lowered in _FIXED_TIERS or _WINDOW_SHAPE.fullmatch(lowered):
        return f"start_within {shown} is case-sensitive: write it in lowercase"
    if not value:
        return "start_within is an empty string"
    return f"start_within {shown} is not a recognised value"


def parse_header_start_within(value: str) -> StartWithin:
    """The ``StartWithin`` of the ``x-flexinference-start-within`` header: the body's grammar,
    with errors that name the header (``field`` is the header's name)."""
    try:
        return parse_start_within(value)
    except FlexError as error:
        message = error.message.replace("start_within", f"the {HEADER} header", 1)
        raise FlexError(error.code, message, field=HEADER) from None


def check_default_start_within(value: str, *, field: str) -> str:
    """``value`` if it is a valid ``start_within`` to store as an API key's default."""
    try:
        parse_start_within(value)
    except FlexError as error:
        message = error.message.replace("start_within", "default_start_within", 1)
        raise FlexError(error.code, message, field=field) from None
    return value


def from_controls(controls: types_pb2.RoutingControls) -> StartWithin | None:
    """The ``StartWithin`` of the typed ``start_within`` oneof, or ``None`` when it is not set.

    ``tier`` must be a known, specified ``StartTier``; ``flex_window`` must be a whole number of
    milliseconds from 5 s to 600 s (a valid ``Duration``: nanos in range, same sign as seconds).
    """
    which = controls.WhichOneof("start_within")
    if which is None:
        return None
    if which == "tier":
        tier = _TYPED_TIERS.get(controls.tier)
        if tier is None:
            raise _invalid(
                f"routing.tier is {_tier_name(controls.tier)}",
                field=TYPED_TIER_FIELD,
                rule=TYPED_RULE,
            )
        return StartWithin(tier=tier)
    window = controls.flex_window
    seconds, nanos = window.seconds, window.nanos
    if not -999_999_999 <= nanos <= 999_999_999 or (seconds > 0 > nanos or seconds < 0 < nanos):
        raise _invalid(
            f"routing.flex_window is not a valid Duration (seconds={seconds}, nanos={nanos})",
            field=TYPED_WINDOW_FIELD,
            rule=TYPED_RULE,
        )
    if nanos % 1_000_000:
        raise _invalid(
            f"routing.flex_window has sub-millisecond precision (nanos={nanos}; "
            "7.5 s is seconds=7, nanos=500000000)",
            field=TYPED_WINDOW_FIELD,
            rule=TYPED_RULE,
        )
    window_ms = seconds * 1000 + nanos // 1_000_000
    if not MIN_WINDOW_MS <= window_ms <= MAX_WINDOW_MS:
        raise _invalid(
            f"routing.flex_window is {window_ms} ms, outside 5 s to 600 s",
            field=TYPED_WINDOW_FIELD,
            rule=TYPED_RULE,
        )
    return StartWithin(window_ms=window_ms)


def _tier_name(value: int) -> str:
    try:
        return types_pb2.StartTier.Name(value)  # type: ignore[arg-type]
    except ValueError:
        return f"an unknown value ({value})"
