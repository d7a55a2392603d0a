"""The least a Python gateway can do: the floor under flexgrpc's REST shim in the peer run.

    python python_floor.py --port 8091 --upstream http://127.0.0.1:18000/v1

An ASGI app on uvicorn (httptools, the stack flexgrpc's shim runs on) that sends each
``POST /v1/chat/completions`` body to the upstream with aiohttp (the client flexgrpc uses) and
relays the answer chunk by chunk: no authentication, parsing, routing, pricing or record.
What it adds over calling the upstream directly, and how many requests/s it serves, is what any
gateway on this Python stack costs before doing a gateway's work.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

import aiohttp
import uvicorn

_Scope = dict[str, Any]


class Relay:
    def __init__(self, upstream: str) -> None:
        self._url = upstream.rstrip("/") + "/chat/completions"
        self._http: aiohttp.ClientSession | None = None

    async def __call__(self, scope: _Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if self._http is None:
            self._http = aiohttp.ClientSession()
        headers = {"content-type": "application/json", "authorization": "Bearer sk-floor"}
        async with self._http.post(self._url, data=body, headers=headers) as reply:
            content_type = reply.headers.get("content-type", "application/json").encode()
            await send(
                {"type": "http.response.start", "status": reply.status,
                 "headers": [(b"content-type", content_type)]}
            )  # fmt: skip
            async for chunk in reply.content.iter_any():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._http is not None:
                    await self._http.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    args = parser.parse_args()
    config = uvicorn.Config(
        Relay(args.upstream), host="127.0.0.1", port=args.port, http="httptools",
        loop="asyncio", access_log=False, log_level="warning",
    )  # fmt: skip
    asyncio.run(uvicorn.Server(config).serve())


if __name__ == "__main__":
    main()
