"""Anthropic Messages.

Start classification, from Anthropic's documented stream: ``message_start`` (the empty message)
and ``ping`` are lifecycle; ``content_block_start`` (a block being added) and every
``content_block_delta`` are output; ``message_stop`` ends the stream; ``error`` is an error.
Usage is split: ``message_start`` carries the input side (and ``service_tier``), each
``message_delta`` the cumulative output side. Anthropic has no flex tier (its tiers are in
``flexgrpc.domain.tiers``); the served tier is reported inside ``usage``.
"""

from __future__ import annotations

import json
from typing import Any

from flexgrpc.domain import Provider, RouteJob, Surface
from flexgrpc.providers.adapter import Adapter
from flexgrpc.providers.presenting import CostView, NativePresenter, Presenter, reencode
from flexgrpc.providers.reading import EventKind, UpstreamReader, event_json
from flexgrpc.providers.sse import SseEvent, format_event

API_VERSION = "2023-06-01"


class MessagesAdapter(Adapter):
    provider = Provider.ANTHROPIC
    surface = upstream = Surface.MESSAGES
    path = "/messages"

    def auth_headers(self, api_key: str) -> dict[str, str]:
        return {"x-api-key": api_key, "anthropic-version": API_VERSION}

    def is_capacity_error(self, status: int, body: bytes) -> bool:
        return status in (429, 529) or status >= 500

    def answer_fields(self, body: dict[str, Any]) -> tuple[str | None, dict[str, Any] | None]:
        usage = body.get("usage")
        if not isinstance(usage, dict):
            return None, None
        tier = usage.get("service_tier")  # Anthropic reports the tier inside usage
        return (tier if isinstance(tier, str) else None), usage

    def reader(self, job: RouteJob) -> UpstreamReader:
        return MessagesReader()

    def presenter(self, job: RouteJob) -> Presenter:
        return MessagesPresenter()


class MessagesReader(UpstreamReader):
    """Follows a Messages stream and rebuilds the non-streamed ``message`` object."""

    def __init__(self) -> None:
        super().__init__()
        self._message: dict[str, Any] = {}
        self._blocks: dict[int, dict[str, Any]] = {}
        self._partial_json: dict[int, str] = {}

    def feed(self, event: SseEvent) -> EventKind:
        data = event_json(event)
        kind = str(data.get("type") or event.event)
        if kind == "message_start":
            self._message = dict(data.get("message") or {})
            usage = self._message.get("usage")
            if isinstance(usage, dict):
                self.usage = dict(usage)
                tier = usage.get("service_tier")
                if isinstance(tier, str):
                    self.served_tier = tier
            return EventKind.LIFECYCLE
        if kind == "content_block_start":
            index = int(data.get("index", len(self._blocks)))
            self._blocks[index] = dict(data.get("content_block") or {})
            return EventKind.OUTPUT
        if kind == "content_block_delta":
            self._apply_delta(int(data.get("index", 0)), data.get("delta") or {})
            return EventKind.OUTPUT
        if kind == "content_block_stop":
            self._close_block(int(data.get("index", 0)))
            return EventKind.OUTPUT
        if kind == "message_delta":
            self._message.update(data.get("delta") or {})
            if isinstance(data.get("usage"), dict):
                self.usage = {**(self.usage or {}), **data["usage"]}
                self.usage_final = True  # message_delta's usage is cumulative and final
            return EventKind.OUTPUT
        if kind == "message_stop":
            self.finished = True
            return EventKind.TERMINAL
        if kind == "error":
            return EventKind.ERROR
        return EventKind.LIFECYCLE  # ping, and events added later

    def _apply_delta(self, index: int, delta: dict[str, Any]) -> None:
        block = self._blocks.setdefault(index, {"type": "text", "text": ""})
        kind = delta.get("type")
        if kind == "text_delta":
            block["text"] = block.get("text", "") + delta.get("text", "")
        elif kind == "input_json_delta":
            self._partial_json[index] = self._partial_json.get(index, "") + delta.get(
                "partial_json", ""
            )
        elif kind == "thinking_delta":
            block["thinking"] = block.get("thinking", "") + delta.get("thinking", "")
        elif kind == "signature_delta":
            block["signature"] = block.get("signature", "") + delta.get("signature", "")
        elif kind == "citations_delta":
            block.setdefault("citations", []).append(delta.get("citation"))

    def _close_block(self, index: int) -> None:
        if index in self._partial_json:
            raw = self._partial_json.pop(index)
            try:
                self._blocks[index]["input"] = json.loads(raw) if raw else {}
            except ValueError:
                self._blocks[index]["input"] = raw

    def answer(self) -> dict[str, Any]:
        message = dict(self._message)
        message["content"] = [self._blocks[i] for i in sorted(self._blocks)]
        if self.usage is not None:
            message["usage"] = self.usage
        return message


class MessagesPresenter(NativePresenter):
    def with_cost(self, event: SseEvent, cost: CostView) -> bytes | None:
        data = event_json(event)
        if data.get("type") != "message_delta" or not isinstance(data.get("usage"), dict):
            return None
        data["usage"]["cost"] = cost
        return reencode(event, data)

    def error_frame(self, code: str, message: str) -> bytes:
        data = {"type": "error", "error": {"type": "api_error", "message": message}}
        return format_event(json.dumps(data), "error")
