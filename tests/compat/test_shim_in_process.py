"""The shim's ASGI app in-process, against a stand-in gRPC servicer: what reaches the RPC."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import httpx
import pytest
from flexinference.v1 import billing_pb2
from grpc import aio

from flexgrpc.rest import RestApp, RouteTable

BILLING = billing_pb2.DESCRIPTOR.services_by_name["BillingService"]


class Webhook:
    """Answers HandleStripeWebhook and remembers what it was called with."""

    def __init__(self) -> None:
        self.requests: list[billing_pb2.HandleStripeWebhookRequest] = []
        self.metadata: list[dict[str, str]] = []

    async def handle(
        self, request: billing_pb2.HandleStripeWebhookRequest, context: Any
    ) -> billing_pb2.HandleStripeWebhookResponse:
        self.requests.append(request)
        self.metadata.append({k: v for k, v in context.invocation_metadata()})
        return billing_pb2.HandleStripeWebhookResponse(event_id="evt_1", duplicate=True)


@pytest.fixture
async def webhook() -> AsyncIterator[tuple[Webhook, httpx.AsyncClient]]:
    handler = Webhook()
    server = aio.server()
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(
                BILLING.full_name,
                {
                    "HandleStripeWebhook": grpc.unary_unary_rpc_method_handler(
                        handler.handle,
                        request_deserializer=billing_pb2.HandleStripeWebhookRequest.FromString,
                        response_serializer=billing_pb2.HandleStripeWebhookResponse.SerializeToString,
                    )
                },
            )
        ]
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        app = RestApp(
            RouteTable.from_services([BILLING]),
            channel,
            max_body_bytes=1_000_000,
            body_timeout_s=5,
            forwarded_token="token-1",
        )
        transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 4711))
        async with httpx.AsyncClient(transport=transport, base_url="http://shim") as client:
            yield handler, client
    await server.stop(0)


async def test_a_webhook_gets_the_raw_bytes_and_the_stripe_signature(
    webhook: tuple[Webhook, httpx.AsyncClient],
) -> None:
    handler, client = webhook
    raw = b'{ "id":"evt_1",  "type": "invoice.paid" }\n'  # spacing the signature covers
    reply = await client.post(
        "/v1/webhooks/stripe",
        content=raw,
        headers={
            "content-type": "application/json; charset=utf-8",
            "stripe-signature": "t=1,v1=abc",
            "x-unrelated": "not forwarded",
        },
    )
    assert reply.status_code == 200
    assert reply.json() == {"eventId": "evt_1", "duplicate": True}
    (request,) = handler.requests
    assert request.body.data == raw
    assert request.body.content_type == "application/json; charset=utf-8"
    (metadata,) = handler.metadata
    assert metadata["stripe-signature"] == "t=1,v1=abc"
    assert "x-unrelated" not in metadata
    assert "authorization" not in metadata
    assert metadata["x-flexgrpc-forwarded-peer"] == "ipv4:203.0.113.9:4711"
    assert metadata["x-flexgrpc-forwarded-token"] == "token-1"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"authorization": "Bearer flex_live_a"}, "Bearer flex_live_a"),
        ({"x-api-key": "flex_live_b"}, "Bearer flex_live_b"),
        ({"x-goog-api-key": "flex_live_c"}, "Bearer flex_live_c"),
        ({"authorization": "Bearer flex_live_a", "x-api-key": "flex_live_b"}, "Bearer flex_live_a"),
    ],
)
async def test_each_sdk_s_key_header_becomes_bearer_metadata(
    webhook: tuple[Webhook, httpx.AsyncClient], headers: dict[str, str], expected: str
) -> None:
    handler, client = webhook
    await client.post("/v1/webhooks/stripe", content=b"{}", headers=headers)
    assert handler.metadata[0]["authorization"] == expected
