"""Each incident's latest row (:data:`~citytally.hub.store.schema.incident_latest`), kept by ingest.

:func:`note_latest` runs in the transaction that stored an incident's rows: it picks the latest of the new
rows of each incident, from the events themselves (no read of ``incidents``, whose plan would depend on the
database's statistics), and upserts it where it is later than the row noted (on PostgreSQL an upsert is safe
against a second hub ingesting the same incident at once).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from citytally.events import IncidentEvent
from citytally.hub.store import schema

__all__ = ["Noted", "note_latest"]


@dataclass(frozen=True)
class Noted:
    """An incident event just stored, and when it was received (None: by the database's clock, now)."""

    event: IncidentEvent
    received_at: datetime | None

    @property
    def key(self) -> uuid.UUID:
        return self.event.incident_id or self.event.id

    def order(self, now: datetime) -> tuple[bool, datetime, datetime, uuid.UUID]:
        """Latest is greatest: a clearance, then the latest ``end``, then the latest received, then the id."""
        received = self.received_at or now
        return (self.event.phase == "cleared", self.event.end, received, self.event.id)


def _cleared(phase: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
    return sa.func.coalesce(phase, "") == "cleared"


def _row(noted: Noted) -> dict[str, Any]:
    e = noted.event
    return {
        "incident_key": noted.key,
        "event_id": e.id,
        "site": e.site,
        "camera": e.camera,
        "start": e.start,
        "end": e.end,
        "incident": e.incident,
        "phase": e.phase,
        # the same clock as the incident's own row: the transaction's start on PostgreSQL
        "received_at": noted.received_at if noted.received_at is not None else sa.func.now(),
    }


def note_latest(connection: Connection, stored: Sequence[Noted], now: datetime) -> None:
    """Note the incident events ``stored`` (in this transaction) where one is its incident's latest;
    ``now`` orders those received by the database's clock among the batch (they share it)."""
    latest: dict[uuid.UUID, Noted] = {}
    for noted in stored:
        held = latest.get(noted.key)
        if held is None or noted.order(now) > held.order(now):
            latest[noted.key] = noted
    if not latest:
        return
    table = schema.incident_latest
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    statement = insert(table).values([_row(n) for n in latest.values()])
    new = statement.excluded
    later = sa.tuple_(_cleared(new.phase), new.end, new.received_at, new.event_id) > sa.tuple_(
        _cleared(table.c.phase), table.c.end, table.c.received_at, table.c.event_id
    )
    updates = {c.name: new[c.name] for c in table.columns if c.name != "incident_key"}
    connection.execute(
        statement.on_conflict_do_update(index_elements=["incident_key"], set_=updates, where=later)
    )
