"""OpenAI: the Responses and Chat Completions wire formats.

Start classification (SPEC §3.2), from OpenAI's documented streaming events:

Responses — ``response.created`` / ``response.queued`` / ``response.in_progress`` are lifecycle;
``response.output_item.added`` (a message, reasoning or tool-call item being added) and every
``*.delta`` event (output text, refusal, reasoning, function-call arguments, …) are output;
``response.completed`` and ``response.incomplete`` end the stream; ``response.failed`` and
``error`` are errors. The served tier is the response object's ``service_tier``; the
non-streamed answer is the terminal event's ``response`` object.

Chat Completions — the first chunk (``delta: {"role": "assistant", "content": ""}``) is
lifecycle; a chunk whose delta carries content, a refusal or tool calls, or that carries a
``finish_reason``, is output; ``data: [DONE]`` ends the stream; a ``{"error": …}`` chunk is an
error. Every chunk carries ``service_tier``; usage arrives on the last chunk when
``stream_options.include_usage`` is set.
"""

from __future__ import annotations

import json
from typing import Any

from flexgrpc.domain import Provider, RouteJob, Surface, UpstreamTier
from flexgrpc.providers.adapter import Adapter
from flexgrpc.providers.presenting import CostView, NativePresenter, Presenter, reencode
from flexgrpc.providers.reading import EventKind, UpstreamReader, event_json
from flexgrpc.providers.sse import SseEvent, format_event


class _OpenAIAdapter(Adapter):
    provider = Provider.OPENAI

    def auth_headers(self, api_key: str) -> dict[str, str]:
        return {"authorization": f"Bearer {api_key}"}

    def is_capacity_error(self, status: int, body: bytes) -> bool:
        # Flex answers 429 "Resource Unavailable" when it has no capacity; 5xx are transient.
        return status == 429 or status >= 500


class ResponsesAdapter(_OpenAIAdapter):
    surface = upstream = Surface.RESPONSES
    path = "/responses"

    def reader(self, job: RouteJob) -> UpstreamReader:
        return ResponsesReader()

    def presenter(self, job: RouteJob) -> Presenter:
        return ResponsesPresenter()


_RESPONSES_LIFECYCLE = {"response.created", "response.queued", "response.in_progress"}
_RESPONSES_TERMINAL = {"response.completed", "response.incomplete"}
#: The events whose data holds the whole response object (tier, usage, the final answer).
_RESPONSES_CARRIERS = frozenset(
    {*_RESPONSES_LIFECYCLE, *_RESPONSES_TERMINAL, "response.failed", "error"}
)


class ResponsesReader(UpstreamReader):
    def __init__(self) -> None:
        super().__init__()
        self._response: dict[str, Any] = {}

    def feed(self, event: SseEvent) -> EventKind:
        if event.event and event.event not in _RESPONSES_CARRIERS:
            # A named delta or item event: its name is its type, and nothing in its data is
            # needed here, so the (often hundreds of) deltas of an answer are never decoded.
            return self._classify(event.event)
        data = event_json(event)
        kind = str(data.get("type") or event.event)
        response = data.get("response")
        if isinstance(response, dict):
            self._response = response
            tier = response.get("service_tier")
            if isinstance(tier, str):
                self.served_tier = tier
            if isinstance(response.get("usage"), dict):
                self.usage = response["usage"]
        return self._classify(kind)

    def _classify(self, kind: str) -> EventKind:
        if kind in _RESPONSES_TERMINAL:
            self.finished = self.usage_final = True
            return EventKind.TERMINAL
        if kind in ("response.failed", "error"):
            return EventKind.ERROR
        if kind in _RESPONSES_LIFECYCLE:
            return EventKind.LIFECYCLE
        if kind == "response.output_item.added" or kind.endswith(".delta"):
            return EventKind.OUTPUT
        # Other events (".done", content_part.added, …) only follow output; never a start alone.
        return EventKind.LIFECYCLE

    def answer(self) -> dict[str, Any]:
        return self._response


class ResponsesPresenter(NativePresenter):
    def with_cost(self, event: SseEvent, cost: CostView) -> bytes | None:
        data = event_json(event)
        response = data.get("response")
        if data.get("type") not in _RESPONSES_TERMINAL or not isinstance(response, dict):
            return None
        if isinstance(response.get("usage"), dict):
            response["usage"]["cost"] = cost
        return reencode(event, data)

    def error_frame(self, code: str, message: str) -> bytes:
        data = {"type": "error", "code": code, "message": message, "param": None}
        return format_event(json.dumps(data), "error")


