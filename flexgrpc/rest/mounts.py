"""Other ASGI apps on the REST port, each under its own path prefix (the dashboard at
``/dashboard``); every other path goes to the shim, untouched."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class PrefixMounts:
    def __init__(self, default: Any, mounts: Mapping[str, Any]) -> None:
        self._default = default
        self._mounts = tuple((prefix.rstrip("/"), app) for prefix, app in mounts.items())

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            for prefix, app in self._mounts:
                if path == prefix or path.startswith(prefix + "/"):
                    await app(scope, receive, send)
                    return
        await self._default(scope, receive, send)
