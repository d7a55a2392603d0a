"""Server-sent events: an incremental parser that keeps each event's exact bytes.

The router relays a provider's events unchanged, so every parsed event keeps ``raw``: the bytes
of the whole frame as received, normalised only to end with a blank line.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson


@dataclass(frozen=True, slots=True)
class SseEvent:
    """One event: ``event`` name (``""`` when unnamed), joined ``data`` lines, exact ``raw``."""

    event: str
    data: str
    raw: bytes

    def json(self) -> Any:
        """``data`` parsed as JSON (raises ``ValueError`` when it is not JSON)."""
        return loads(self.data)


def loads(text: str) -> Any:
    """JSON from a provider's event: orjson (about 3x faster on the many small events of an
    answer), or the standard parser for what orjson refuses but JSON allows (integers beyond
    64 bits, NaN), so the result never depends on which one parsed it."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON. orjson takes about a fifth of the standard encoder's time on the
    many small events of a translated answer; what it refuses (integers beyond 64 bits, lone
    surrogates) takes the standard encoder, escaped to ASCII so that it always encodes."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, separators=(",", ":")).encode()


def json_event(payload: Any, event: str = "") -> bytes:
    """One event whose data is ``payload`` as JSON: a single ``data:`` line, since compact
    JSON never holds a raw line break."""
    head = b"event: " + event.encode() + b"\ndata: " if event else b"data: "
    return head + dumps(payload) + b"\n\n"


def format_event(data: str, event: str = "") -> bytes:
    """Encode one event (one ``data:`` line per line of ``data``)."""
    lines = [f"event: {event}"] if event else []
    lines += [f"data: {line}" for line in data.split("\n")]
    return ("\n".join(lines) + "\n\n").encode()


class SseParser:
    """Feed bytes as they arrive; get complete events back (handles CRLF and split chunks)."""

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, chunk: bytes) -> list[SseEvent]:
        buffer = self._buffer + chunk
        if b"\r" in buffer:
            # A CR that ends the chunk may be the first half of a CRLF split across chunks:
            # keep it raw until the next chunk shows which it is.
            split_crlf = buffer.endswith(b"\r")
            buffer = buffer[:-1] if split_crlf else buffer
            buffer = buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
            buffer += b"\r" if split_crlf else b""
        end = buffer.rfind(b"\n\n")
        if end < 0:
            self._buffer = buffer
            return []
        # Every complete frame in one pass (a chunk often carries many small events).
        complete, self._buffer = buffer[:end], buffer[end + 2 :]
        events = []
        for frame in complete.split(b"\n\n"):
            event = _parse_frame(frame + b"\n\n") if frame else None
            if event is not None:
                events.append(event)
        return events

    def close(self) -> SseEvent | None:
        """The last event when the stream ended without a blank line, if any."""
        frame, self._buffer = self._buffer.replace(b"\r", b"\n"), b""
        return _parse_frame(frame + b"\n\n") if frame.strip() else None


def _parse_frame(frame: bytes) -> SseEvent | None:
    name = ""
    data: list[str] = []
    for line in frame.decode("utf-8", errors="replace").split("\n"):
        if not line or line[0] == ":":
            continue  # blank separator or a comment (heartbeat)
        key, _, value = line.partition(":")
        if value[:1] == " ":
            value = value[1:]
        if key == "data":
            data.append(value)
        elif key == "event":
            name = value
    if not data and not name:
        return None
    return SseEvent(name, "\n".join(data), frame)


async def parse_stream(chunks: AsyncIterator[bytes]) -> AsyncIterator[SseEvent]:
    """Events from a byte stream (for example an HTTP response body read as it arrives)."""
    parser = SseParser()
    async for chunk in chunks:
        for event in parser.feed(chunk):
            yield event
    last = parser.close()
    if last is not None:
        yield last
