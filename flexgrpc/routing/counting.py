"""Token counts, from the provider that would serve the request: no race, no record, no cost.

Gemini's ``:countTokens`` for a ``gemini-*`` model and Anthropic's ``count_tokens`` for a
``claude-*`` model go to the provider as they came, and its answer comes back as it is. A
``claude-*`` model asked through Gemini's ``:countTokens`` is counted by Anthropic's own
endpoint, the request translated through the intermediate form and the answer given as
``{"totalTokens"}``. OpenAI has no counting endpoint, and Gemini counts only in its own
generateContent shape, so the other pairs are ``unsupported_feature``, saying what to call
instead.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any, Final

from flexgrpc.accounts.store import Principal
from flexgrpc.domain import DIRECT_ROUTES, Provider
from flexgrpc.errors import FlexError
from flexgrpc.providers.anthropic import API_VERSION
from flexgrpc.providers.translate.generate_content import GenerateContentCaller
from flexgrpc.providers.translate.ir import Inexpressible
from flexgrpc.providers.translate.messages import MessagesUpstream
from flexgrpc.providers.upstream import UpstreamClient, UpstreamError
from flexgrpc.routing.model_ids import provider_for_model
from flexgrpc.routing.router import upstream_failure

#: The organization's key for a provider (``FlexError`` when it has none on file).
KeyLookup = Callable[[Principal, Provider], Awaitable[str]]

#: What Anthropic's count_tokens takes of a Messages body.
_COUNTED: Final = ("model", "messages", "system", "tools", "tool_choice", "thinking")
_JSON: Final = {"content-type": "application/json", "accept": "application/json"}


def _document(body: bytes, where: str) -> dict[str, Any]:
    try:
        document = json.loads(body or b"{}")
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise FlexError("invalid_json", f"The {where} body must be a JSON object.")
    return document


class TokenCounter:
    def __init__(self, upstream: UpstreamClient, keys: KeyLookup) -> None:
        self._upstream = upstream
        self._keys = keys

    async def _post(
        self, principal: Principal, provider: Provider, path: str, body: bytes
    ) -> bytes:
        key = await self._keys(principal, provider)
        headers = dict(_JSON)
        if provider is Provider.GEMINI:
            headers["x-goog-api-key"] = key
        else:
            headers.update({"x-api-key": key, "anthropic-version": API_VERSION})
        try:
            status, answer = await self._upstream.exchange(
                DIRECT_ROUTES[provider], path, headers, body
            )
        except UpstreamError as error:
            raise upstream_failure(error, provider) from error
        if status >= 400:
            failure = UpstreamError(
                f"the provider answered HTTP {status}", status=status, body=answer
            )
            raise upstream_failure(failure, provider)
        return answer

    async def gemini(self, principal: Principal, model: str, body: bytes) -> bytes:
        """``POST /v1beta/models/{model}:countTokens``."""
        model = model.removeprefix("models/")
        provider = provider_for_model(model)
        if provider is Provider.GEMINI:
            path = f"/models/{urllib.parse.quote(model, safe='-._~')}:countTokens"
            return await self._post(principal, provider, path, body)
        if provider is Provider.OPENAI:
            raise FlexError(
                "unsupported_feature",
                f"OpenAI has no token-counting endpoint, so {model} cannot be counted through "
                "countTokens: count locally (tiktoken), or read usageMetadata on the answer.",
                field="model",
            )
        document = _document(body, "countTokens")
        inner = document.get("generateContentRequest") or document.get("generate_content_request")
        request = dict(inner) if isinstance(inner, dict) else {"contents": document.get("contents")}
        request["model"] = model
        anthropic = MessagesUpstream()
        try:
            native = anthropic.write_request(
                GenerateContentCaller().read_request(request, target=anthropic.target)
            )
        except Inexpressible as missing:
            raise FlexError(
                "unsupported_feature",
                f"{missing.remedy} (counting {model} through countTokens).",
                field="contents",
            ) from None
        counted = json.dumps({k: native[k] for k in _COUNTED if k in native}).encode()
        answer = _document(await self._post(principal, provider, "/messages/count_tokens", counted),
                           "Anthropic count_tokens")  # fmt: skip
        tokens = answer.get("input_tokens")
        return json.dumps({"totalTokens": tokens if isinstance(tokens, int) else 0}).encode()

    async def messages(self, principal: Principal, body: bytes) -> bytes:
        """``POST /v1/messages/count_tokens``."""
        model = _document(body, "count_tokens").get("model")
        if not isinstance(model, str) or not model:
            raise FlexError(
                "missing_model",
                'the body has no model; set model to a Claude model id, e.g. "claude-sonnet-4-5".',
                field="model",
            )
        provider = provider_for_model(model)
        if provider is not Provider.ANTHROPIC:
            instead = (
                f"POST /v1beta/models/{model}:countTokens"
                if provider is Provider.GEMINI
                else "a local count (tiktoken), or the answer's usage"
            )
            raise FlexError(
                "unsupported_feature",
                f"/v1/messages/count_tokens counts Claude models with Anthropic's own endpoint; "
                f"{model} is not one: use {instead}.",
                field="model",
            )
        return await self._post(principal, provider, "/messages/count_tokens", body)
