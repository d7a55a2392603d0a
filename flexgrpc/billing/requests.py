"""AIP-155 request ids for mutating BillingService calls: the first answer is stored and a
retry with the same id gets it back, changing nothing more."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from flexgrpc.billing.records import Clock, utc_now
from flexgrpc.db.engine import write_session
from flexgrpc.db.inserts import insert_ignoring_conflicts
from flexgrpc.db.models import BillingRequest
from flexgrpc.errors import FlexError

MAX_REQUEST_ID = 64


def check_request_id(request_id: str) -> str:
    if len(request_id) > MAX_REQUEST_ID or not request_id.isprintable() or " " in request_id:
        raise FlexError(
            "invalid_argument",
            f"request_id must be at most {MAX_REQUEST_ID} printable characters without spaces; "
            "use a UUID such as 1f0c6c8e-5d1b-4a8e-9b1e-2f6a3c1d9e7a.",
            field="request_id",
        )
    return request_id


class RequestLog:
    def __init__(self, sessions: sessionmaker[Session], *, clock: Clock = utc_now) -> None:
        self._sessions = sessions
        self._clock = clock

    def get(self, scope: str, method: str, request_id: str) -> bytes | None:
        with self._sessions() as session:
            return session.scalar(
                select(BillingRequest.response).where(
                    BillingRequest.scope == scope,
                    BillingRequest.method == method,
                    BillingRequest.request_id == request_id,
                )
            )

    def put(self, scope: str, method: str, request_id: str, response: bytes) -> bytes:
        """Store ``response`` unless an answer is already stored; the answer that stands."""
        with write_session(self._sessions) as session:
            row = {
                "scope": scope,
                "method": method,
                "request_id": request_id,
                "response": response,
                "create_time": self._clock(),
            }
            insert_ignoring_conflicts(session, BillingRequest, [row])
            stored = session.scalar(
                select(BillingRequest.response).where(
                    BillingRequest.scope == scope,
                    BillingRequest.method == method,
                    BillingRequest.request_id == request_id,
                )
            )
        return stored if stored is not None else response
