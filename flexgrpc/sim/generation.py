"""Everything random about one request, drawn up front from its own seeded RNG.

``draw`` turns (configuration, request number, request) into a ``Fate`` (refused? error? how
long until the start? dropped where?) and a ``Generation`` (the answer: tokens, tool calls,
usage, ids, served tier). The draws happen in one fixed order whatever the request's format,
stream flag or outcome, so the same seed and the same sequence of requests give the same run,
and a streamed and a non-streamed request with the same number get the same answer.

What the request asks of the answer (``asks.Ask``: tools, tool choice, a JSON Schema) is drawn
last, after every draw a plain request makes, so a request that asks nothing gets exactly the
answer it got before tools existed. A JSON answer and tool-call arguments are sent in
fragments of ``FRAGMENT_CHARS`` characters, each one output token.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flexgrpc.sim.asks import ANY_JSON_OBJECT, PLAIN, Ask, ToolChoice
from flexgrpc.sim.config import SimConfig, TierConfig, parse_delay
from flexgrpc.sim.schema_instances import instance

#: Models that reason (and so may report reasoning tokens): OpenAI o-series and gpt-5*,
#: Gemini 2.5 and later.
_REASONING_MODEL = re.compile(r"^(o\d|gpt-5|gemini-(2\.5|[3-9]))")

_SAMPLE_TEXT = (
    "the flex tier trades a little waiting for half the price and most background work "
    "never notices because answers still arrive within minutes while the router keeps "
    "watching the clock and falls back to standard capacity when the window closes so "
    "callers get their tokens on time at a lower cost every single day"
)
_VOCABULARY = tuple(_SAMPLE_TEXT.split())

#: Share of ``auto`` tool choices answered with a call rather than text.
AUTO_CALL_SHARE = 0.5
#: Share of calls that come with a second, parallel call (where parallel calls are allowed).
PARALLEL_SHARE = 0.3
_NO_PARAMETERS: Mapping[str, Any] = {"type": "object", "properties": {}}
#: Characters per streamed fragment of JSON (about one token of JSON).
FRAGMENT_CHARS = 4


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def fragments(text: str) -> tuple[str, ...]:
    """``text`` in the pieces a stream sends it in (one output token each)."""
    return tuple(text[i : i + FRAGMENT_CHARS] for i in range(0, len(text), FRAGMENT_CHARS))


def _stretched_hex(value: int, length: int) -> str:
    digits = f"{value:032x}"
    while len(digits) < length:
        digits += hashlib.blake2b(digits.encode(), digest_size=16).hexdigest()
    return digits[:length]


def _base62(value: int, length: int) -> str:
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    number = int(_stretched_hex(value, 128), 16)  # 512 bits: enough for 85 characters
    chars = []
    for _ in range(length):
        number, digit = divmod(number, 62)
        chars.append(alphabet[digit])
    return "".join(chars)


def request_rng(seed: int, number: int) -> random.Random:
    """The RNG of request ``number`` (1-based) under ``seed``: stable across runs and machines."""
    digest = hashlib.blake2b(f"{seed}/{number}".encode(), digest_size=8).digest()
    # Simulated behaviour, not security: a seeded, reproducible PRNG is the point.
    return random.Random(int.from_bytes(digest, "big"))  # noqa: S311


def is_reasoning_model(model: str) -> bool:
    return _REASONING_MODEL.match(model) is not None


@dataclass(frozen=True, slots=True)
class Fate:
    """What happens to the request, in seconds already multiplied by ``time_scale``."""

    refuse: bool
    refusal_delay: float
    error: bool
    start_delay: float
    #: Output tokens sent before the connection is dropped; ``None`` = not dropped.
    drop_after: int | None
    #: Seconds between output tokens (0 = all at once).
    token_interval: float


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One call of one offered tool, with arguments valid against its parameters schema."""

    name: str
    arguments: Any
    #: 128 random bits for the call's ids.
    entropy: int

    @property
    def arguments_json(self) -> str:
        return _json(self.arguments)

    @property
    def fragments(self) -> tuple[str, ...]:
        return fragments(self.arguments_json)

    def hex_id(self, length: int) -> str:
        return _stretched_hex(self.entropy, length)

    def b62_id(self, length: int) -> str:
        return _base62(self.entropy, length)


@dataclass(frozen=True, slots=True)
class Generation:
    """The answer, independent of wire format."""

    model: str
    #: ``service_tier`` as sent (``None`` when absent).
    requested_tier: Any
    #: Canonical served tier: ``flex``, ``standard`` or ``priority``.
    served_tier: str
    #: Arrival time, seconds since the epoch.
    created: float
    tokens: tuple[str, ...]
    #: The request's max-tokens cut the answer short.
    truncated: bool
    #: Prompt tokens, including cached ones (OpenAI/Gemini convention).
    input_tokens: int
    cached_tokens: int
    #: Prompt tokens written to the cache (reported by Anthropic only).
    cache_write_tokens: int
    reasoning_tokens: int
    #: Random material for ids: four 128-bit integers.
    entropy: tuple[int, int, int, int]
    body: Mapping[str, Any]
    #: The answer is these calls instead of text (``tokens`` is then empty).
    tool_calls: tuple[ToolCall, ...] = ()
    #: ``tokens`` spell a JSON value (structured output).
    json_text: bool = False

    @property
    def text(self) -> str:
        return "".join(self.tokens)

    @property
    def output_tokens(self) -> int:
        """Visible output: text tokens plus the fragments of every call's arguments."""
        return len(self.tokens) + sum(len(call.fragments) for call in self.tool_calls)

    def hex_id(self, which: int, length: int = 32) -> str:
        """``length`` hex digits of entropy number ``which`` (0..3), stretched if needed."""
        return _stretched_hex(self.entropy[which], length)

    def b62_id(self, which: int, length: int) -> str:
        return _base62(self.entropy[which], length)


