"""The HTTP listener: uvicorn (httptools), embedded in the server's own event loop.

No lifespan, no signal handlers (the server owns SIGTERM/SIGINT and drains both listeners),
no access log (every routed request is already recorded), and its own logger.
"""

from __future__ import annotations

import logging
from typing import Any

from flexgrpc.embedded_http import HttpListener as _EmbeddedListener

_HTTP_LOG = logging.getLogger("flexgrpc.rest.http")


class _LifecycleFilter(logging.Filter):
    """Drops uvicorn's own start/stop chatter; the server logs its lifecycle itself."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING


logging.getLogger("uvicorn.error").addFilter(_LifecycleFilter())


class HttpListener(_EmbeddedListener):
    """The shim's listener: uvicorn in the server's event loop, logging to flexgrpc.rest.http."""

    def __init__(self, app: Any, *, header_timeout_s: float) -> None:
        super().__init__(
            app, logger=_HTTP_LOG, name="flexgrpc-http", header_timeout_s=header_timeout_s
        )
