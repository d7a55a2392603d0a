"""The SSE parser keeps each event's exact bytes whatever the chunking."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from flexgrpc.providers.sse import SseParser, format_event

STREAM = (
    b'event: response.created\ndata: {"a": 1}\n\n'
    b": heartbeat comment\n\n"
    b"data: line one\ndata: line two\n\n"
    b"data: [DONE]\n\n"
)


def parse(chunks: list[bytes]) -> list[tuple[str, str, bytes]]:
    parser = SseParser()
    out = [e for chunk in chunks for e in parser.feed(chunk)]
    last = parser.close()
    return [(e.event, e.data, e.raw) for e in [*out, *([last] if last else [])]]


def test_events_names_data_and_raw_bytes() -> None:
    assert parse([STREAM]) == [
        ("response.created", '{"a": 1}', b'event: response.created\ndata: {"a": 1}\n\n'),
        ("", "line one\nline two", b"data: line one\ndata: line two\n\n"),
        ("", "[DONE]", b"data: [DONE]\n\n"),
    ]


@given(st.lists(st.integers(min_value=1, max_value=len(STREAM) - 1), max_size=12))
def test_any_chunking_gives_the_same_events(cuts: list[int]) -> None:
    edges = [0, *sorted(set(cuts)), len(STREAM)]
    chunks = [STREAM[a:b] for a, b in itertools.pairwise(edges)]
    assert parse(chunks) == parse([STREAM])


def test_crlf_and_a_missing_final_blank_line() -> None:
    events = parse([b"event: x\r\ndata: 1\r\n\r\ndata: 2"])
    assert [(name, data) for name, data, _ in events] == [("x", "1"), ("", "2")]


@given(st.lists(st.integers(min_value=1, max_value=len(STREAM) + 3), max_size=12))
def test_crlf_streams_give_the_same_events_whatever_the_chunking(cuts: list[int]) -> None:
    crlf = STREAM.replace(b"\n", b"\r\n")
    edges = [0, *sorted({c for c in cuts if c < len(crlf)}), len(crlf)]
    chunks = [crlf[a:b] for a, b in itertools.pairwise(edges)]
    assert [(name, data) for name, data, _ in parse(chunks)] == [
        (name, data) for name, data, _ in parse([STREAM])
    ]


def test_a_crlf_split_between_two_chunks_is_one_line_break() -> None:
    events = parse([b"event: x\r", b"\ndata: 1\r\n\r\n"])
    assert [(name, data) for name, data, _ in events] == [("x", "1")]


def test_format_event_round_trips() -> None:
    frame = format_event('{"k": "v"}\nsecond', "error")
    assert parse([frame]) == [("error", '{"k": "v"}\nsecond', frame)]
