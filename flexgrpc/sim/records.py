"""What the simulator saw: one ``RequestRecord`` per upstream request, kept in a ``RequestLog``.

Times are wall-clock seconds since the epoch (``time.time()``), so a test in the same process
or on the same machine can compare them with its own clock. API keys are never recorded, only
whether one was sent.
"""

from __future__ import annotations

import dataclasses
import enum
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any


class Outcome(enum.StrEnum):
    """How a request ended."""

    COMPLETED = "completed"
    #: Capacity refusal (OpenAI 429, Gemini 503/429, Anthropic 529) before the start.
    REFUSED = "refused"
    #: Injected server error (5xx) before the start.
    ERROR = "error"
    #: The simulator cut the connection after some output, before the terminal event.
    DROPPED = "dropped"
    #: The client closed the connection first (see ``disconnect_time``).
    CLIENT_DISCONNECTED = "client_disconnected"
    #: Answered 4xx because the request itself was wrong (no key, bad JSON, bad field).
    REJECTED = "rejected"
    #: Cut short because the simulator was stopping.
    SERVER_STOPPED = "server_stopped"


@dataclass(slots=True)
class RequestRecord:
    """One upstream request, filled in as it progresses (``outcome`` is ``None`` while open)."""

    #: 1, 2, 3, ... since the last reset; also the request number the randomness derives from.
    id: int
    provider: str
    #: ``responses``, ``chat_completions``, ``messages``, ``interactions`` or
    #: ``generate_content``.
    surface: str
    path: str
    model: str | None
    #: ``service_tier`` (generateContent: ``serviceTier``) exactly as sent (``None`` when
    #: absent).
    service_tier: Any
    stream: bool
    api_key_present: bool
    #: The parsed JSON body (the raw text when it was not JSON).
    body: Any
    arrival_time: float
    #: The W3C ``traceparent`` header the request came with (``None`` without one).
    traceparent: str | None = None
    #: The tier echoed back (provider spelling), once an answer was produced.
    served_tier: str | None = None
    status: int | None = None
    #: The start delay drawn for this request, in seconds after ``time_scale``.
    start_delay: float | None = None
    #: When the first event after the start delay was sent (non-streamed: when the body was).
    first_output_time: float | None = None
    end_time: float | None = None
    outcome: Outcome | None = None
    disconnect_time: float | None = None

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["outcome"] = None if self.outcome is None else str(self.outcome)
        return data


class RequestLog:
    """Records in arrival order, bounded, safe to read from another thread."""

    def __init__(self, max_records: int = 100_000) -> None:
        self._lock = threading.Lock()
        self._records: deque[RequestRecord] = deque(maxlen=max_records)
        self._next_id = 1

    def open(self, **fields: Any) -> RequestRecord:
        """A new record with the next request number."""
        with self._lock:
            record = RequestRecord(id=self._next_id, **fields)
            self._next_id += 1
            self._records.append(record)
        return record

    def snapshot(self, since: int = 0) -> list[RequestRecord]:
        """The records whose ``id`` is greater than ``since``."""
        with self._lock:
            return [record for record in self._records if record.id > since]

    def reset(self) -> None:
        """Forget every record and restart numbering (so the random sequence restarts too)."""
        with self._lock:
            self._records.clear()
            self._next_id = 1
