"""``start_within`` (SPEC §2.1): the JSON grammar and the typed spelling build the same thing."""

from __future__ import annotations

import pytest
from flexinference.v1 import types_pb2
from google.protobuf.duration_pb2 import Duration
from hypothesis import given
from hypothesis import strategies as st

from flexgrpc.domain import FixedTier, StartWithin
from flexgrpc.errors import FlexError
from flexgrpc.routing.start_within import (
    MAX_ECHO_CHARS,
    from_controls,
    parse_start_within,
    preview_value,
)


def invalid(value: object) -> FlexError:
    with pytest.raises(FlexError) as caught:
        parse_start_within(value)
    assert caught.value.code == "invalid_start_within"
    assert caught.value.field == "start_within"
    return caught.value


def typed_invalid(controls: types_pb2.RoutingControls) -> FlexError:
    with pytest.raises(FlexError) as caught:
        from_controls(controls)
    assert caught.value.code == "invalid_start_within"
    return caught.value


@pytest.mark.parametrize(
    ("value", "tier"),
    [("default", FixedTier.DEFAULT), ("priority", FixedTier.PRIORITY), ("auto", FixedTier.AUTO)],
)
def test_a_tier_name_asks_for_that_tier_with_no_race(value: str, tier: FixedTier) -> None:
    parsed = parse_start_within(value)
    assert parsed == StartWithin(tier=tier)
    assert not parsed.is_race


@pytest.mark.parametrize(
    ("value", "window_ms"),
    [
        ("00h-00m-05s", 5_000),
        ("00h-00m-30s", 30_000),
        ("00h-01m-30s", 90_000),
        ("00h-09m-59s", 599_000),
        ("00h-10m-00s", 600_000),
    ],
)
def test_a_duration_asks_for_a_flex_race_with_that_window(value: str, window_ms: int) -> None:
    parsed = parse_start_within(value)
    assert parsed == StartWithin(window_ms=window_ms)
    assert parsed.is_race


@pytest.mark.parametrize(
    "value",
    [
        "00h-00m-04s",  # under 5 s
        "00h-00m-00s",
        "00h-10m-01s",  # over 600 s
        "01h-00m-00s",
        "99h-59m-59s",
        "00h-60m-00s",  # minutes above 59
        "00h-00m-60s",  # seconds above 59
        "00h-05m-99s",
        "30s",
        "30",
        "0h-0m-30s",  # one digit
        "000h-00m-30s",
        "00h-00m-030s",
        "00h00m30s",
        "00h-00m-30",
        "00:00:30",
        "PT30S",
        "00h-00m-30s ",
        " 00h-00m-30s",
        "00h-00m-30s\n",
        "00h - 00m - 30s",
        "00H-00M-30S",  # case-sensitive
        "Default",
        "AUTO",
        " priority",
        "priority ",
        "standard",
        "flex",
        "",
        "00h-00m-3\uff10s",  # fullwidth zero
        "\u0660\u0660h-\u0660\u0660m-\u0663\u0660s",  # Arabic-Indic digits
    ],
)
def test_anything_outside_the_grammar_is_rejected_with_the_rule_and_an_example(
    value: str,
) -> None:
    error = invalid(value)
    assert '"00h-00m-30s"' in error.message
    assert "5 s" in error.message
    assert "600 s" in error.message
    assert error.spec.http_status == 400


@pytest.mark.parametrize("value", [None, 30, 30.0, True, False, [], ["auto"], {"s": 30}])
def test_a_non_string_is_rejected_and_named(value: object) -> None:
    error = invalid(value)
    assert "must be a string" in error.message


def test_a_number_gets_a_hint_to_write_the_window_as_a_string() -> None:
    assert '"00h-00m-30s" for 30 seconds' in invalid(30).message


def test_the_wrong_case_is_named_as_the_problem() -> None:
    assert "lowercase" in invalid("Auto").message
    assert "lowercase" in invalid("00H-00M-30S").message


def test_out_of_range_says_how_long_the_window_was() -> None:
    assert "4 s window" in invalid("00h-00m-04s").message
    assert "601 s window" in invalid("00h-10m-01s").message
    assert "above 59" in invalid("00h-60m-00s").message


def test_surrounding_whitespace_is_named_as_the_problem() -> None:
    assert "whitespace" in invalid(" auto").message


def test_a_long_value_is_not_echoed_in_full() -> None:
    error = invalid("x" * 10_000)
    assert "x" * (MAX_ECHO_CHARS + 1) not in error.message
    assert len(error.message) < 400


def test_echoed_input_cannot_carry_control_characters() -> None:
    error = invalid("\x1b[31mred\u202e")
    assert "\x1b" not in error.message
    assert "\u202e" not in error.message


# ---- properties -------------------------------------------------------------------------


@given(st.integers(0, 99), st.integers(0, 59), st.integers(0, 59))
def test_every_well_formed_window_parses_to_its_milliseconds_or_is_out_of_range(
    hours: int, minutes: int, seconds: int
) -> None:
    value = f"{hours:02d}h-{minutes:02d}m-{seconds:02d}s"
    total_s = hours * 3600 + minutes * 60 + seconds
    if 5 <= total_s <= 600:
        assert parse_start_within(value) == StartWithin(window_ms=total_s * 1000)
    else:
        invalid(value)


