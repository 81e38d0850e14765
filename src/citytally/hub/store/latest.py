"""Each incident's latest row (:data:`~citytally.hub.store.schema.incident_latest`), kept by ingest.

:func:`note_latest` runs in the transaction that stored an incident's rows: it picks the latest of the
new rows of each incident and upserts it where it is later than the one noted (on PostgreSQL an upsert is
safe against a second hub ingesting the same incident at once). :func:`latest_rows` selects the latest rows
of the incidents that match a condition: the migration that made the table fills it so.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from citytally.hub.store import schema

__all__ = ["latest_rows", "note_latest"]

_CHUNK = 500


def _order(cleared: Any, end: Any, received_at: Any, event_id: Any) -> tuple[Any, ...]:
    """Latest first: a clearance, then the latest ``end``, then the latest received, then the greatest id."""
    return (cleared, end, received_at, event_id)


def latest_rows(where: sa.ColumnElement[bool]) -> sa.Select[Any]:
    """The ``incident_latest`` rows of the incidents whose rows match ``where`` (their latest row among
    those), in the table's column order."""
    i = schema.incidents
    key = sa.func.coalesce(i.c.incident_id, i.c.event_id)
    cleared = sa.func.coalesce(i.c.phase, "") == "cleared"
    rank = (
        sa.func.row_number()
        .over(
            partition_by=key,
            order_by=[c.desc() for c in _order(cleared, i.c.end, i.c.received_at, i.c.event_id)],
        )
        .label("rank")
    )
    ranked = (
        sa.select(
            key.label("incident_key"),
            i.c.event_id,
            i.c.site,
            i.c.camera,
            i.c.start,
            i.c.end,
            i.c.incident,
            cleared.label("cleared"),
            i.c.received_at,
            rank,
        )
        .where(where)
        .subquery()
    )
    return sa.select(*(ranked.c[c.name] for c in schema.incident_latest.columns)).where(ranked.c.rank == 1)


def note_latest(connection: Connection, event_ids: Collection[uuid.UUID]) -> None:
    """Note the incident rows ``event_ids``, just stored, where one is its incident's latest."""
    table = schema.incident_latest
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    wanted = sorted(event_ids)
    for at in range(0, len(wanted), _CHUNK):
        statement = insert(table).from_select(
            [c.name for c in table.columns],
            latest_rows(schema.incidents.c.event_id.in_(wanted[at : at + _CHUNK])),
        )
        new = statement.excluded
        later = sa.tuple_(*_order(new.cleared, new.end, new.received_at, new.event_id)) > sa.tuple_(
            *_order(table.c.cleared, table.c.end, table.c.received_at, table.c.event_id)
        )
        updates = {c.name: new[c.name] for c in table.columns if c.name != "incident_key"}
        connection.execute(
            statement.on_conflict_do_update(index_elements=["incident_key"], set_=updates, where=later)
        )
