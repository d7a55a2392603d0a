"""The Node SDKs, unchanged, against the REST shim: openai, @anthropic-ai/sdk and the Vercel AI
SDK (``ai`` + ``@ai-sdk/openai``), each with ``start_within`` in a default header.

The Vercel AI SDK's OpenAI provider drops unknown body fields, so the header is the only way
its users reach the flex race; this is the case the header exists for. The packages are pinned
by ``tests/node/package-lock.json`` and installed with ``npm ci`` (``.ci/run`` does it); without
node, npm or the installed packages these tests are skipped and say why.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
from typing import Any

import pytest

from flexgrpc.sim import SimulatorThread
from tests.compat.conftest import CLAUDE_MODEL, OPENAI_MODEL, WINDOW, Org, RestServer

NODE_DIR = pathlib.Path(__file__).resolve().parents[1] / "node"
_PACKAGES = ("openai", "@anthropic-ai/sdk", "ai", "@ai-sdk/openai")


def _why_not_runnable() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed: the Node SDK tests need Node.js 18+"
    missing = [p for p in _PACKAGES if not (NODE_DIR / "node_modules" / p).is_dir()]
    if missing:
        how = "npm is not installed" if shutil.which("npm") is None else "run `npm ci`"
        return f"tests/node has no {', '.join(missing)} ({how} in tests/node)"
    return None


pytestmark = pytest.mark.skipif(_why_not_runnable() is not None, reason=_why_not_runnable() or "")


def node_sdk(sdk: str, rest: RestServer, org: Org, model: str, start_within: str) -> Any:
    env = {
        **os.environ,
        "FLEX_BASE_URL": rest.url,
        "FLEX_API_KEY": org.api_key,
        "FLEX_MODEL": model,
        "FLEX_START_WITHIN": start_within,
    }
    done = subprocess.run(
        ["node", "sdks.mjs", sdk],
        cwd=NODE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_openai_node_sdk_wins_flex_with_the_header(
    rest: RestServer, org: Org, sim: SimulatorThread
) -> None:
    seen = node_sdk("openai", rest, org, OPENAI_MODEL, WINDOW)
    assert seen["service_tier"] == "flex"
    assert (seen["tier"], seen["source"], seen["retries"]) == ("flex", "header", "0")
    assert seen["text"]
    (upstream,) = sim.records
    assert upstream.service_tier == "flex"


def test_the_anthropic_node_sdk_races_a_gpt_model_with_the_header(
    rest: RestServer, org: Org, sim: SimulatorThread
) -> None:
    seen = node_sdk("anthropic", rest, org, OPENAI_MODEL, WINDOW)
    assert (seen["tier"], seen["source"]) == ("flex", "header")
    assert seen["text"]
    assert [r.service_tier for r in sim.records] == ["flex"]


def test_the_anthropic_node_sdk_asks_claude_for_a_fixed_tier(rest: RestServer, org: Org) -> None:
    seen = node_sdk("anthropic", rest, org, CLAUDE_MODEL, "default")
    assert (seen["tier"], seen["source"]) == ("standard", "header")
    assert seen["text"]


def test_the_vercel_ai_sdk_generate_text_wins_flex_with_the_header(
    rest: RestServer, org: Org, sim: SimulatorThread
) -> None:
    seen = node_sdk("ai-sdk", rest, org, OPENAI_MODEL, WINDOW)
    assert (seen["tier"], seen["source"], seen["retries"]) == ("flex", "header", "0")
    assert seen["text"]
    (upstream,) = sim.records
    assert upstream.service_tier == "flex"
    assert "start_within" not in upstream.body
