"""The least a grpc.aio server can do to relay a Responses call: the floor under route_overhead.

    .venv/bin/python bench/grpc_relay_floor.py SIMULATOR_URL

Serves ``RouteService.CreateResponse`` on an ephemeral port by sending the request body to
the simulator in one non-streamed aiohttp POST and returning its body as one message: no
authentication, no parsing of the answer, no race, no pricing, no record. Whatever this adds
over calling the simulator directly is the cost of the stack itself (grpc.aio, its Python
client, aiohttp, the event loop), which flexgrpc cannot go below without leaving grpc.aio.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator

import aiohttp
import grpc
import orjson

sys.path.insert(0, __file__.rsplit("/bench/", 1)[0])

from flexinference.v1 import route_pb2, route_pb2_grpc
from google.api import httpbody_pb2


class Relay(route_pb2_grpc.RouteServiceServicer):
    def __init__(self, simulator: str, http: aiohttp.ClientSession) -> None:
        self._url = f"{simulator}/v1/responses"
        self._http = http

    async def CreateResponse(
        self, request: route_pb2.CreateResponseRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[httpbody_pb2.HttpBody]:
        body = orjson.loads(request.body.data)
        body.pop("start_within", None)
        body["service_tier"] = "default"
        async with self._http.post(
            self._url, data=orjson.dumps(body), headers={"authorization": "Bearer sk-bench"}
        ) as reply:
            data = await reply.read()
        yield httpbody_pb2.HttpBody(content_type="application/json", data=data)


async def main(simulator: str) -> None:
    async with aiohttp.ClientSession() as http:
        server = grpc.aio.server()
        route_pb2_grpc.add_RouteServiceServicer_to_server(Relay(simulator, http), server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        print(f"grpc listening on 127.0.0.1:{port}", flush=True)
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        await stop.wait()
        await server.stop(1)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
