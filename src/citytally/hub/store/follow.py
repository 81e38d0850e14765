"""Following the ``events`` table as rows are stored: each row once, however many arrive at once.

Readers that poll the store for news (the dashboard's live stream, the MQTT alert relay) share this cursor.
The order is ``(received_at, end, id)``: the events of one MQTT message share their ``received_at``, and
within it an incident's onset, updates and clearance come in the order they happened (their ``end``); the
random id only breaks the last ties. Each poll reads two things:

* **forward**: the next rows after the cursor in that order, at most ``batch`` of them. The cursor moves
  past them, so a burst of any size (an edge's outbox emptying after an outage, a hub catching up on what
  the broker queued) is read in batches and never read again;
* **late commits**: a transaction that took its ``received_at`` earlier can commit after the cursor passed
  that time. Each poll looks back ``lookback`` behind the cursor for ids it has not returned yet (at most
  ``batch`` too; the rest come in the next polls).

The ids returned within the look-back window are remembered, so nothing is returned twice.

On PostgreSQL the rows are stamped by the database's clock (:meth:`EventWriter._insert
<citytally.hub.store.writer.EventWriter>`), so a reader starts from :func:`store_now`, not its own clock:
hubs whose clocks are off neither stamp rows out of order nor start past what is stored.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from citytally.hub.store import schema

__all__ = ["LOOKBACK", "StoreFollower", "store_now"]

#: How far behind the cursor each poll looks for late commits.
LOOKBACK = timedelta(seconds=10)


def store_now(conn: sa.Connection) -> datetime:
    """The time by the clock that stamps ``received_at``: the database's on PostgreSQL, else this host's."""
    if conn.dialect.name == "postgresql":
        moment: datetime = conn.execute(sa.select(sa.func.clock_timestamp())).scalar_one()
        return moment.astimezone(UTC)
    return datetime.now(UTC)


@dataclass
class StoreFollower:
    """Where a reader of the ``events`` table is; see the module docstring.

    ``after``, ``after_end`` and ``after_id`` are the last row returned in ``(received_at, end, id)`` order
    (``after_id`` None: nothing returned yet, every row stamped after ``after`` is news); ``sent`` holds the
    ids returned within ``lookback`` of ``after``."""

    after: datetime
    after_end: datetime | None = None
    after_id: uuid.UUID | None = None
    sent: dict[uuid.UUID, datetime] = field(default_factory=dict)
    batch: int = 500
    lookback: timedelta = LOOKBACK

    def skip_old(self, conn: sa.Connection, *where: sa.ColumnElement[bool]) -> None:
        """Count the rows stored up to the cursor as returned: a new reader wants what arrives after it."""
        e = schema.events
        query = sa.select(e.c.id, e.c.received_at).where(
            e.c.received_at > self.after - self.lookback, e.c.received_at <= self.after, *where
        )
        self.sent.update({row.id: row.received_at for row in conn.execute(query)})

    def poll(
        self, conn: sa.Connection, columns: Sequence[sa.ColumnElement[Any]], *where: sa.ColumnElement[bool]
    ) -> list[sa.Row[Any]]:
        """The rows stored since the last poll (late commits first, then onwards in order), with ``columns``.

        ``columns`` must include ``events.c.id``, ``.received_at`` and ``.end``; ``where`` filters the rows
        (by type, say), the same at every call and in :meth:`skip_old`: the look-back compares how many rows
        the window holds with how many were returned. At most ``batch`` late rows and ``batch`` new ones a
        call."""
        e = schema.events
        order = (e.c.received_at, e.c.end, e.c.id)
        floor = self.after - self.lookback
        in_window = (e.c.received_at > floor, e.c.received_at <= self.after, *where)
        late: list[sa.Row[Any]] = []
        # Late commits are rare: count the window (from the index) and read its ids only when it holds more
        # than was returned, so that a busy hub's streams do not each read 10 s of ids every poll.
        stored = conn.execute(sa.select(sa.func.count()).select_from(e).where(*in_window)).scalar_one()
        if stored > sum(1 for at in self.sent.values() if floor < at <= self.after):
            window = sa.select(e.c.id).where(*in_window).order_by(*order)
            late_ids = [row.id for row in conn.execute(window) if row.id not in self.sent][: self.batch]
            if late_ids:
                late = list(conn.execute(sa.select(*columns).where(e.c.id.in_(late_ids)).order_by(*order)))
        beyond: sa.ColumnElement[bool] = e.c.received_at > self.after
        if self.after_id is not None and self.after_end is not None:
            later_in_tie = sa.or_(
                e.c.end > self.after_end, sa.and_(e.c.end == self.after_end, e.c.id > self.after_id)
            )
            beyond = sa.or_(beyond, sa.and_(e.c.received_at == self.after, later_in_tie))
        query = sa.select(*columns).where(beyond, *where).order_by(*order).limit(self.batch)
        forward = list(conn.execute(query))
        fresh = []
        for row in late + forward:
            if row.id not in self.sent:
                self.sent[row.id] = row.received_at
                fresh.append(row)
        if forward:
            last = forward[-1]
            self.after, self.after_end, self.after_id = last.received_at, last.end, last.id
        horizon = self.after - self.lookback
        self.sent = {k: v for k, v in self.sent.items() if v > horizon}
        return fresh
