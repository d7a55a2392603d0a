"""Server-sent events: an incremental parser that keeps each event's exact bytes.

The router relays a provider's events unchanged, so every parsed event keeps ``raw``: the bytes
of the whole frame as received, normalised only to end with a blank line.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class SseEvent:
    """One event: ``event`` name (``""`` when unnamed), joined ``data`` lines, exact ``raw``."""

    event: str
    data: str
    raw: bytes

    def json(self) -> Any:
        """``data`` parsed as JSON (raises ``ValueError`` when it is not JSON)."""
        return json.loads(self.data)


def format_event(data: str, event: str = "") -> bytes:
    """Encode one event (one ``data:`` line per line of ``data``)."""
    lines = [f"event: {event}"] if event else []
    lines += [f"data: {line}" for line in data.split("\n")]
    return ("\n".join(lines) + "\n\n").encode()


class SseParser:
    """Feed bytes as they arrive; get complete events back (handles CRLF and split chunks)."""

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, chunk: bytes) -> Iterator[SseEvent]:
        self._buffer += chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        while True:
            end = self._buffer.find(b"\n\n")
            if end < 0:
                return
            frame, self._buffer = self._buffer[: end + 2], self._buffer[end + 2 :]
            event = _parse_frame(frame)
            if event is not None:
                yield event

    def close(self) -> SseEvent | None:
        """The last event when the stream ended without a blank line, if any."""
        frame, self._buffer = self._buffer, b""
        return _parse_frame(frame + b"\n\n") if frame.strip() else None


def _parse_frame(frame: bytes) -> SseEvent | None:
    name = ""
    data: list[str] = []
    for line in frame.decode("utf-8", errors="replace").split("\n"):
        if not line or line.startswith(":"):
            continue  # blank separator or a comment (heartbeat)
        key, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if key == "event":
            name = value
        elif key == "data":
            data.append(value)
    if not data and not name:
        return None
    return SseEvent(name, "\n".join(data), frame)


async def parse_stream(chunks: AsyncIterator[bytes]) -> AsyncIterator[SseEvent]:
    """Events from a byte stream (for example ``httpx.Response.aiter_bytes()``)."""
    parser = SseParser()
    async for chunk in chunks:
        for event in parser.feed(chunk):
            yield event
    last = parser.close()
    if last is not None:
        yield last
