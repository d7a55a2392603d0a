"""``flexgrpc demo``: the server and the bundled provider simulator in one command.

Starts the simulator, points every provider's base URL at it, starts the server, creates (or
reuses) a demo organization with simulator provider keys and a fresh API key, and prints how to
call it. Nothing leaves the machine; no provider keys are needed.
"""

from __future__ import annotations

import asyncio
import base64
import json
import pathlib
import signal
from collections.abc import Mapping
from dataclasses import dataclass

from flexgrpc.accounts.crypto import generate_encryption_key
from flexgrpc.accounts.store import AccountStore
from flexgrpc.config import Settings
from flexgrpc.dashboard.links import dashboard_url, sign_in_link
from flexgrpc.server import FlexServer
from flexgrpc.sim import SimConfig, Simulator

DEMO_ORGANIZATION = "Demo organization"
DEMO_DATABASE_URL = "sqlite:///flexgrpc-demo.db"
#: Simulator "keys": the simulator only checks that a key is sent.
DEMO_PROVIDER_KEYS = {
    "openai": "sk-demo-simulator-openai-key-0000",
    "gemini": "AIzaDemoSimulatorGeminiKey00000000000",
    "anthropic": "sk-ant-demo-simulator-anthropic-key",
}


@dataclass(frozen=True)
class DemoAccount:
    organization_id: str
    api_key: str


def ensure_demo_account(store: AccountStore) -> DemoAccount:
    """The demo organization (created once), its provider keys, and a new API key."""
    org = next((o for o in store.list_organizations() if o.display_name == DEMO_ORGANIZATION), None)
    if org is None:
        org = store.create_organization(DEMO_ORGANIZATION)
    for provider, secret in DEMO_PROVIDER_KEYS.items():
        store.set_provider_key(org.id, provider, secret)
    _, api_key = store.create_api_key(org.id)
    return DemoAccount(org.id, api_key)


def _write_key_file(path: pathlib.Path, api_key: str) -> None:
    path.write_text(api_key + "\n")
    path.chmod(0o600)


def _b64(payload: Mapping[str, object]) -> str:
    return base64.b64encode(json.dumps(payload).encode()).decode()


def rest_text(http_url: str) -> str:
    """How to call the REST shim: curl, and an official SDK pointed at it."""
    chat = json.dumps(
        {
            "model": "gpt-5-mini",
            "messages": [{"role": "user", "content": "Say hi"}],
            "start_within": "00h-00m-30s",
        }
    )
    stream = json.dumps(
        {"model": "claude-sonnet-4-5", "max_tokens": 64, "stream": True,
         "messages": [{"role": "user", "content": "Say hi"}], "start_within": "default"}
    )  # fmt: skip
    sdk = (
        'import openai; print(openai.OpenAI().responses.create(model="gpt-5-mini", '
        'input="Say hi", extra_body={"start_within": "00h-00m-30s"}).output_text)'
    )
    return f"""
The same over REST on {http_url} (what the official SDKs call):

  curl -sS -i {http_url}/v1/chat/completions \\
    -H "authorization: Bearer $FLEX_KEY" -H "content-type: application/json" \\
    -d '{chat}'

A streamed Anthropic Messages answer, event by event:

  curl -sS -N {http_url}/v1/messages \\
    -H "x-api-key: $FLEX_KEY" -H "content-type: application/json" \\
    -d '{stream}'

The official openai SDK, unchanged (base_url and key from the environment):

  OPENAI_BASE_URL={http_url}/v1 OPENAI_API_KEY=$FLEX_KEY .venv/bin/python -c '{sdk}'
"""


def dashboard_text(url: str, link: str) -> str:
    return f"""
The dashboard (usage and savings, API keys, provider keys, billing) is at {url}
Sign in to the demo organization with this one-time link (it works once, for 30 minutes;
`flexgrpc dashboard sign-in-link ORG` prints another):

  {link}
"""


def usage_text(
    grpc_target: str,
    sim_url: str,
    account: DemoAccount,
    http_url: str | None = None,
    dashboard: str = "",
) -> str:
    flex = {"model": "gpt-5-mini", "input": "Say hi", "start_within": "00h-00m-30s"}
    chat = {
        "model": "claude-sonnet-4-5",
        "messages": [{"role": "user", "content": "Say hi"}],
        "start_within": "default",
    }
    grpcurl = '.venv/bin/grpcurl -plaintext -H "authorization: Bearer $FLEX_KEY"'
    return f"""
flexgrpc demo is running: gRPC on {grpc_target}, provider simulator on {sim_url}

  export FLEX_KEY={account.api_key}

A flex race on the OpenAI Responses surface (the answer comes back base64 in `data`):

  {grpcurl} \\
    -d '{{"body": {{"contentType": "application/json", "data": "{_b64(flex)}"}}}}' \\
    {grpc_target} flexinference.v1.RouteService/CreateResponse

Chat Completions reaching a Claude model (translated both ways):

  {grpcurl} \\
    -d '{{"body": {{"contentType": "application/json", "data": "{_b64(chat)}"}}}}' \\
    {grpc_target} flexinference.v1.RouteService/CreateChatCompletion

{rest_text(http_url) if http_url else ""}{dashboard}
Explore: .venv/bin/grpcurl -plaintext {grpc_target} list
Typed client: FLEXGRPC_API_KEY=$FLEX_KEY .venv/bin/python clients/python/examples/whoami.py \
{grpc_target}
Make flex slow or scarce: PUT {sim_url}/_sim/config (see flexgrpc simulate --help).
Ctrl-C stops both.
"""


async def run_demo(settings: Settings, sim_config: SimConfig, sim_host: str, sim_port: int,
                   key_file: pathlib.Path | None) -> None:  # fmt: skip
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    simulator = Simulator(sim_config)
    port = await simulator.start(sim_host, sim_port)
    print(f"simulator listening on {sim_host}:{port}", flush=True)
    settings = settings.replace(
        openai_base_url=f"{simulator.url}/v1",
        anthropic_base_url=f"{simulator.url}/v1",
        gemini_base_url=f"{simulator.url}/v1beta",
        # Demo provider keys are throwaway; encrypt them under a throwaway key if none is set.
        encryption_key=settings.encryption_key or generate_encryption_key(),
    )
    server = FlexServer(settings)
    try:
        await server.start()
        account = await asyncio.to_thread(ensure_demo_account, server.accounts)
        if key_file is not None:
            await asyncio.to_thread(_write_key_file, key_file, account.api_key)
        http_url = f"http://{settings.http_host}:{server.http_port}"
        grpc_target = f"{settings.grpc_host}:{server.grpc_port}"
        url = dashboard_url(settings, server.http_port)
        link = await asyncio.to_thread(
            sign_in_link, server.dashboard.sessions, account.organization_id, url
        )
        dashboard = dashboard_text(url, link)
        print(usage_text(grpc_target, simulator.url, account, http_url, dashboard), flush=True)
        await stop.wait()
    finally:
        await server.stop()
        await simulator.stop()
