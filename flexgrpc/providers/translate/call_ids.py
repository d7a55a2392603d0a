"""Opaque signatures some providers need back with a tool call (Gemini 3 rejects a
function-calling history without the signature of the thought before each call), carried
through caller formats that have no field for them.

The signature rides inside the tool call id (``<call id>__thought__<signature>``), which every
caller echoes back verbatim in its history and with the tool's result; the request reader splits
it off again.
"""

from __future__ import annotations

SEPARATOR = "__thought__"


def join(call_id: str, signature: str | None) -> str:
    return f"{call_id}{SEPARATOR}{signature}" if signature else call_id


def split(caller_id: str) -> tuple[str, str | None]:
    """``(call id, signature or None)``."""
    call_id, sep, signature = caller_id.partition(SEPARATOR)
    return call_id, (signature or None) if sep else None
