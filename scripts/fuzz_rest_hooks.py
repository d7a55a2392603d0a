"""schemathesis hooks for ``fuzz_rest.py`` (``SCHEMATHESIS_HOOKS``): steer part of the surface
bodies to a served model and a valid ``start_within``, so that the fuzzer reaches the race,
the upstream calls and the translations, not only the router's first checks. The other part
is left as drawn."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import strategies as st

_SURFACES = frozenset({"/v1/responses", "/v1/chat/completions", "/v1/messages", "/v1/interactions"})
_MODELS = ("gpt-5-mini", "o4-mini", "gemini-3-flash-preview", "claude-sonnet-4-5")
_START_WITHIN = ("default", "priority", "auto", "00h-00m-05s", "00h-00m-30s", "00h-10m-00s")


def _surface(ctx: Any) -> bool:
    return getattr(ctx.operation, "path", "") in _SURFACES


@schemathesis.hook
def flatmap_body(ctx: Any, body: Any) -> st.SearchStrategy[Any]:
    if not _surface(ctx) or not isinstance(body, dict):
        return st.just(body)
    steered = st.tuples(st.sampled_from(_MODELS), st.sampled_from(_START_WITHIN)).map(
        lambda pick: {**body, "model": pick[0], "start_within": pick[1]}
    )
    return st.one_of(st.just(body), steered)


@schemathesis.hook
def flatmap_query(ctx: Any, query: Any) -> st.SearchStrategy[Any]:
    # The typed routing controls in the query string override the body's: often drop them.
    if not _surface(ctx) or not query:
        return st.just(query)
    return st.sampled_from([query, None])
