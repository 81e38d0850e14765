"""Audit and measure every HTTP request, including refused and failed ones."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import anyio
import anyio.to_thread
import sqlalchemy as sa
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from citytally.hub.access import Principal
from citytally.hub.audit import AuditEntry, append_entry
from citytally.hub.metrics import HubMetrics

__all__ = ["AuditMiddleware"]

log = logging.getLogger(__name__)

_REFUSAL = json.dumps(
    {
        "error": {
            "status": 503,
            "message": "the audit log cannot be written, so nothing is served; try again later",
            "details": [],
        }
    }
).encode()


class _AuditRefused(Exception):
    """Raised into the app when its answer was replaced by a 503: stop producing it (a stream would not)."""


class AuditMiddleware:
    """Writes one audit entry per HTTP request *before* its answer leaves (who, what, when, status).

    "Who" is the token id and role the access dependency left on the request state, or ``anonymous``;
    the secret is never seen here. The entry is written when the app starts its response, so a successful
    answer whose entry cannot be written is replaced by a 503 and never reaches the client: no read goes
    unaudited. (A change the handler already made, e.g. a token created, stays made; the 503 says its
    entry is missing.) Error answers (4xx/5xx) disclose nothing and still go out, counted in
    ``citytally_audit_write_failures``. A request that raises is recorded with status 500. A stream
    (``text/event-stream``) gets a second entry when it closes, with how long it was open.
    """

    def __init__(self, app: ASGIApp, engine: sa.Engine, metrics: HubMetrics) -> None:
        self.app = app
        self.engine = engine
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})
        status = 500
        started = time.perf_counter()
        opened: int | None = None  # the seq of the entry written at response start
        answered = False
        stream = False

        async def audit_then_send(message: Message) -> None:
            nonlocal status, opened, answered, stream
            if message["type"] == "http.response.start":
                status, answered = int(message["status"]), True
                stream = _is_event_stream(message)
                opened = await anyio.to_thread.run_sync(self._record, scope, status, None)
                if opened is None and status < 400:
                    await _refuse(send)
                    status = 503
                    raise _AuditRefused
            await send(message)

        try:
            await self.app(scope, receive, audit_then_send)
        except _AuditRefused:
            pass
        finally:
            self._measure(scope, status, time.perf_counter() - started)
            # shielded: a stream ends by cancellation when the server stops, and its closing entry must
            # still be written
            with anyio.CancelScope(shield=True):
                if not answered:
                    await anyio.to_thread.run_sync(self._record, scope, status, None)
                elif stream and opened is not None:
                    closed = {"stream": "closed", "opened_seq": opened, "seconds": _seconds(started)}
                    await anyio.to_thread.run_sync(self._record, scope, status, closed)

    def _measure(self, scope: Scope, status: int, seconds: float) -> None:
        route = getattr(scope.get("route"), "path", "unmatched")
        self.metrics.api_requests.labels(scope["method"], route, str(status)).inc()
        self.metrics.api_latency.labels(route).observe(seconds)

    def _record(self, scope: Scope, status: int, detail: dict[str, Any] | None) -> int | None:
        """Append the request's entry; its seq, or ``None`` (logged and counted) if it cannot be written."""
        principal: Any = scope["state"].get("principal")
        client = scope.get("client")
        entry = AuditEntry(
            kind="request" if detail is None else "stream_closed",
            actor=principal.token_id if isinstance(principal, Principal) else "anonymous",
            role=principal.role if isinstance(principal, Principal) else None,
            method=scope["method"],
            path=scope["path"][:2000],
            query=scope.get("query_string", b"").decode("latin-1"),
            status=status,
            client=client[0] if client else None,
            detail=detail or {},
        )
        try:
            return append_entry(self.engine, entry).seq
        except sa.exc.SQLAlchemyError as exc:
            self.metrics.audit_failures.inc()
            log.error("audit: cannot record %s %s: %s", entry.method, entry.path, exc.__class__.__name__)
            return None


def _is_event_stream(start: Message) -> bool:
    for name, value in start.get("headers", []):
        if name.lower() == b"content-type":
            return bytes(value).startswith(b"text/event-stream")
    return False


def _seconds(started: float) -> float:
    return round(time.perf_counter() - started, 3)


async def _refuse(send: Send) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(_REFUSAL)).encode())]
    await send({"type": "http.response.start", "status": 503, "headers": headers + [(b"retry-after", b"5")]})
    await send({"type": "http.response.body", "body": _REFUSAL, "more_body": False})
