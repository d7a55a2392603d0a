"""Tools and schemas in each surface's own spelling, and how to read calls and text back from
each surface's non-streamed JSON."""

from __future__ import annotations

from typing import Any

WEATHER = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        "days": {"type": "integer", "minimum": 1, "maximum": 7},
    },
    "required": ["city", "unit"],
    "additionalProperties": False,
}
SEARCH = {
    "type": "object",
    "properties": {
        "query": {"type": "string", "minLength": 3},
        "filters": {
            "type": "array",
            "items": {"$ref": "#/$defs/filter"},
            "maxItems": 3,
        },
    },
    "required": ["query", "filters"],
    "$defs": {
        "filter": {
            "type": "object",
            "properties": {"field": {"type": "string"}, "value": {"type": ["string", "null"]}},
            "required": ["field", "value"],
        }
    },
}
TOOLS = {"get_weather": WEATHER, "search": SEARCH}

#: A nested answer schema: $defs/$ref, enums, arrays, optional fields, anyOf, formats.
REPORT = {
    "type": "object",
    "properties": {
        "title": {"type": "string", "maxLength": 40},
        "status": {"$ref": "#/$defs/status"},
        "owner": {"$ref": "#/$defs/person"},
        "reviewers": {"type": "array", "items": {"$ref": "#/$defs/person"}, "minItems": 1},
        "score": {"anyOf": [{"type": "number", "minimum": 0, "maximum": 10}, {"type": "null"}]},
        "due": {"type": "string", "format": "date"},
        "labels": {"type": "array", "items": {"type": "string", "enum": ["bug", "feature"]}},
        "notes": {"type": "string"},
    },
    "required": ["title", "status", "owner", "reviewers", "score", "due"],
    "additionalProperties": False,
    "$defs": {
        "status": {"type": "string", "enum": ["open", "closed", "blocked"]},
        "person": {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "email": {"type": "string", "format": "email"},
                "age": {"type": "integer", "minimum": 18, "maximum": 99},
            },
            "required": ["name", "email"],
            "additionalProperties": False,
        },
    },
}


def add_tools(name: str, body: dict[str, Any], tools: dict[str, Any] | None = None) -> None:
    tools = tools or TOOLS
    if name == "responses":
        body["tools"] = [
            {"type": "function", "name": tool, "parameters": schema, "strict": False}
            for tool, schema in tools.items()
        ]
    elif name == "chat_completions":
        body["tools"] = [
            {"type": "function", "function": {"name": tool, "parameters": schema}}
            for tool, schema in tools.items()
        ]
    elif name == "messages":
        body["tools"] = [
            {"name": tool, "description": f"the {tool} tool", "input_schema": schema}
            for tool, schema in tools.items()
        ]
    else:
        body["tools"] = [
            {"type": "function", "name": tool, "parameters": schema}
            for tool, schema in tools.items()
        ]


def set_choice(name: str, body: dict[str, Any], choice: str, tool: str | None = None) -> None:
    """``choice`` is auto, required, none or named (with ``tool``)."""
    if name in ("responses", "chat_completions"):
        if choice == "named":
            body["tool_choice"] = (
                {"type": "function", "name": tool}
                if name == "responses"
                else {"type": "function", "function": {"name": tool}}
            )
        else:
            body["tool_choice"] = choice
    elif name == "messages":
        kinds = {"auto": "auto", "required": "any", "none": "none", "named": "tool"}
        body["tool_choice"] = {"type": kinds[choice], **({"name": tool} if tool else {})}
    else:
        kinds = {"auto": "auto", "required": "any", "none": "none"}
        config = body.setdefault("generation_config", {})
        if choice == "named":
            config["tool_choice"] = {"allowed_tools": {"mode": "any", "tools": [tool]}}
        else:
            config["tool_choice"] = kinds[choice]


