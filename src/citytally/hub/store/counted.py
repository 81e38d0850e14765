"""What the roll-ups counted, kept after retention deletes the raw events behind them.

A recording (a camera config with ``start_time``) analysed again repeats its derived ids, and the hub checks
its events against what is stored (:meth:`~citytally.hub.store.writer.EventWriter` ``_recordings_fill_in``).
Once retention deleted a time's raw events there is nothing to check against, and the recording was added to
the roll-ups a second time. So retention notes, as it deletes them, in the same transaction:

* ``counted_spans``: the time each camera's interval events covered, per type and place (the line or zone;
  a turning table's: empty), intervals that meet within :data:`TOLERATED_OVERLAP` merged, and split at UTC
  midnights so that a span is at most a day long (a lookup bounds its start by that);
* ``counted_incidents``: the ids of a recording's incident reports (derived ids only: a live stream's are
  random and never come again).

Both go with the roll-ups. Retention and a writer checking one camera's recording take the same per-camera
lock on PostgreSQL (:func:`lock_cameras`), so a recording's events are never judged against rows that are
being deleted; on SQLite the writer takes the write lock before it reads (:func:`hold_writes`).
"""

from __future__ import annotations

import bisect
import uuid
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from citytally.hub.store import schema

__all__ = [
    "TOLERATED_OVERLAP",
    "INTERVAL_TYPES",
    "lock_cameras",
    "hold_writes",
    "fold",
    "spans_over",
    "counted_incident_ids",
    "chunks",
]

#: The events that report one interval of a line, zone or camera; incidents have their own life.
INTERVAL_TYPES = frozenset(("line_count", "speed", "zone_occupancy", "turning_movement", "conflict"))
#: An overlap this short is not one: recordings of one camera cut into files whose start times are the
#: names' (to the second) meet so, and refusing the next file's first interval for it would lose minutes.
TOLERATED_OVERLAP = timedelta(seconds=2)
_DAY = timedelta(days=1)
_CHUNK = 1000

Span = tuple[datetime, datetime]


def lock_cameras(connection: sa.Connection, cameras: Iterable[tuple[str, str]]) -> None:
    """On PostgreSQL, take each camera's recording lock for the transaction (in sorted order: no deadlock).
    Writers storing a camera's recording, and retention deleting its events, go one at a time."""
    if connection.dialect.name != "postgresql":
        return
    for site, camera in sorted(set(cameras)):
        lock = sa.func.hashtextextended(f"citytally-recording/{site}/{camera}", 0)
        connection.execute(sa.select(sa.func.pg_advisory_xact_lock(lock)))


def hold_writes(connection: sa.Connection) -> None:
    """On SQLite, begin writing now (take the database's write lock), so that what is read next stays true
    until the transaction ends: Python's sqlite3 begins a transaction only at the first write, and
    retention could delete what a writer had just read between its read and its insert."""
    if connection.dialect.name == "sqlite":
        connection.execute(sa.delete(schema.counted_spans).where(sa.literal(False)))


def fold(connection: sa.Connection, ids: Sequence[uuid.UUID]) -> None:
    """Note what the events ``ids`` (about to be deleted, in this transaction) counted. Those already gone
    (another hub's retention, on the same store) are skipped."""
    events = schema.events
    # the line or zone, read in the database (not the whole body)
    place = sa.func.coalesce(events.c.body["line"].as_string(), events.c.body["zone"].as_string(), "")
    query = sa.select(
        events.c.id, events.c.site, events.c.camera, events.c.type, place, events.c.start, events.c.end
    )
    reported: dict[tuple[str, str, str, str], list[Span]] = {}
    incidents: list[dict[str, object]] = []
    for chunk in chunks(ids):
        for event_id, site, camera, kind, where, start, end in connection.execute(
            query.where(events.c.id.in_(chunk))
        ).tuples():
            if kind in INTERVAL_TYPES:
                reported.setdefault((site, camera, kind, where), []).append((start, end))
            elif kind == "incident" and event_id.version == 5:
                incidents.append({"id": event_id, "site": site, "camera": camera, "start": start})
    if incidents:
        connection.execute(sa.insert(schema.counted_incidents), incidents)
    if reported:
        _fold_spans(connection, reported)


