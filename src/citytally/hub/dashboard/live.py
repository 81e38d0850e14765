"""Live updates: newly stored events, as Server-Sent Events.

The stream polls the store rather than listening to ingest, so it works the same whether ingest runs in
this process (SQLite demo) or in another one (PostgreSQL). Events have random ids, so the cursor is
``received_at``; because a transaction that took its timestamp earlier can commit later, each poll looks
back ``LOOKBACK`` before the cursor and skips ids it already sent.

A stream outlives the check of its token at the door, so it re-checks: before it sends stored events and
at least every ``RECHECK`` while idle. Once the token is revoked or expired the stream sends one
``access-ended`` message and closes (the browser's reconnect then meets a 401).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio.to_thread
import sqlalchemy as sa

from citytally.hub.store import schema

__all__ = ["LOOKBACK", "RECHECK", "ACCESS_ENDED", "LiveCursor", "live_messages"]

#: How far behind the cursor each poll looks for late commits.
LOOKBACK = timedelta(seconds=10)
#: The longest an idle stream goes without re-checking its token.
RECHECK = timedelta(seconds=2)
#: The last frame of a stream whose token was revoked or expired.
ACCESS_ENDED = 'event: access-ended\ndata: {"reason": "token revoked or expired"}\n\n'
_HEARTBEAT_S = 15.0
_BATCH = 500


@dataclass
class LiveCursor:
    """Where a stream is: the newest ``received_at`` seen and the ids sent within the look-back window."""

    after: datetime
    sent: dict[uuid.UUID, datetime] = field(default_factory=dict)

    def skip_old(self, engine: sa.Engine) -> None:
        """Mark what was stored up to the cursor as sent: a new client wants only what arrives after it.

        Rows stored later, even before this runs, stay news (the response has started by then)."""
        e = schema.events
        query = sa.select(e.c.id, e.c.received_at).where(
            e.c.received_at > self.after - LOOKBACK, e.c.received_at <= self.after
        )
        with engine.connect() as conn:
            self.sent.update({row.id: row.received_at for row in conn.execute(query)})

    def poll(self, engine: sa.Engine, include_incidents: bool) -> list[dict[str, Any]]:
        """Events stored since the last poll, oldest first, as small summaries (never the raw body)."""
        e = schema.events
        query = (
            sa.select(e.c.id, e.c.site, e.c.camera, e.c.type, e.c.start, e.c.end, e.c.received_at)
            .where(e.c.received_at > self.after - LOOKBACK)
            .order_by(e.c.received_at)
            .limit(_BATCH)
        )
        if not include_incidents:
            query = query.where(e.c.type != "incident")
        with engine.connect() as conn:
            rows = conn.execute(query).all()
        fresh = []
        for row in rows:
            if row.id in self.sent:
                continue
            self.sent[row.id] = row.received_at
            self.after = max(self.after, row.received_at)
            fresh.append(
                {
                    "id": str(row.id),
                    "type": row.type,
                    "site": row.site,
                    "camera": row.camera,
                    "start": row.start.isoformat(),
                    "end": row.end.isoformat(),
                }
            )
        horizon = self.after - LOOKBACK
        self.sent = {k: v for k, v in self.sent.items() if v >= horizon}
        return fresh


def _parse_last_id(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def live_messages(
    engine: sa.Engine,
    poll_s: float,
    include_incidents: bool,
    last_event_id: str | None = None,
    still_allowed: Callable[[], bool] | None = None,
) -> AsyncIterator[str]:
    """SSE frames for events stored from now on (or since ``last_event_id``, a reconnecting client's cursor).

    The cursor starts at the client's last id or now; blocking reads run in a worker thread.
    ``still_allowed`` (blocking; e.g. "is the caller's token still active?") is asked before any stored
    event is sent and at least every :data:`RECHECK`; once it says no, the stream ends.
    """
    cursor = LiveCursor(after=_parse_last_id(last_event_id) or datetime.now(UTC))
    if last_event_id is None:
        # A new client wants what arrives from now on; ids already in the look-back window are old news.
        await anyio.to_thread.run_sync(cursor.skip_old, engine)
    yield "retry: 1000\n\n"
    idle = 0.0
    checked = 0.0
    while True:
        messages = await anyio.to_thread.run_sync(cursor.poll, engine, include_incidents)
        now = asyncio.get_running_loop().time()
        if still_allowed is not None and (messages or now - checked >= RECHECK.total_seconds()):
            if not await anyio.to_thread.run_sync(still_allowed):
                yield ACCESS_ENDED
                return
            checked = now
        for msg in messages:
            yield f"id: {cursor.after.isoformat()}\nevent: stored\ndata: {json.dumps(msg)}\n\n"
        idle = 0.0 if messages else idle + poll_s
        if idle >= _HEARTBEAT_S:
            idle = 0.0
            yield ": keep-alive\n\n"
        await asyncio.sleep(poll_s)
