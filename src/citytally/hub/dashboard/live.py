"""Live updates: newly stored events, as Server-Sent Events.

The stream polls the store rather than listening to ingest, so it works the same whether ingest runs in
this process (SQLite demo) or in another one (PostgreSQL). The cursor is the store's
:class:`~citytally.hub.store.follow.StoreFollower`: ``(received_at, id)`` order, at most 500 events a poll
however many arrive at once, and a look-back of ``LOOKBACK`` for transactions that commit late.

A stream outlives the check of its token at the door, so it re-checks: before it sends stored events and
at least every ``RECHECK`` while idle. Once the token is revoked or expired the stream sends one
``access-ended`` message and closes (the browser's reconnect then meets a 401).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio.to_thread
import sqlalchemy as sa

from citytally.hub.store import schema
from citytally.hub.store.follow import LOOKBACK, StoreFollower, store_now

__all__ = ["LOOKBACK", "RECHECK", "REPLAY", "ACCESS_ENDED", "LiveCursor", "live_messages"]

#: How far back a reconnecting client's Last-Event-ID may reach: what was stored in a short break (a
#: network change, a laptop's sleep) is sent; after a longer one the pages' minute refresh catches up.
REPLAY = timedelta(hours=1)
#: The longest an idle stream goes without re-checking its token.
RECHECK = timedelta(seconds=2)
#: The last frame of a stream whose token was revoked or expired.
ACCESS_ENDED = 'event: access-ended\ndata: {"reason": "token revoked or expired"}\n\n'
_HEARTBEAT_S = 15.0


class LiveCursor(StoreFollower):
    """Where a stream is in the ``events`` table (:class:`~citytally.hub.store.follow.StoreFollower`)."""

    def poll_summaries(self, engine: sa.Engine, include_incidents: bool) -> list[dict[str, Any]]:
        """Events stored since the last poll, oldest first, as small summaries (never the raw body)."""
        e = schema.events
        columns = (e.c.id, e.c.site, e.c.camera, e.c.type, e.c.start, e.c.end, e.c.received_at)
        with engine.connect() as conn:
            rows = self.poll(conn, columns, *_filter(include_incidents))
        return [
            {
                "id": str(row.id),
                "type": row.type,
                "site": row.site,
                "camera": row.camera,
                "start": row.start.isoformat(),
                "end": row.end.isoformat(),
            }
            for row in rows
        ]

    def skip_stored(self, engine: sa.Engine, include_incidents: bool) -> None:
        """Count what was stored up to the cursor as sent: a new client wants only what arrives after it.

        Rows stored later, even before this runs, stay news (the response has started by then). On
        PostgreSQL the rows are stamped by the database's clock: a hub whose clock runs ahead of it starts
        from the database's now, so that what is stored next is not taken for old."""
        with engine.connect() as conn:
            self.after = min(self.after, store_now(conn))
            self.skip_old(conn, *_filter(include_incidents))


def _filter(include_incidents: bool) -> tuple[sa.ColumnElement[bool], ...]:
    """The stream's rows: incidents only for those who may see them (the same filter for every read)."""
    return () if include_incidents else (schema.events.c.type != "incident",)


def _parse_last_id(value: str | None, now: datetime) -> datetime | None:
    """A reconnecting client's cursor (an id this stream sent: a time), or ``None`` if it is none.

    Held to at most :data:`REPLAY` before ``now`` and never after it: the header is the client's to write,
    and "0001-01-01" would otherwise replay every stored event (the audit row, which holds no header, says
    only that a stream opened) or overflow the date arithmetic behind the look-back.
    """
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
        moment = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):
        return None
    return min(max(moment, now - REPLAY), now)


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
    opened = datetime.now(UTC)
    resume = _parse_last_id(last_event_id, opened)
    cursor = LiveCursor(after=resume or opened)
    if resume is None:
        # A new client wants what arrives from now on; ids already in the look-back window are old news.
        await anyio.to_thread.run_sync(cursor.skip_stored, engine, include_incidents)
    yield "retry: 1000\n\n"
    idle = 0.0
    checked = 0.0
    while True:
        messages = await anyio.to_thread.run_sync(cursor.poll_summaries, engine, include_incidents)
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
