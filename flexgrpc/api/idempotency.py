"""AIP-155 for mutating methods outside billing: the first answer to a ``request_id`` is kept
in the billing service's ``RequestLog`` (a generic table: scope, method, request id) and a retry
gets it back without acting again."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from google.protobuf import message

from flexgrpc.billing.requests import RequestLog, check_request_id

M = TypeVar("M", bound=message.Message)


async def idempotent(
    log: RequestLog,
    scope: str,
    method: str,
    request_id: str,
    parse: Callable[[bytes], M],
    produce: Callable[[], Awaitable[tuple[M, M]]],
) -> M:
    """The answer of ``produce`` (or the stored one, for a repeated ``request_id``).

    ``produce`` returns (the answer now, the answer a retry gets): they differ where the first
    carries a secret that must never be stored.
    """
    if not request_id:
        return (await produce())[0]
    check_request_id(request_id)
    stored = await asyncio.to_thread(log.get, scope, method, request_id)
    if stored is not None:
        return parse(stored)
    answer, kept = await produce()
    standing = await asyncio.to_thread(log.put, scope, method, request_id, kept.SerializeToString())
    return answer if standing == kept.SerializeToString() else parse(standing)
