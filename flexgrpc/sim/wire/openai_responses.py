"""OpenAI Responses: ``POST /v1/responses`` (``Authorization: Bearer``).

Stream: every frame is ``event: <type>`` + ``data: {"type", ..., "sequence_number"}``::

    response.created, response.in_progress                      (acknowledgements, at once)
    [response.output_item.added, response.output_item.done]     (reasoning item, reasoning models)
    response.output_item.added (message)                        <- the start
    response.content_part.added
    response.output_text.delta ...
    response.output_text.done
    response.content_part.done
    response.output_item.done
    response.completed          (response.incomplete when max_output_tokens cut it short)

A tool-call answer has a ``function_call`` item (one per call, parallel calls side by side)
in place of the message::

    response.output_item.added (function_call, status in_progress, arguments "")  <- the start
    response.function_call_arguments.delta ...   {item_id, output_index, delta}
    response.function_call_arguments.done        {item_id, output_index, name, arguments}
    response.output_item.done (function_call, status completed)

Tools are ``tools[{type: function, name, parameters}]``; ``tool_choice`` is ``auto``,
``required``, ``none``, ``{type: function, name}`` or ``{type: allowed_tools, mode, tools}``;
``parallel_tool_calls: false`` allows one call. A ``function_call_output`` as the last input
item is answered with text. ``text.format: {type: json_schema, schema}`` (or ``json_object``)
makes the message text JSON valid against the schema. The response echoes ``tools``,
``tool_choice``, ``parallel_tool_calls`` and ``text`` as sent.

No ``[DONE]`` sentinel. ``response.created``/``in_progress`` carry ``service_tier`` as requested
(``auto`` when absent); the terminal event and the non-streamed response carry the tier actually
served (``default``, ``flex``, ``priority``). The non-streamed body is exactly the terminal
event's ``response``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from flexgrpc.sim.asks import ANY_JSON_OBJECT, Ask, Tool, ToolChoice, named, schema_object
from flexgrpc.sim.generation import Generation, ToolCall
from flexgrpc.sim.wire.base import Frame, RequestError, WireFormat, require_model, sse
from flexgrpc.sim.wire.errors import OpenAIErrors


def bearer_key_present(headers: Mapping[str, str]) -> bool:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and bool(token.strip())


OPENAI_TIERS: Mapping[str | None, str] = {
    None: "auto",
    "auto": "auto",
    "default": "standard",
    "flex": "flex",
    "scale": "standard",
    "priority": "priority",
}
OPENAI_SERVED: Mapping[str, str] = {"standard": "default", "flex": "flex", "priority": "priority"}


def openai_choice(
    choice: Any, name_of: Callable[[Mapping[str, Any]], str | None]
) -> tuple[ToolChoice, tuple[str, ...]]:
    """OpenAI's ``tool_choice`` (both APIs): the choice and the names it allows.

    ``name_of`` reads a tool's name from a ``{type: function, ...}`` entry, which the two APIs
    spell differently.
    """
    if choice == "none":
        return ToolChoice.NONE, ()
    if choice == "required":
        return ToolChoice.REQUIRED, ()
    if isinstance(choice, Mapping):
        if choice.get("type") == "function":
            name = name_of(choice)
            return (ToolChoice.REQUIRED, (name,)) if name else (ToolChoice.AUTO, ())
        if choice.get("type") == "allowed_tools":
            allowed = choice.get("allowed_tools", choice)
            allowed = allowed if isinstance(allowed, Mapping) else {}
            tools = allowed.get("tools")
            entries = (
                [t for t in tools if isinstance(t, Mapping)] if isinstance(tools, list) else []
            )
            names = tuple(name for name in map(name_of, entries) if name)
            mode = ToolChoice.REQUIRED if allowed.get("mode") == "required" else ToolChoice.AUTO
            return mode, names
    return ToolChoice.AUTO, ()


def openai_text_schema(fmt: Any) -> Mapping[str, Any] | None:
    """The JSON Schema a ``json_schema`` / ``json_object`` format asks for (``None``: text)."""
    if not isinstance(fmt, Mapping):
        return None
    if fmt.get("type") == "json_object":
        return ANY_JSON_OBJECT
    if fmt.get("type") == "json_schema":
        # Chat nests the schema under json_schema; Responses puts it on the format itself.
        inner = fmt.get("json_schema")
        holder = inner if isinstance(inner, Mapping) else fmt
        return schema_object(holder.get("schema"))
    return None


def openai_usage_counts(generation: Generation) -> tuple[int, int, int, int]:
    """(input, cached, output incl. reasoning, reasoning)."""
    output = generation.output_tokens + generation.reasoning_tokens
    return generation.input_tokens, generation.cached_tokens, output, generation.reasoning_tokens


class OpenAIResponses(WireFormat):
    surface = "responses"
    provider = "openai"
    path = "/v1/responses"
    errors = OpenAIErrors()
    tier_names = OPENAI_TIERS
    served_names = OPENAI_SERVED
    request_id_header = "x-request-id"

    def api_key_present(self, headers: Mapping[str, str], query: Mapping[str, str]) -> bool:
        return bearer_key_present(headers)

    def check_body(self, body: Mapping[str, Any]) -> None:
        require_model(body)
        if "input" not in body:
            raise RequestError("Missing required parameter: 'input'.", "input")

    def max_tokens(self, body: Mapping[str, Any]) -> int | None:
        value = body.get("max_output_tokens")
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def ask(self, body: Mapping[str, Any]) -> Ask:
        tools = body.get("tools")
        offered = tuple(
            Tool(name, schema_object(tool.get("parameters")))
            for tool in (tools if isinstance(tools, list) else [])
            if isinstance(tool, Mapping)
            and tool.get("type") == "function"
            and (name := named(tool.get("name")))
        )
        choice, allowed = openai_choice(body.get("tool_choice"), lambda t: named(t.get("name")))
        items = body.get("input")
        last = items[-1] if isinstance(items, list) and items else None
        text = body.get("text")
        return Ask(
            tools=offered,
            choice=choice,
            allowed=allowed,
            parallel=body.get("parallel_tool_calls") is not False,
            after_tool_result=isinstance(last, Mapping)
            and last.get("type") == "function_call_output",
            text_schema=openai_text_schema(text.get("format"))
            if isinstance(text, Mapping)
            else None,
        )

    # -- the answer -----------------------------------------------------------------------

    def _ids(self, generation: Generation) -> tuple[str, str, str]:
        return (
            f"resp_{generation.hex_id(0, 48)}",
            f"msg_{generation.hex_id(1, 48)}",
            f"rs_{generation.hex_id(2, 48)}",
        )

    def _response(
        self,
        generation: Generation,
        *,
        status: str,
        output: list[dict[str, Any]],
        usage: dict[str, Any] | None,
        service_tier: str,
    ) -> dict[str, Any]:
        body = generation.body
        response_id = self._ids(generation)[0]
        incomplete = {"reason": "max_output_tokens"} if status == "incomplete" else None
        return {
            "id": response_id,
            "object": "response",
            "created_at": int(generation.created),
            "status": status,
            "background": False,
            "error": None,
            "incomplete_details": incomplete,
            "instructions": body.get("instructions"),
            "max_output_tokens": body.get("max_output_tokens"),
            "model": generation.model,
            "output": output,
            "parallel_tool_calls": body.get("parallel_tool_calls", True),
            "previous_response_id": body.get("previous_response_id"),
            "reasoning": {"effort": None, "summary": None},
            "service_tier": service_tier,
            "store": body.get("store", True),
            "temperature": body.get("temperature", 1.0),
            "text": body.get("text", {"format": {"type": "text"}}),
            "tool_choice": body.get("tool_choice", "auto"),
            "tools": body.get("tools", []),
            "top_p": body.get("top_p", 1.0),
            "truncation": "disabled",
            "usage": usage,
            "user": None,
            "metadata": body.get("metadata", {}),
        }

    def _usage(self, generation: Generation) -> dict[str, Any]:
        input_tokens, cached, output, reasoning = openai_usage_counts(generation)
        return {
            "input_tokens": input_tokens,
            "input_tokens_details": {"cached_tokens": cached},
            "output_tokens": output,
            "output_tokens_details": {"reasoning_tokens": reasoning},
            "total_tokens": input_tokens + output,
        }

    def _status(self, generation: Generation) -> str:
        return "incomplete" if generation.truncated else "completed"

    def _reasoning_item(self, generation: Generation) -> dict[str, Any]:
        return {"id": self._ids(generation)[2], "type": "reasoning", "summary": []}

    def _text_part(self, text: str) -> dict[str, Any]:
        return {"type": "output_text", "annotations": [], "logprobs": [], "text": text}

    def _message_item(self, generation: Generation, *, done: bool) -> dict[str, Any]:
        return {
            "id": self._ids(generation)[1],
            "type": "message",
            "status": self._status(generation) if done else "in_progress",
            "content": [self._text_part(generation.text)] if done else [],
            "role": "assistant",
        }

    @staticmethod
    def _call_item(call: ToolCall, *, done: bool) -> dict[str, Any]:
        return {
            "id": f"fc_{call.hex_id(48)}",
            "type": "function_call",
            "status": "completed" if done else "in_progress",
            "arguments": call.arguments_json if done else "",
            "call_id": f"call_{call.b62_id(24)}",
            "name": call.name,
        }

    def _output(self, generation: Generation) -> list[dict[str, Any]]:
        output = [self._reasoning_item(generation)] if generation.reasoning_tokens else []
        if generation.tool_calls:
            return [*output, *(self._call_item(c, done=True) for c in generation.tool_calls)]
        return [*output, self._message_item(generation, done=True)]

    def final_body(self, generation: Generation) -> dict[str, Any]:
        return self._response(
            generation,
            status=self._status(generation),
            output=self._output(generation),
            usage=self._usage(generation),
            service_tier=self.served_name(generation),
        )

    def stream_frames(self, generation: Generation) -> Iterator[Frame]:
        sequence = itertools.count()

        def event(type_: str, **fields: Any) -> bytes:
            return sse({"type": type_, **fields, "sequence_number": next(sequence)}, type_)

        requested = generation.requested_tier or "auto"
        pending = self._response(
            generation, status="in_progress", output=[], usage=None, service_tier=requested
        )
        yield Frame(event("response.created", response=pending), output=False)
        yield Frame(event("response.in_progress", response=pending), output=False)

        index = 0
        if generation.reasoning_tokens:
            item = self._reasoning_item(generation)
            yield Frame(event("response.output_item.added", output_index=0, item=item))
            yield Frame(
                event("response.output_item.done", output_index=0, item=item),
                pace=generation.reasoning_tokens,
            )
            index = 1

        if generation.tool_calls:
            yield from self._call_frames(generation, event, index)
            return
        item_id = self._ids(generation)[1]
        where = {"item_id": item_id, "output_index": index, "content_index": 0}
        yield Frame(
            event(
                "response.output_item.added",
                output_index=index,
                item=self._message_item(generation, done=False),
            )
        )
        yield Frame(event("response.content_part.added", **where, part=self._text_part("")))
        for position, token in enumerate(generation.tokens):
            yield Frame(
                event("response.output_text.delta", **where, delta=token, logprobs=[]),
                pace=1 if position else 0,
                token=True,
            )
        text = generation.text
        yield Frame(event("response.output_text.done", **where, text=text, logprobs=[]))
        yield Frame(event("response.content_part.done", **where, part=self._text_part(text)))
        yield Frame(
            event(
                "response.output_item.done",
                output_index=index,
                item=self._message_item(generation, done=True),
            )
        )
        terminal = "response.incomplete" if generation.truncated else "response.completed"
        yield Frame(event(terminal, response=self.final_body(generation)))

    def _call_frames(
        self, generation: Generation, event: Callable[..., bytes], first_index: int
    ) -> Iterator[Frame]:
        for offset, call in enumerate(generation.tool_calls):
            index = first_index + offset
            item = self._call_item(call, done=False)
            where = {"item_id": item["id"], "output_index": index}
            yield Frame(event("response.output_item.added", output_index=index, item=item))
            for position, piece in enumerate(call.fragments):
                yield Frame(
                    event("response.function_call_arguments.delta", **where, delta=piece),
                    pace=1 if position or offset else 0,
                    token=True,
                )
            yield Frame(
                event(
                    "response.function_call_arguments.done",
                    **where,
                    name=call.name,
                    arguments=call.arguments_json,
                )
            )
            yield Frame(
                event(
                    "response.output_item.done",
                    output_index=index,
                    item=self._call_item(call, done=True),
                )
            )
        yield Frame(event("response.completed", response=self.final_body(generation)))
