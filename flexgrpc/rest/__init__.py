"""The REST shim: the gRPC contract over HTTP/JSON, derived from the ``google.api.http``
annotations, served by the same process on ``--http-port``.

``RestShim`` owns the pieces: the route table (``routes``), the ASGI app (``app``) that calls
the servicers (in process, or over a loopback channel to the server's own gRPC port; the same
interceptors either way), and the embedded uvicorn listener.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from google.protobuf import descriptor
from grpc import aio

from flexgrpc.api.in_process import InProcessChannel
from flexgrpc.rest.app import RestApp
from flexgrpc.rest.listener import HttpListener
from flexgrpc.rest.mounts import PrefixMounts
from flexgrpc.rest.routes import RestRoute, RouteTable

__all__ = ["RestApp", "RestRoute", "RestShim", "RouteTable", "loopback_target"]

_CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    ("grpc.max_send_message_length", 4 * 1024 * 1024),
    ("grpc.enable_retries", 0),
    ("grpc.max_concurrent_streams", 10_000),
]


def loopback_target(host: str, port: int) -> str:
    """Where the shim reaches a gRPC server listening on ``host:port`` from the same machine."""
    if host in ("", "0.0.0.0", "[::]"):
        host = "127.0.0.1"
    elif host == "::":
        host = "[::1]"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{host}:{port}"


class RestShim:
    """The route table, app, channel to the servicers and HTTP listener, started and stopped
    together."""

    def __init__(
        self,
        services: Iterable[descriptor.ServiceDescriptor],
        *,
        max_body_bytes: int,
        body_timeout_s: float,
        forwarded_token: str,
        header_timeout_s: float = 10.0,
        wrap_app: Callable[[Any], Any] | None = None,
        public_methods: frozenset[str] = frozenset(),
    ) -> None:
        """``wrap_app`` wraps the whole ASGI app (OpenTelemetry's middleware, when tracing)."""
        self.table = RouteTable.from_services(services)
        self._wrap_app = wrap_app
        self._max_body = max_body_bytes
        self._body_timeout = body_timeout_s
        self._header_timeout = header_timeout_s
        self._token = forwarded_token
        #: Methods that take no API key (the webhook): the OpenAPI description says so.
        self._public = public_methods
        self._channel: aio.Channel | InProcessChannel | None = None
        self._listener: HttpListener | None = None

    async def start(
        self,
        host: str,
        port: int,
        servicers: str | InProcessChannel,
        mounts: Mapping[str, Callable[[aio.Channel | InProcessChannel], Any]] | None = None,
        *,
        reuse_port: bool = False,
    ) -> int:
        """Listen on ``host:port`` (0: a free port) and return the port; ``OSError`` if not.

        ``servicers`` is the server's own gRPC address (calls go over a loopback channel) or an
        ``InProcessChannel`` to them. ``mounts`` maps a path prefix to a factory of an ASGI
        app that is given the same channel (the dashboard); the shim serves every other path.
        ``reuse_port``: share the port with the server's other workers (``SO_REUSEPORT``).
        """
        channel = (
            aio.insecure_channel(servicers, options=_CHANNEL_OPTIONS)
            if isinstance(servicers, str)
            else servicers
        )
        app = RestApp(
            self.table,
            channel,
            max_body_bytes=self._max_body,
            body_timeout_s=self._body_timeout,
            forwarded_token=self._token,
            public_methods=self._public,
        )
        served: Any = app
        if mounts:
            served = PrefixMounts(app, {prefix: make(channel) for prefix, make in mounts.items()})
        if self._wrap_app is not None:
            served = self._wrap_app(served)
        listener = HttpListener(served, header_timeout_s=self._header_timeout)
        try:
            bound = await listener.start(host, port, reuse_port=reuse_port)
        except BaseException:
            await channel.close()
            raise
        self._channel, self._listener = channel, listener
        return bound

    async def stop(self, grace: float) -> None:
        """Stop accepting, let requests in flight finish within ``grace``, close the channel."""
        if self._listener is not None:
            await self._listener.stop(grace)
            self._listener = None
        if self._channel is not None:
            await self._channel.close()
            self._channel = None