@given(st.integers(5, 600))
def test_every_second_from_5_to_600_has_exactly_one_spelling(total_s: int) -> None:
    value = f"00h-{total_s // 60:02d}m-{total_s % 60:02d}s"
    assert parse_start_within(value).window_ms == total_s * 1000


def attempt(value: object) -> StartWithin | FlexError:
    """The parsed value, or the ``FlexError`` (anything else propagates and fails the test)."""
    try:
        return parse_start_within(value)
    except FlexError as error:
        return error


@given(st.text(max_size=40))
def test_random_text_either_parses_or_raises_invalid_start_within(value: str) -> None:
    result = attempt(value)
    if isinstance(result, FlexError):
        assert result.code == "invalid_start_within"
        assert len(result.message) < 400
    else:
        assert result.tier is not None or result.window_ms is not None


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
        lambda children: (
            st.lists(children, max_size=3)
            | st.dictionaries(st.text(max_size=5), children, max_size=3)
        ),
        max_leaves=8,
    )
)
def test_random_json_values_never_crash(value: object) -> None:
    result = attempt(value)
    if isinstance(result, FlexError):
        assert result.code == "invalid_start_within"
    else:
        assert isinstance(value, str)  # only a string can be a valid start_within


@given(st.integers(), st.floats(), st.text(max_size=300))
def test_previews_are_short_and_ascii(number: int, real: float, text: str) -> None:
    for value in (number, real, text, [text], {"k": text}, None, True):
        shown = preview_value(value)
        assert len(shown) <= MAX_ECHO_CHARS + 3
        assert shown.isascii() or shown.endswith('…"') or shown.endswith("…")
        assert all(ord(c) >= 0x20 for c in shown)


def test_preview_of_a_huge_integer_does_not_print_it() -> None:
    assert preview_value(10**5000) == "a very large number"


# ---- the typed spelling -----------------------------------------------------------------


def test_no_typed_start_within_is_none() -> None:
    assert from_controls(types_pb2.RoutingControls()) is None
    assert from_controls(types_pb2.RoutingControls(include_cost=True)) is None


@pytest.mark.parametrize(
    ("tier", "expected"),
    [
        (types_pb2.START_TIER_DEFAULT, FixedTier.DEFAULT),
        (types_pb2.START_TIER_PRIORITY, FixedTier.PRIORITY),
        (types_pb2.START_TIER_AUTO, FixedTier.AUTO),
    ],
)
def test_a_typed_tier_means_the_same_as_its_json_name(
    tier: types_pb2.StartTier.ValueType, expected: FixedTier
) -> None:
    typed = from_controls(types_pb2.RoutingControls(tier=tier))
    assert typed == parse_start_within(expected.value) == StartWithin(tier=expected)


@pytest.mark.parametrize("tier", [types_pb2.START_TIER_UNSPECIFIED, 9])
def test_an_unspecified_or_unknown_typed_tier_is_rejected(tier: int) -> None:
    error = typed_invalid(types_pb2.RoutingControls(tier=tier))  # type: ignore[arg-type]
    assert error.field == "routing.tier"
    assert "START_TIER_DEFAULT" in error.message


@pytest.mark.parametrize(
    ("seconds", "nanos", "window_ms"),
    [(5, 0, 5_000), (30, 0, 30_000), (7, 500_000_000, 7_500), (599, 999_000_000, 599_999)],
)
def test_a_whole_millisecond_window_in_range_is_a_flex_race(
    seconds: int, nanos: int, window_ms: int
) -> None:
    controls = types_pb2.RoutingControls(flex_window=Duration(seconds=seconds, nanos=nanos))
    assert from_controls(controls) == StartWithin(window_ms=window_ms)


def test_a_600_second_window_is_allowed_and_one_millisecond_more_is_not() -> None:
    assert from_controls(
        types_pb2.RoutingControls(flex_window=Duration(seconds=600))
    ) == StartWithin(window_ms=600_000)
    error = typed_invalid(
        types_pb2.RoutingControls(flex_window=Duration(seconds=600, nanos=1_000_000))
    )
    assert "600001 ms" in error.message


@pytest.mark.parametrize(
    ("seconds", "nanos", "problem"),
    [
        (30, 1, "sub-millisecond"),
        (30, 500, "sub-millisecond"),
        (4, 999_000_000, "outside 5 s to 600 s"),
        (0, 0, "outside 5 s to 600 s"),
        (-30, 0, "outside 5 s to 600 s"),
        (10**6, 0, "outside 5 s to 600 s"),
        (30, -1_000_000, "not a valid Duration"),
        (30, 1_000_000_000, "not a valid Duration"),
    ],
)
def test_a_bad_typed_window_is_rejected(seconds: int, nanos: int, problem: str) -> None:
    error = typed_invalid(
        types_pb2.RoutingControls(flex_window=Duration(seconds=seconds, nanos=nanos))
    )
    assert error.field == "routing.flex_window"
    assert problem in error.message


@given(st.integers(0, 0), st.integers(0, 59), st.integers(0, 59))
def test_the_typed_window_and_the_json_window_agree(hours: int, minutes: int, seconds: int) -> None:
    total_s = hours * 3600 + minutes * 60 + seconds
    text = f"{hours:02d}h-{minutes:02d}m-{seconds:02d}s"
    controls = types_pb2.RoutingControls(flex_window=Duration(seconds=total_s))
    if 5 <= total_s <= 600:
        assert from_controls(controls) == parse_start_within(text)
    else:
        invalid(text)
        typed_invalid(controls)