def forbid_parallel(name: str, body: dict[str, Any]) -> None:
    if name in ("responses", "chat_completions"):
        body["parallel_tool_calls"] = False
    elif name == "messages":
        body["tool_choice"]["disable_parallel_tool_use"] = True
    else:
        raise ValueError(f"{name} has no way to turn parallel calls off")


def add_tool_result(name: str, body: dict[str, Any]) -> None:
    """Make the last input turn the result of a get_weather call."""
    if name == "responses":
        body["input"] = [
            {"role": "user", "content": "Weather in Paris?"},
            {
                "type": "function_call",
                "call_id": "call_1",
                "name": "get_weather",
                "arguments": '{"city":"Paris","unit":"celsius"}',
            },
            {"type": "function_call_output", "call_id": "call_1", "output": '{"temp": 21}'},
        ]
    elif name == "chat_completions":
        body["messages"] += [
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": '{"temp": 21}'},
        ]
    elif name == "messages":
        body["messages"] += [
            {
                "role": "assistant",
                "content": [
                    {
                        "type": "tool_use",
                        "id": "toolu_1",
                        "name": "get_weather",
                        "input": {"city": "Paris"},
                    }
                ],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "21"}],
            },
        ]
    else:
        body["input"] = [
            {"type": "user_input", "content": [{"type": "text", "text": "Weather in Paris?"}]},
            {"type": "function_call", "id": "c1", "name": "get_weather", "arguments": {}},
            {"type": "function_result", "call_id": "c1", "name": "get_weather", "result": "21"},
        ]


def add_schema(name: str, body: dict[str, Any], schema: dict[str, Any]) -> None:
    if name == "responses":
        body["text"] = {
            "format": {"type": "json_schema", "name": "answer", "schema": schema, "strict": True}
        }
    elif name == "chat_completions":
        body["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "answer", "schema": schema, "strict": True},
        }
    elif name == "messages":
        body["output_config"] = {"format": {"type": "json_schema", "schema": schema}}
    else:
        body["response_format"] = {
            "type": "text",
            "mime_type": "application/json",
            "schema": schema,
        }


def calls(name: str, answer: dict[str, Any]) -> list[tuple[str, Any]]:
    """(tool name, arguments object) of every call in a non-streamed answer."""
    import json

    if name == "responses":
        return [
            (item["name"], json.loads(item["arguments"]))
            for item in answer["output"]
            if item["type"] == "function_call"
        ]
    if name == "chat_completions":
        message = answer["choices"][0]["message"]
        return [
            (call["function"]["name"], json.loads(call["function"]["arguments"]))
            for call in message.get("tool_calls") or []
        ]
    if name == "messages":
        return [
            (block["name"], block["input"])
            for block in answer["content"]
            if block["type"] == "tool_use"
        ]
    return [
        (step["name"], step["arguments"])
        for step in answer["steps"]
        if step["type"] == "function_call"
    ]


def text(name: str, answer: dict[str, Any]) -> str | None:
    """The answer's text, ``None`` when it has none."""
    if name == "responses":
        messages = [item for item in answer["output"] if item["type"] == "message"]
        return messages[0]["content"][0]["text"] if messages else None
    if name == "chat_completions":
        content: str | None = answer["choices"][0]["message"]["content"]
        return content
    if name == "messages":
        texts = [block["text"] for block in answer["content"] if block["type"] == "text"]
        return texts[0] if texts else None
    outputs = [step for step in answer["steps"] if step["type"] == "model_output"]
    return outputs[0]["content"][0]["text"] if outputs else None


def stop_reason(name: str, answer: dict[str, Any]) -> str:
    if name == "responses":
        return str(answer["status"])
    if name == "chat_completions":
        return str(answer["choices"][0]["finish_reason"])
    if name == "messages":
        return str(answer["stop_reason"])
    return str(answer["status"])


#: What the answer's stop/finish field says when it is a tool call.
CALL_STOP = {
    "responses": "completed",
    "chat_completions": "tool_calls",
    "messages": "tool_use",
    "interactions": "requires_action",
}