def prompt_tokens(raw_body_size: int) -> int:
    # About four bytes of JSON per token; never tiny, so cached shares stay below the total.
    return max(8, raw_body_size // 4)


def draw(
    rng: random.Random,
    config: SimConfig,
    behavior: TierConfig,
    *,
    provider: str,
    model: str,
    body: Mapping[str, Any],
    raw_body_size: int,
    requested_tier: Any,
    canonical_tier: str,
    max_tokens: int | None,
    created: float,
    ask: Ask = PLAIN,
) -> tuple[Fate, Generation]:
    """Draw the fate and the answer of one request. Keep the order of draws stable."""
    scale = config.time_scale
    refuse = rng.random() < behavior.refusal_rate
    refusal_delay = parse_delay(behavior.refusal_delay).sample(rng) * scale
    error = rng.random() < behavior.error_rate
    start_delay = parse_delay(behavior.start_delay).sample(rng) * scale
    drop = rng.random() < behavior.drop_rate
    drop_point = rng.random()
    cache_draw, cache_fraction = rng.random(), rng.random()
    reasoning_draw, reasoning_amount = rng.random(), rng.randint(8, 128)
    entropy = (
        rng.getrandbits(128),
        rng.getrandbits(128),
        rng.getrandbits(128),
        rng.getrandbits(128),
    )

    wanted = behavior.output_tokens or config.default_output_tokens
    truncated = max_tokens is not None and 0 < max_tokens < wanted
    count = max_tokens if truncated and max_tokens is not None else wanted
    words = [rng.choice(_VOCABULARY) for _ in range(count)]
    tokens = tuple(word if i == 0 else f" {word}" for i, word in enumerate(words))
    if not truncated:
        tokens = (*tokens[:-1], tokens[-1] + ".")

    input_tokens = prompt_tokens(raw_body_size)
    share = max(1, int(input_tokens * (0.25 + 0.5 * cache_fraction)))
    cached = share if cache_draw < config.cached_share else 0
    cache_write = share if config.cached_share <= cache_draw < 2 * config.cached_share else 0
    reasons = (
        provider in ("openai", "gemini")
        and is_reasoning_model(model)
        and reasoning_draw < config.reasoning_share
    )

    tool_calls: tuple[ToolCall, ...] = ()
    json_text = False
    if ask.tools or ask.text_schema is not None:
        tool_calls = _tool_calls(rng, ask)
        if tool_calls:
            tokens, truncated = (), False
        elif ask.text_schema is not None:
            pieces = fragments(_json(instance(ask.text_schema or ANY_JSON_OBJECT, rng)))
            truncated = max_tokens is not None and 0 < max_tokens < len(pieces)
            tokens = pieces[:max_tokens] if truncated else pieces
            json_text = True
        count = max(1, len(tokens) + sum(len(call.fragments) for call in tool_calls))

    served = behavior.serve_tier_instead or (
        "standard" if canonical_tier == "auto" else canonical_tier
    )
    token_interval = scale / behavior.token_rate if behavior.token_rate > 0 else 0.0
    drop_after = max(1, min(count, 1 + int(drop_point * count))) if drop else None
    fate = Fate(refuse, refusal_delay, error, start_delay, drop_after, token_interval)
    generation = Generation(
        model=model,
        requested_tier=requested_tier,
        served_tier=served,
        created=created,
        tokens=tokens,
        truncated=truncated,
        input_tokens=input_tokens,
        cached_tokens=cached,
        cache_write_tokens=cache_write,
        reasoning_tokens=reasoning_amount if reasons else 0,
        entropy=entropy,
        body=body,
        tool_calls=tool_calls,
        json_text=json_text,
    )
    return fate, generation


def _tool_calls(rng: random.Random, ask: Ask) -> tuple[ToolCall, ...]:
    """The calls that answer ``ask`` (none: answer with text). Keep the order of draws."""
    tools = ask.callable_tools()
    if not tools:
        return ()
    if ask.choice is not ToolChoice.REQUIRED and rng.random() >= AUTO_CALL_SHARE:
        return ()
    count = 2 if ask.parallel and rng.random() < PARALLEL_SHARE else 1
    calls = []
    for _ in range(count):
        tool = rng.choice(tools)
        arguments = instance(tool.parameters or _NO_PARAMETERS, rng)
        # Arguments are an object whatever a sloppy schema says, as the providers send them.
        calls.append(
            ToolCall(
                tool.name,
                arguments if isinstance(arguments, dict) else {},
                rng.getrandbits(128),
            )
        )
    return tuple(calls)