class ChatCompletionsAdapter(_OpenAIAdapter):
    surface = upstream = Surface.CHAT_COMPLETIONS
    path = "/chat/completions"

    def prepare_body(self, job: RouteJob, tier: UpstreamTier, stream: bool) -> dict[str, Any]:
        body = super().prepare_body(job, tier, stream)
        if not stream:
            return body  # a non-streamed completion always carries its usage
        # A Chat stream carries usage only when asked, and every request must be priced and
        # recorded from its usage: always ask. A caller that did not ask never sees the extra
        # usage chunk (ChatPresenter drops it), unless it asked for include_cost.
        options = body.get("stream_options")
        body["stream_options"] = {**(options if isinstance(options, dict) else {})}
        body["stream_options"]["include_usage"] = True
        return body

    def reader(self, job: RouteJob) -> UpstreamReader:
        return ChatReader()

    def presenter(self, job: RouteJob) -> Presenter:
        return ChatPresenter(show_usage_chunk=wants_usage_chunk(job))


def wants_usage_chunk(job: RouteJob) -> bool:
    """Whether a Chat caller sees the usage chunk: it asked for it, or for the cost it carries."""
    options = job.body.get("stream_options")
    asked = isinstance(options, dict) and options.get("include_usage") is True
    return asked or job.include_cost


class ChatReader(UpstreamReader):
    """Follows a Chat Completions stream and accumulates it into a ``chat.completion``."""

    def __init__(self) -> None:
        super().__init__()
        self._head: dict[str, Any] = {}
        self._choices: dict[int, dict[str, Any]] = {}

    def feed(self, event: SseEvent) -> EventKind:
        if event.data.strip() == "[DONE]":
            self.finished = True
            return EventKind.TERMINAL
        chunk = event_json(event)
        if "error" in chunk:
            return EventKind.ERROR
        if not self._head:
            self._head = {k: v for k, v in chunk.items() if k not in ("choices", "usage")}
        tier = chunk.get("service_tier")
        if isinstance(tier, str):
            self.served_tier = tier
        if isinstance(chunk.get("usage"), dict):
            self.usage = chunk["usage"]
            self.usage_final = True
        kind = EventKind.LIFECYCLE
        for choice in chunk.get("choices") or []:
            if self._accumulate(choice):
                kind = EventKind.OUTPUT
        return kind

    def _accumulate(self, choice: dict[str, Any]) -> bool:
        """Merge one choice delta; True when it carries output."""
        index = int(choice.get("index", 0))
        into = self._choices.setdefault(
            index,
            {"index": index, "message": {"role": "assistant", "content": None}, "logprobs": None,
             "finish_reason": None},
        )  # fmt: skip
        message = into["message"]
        delta = choice.get("delta") or {}
        output = False
        for field in ("content", "refusal"):
            piece = delta.get(field)
            if isinstance(piece, str) and piece:
                message[field] = (message.get(field) or "") + piece
                output = True
            elif field in delta and field not in message:
                message[field] = None
        if "refusal" not in message:
            message["refusal"] = None
        # A non-streamed message always lists its annotations (url citations), even when none.
        message.setdefault("annotations", [])
        for annotation in delta.get("annotations") or []:
            message["annotations"].append(annotation)
        for call in delta.get("tool_calls") or []:
            output = True
            calls = message.setdefault("tool_calls", [])
            position = int(call.get("index", len(calls)))
            while len(calls) <= position:
                calls.append(
                    {"id": "", "type": "function", "function": {"name": "", "arguments": ""}}
                )
            slot = calls[position]
            if call.get("id"):
                slot["id"] = call["id"]
            if call.get("type"):
                slot["type"] = call["type"]
            function = call.get("function") or {}
            slot["function"]["name"] += function.get("name") or ""
            slot["function"]["arguments"] += function.get("arguments") or ""
        if choice.get("logprobs") is not None:
            into["logprobs"] = choice["logprobs"]
        if choice.get("finish_reason") is not None:
            into["finish_reason"] = choice["finish_reason"]
            output = True
        return output

    def answer(self) -> dict[str, Any]:
        answer = dict(self._head)
        answer["object"] = "chat.completion"
        answer["choices"] = [self._choices[i] for i in sorted(self._choices)]
        if self.served_tier is not None:
            answer["service_tier"] = self.served_tier  # the latest word, not the first chunk's
        if self.usage is not None:
            answer["usage"] = self.usage
        return answer


class ChatPresenter(NativePresenter):
    """Relays a Chat stream; the usage chunk the router asked for only to price the request is
    dropped unless the caller wants it."""

    def __init__(self, *, show_usage_chunk: bool = True) -> None:
        self._show_usage_chunk = show_usage_chunk

    def frames(self, event: SseEvent, cost: CostView | None) -> list[bytes]:
        if not self._show_usage_chunk and event.data.startswith("{"):
            chunk = event_json(event)
            if chunk.get("choices") == [] and isinstance(chunk.get("usage"), dict):
                return []
        return super().frames(event, cost)

    def with_cost(self, event: SseEvent, cost: CostView) -> bytes | None:
        chunk = event_json(event)
        if not isinstance(chunk.get("usage"), dict):
            return None
        chunk["usage"]["cost"] = cost
        return reencode(event, chunk)

    def error_frame(self, code: str, message: str) -> bytes:
        error = {"message": message, "type": "api_error", "code": code, "param": None}
        return format_event(json.dumps({"error": error}))
