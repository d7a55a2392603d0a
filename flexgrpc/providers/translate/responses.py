"""OpenAI Responses as a caller's surface reaching Gemini and Anthropic models (an OpenAI model
is the native pair, never translated).

Request: ``instructions`` and system/developer messages are instructions; ``input`` is a string
or a list of items — messages (``input_text``, ``input_image``, ``input_file``; an assistant's
``output_text``), ``function_call`` / ``function_call_output`` and ``reasoning`` items. Function
tools, ``tool_choice``, ``text.format`` (JSON Schema or JSON), ``reasoning.effort`` / ``.summary``
map across. What lives on OpenAI's side (``previous_response_id``, ``conversation``, stored
prompts, built-in tools, background runs) is refused.

Answers are a ``response`` object, or its documented stream: ``response.created``,
``response.in_progress``, per output item ``output_item.added`` … ``output_item.done`` (a
reasoning item with its summary, a message with one ``output_text`` part, each function call
with its argument deltas), then ``response.completed`` (or ``.incomplete``) carrying the whole
response, every event numbered (``sequence_number``).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, Final, Literal

from flexgrpc.domain import ROUTER_FIELDS
from flexgrpc.providers.presenting import CostView
from flexgrpc.providers.sse import json_event
from flexgrpc.providers.translate import call_ids, fields
from flexgrpc.providers.translate.chat import effort as read_effort
from flexgrpc.providers.translate.ir import (
    Answer,
    Event,
    Feature,
    Finished,
    FinishReason,
    JsonOutput,
    Media,
    Part,
    Reasoning,
    ReasoningControl,
    ReasoningDelta,
    Request,
    Started,
    Text,
    TextDelta,
    Tool,
    ToolArgumentsDelta,
    ToolCall,
    ToolCallStarted,
    ToolChoice,
    ToolResult,
    Turn,
    Usage,
    invalid,
    unsupported,
)

_MAPPED: Final = frozenset(
    {
        "model", "input", "instructions", "tools", "tool_choice", "parallel_tool_calls",
        "max_output_tokens", "temperature", "top_p", "text", "reasoning", "store", "user",
        "safety_identifier", "stream",
    }
)  # fmt: skip
_DROPPED: Final = frozenset(
    {"metadata", "include", "truncation", "prompt_cache_key", "prompt_cache_retention",
     "stream_options", "service_tier", "max_tool_calls"}
)  # fmt: skip
_REFUSED: Final = {
    "previous_response_id": "the conversation it names is kept on OpenAI's side; send the "
    "whole conversation in `input`",
    "conversation": "conversations are kept on OpenAI's side; send the whole conversation",
    "prompt": "stored prompts live on OpenAI's side; send the prompt's text",
    "background": "background responses run on OpenAI's side",
    "top_logprobs": "log probabilities come from OpenAI models only",
}


# ==========================================================================================
# A Responses request
# ==========================================================================================


def read_request(body: dict[str, Any], *, target: str) -> Request:
    for name, why in _REFUSED.items():
        if body.get(name):
            raise unsupported(name, f"`{name}` cannot reach a {target} model: {why}.")
    instructions = fields.optional_string(body.get("instructions"), "instructions")
    system, turns = _input(body.get("input"), target)
    text = body.get("text")
    reasoning = body.get("reasoning")
    return Request(
        model=fields.string(body.get("model"), "model"),
        system=((instructions,) if instructions else ()) + system,
        turns=turns,
        tools=_tools(body.get("tools"), target),
        tool_choice=_tool_choice(body.get("tool_choice")),
        parallel_tool_calls=fields.optional_bool(
            body.get("parallel_tool_calls"), "parallel_tool_calls"
        ),
        max_tokens=fields.positive_int(body.get("max_output_tokens"), "max_output_tokens"),
        temperature=fields.optional_number(body.get("temperature"), "temperature"),
        top_p=fields.optional_number(body.get("top_p"), "top_p"),
        output=_output(text.get("format") if isinstance(text, Mapping) else None),
        reasoning=_reasoning(reasoning),
        end_user=_end_user(body),
        store=fields.optional_bool(body.get("store"), "store"),
        passthrough={
            key: value
            for key, value in body.items()
            if key not in _MAPPED
            and key not in _DROPPED
            and key not in _REFUSED
            and key not in ROUTER_FIELDS
        },
    )


def _end_user(body: dict[str, Any]) -> str | None:
    for name in ("safety_identifier", "user"):
        if body.get(name) is not None:
            return fields.string(body[name], name)
    return None


def _input(value: Any, target: str) -> tuple[tuple[str, ...], tuple[Turn, ...]]:
    if isinstance(value, str):
        return (), (Turn("user", (Text(value),)),)
    system: list[str] = []
    turns: list[Turn] = []
    names: dict[str, str] = {}
    for i, item in enumerate(fields.objects(value, "input")):
        where = f"input[{i}]"
        kind = item.get("type", "message")
        if kind == "message":
            role = item.get("role")
            if role in ("system", "developer"):
                system.append(_text(item.get("content"), f"{where}.content"))
            elif role in ("user", "assistant"):
                turns.append(Turn(role, _content(item.get("content"), f"{where}.content", target)))
            else:
                raise invalid(
                    f"{where}.role", f"`{where}.role` must be user, assistant, system or developer."
                )
        elif kind == "function_call":
            call_id, signature = call_ids.split(
                fields.string(item.get("call_id"), f"{where}.call_id")
            )
            name = fields.string(item.get("name"), f"{where}.name")
            names[call_id] = name
            arguments = fields.arguments(item.get("arguments"), f"{where}.arguments")
            turns.append(Turn("assistant", (ToolCall(call_id, name, arguments, signature),)))
        elif kind == "function_call_output":
            call_id, _ = call_ids.split(fields.string(item.get("call_id"), f"{where}.call_id"))
            output = _text(item.get("output"), f"{where}.output")
            turns.append(Turn("user", (ToolResult(call_id, output, names.get(call_id)),)))
        elif kind == "reasoning":
            summary = [
                s.get("text", "") for s in fields.objects(item.get("summary"), f"{where}.summary")
            ]
            turns.append(Turn("assistant", (Reasoning("".join(summary)),)))
        else:
            raise unsupported(
                f"{where}.type",
                f"`{kind}` items cannot be translated for a {target} model; send messages, "
                "function_call, function_call_output and reasoning items.",
            )
    return tuple(system), tuple(turns)


def _text(content: Any, where: str) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    texts = []
    for j, part in enumerate(fields.objects(content, where)):
        if part.get("type") in ("input_text", "output_text", "text"):
            texts.append(fields.string(part.get("text"), f"{where}[{j}].text"))
        elif part.get("type") != "refusal":
            raise invalid(f"{where}[{j}]", f"`{where}[{j}]` must be a text part.")
    return "".join(texts)


def _content(content: Any, where: str, target: str) -> tuple[Part, ...]:
    if isinstance(content, str):
        return (Text(content),)
    parts: list[Part] = []
    for j, part in enumerate(fields.objects(content, where)):
        at = f"{where}[{j}]"
        kind = part.get("type")
        if kind in ("input_text", "output_text"):
            parts.append(Text(fields.string(part.get("text"), f"{at}.text")))
        elif kind == "input_image" and part.get("image_url") is not None:
            parts.append(fields.media_url(part.get("image_url"), f"{at}.image_url"))
        elif kind == "input_file" and isinstance(part.get("file_data"), str):
            parts.append(_file_data(part["file_data"], part.get("filename"), f"{at}.file_data"))
        elif kind == "input_file" and part.get("file_url") is not None:
            parts.append(fields.media_url(part.get("file_url"), f"{at}.file_url", kind="document"))
        elif kind in ("input_image", "input_file"):
            raise unsupported(
                at,
                f"a {target} model takes images and files inline or by URL; a `file_id` names "
                "a file on OpenAI's side only.",
            )
        elif kind != "refusal":
            raise unsupported(at, f"`{kind}` content cannot be translated for a {target} model.")
    return tuple(parts)


def _file_data(data: str, filename: Any, where: str) -> Media:
    if data.startswith("data:"):
        return fields.data_url(data, where, kind="document")
    guessed = (
        "application/pdf" if not isinstance(filename, str) or filename.endswith(".pdf") else None
    )
    if guessed is None:
        raise invalid(where, f"`{where}` must be a data URL (data:application/pdf;base64,...).")
    return Media("document", media_type="application/pdf", data=data)


def _tools(tools: Any, target: str) -> tuple[Tool, ...]:
    found = []
    for i, tool in enumerate(fields.objects(tools, "tools")):
        if tool.get("type") != "function":
            raise unsupported(
                f"tools[{i}]",
                f"OpenAI's built-in tool `{tool.get('type')}` cannot run for a {target} model; "
                "declare function tools.",
            )
        description, parameters, strict = (
            tool.get("description"), tool.get("parameters"), tool.get("strict"),
        )  # fmt: skip
        found.append(
            Tool(
                name=fields.string(tool.get("name"), f"tools[{i}].name"),
                description=description if isinstance(description, str) else None,
                parameters=parameters if isinstance(parameters, dict) else None,
                strict=strict if isinstance(strict, bool) else None,
            )
        )
    return tuple(found)


def _tool_choice(choice: Any) -> ToolChoice | None:
    if choice is None:
        return None
    if choice in ("auto", "none", "required"):
        return ToolChoice(choice)
    if isinstance(choice, Mapping) and choice.get("type") == "function":
        return ToolChoice("required", (fields.string(choice.get("name"), "tool_choice.name"),))
    if isinstance(choice, Mapping) and choice.get("type") == "allowed_tools":
        mode = choice.get("mode", "auto")
        if mode in ("auto", "required"):
            names = tuple(
                fields.string(tool.get("name"), f"tool_choice.tools[{i}].name")
                for i, tool in enumerate(fields.objects(choice.get("tools"), "tool_choice.tools"))
            )
            return ToolChoice(mode, names)
    raise invalid(
        "tool_choice",
        '`tool_choice` must be "auto", "none", "required", {"type": "function", "name": ...} '
        "or allowed_tools.",
    )


def _output(fmt: Any) -> JsonOutput | None:
    if fmt is None or (isinstance(fmt, Mapping) and fmt.get("type") == "text"):
        return None
    if isinstance(fmt, Mapping) and fmt.get("type") == "json_object":
        return JsonOutput()
    if isinstance(fmt, Mapping) and fmt.get("type") == "json_schema":
        return JsonOutput(
            schema=fields.schema(fmt.get("schema"), "text.format.schema"),
            name=fmt.get("name") if isinstance(fmt.get("name"), str) else None,
            strict=fmt.get("strict") if isinstance(fmt.get("strict"), bool) else None,
        )
    raise invalid(
        "text.format", '`text.format.type` must be "text", "json_object" or "json_schema".'
    )


def _reasoning(value: Any) -> ReasoningControl | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise invalid("reasoning", '`reasoning` must be an object such as {"effort": "low"}.')
    level = read_effort(value.get("effort"), "reasoning.effort")
    summary = value.get("summary") not in (None, "none")
    if level is None and not summary:
        return None
    return ReasoningControl(effort=level, summary=summary)


# ==========================================================================================
# Responses answers
# ==========================================================================================


def _usage_dict(usage: Usage, cost: CostView | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {
        "input_tokens": usage.input,
        "input_tokens_details": {"cached_tokens": usage.cached},
        "output_tokens": usage.output,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning},
        "total_tokens": usage.input + usage.output,
    }
    if cost is not None:
        block["cost"] = cost
    return block


def _openai_tier(tier: str | None) -> str | None:
    return "default" if tier == "standard" else tier


def _status(reason: FinishReason) -> tuple[str, dict[str, Any] | None]:
    if reason is FinishReason.LENGTH:
        return "incomplete", {"reason": "max_output_tokens"}
    if reason is FinishReason.CONTENT_FILTER:
        return "incomplete", {"reason": "content_filter"}
    return "completed", None


def _response(
    *,
    response_id: str,
    model: str,
    created: int,
    status: str,
    output: list[dict[str, Any]],
    usage: dict[str, Any] | None = None,
    incomplete: dict[str, Any] | None = None,
    service_tier: str | None = None,
) -> dict[str, Any]:
    return {
        "id": response_id,
        "object": "response",
        "created_at": created,
        "status": status,
        "error": None,
        "incomplete_details": incomplete,
        "instructions": None,
        "max_output_tokens": None,
        "model": model,
        "output": output,
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "service_tier": service_tier,
        "store": False,
        "temperature": None,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": None,
        "truncation": "disabled",
        "usage": usage,
        "metadata": {},
    }


def _new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def _message_item(item_id: str, text: str, status: str = "completed") -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}],
    }


def _reasoning_item(item_id: str, text: str) -> dict[str, Any]:
    summary = [{"type": "summary_text", "text": text}] if text else []
    return {"id": item_id, "type": "reasoning", "summary": summary}


def _call_item(
    item_id: str, call_id: str, name: str, arguments: str, status: str = "completed"
) -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "function_call",
        "status": status,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
    }


def answer_body(answer: Answer, *, model: str, created: int) -> dict[str, Any]:
    output: list[dict[str, Any]] = []
    if answer.reasoning:
        output.append(_reasoning_item(_new_id("rs"), answer.reasoning))
    if answer.text or not answer.tool_calls:
        output.append(_message_item(_new_id("msg"), answer.text))
    for call in answer.tool_calls:
        call_id = call_ids.join(call.id, call.signature)
        output.append(_call_item(_new_id("fc"), call_id, call.name, call.arguments))
    status, incomplete = _status(answer.finish)
    return _response(
        response_id=_new_id("resp"),
        model=model,
        created=created,
        status=status,
        output=output,
        usage=_usage_dict(answer.usage),
        incomplete=incomplete,
        service_tier=_openai_tier(answer.service_tier),
    )


ItemKind = Literal["message", "reasoning", "function_call"]


class ResponsesEncoder:
    """Intermediate events → the Responses stream, one output item at a time."""

    def __init__(self, *, model: str, created: int) -> None:
        self._model = model
        self._created = created
        self._id = _new_id("resp")
        self._sequence = 0
        self._started = False
        self._done = False
        self._output: list[dict[str, Any]] = []  # finished items
        self._kind: ItemKind | None = None  # the item open now
        self._item_id = ""
        self._text: list[str] = []
        self._call: ToolCallStarted | None = None
        self._call_items: dict[int, int] = {}

    def _event(self, kind: str, **data: Any) -> bytes:
        payload = {"type": kind, "sequence_number": self._sequence, **data}
        self._sequence += 1
        return json_event(payload, kind)

    def frames(self, event: Event, cost: CostView | None) -> list[bytes]:
        if self._done or isinstance(event, Started):
            return []
        if isinstance(event, TextDelta):
            return self._text_delta("message", event.text)
        if isinstance(event, ReasoningDelta):
            return self._text_delta("reasoning", event.text) if event.text else []
        if isinstance(event, ToolCallStarted):
            return self._call_start(event)
        if isinstance(event, ToolArgumentsDelta):
            self._text.append(event.fragment)
            return [
                *self._opening(),
                self._event("response.function_call_arguments.delta", item_id=self._item_id,
                            output_index=len(self._output), delta=event.fragment),
            ]  # fmt: skip
        if isinstance(event, Finished):
            return self._finish(event, cost)
        self._done = True
        return [error_frame(event.message, code=event.code)]

    def end(self, cost: CostView | None) -> list[bytes]:
        if self._done:
            return []
        self._done = True
        return [error_frame("the upstream stream ended before the answer was complete")]

    def error_frame(self, code: str, message: str) -> bytes:
        return error_frame(message, code=code)

    def _snapshot(self, status: str, **extra: Any) -> dict[str, Any]:
        return _response(
            response_id=self._id, model=self._model, created=self._created, status=status,
            output=list(self._output), **extra,
        )  # fmt: skip

    def _opening(self) -> list[bytes]:
        if self._started:
            return []
        self._started = True
        snapshot = self._snapshot("in_progress")
        return [
            self._event("response.created", response=snapshot),
            self._event("response.in_progress", response=snapshot),
        ]

    def _text_delta(self, kind: ItemKind, text: str) -> list[bytes]:
        frames = self._opening()
        if self._kind != kind:
            frames += self._close()
            frames += self._open(kind)
        self._text.append(text)
        index = len(self._output)
        if kind == "message":
            frames.append(self._event("response.output_text.delta", item_id=self._item_id,
                                      output_index=index, content_index=0, delta=text,
                                      logprobs=[]))  # fmt: skip
        else:
            frames.append(self._event("response.reasoning_summary_text.delta",
                                      item_id=self._item_id, output_index=index,
                                      summary_index=0, delta=text))  # fmt: skip
        return frames

    def _open(self, kind: ItemKind) -> list[bytes]:
        self._kind, self._text = kind, []
        index = len(self._output)
        if kind == "message":
            self._item_id = _new_id("msg")
            item = _message_item(self._item_id, "", "in_progress")
            item["content"] = []
            part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            return [
                self._event("response.output_item.added", output_index=index, item=item),
                self._event("response.content_part.added", item_id=self._item_id,
                            output_index=index, content_index=0, part=part),
            ]  # fmt: skip
        self._item_id = _new_id("rs")
        part = {"type": "summary_text", "text": ""}
        return [
            self._event("response.output_item.added", output_index=index,
                        item=_reasoning_item(self._item_id, "")),
            self._event("response.reasoning_summary_part.added", item_id=self._item_id,
                        output_index=index, summary_index=0, part=part),
        ]  # fmt: skip

    def _call_start(self, event: ToolCallStarted) -> list[bytes]:
        frames = [*self._opening(), *self._close()]
        self._kind, self._text, self._call = "function_call", [], event
        self._item_id = _new_id("fc")
        call_id = call_ids.join(event.id, event.signature)
        item = _call_item(self._item_id, call_id, event.name, "", "in_progress")
        frames.append(
            self._event("response.output_item.added", output_index=len(self._output), item=item)
        )
        return frames

    def _close(self) -> list[bytes]:
        """Finish the open item: its ``.done`` events, then ``output_item.done``."""
        if self._kind is None:
            return []
        text, index, item_id = "".join(self._text), len(self._output), self._item_id
        frames: list[bytes] = []
        if self._kind == "message":
            item = _message_item(item_id, text)
            part = item["content"][0]
            frames += [
                self._event("response.output_text.done", item_id=item_id, output_index=index,
                            content_index=0, text=text, logprobs=[]),
                self._event("response.content_part.done", item_id=item_id, output_index=index,
                            content_index=0, part=part),
            ]  # fmt: skip
        elif self._kind == "reasoning":
            item = _reasoning_item(item_id, text)
            frames += [
                self._event("response.reasoning_summary_text.done", item_id=item_id,
                            output_index=index, summary_index=0, text=text),
                self._event("response.reasoning_summary_part.done", item_id=item_id,
                            output_index=index, summary_index=0,
                            part={"type": "summary_text", "text": text}),
            ]  # fmt: skip
        else:
            assert self._call is not None
            call = self._call
            item = _call_item(item_id, call_ids.join(call.id, call.signature), call.name, text)
            frames.append(
                self._event("response.function_call_arguments.done", item_id=item_id,
                            output_index=index, arguments=text)
            )  # fmt: skip
        frames.append(self._event("response.output_item.done", output_index=index, item=item))
        self._output.append(item)
        self._kind = None
        return frames

    def _finish(self, event: Finished, cost: CostView | None) -> list[bytes]:
        self._done = True
        frames = self._opening()
        if self._kind is None and not self._output:
            frames += self._open("message")  # an empty answer is still one message
        frames += self._close()
        status, incomplete = _status(event.reason)
        snapshot = self._snapshot(
            status,
            usage=_usage_dict(event.usage, cost),
            incomplete=incomplete,
            service_tier=_openai_tier(event.service_tier),
        )
        kind = "response.completed" if status == "completed" else "response.incomplete"
        frames.append(self._event(kind, response=snapshot))
        return frames


def error_frame(message: str, *, code: str | None = None) -> bytes:
    data = {"type": "error", "code": code, "message": message, "param": None}
    return json_event(data, "error")


_FIELDS: Final[Mapping[Feature, str]] = {
    Feature.JSON_WITHOUT_SCHEMA: "text.format",
    Feature.TOP_K: "top_k",
    Feature.DOCUMENT: "input",
    Feature.IMAGE: "input",
    Feature.TOOL_CHOICE: "tool_choice",
}


class ResponsesCaller:
    """OpenAI Responses as a caller's surface (a ``CallerFormat``)."""

    name = "OpenAI Responses"

    def field_of(self, feature: Feature) -> str:
        return _FIELDS[feature]

    def read_request(self, body: dict[str, Any], *, target: str) -> Request:
        return read_request(body, target=target)

    def encoder(self, *, model: str, body: dict[str, Any], created: int) -> ResponsesEncoder:
        return ResponsesEncoder(model=model, created=created)

    def answer_body(self, answer: Answer, *, model: str, created: int) -> dict[str, Any]:
        return answer_body(answer, model=model, created=created)