def _fold_spans(connection: sa.Connection, reported: dict[tuple[str, str, str, str], list[Span]]) -> None:
    spans = schema.counted_spans
    low = min(start for intervals in reported.values() for start, _ in intervals) - TOLERATED_OVERLAP
    high = max(end for intervals in reported.values() for _, end in intervals) + TOLERATED_OVERLAP
    cameras = sorted({(site, camera) for site, camera, _, _ in reported})
    key = (spans.c.site, spans.c.camera, spans.c.type, spans.c.place)
    noted = sa.select(*key, spans.c.start, spans.c.end).where(
        sa.tuple_(spans.c.site, spans.c.camera).in_(cameras),
        spans.c.start >= low - _DAY,  # no span is longer than a day
        spans.c.start <= high,
        spans.c.end >= low,
    )
    stored: dict[tuple[str, str, str, str], list[Span]] = {}
    for site, camera, kind, place, start, end in connection.execute(noted).tuples():
        if (site, camera, kind, place) in reported:
            stored.setdefault((site, camera, kind, place), []).append((start, end))
    gone: list[dict[str, object]] = []
    rows: list[dict[str, object]] = []
    for (site, camera, kind, place), intervals in reported.items():
        new = _merge(intervals)
        # only the spans stored that meet what is new are merged again: a batch that is not in time order
        # made every span between its first and last moment be rewritten
        met = [span for span in sorted(stored.get((site, camera, kind, place), [])) if _meets(span, new)]
        gone += [{"s": site, "c": camera, "t": kind, "p": place, "b": start} for start, _ in met]
        rows += [
            {"site": site, "camera": camera, "type": kind, "place": place, "start": start, "end": end}
            for start, end in _by_day(_merge([*new, *met]))
        ]
    if gone:
        match = [c == sa.bindparam(name) for c, name in zip((*key, spans.c.start), "sctpb", strict=True)]
        connection.execute(spans.delete().where(*match), gone)
    connection.execute(spans.insert(), rows)


def spans_over(
    connection: sa.Connection, site: str, camera: str, kinds: Iterable[str], low: datetime, high: datetime
) -> list[tuple[str, str, datetime, datetime]]:
    """The counted spans (type, place, start, end) of one camera's ``kinds`` that reach into ``low``–``high``:
    a few rows read by the ``(site, camera, start)`` index, however long the camera has been counted."""
    spans = schema.counted_spans
    query = sa.select(spans.c.type, spans.c.place, spans.c.start, spans.c.end).where(
        spans.c.site == site,
        spans.c.camera == camera,
        spans.c.start > low - _DAY,
        spans.c.start < high,
        spans.c.end > low,
        spans.c.type.in_(sorted(kinds)),
    )
    return list(connection.execute(query).tuples())


def counted_incident_ids(connection: sa.Connection, ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Which of ``ids`` are a recording's incident reports counted before retention deleted them."""
    table = schema.counted_incidents
    found: set[uuid.UUID] = set()
    for chunk in chunks(ids):
        found.update(connection.execute(sa.select(table.c.id).where(table.c.id.in_(chunk))).scalars())
    return found


def chunks(ids: Sequence[uuid.UUID]) -> Iterator[Sequence[uuid.UUID]]:
    """``ids`` a thousand at a time: a statement's ``IN`` list stays within what a database takes."""
    return (ids[at : at + _CHUNK] for at in range(0, len(ids), _CHUNK))


def _merge(intervals: Iterable[Span]) -> list[Span]:
    """``intervals`` as the fewest spans: those that overlap or meet within :data:`TOLERATED_OVERLAP`, one."""
    merged: list[Span] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1] + TOLERATED_OVERLAP:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _meets(span: Span, merged: list[Span]) -> bool:
    """Whether ``span`` overlaps or meets (within the tolerance) one of ``merged`` (sorted, disjoint)."""
    at = bisect.bisect_right(merged, (span[1] + TOLERATED_OVERLAP, datetime.max.replace(tzinfo=UTC)))
    return at > 0 and merged[at - 1][1] >= span[0] - TOLERATED_OVERLAP


def _by_day(spans: Iterable[Span]) -> Iterator[Span]:
    """Each span cut at the UTC midnights within it: no row is longer than a day."""
    for start, end in spans:
        while True:
            midnight = datetime(start.year, start.month, start.day, tzinfo=UTC) + _DAY
            if end <= midnight:
                yield start, end
                break
            yield start, midnight
            start = midnight
