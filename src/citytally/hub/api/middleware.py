"""Audit and measure every HTTP request, including refused and failed ones."""

from __future__ import annotations

import logging
import time
from typing import Any

import anyio.to_thread
import sqlalchemy as sa
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from citytally.hub.access import Principal
from citytally.hub.audit import AuditEntry, append_entry
from citytally.hub.metrics import HubMetrics

__all__ = ["AuditMiddleware"]

log = logging.getLogger(__name__)


class AuditMiddleware:
    """Writes one audit entry per HTTP request after it is answered (who, what, when, status).

    "Who" is the token id and role the access dependency left on the request state, or ``anonymous``;
    the secret is never seen here. A request that raises is recorded with status 500.
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

        async def send_and_remember(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_remember)
        finally:
            self._measure(scope, status, time.perf_counter() - started)
            await anyio.to_thread.run_sync(self._record, scope, status)

    def _measure(self, scope: Scope, status: int, seconds: float) -> None:
        route = getattr(scope.get("route"), "path", "unmatched")
        self.metrics.api_requests.labels(scope["method"], route, str(status)).inc()
        self.metrics.api_latency.labels(route).observe(seconds)

    def _record(self, scope: Scope, status: int) -> None:
        principal: Any = scope["state"].get("principal")
        client = scope.get("client")
        entry = AuditEntry(
            kind="request",
            actor=principal.token_id if isinstance(principal, Principal) else "anonymous",
            role=principal.role if isinstance(principal, Principal) else None,
            method=scope["method"],
            path=scope["path"][:2000],
            query=scope.get("query_string", b"").decode("latin-1"),
            status=status,
            client=client[0] if client else None,
        )
        try:
            append_entry(self.engine, entry)
        except sa.exc.SQLAlchemyError as exc:
            self.metrics.audit_failures.inc()
            log.error("audit: cannot record %s %s: %s", entry.method, entry.path, exc.__class__.__name__)
