"""Everything random about one request, drawn up front from its own seeded RNG.

``draw`` turns (configuration, request number, request) into a ``Fate`` (refused? error? how
long until the start? dropped where?) and a ``Generation`` (the answer: tokens, usage, ids,
served tier). The draws happen in one fixed order whatever the request's format, stream flag
or outcome, so the same seed and the same sequence of requests give the same run, and a
streamed and a non-streamed request with the same number get the same answer.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flexgrpc.sim.config import SimConfig, TierConfig, parse_delay

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

    @property
    def text(self) -> str:
        return "".join(self.tokens)

    @property
    def output_tokens(self) -> int:
        return len(self.tokens)

    def hex_id(self, which: int, length: int = 32) -> str:
        """``length`` hex digits of entropy number ``which`` (0..3), stretched if needed."""
        digits = f"{self.entropy[which]:032x}"
        while len(digits) < length:
            digits += hashlib.blake2b(digits.encode(), digest_size=16).hexdigest()
        return digits[:length]

    def b62_id(self, which: int, length: int) -> str:
        alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
        value = int(self.hex_id(which, 128), 16)  # 512 bits: enough for 85 characters
        chars = []
        for _ in range(length):
            value, digit = divmod(value, 62)
            chars.append(alphabet[digit])
        return "".join(chars)


def _input_tokens(raw_body_size: int) -> int:
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

    input_tokens = _input_tokens(raw_body_size)
    share = max(1, int(input_tokens * (0.25 + 0.5 * cache_fraction)))
    cached = share if cache_draw < config.cached_share else 0
    cache_write = share if config.cached_share <= cache_draw < 2 * config.cached_share else 0
    reasons = (
        provider in ("openai", "gemini")
        and is_reasoning_model(model)
        and reasoning_draw < config.reasoning_share
    )

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
    )
    return fate, generation
