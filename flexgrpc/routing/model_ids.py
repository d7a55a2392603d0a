"""Model ids: whose model an id is (SPEC §2).

The provider comes from the id's prefix: ``gpt-*``, ``chatgpt-*``, ``o1``, ``o3``, ``o4-mini``
(each with its ``-*`` variants) → OpenAI; ``gemini-*`` → Gemini; ``claude-*`` → Anthropic. Ids are
lowercase ASCII and case-sensitive, as the providers' are; anything else is ``unsupported_model``.
Which models have a flex tier is price data: the price catalog (``flexgrpc.pricing.catalog``).
"""

from __future__ import annotations

import re
from typing import Final

from flexgrpc.domain import Provider
from flexgrpc.errors import FlexError
from flexgrpc.routing.start_within import preview_value

MODEL_FIELD: Final = "model"

#: (prefix rule, provider), in the order error messages list them. A rule ending in ``-`` is a
#: plain prefix; the o-series rules match the name itself or the name followed by ``-`` (so
#: ``o3`` and ``o3-2025-04-16`` are OpenAI, ``o3x`` is not).
_PROVIDER_RULES: Final[tuple[tuple[str, Provider], ...]] = (
    ("gpt-", Provider.OPENAI),
    ("chatgpt-", Provider.OPENAI),
    ("o1", Provider.OPENAI),
    ("o3", Provider.OPENAI),
    ("o4-mini", Provider.OPENAI),
    ("gemini-", Provider.GEMINI),
    ("claude-", Provider.ANTHROPIC),
)

#: The accepted ids, as ``unsupported_model`` messages list them.
ACCEPTED_MODEL_IDS: Final = (
    "gpt-*, chatgpt-*, o1, o1-*, o3, o3-*, o4-mini, o4-mini-* (OpenAI); gemini-* (Gemini); "
    "claude-* (Anthropic)"
)

#: Every provider's ids are short, lowercase ASCII; anything else cannot name a model, and keeping
#: it out means an id is always safe to log, to store and to put in an upstream URL path.
_MODEL_ID_SHAPE: Final = re.compile(r"[a-z0-9][a-z0-9._-]{0,127}")


def provider_for_model(model: str) -> Provider:
    """The provider whose model ``model`` is; ``FlexError("unsupported_model")`` otherwise."""
    if _MODEL_ID_SHAPE.fullmatch(model):
        for rule, provider in _PROVIDER_RULES:
            if rule.endswith("-"):
                if model.startswith(rule) and len(model) > len(rule):
                    return provider
            elif model == rule or model.startswith(rule + "-"):
                return provider
    hint = ""
    if model != model.lower() and _matches_any(model.lower()):
        hint = f" Model ids are lowercase: did you mean {preview_value(model.lower())}?"
    raise FlexError(
        "unsupported_model",
        f"model {preview_value(model)} is not one this router serves: the model id picks the "
        f"provider, and accepted ids are {ACCEPTED_MODEL_IDS}, written in lowercase "
        'letters, digits, ".", "-" and "_" (at most 128 characters), e.g. "gpt-5-mini", '
        f'"gemini-3.5-flash" or "claude-sonnet-4-5".{hint}',
        field=MODEL_FIELD,
    )


def _matches_any(model: str) -> bool:
    try:
        provider_for_model(model)
    except FlexError:
        return False
    return True
