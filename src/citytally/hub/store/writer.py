"""Idempotent, batched event writes with roll-ups kept in step.

One call writes a batch in one transaction: dead letters for what was refused, the raw events with
``INSERT … ON CONFLICT (id) DO NOTHING``, then fact rows and roll-up increments for exactly the events that
were inserted — so a redelivered event (at-least-once transport) is stored and counted once. On PostgreSQL
all of that is one statement over a ``COPY``-filled staging table: facts and roll-ups are computed by the
server from the bodies just inserted (see :mod:`.bulk`); on SQLite the writer builds them here.

Each event's stored ``body`` is its validated, canonical JSON (aliases, defaults filled in), whatever
spelling the edge used; dead letters keep the message exactly as it arrived.

Validation takes one pydantic call per message (an event object or a JSON array of them, checked as a
whole); only a message that fails it is taken apart element by element for its dead letters.

If the transaction fails nothing of the batch is written. A failure of the database itself (connection,
disk, …) raises :class:`StoreError`: the caller keeps the batch (ingest does not acknowledge it) and
retries. A failure the *data* causes (a value the database refuses, e.g. a count beyond its integer range)
would fail every retry, so the batch is split in halves until the event at fault is found; that event is
dead-lettered (kind ``store``) and the rest are stored.

No one message can stop ingest: it is bounded before and while it is parsed (size, array length, nesting
depth, a time window: see :mod:`.limits`), and any exception that judging one message raises dead-letters
that message (kind ``unreadable``, with the exception's first line) instead of failing the batch. Only a
failure of the database itself raises.

Duplicates are counted, not dead-lettered: redelivery after a reconnect is normal and would flood the table.
A duplicate id whose content *differs* from the stored event is a real problem (an edge reusing ids, or a
recording analysed again that now reports otherwise: its ids are derived, see
:class:`~citytally.events.EventIds`), so that one is dead-lettered with kind ``id_conflict``; so is an
incident event whose ``incident_id`` another camera's events carry (only the camera that opened an incident
may update or clear it).
"""

from __future__ import annotations

import bisect
import logging
import sqlite3
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, cast

import orjson
import psycopg
import sqlalchemy as sa
from pydantic import TypeAdapter
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from citytally.errors import SchemaError, StoreError
from citytally.events import (
    LONGEST_INTERVAL,
    ConflictEvent,
    Event,
    IncidentEvent,
    LineCountEvent,
    SpeedEvent,
    TurningMovementEvent,
    ZoneOccupancyEvent,
    derived_event_id,
    event_place,
    parse_event,
)
from citytally.hub.store import bulk, schema
from citytally.hub.store.counted import (
    INTERVAL_TYPES,
    TOLERATED_OVERLAP,
    counted_incident_ids,
    hold_writes,
    lock_cameras,
    spans_over,
)
from citytally.hub.store.latest import Noted, note_latest
from citytally.hub.store.limits import KEPT_BYTES, MessageLimits, MessageRefused
from citytally.redaction import redact_url

__all__ = ["Received", "WriteResult", "EventWriter", "DEAD_LETTER_KINDS", "bucket_start"]

#: Why a message was refused (the ``kind`` column of ``dead_letters``).
DEAD_LETTER_KINDS = (
    "topic",
    "not_json",
    "schema",
    "topic_mismatch",
    "unknown_camera",
    "id_conflict",
    "store",
    "too_large",
    "time_window",
    "unreadable",
    "overlap",
)

log = logging.getLogger(__name__)

_Row = dict[str, Any]
_Key = tuple[Any, ...]

#: Roll-up value columns and how two values combine (the SQLite path here; PostgreSQL's is in .bulk).
_ROLLUP_OPS = bulk.ROLLUP_OPS
#: The fact tables (line counts, occupancy and movements have none: their queries read roll-ups).
_FACT_TABLES = (schema.speeds, schema.incidents)

#: Errors the data causes (retrying the same rows fails again), as opposed to the database failing.
_REFUSED_BY_DATABASE = (
    sa.exc.DataError,
    sa.exc.IntegrityError,
    psycopg.DataError,
    psycopg.IntegrityError,
    sqlite3.DataError,
    sqlite3.IntegrityError,
    OverflowError,  # sqlite3 binding an int beyond 64 bits
)
_DATABASE_FAILED = (SQLAlchemyError, psycopg.Error, sqlite3.Error)
#: At most this many camera names wait for a registry read to judge them (made-up ones beyond: judged by
#: the last read).
_MAX_ASKED = 10_000


@lru_cache(maxsize=1)
def _validators() -> tuple[TypeAdapter[Event], TypeAdapter[list[Event]]]:
    """Validators for one event and for an array of them (built on first use, not at import)."""
    # Event is an Annotated union, which mypy sees as a value of UnionType: hence the cast.
    one: TypeAdapter[Event] = TypeAdapter(cast(Any, Event))
    return one, TypeAdapter(list[Event])


def canonical_json(event: Event) -> bytes:
    """An event's wire form as the hub stores it: compact JSON, aliases, defaults filled in."""
    return _validators()[0].dump_json(event, by_alias=True)


class _Refused(Exception):
    """The database refused the batch because of its data (see ``_REFUSED_BY_DATABASE``)."""


@dataclass(frozen=True, slots=True)
class Received:
    """One message as it came off the transport."""

    topic: str
    payload: bytes
    received_at: datetime


@dataclass(slots=True)
class WriteResult:
    """What one batch did: events stored (by type), duplicates skipped, messages dead-lettered by kind."""

    stored_by_type: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0
    dead: Counter[str] = field(default_factory=Counter)

    @property
    def stored(self) -> int:
        return self.stored_by_type.total()

    def add(self, other: WriteResult) -> None:
        self.stored_by_type.update(other.stored_by_type)
        self.duplicates += other.duplicates
        self.dead.update(other.dead)


@dataclass(slots=True)
class _Accepted:
    event: Event
    document: bytes  # canonical JSON: what is stored as the body
    received_at: datetime
    topic: str
    payload: bytes | None  # as it arrived, for a dead letter; None: the in-process bus
    stamped: bool = False  # received_at was given by the caller: store it, not the store's clock


@lru_cache(maxsize=65536)  # fact rows of one event, and events of one interval, share their start
def bucket_start(moment: datetime, period: str) -> datetime:
    """The start of the UTC roll-up bucket of ``period`` (``15m``, ``1h``, ``1d``) that holds ``moment``."""
    seconds = schema.ROLLUP_PERIODS[period]
    epoch = int(moment.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, tz=UTC)


class EventWriter:
    """Writes batches of events (or raw transport messages) to a migrated store.

    ``topic_prefix`` is the first topic level ingest subscribes under. Events from cameras missing from the
    ``cameras`` table are dead-lettered (``unknown_camera``) unless ``accept_unknown_cameras``; the registry
    is re-read at most every ``registry_refresh_s`` seconds when an unknown camera shows up. ``limits``
    bounds each transport message (default: :class:`MessageLimits`, no time window). Safe to share
    between threads.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        topic_prefix: str = "citytally",
        accept_unknown_cameras: bool = False,
        registry_refresh_s: float = 5.0,
        limits: MessageLimits | None = None,
    ) -> None:
        self.engine = engine
        self.limits = limits or MessageLimits()
        self.topic_prefix = topic_prefix
        self.accept_unknown_cameras = accept_unknown_cameras
        self._registry_refresh_s = registry_refresh_s
        self._known: set[tuple[str, str]] = set()
        self._known_at = float("-inf")
        # names asked about while the registry read was stale, and those a later read did not hold: these
        # are judged unknown at once, however stale the read (an edge's status comes every 10 s, so a
        # made-up name always found it stale and was never judged)
        self._asked: set[tuple[str, str]] = set()
        self._absent: set[tuple[str, str]] = set()
        self._registry_lock = threading.Lock()

    # -- public -----------------------------------------------------------------------------------------

    def write_messages(self, messages: Sequence[Received]) -> WriteResult:
        """Validate and store transport messages; refused ones go to ``dead_letters``. One transaction."""
        accepted: list[_Accepted] = []
        dead: list[_Row] = []
        for message in messages:
            self._judge(message, accepted, dead)
        return self._write(accepted, dead)

    def write_events(self, events: Iterable[Event], received_at: datetime | None = None) -> WriteResult:
        """Store already-validated events (the in-process bus). One transaction.

        ``received_at`` (default: now) is stored as given; without it PostgreSQL stamps the rows by its own
        clock, as it does every message's (see :meth:`_insert`)."""
        now = received_at or datetime.now(UTC)
        accepted: list[_Accepted] = []
        dead: list[_Row] = []
        for event in events:
            document = canonical_json(event)
            topic = f"(in-process)/{event.site}/{event.camera}"
            outside = self.limits.outside_window(event.start, event.end, now)
            if outside is not None:
                dead.append(_dead_row(topic, document, now, "time_window", outside))
            elif (taken := _taken_id(event)) is not None:
                dead.append(_dead_row(topic, document, now, "id_conflict", taken))
            elif not self._camera_known(event.site, event.camera):
                reason = f"camera {event.site}/{event.camera} is not in the registry"
                dead.append(_dead_row(topic, document, now, "unknown_camera", reason))
            else:
                accepted.append(_Accepted(event, document, now, topic, None, received_at is not None))
        return self._write(accepted, dead)

    def write_dead_letter(self, message: Received, kind: str, reason: str) -> WriteResult:
        """Store ``message`` as a dead letter of ``kind`` (for a caller that could not write it otherwise)."""
        if kind not in DEAD_LETTER_KINDS:
            raise ValueError(f"unknown dead-letter kind {kind!r}")
        row = _dead_row(message.topic, message.payload[:KEPT_BYTES], message.received_at, kind, reason)
        return self._write([], [row])

    # -- validation -------------------------------------------------------------------------------------

    def _judge(self, message: Received, accepted: list[_Accepted], dead: list[_Row]) -> None:
        """:meth:`_accept` one message; whatever judging it raises (but a database failure) is its dead
        letter, and nothing it had accepted is kept."""
        marks = len(accepted), len(dead)
        try:
            self._accept(message, accepted, dead)
        except StoreError:
            raise
        except Exception as exc:  # noqa: BLE001 - one message must never stop ingest
            del accepted[marks[0] :], dead[marks[1] :]
            log.warning("ingest: judging a message on %s raised %s", message.topic, _first_line(exc))
            reason = f"judging it raised {_first_line(exc)}"
            dead.append(_dead_row(message.topic, message.payload, message.received_at, "unreadable", reason))

    def _accept(self, message: Received, accepted: list[_Accepted], dead: list[_Row]) -> None:
        """Sort one message's event(s) into ``accepted`` and ``dead``. A payload is one event object or a
        JSON array of events (how an outbox drains a backlog); each element is judged on its own."""

        def refuse(kind: str, reason: str, payload: bytes = message.payload) -> None:
            dead.append(_dead_row(message.topic, payload, message.received_at, kind, reason))

        head, _, tail = message.topic.partition(self.topic_prefix + "/")
        parts = tail.split("/")
        if head or len(parts) != 3 or parts[2] != "events":
            refuse("topic", f"topic {message.topic!r} is not {self.topic_prefix}/<site>/<camera>/events")
            return
        limits = self.limits
        try:
            limits.check_size(message.payload)
            if message.payload.lstrip()[:1] == b"[" and limits.may_hold_too_many(message.payload):
                limits.parse(message.payload)  # refuses a long array before validating its elements
            if self._accept_whole(message, parts[0], parts[1], accepted):
                return
            document = limits.parse(message.payload)
        except MessageRefused as exc:  # kept whole, unless it is too long to keep
            oversized = len(message.payload) > limits.max_bytes
            refuse(exc.kind, exc.reason, message.payload[:KEPT_BYTES] if oversized else message.payload)
            return
        if not isinstance(document, list):
            self._accept_one(message, document, parts, accepted, refuse, "", message.payload)
            return
        if not document:
            refuse("schema", "an empty array holds no event")
        for index, element in enumerate(document):
            payload = orjson.dumps(element)
            self._accept_one(message, element, parts, accepted, refuse, f"[{index}] ", payload)

    def _accept_whole(self, message: Received, site: str, camera: str, accepted: list[_Accepted]) -> bool:
        """The fast path: validate the message in one call; true if every event in it is accepted.

        False leaves ``accepted`` as it was: the caller then judges the message element by element, which
        gives each refusal its own reason (and ``parse_event``'s wording).
        """
        one, many = _validators()
        try:
            if message.payload.lstrip()[:1] == b"[":
                events = many.validate_json(message.payload)
            else:
                events = [one.validate_json(message.payload)]
        except (ValueError, RecursionError):  # ValidationError is a ValueError; the slow path says why
            return False
        items: list[_Accepted] = []
        for event in events:
            # parse_event insists that "v" is given; the model would default it.
            if "v" not in event.model_fields_set or (event.site, event.camera) != (site, camera):
                return False
            if not self._camera_known(site, camera):
                return False
            if self.limits.outside_window(event.start, event.end, message.received_at) is not None:
                return False
            if _taken_id(event) is not None:
                return False
            document = one.dump_json(event, by_alias=True)
            items.append(_Accepted(event, document, message.received_at, message.topic, None))
        if not items:
            return False
        if len(items) == 1:
            items[0].payload = message.payload
        accepted.extend(items)
        return True

    def _accept_one(
        self,
        message: Received,
        body: Any,
        parts: list[str],
        accepted: list[_Accepted],
        refuse: Callable[[str, str, bytes], None],
        where: str,
        payload: bytes,
    ) -> None:
        try:
            event = parse_event(body)
        except SchemaError as exc:
            refuse("schema", f"{where}{exc}", payload)
            return
        if (event.site, event.camera) != (parts[0], parts[1]):
            reason = (
                f"{where}event is from {event.site}/{event.camera} but was published on {message.topic!r}"
            )
            refuse("topic_mismatch", reason, payload)
        elif not self._camera_known(event.site, event.camera):
            refuse(
                "unknown_camera", f"{where}camera {event.site}/{event.camera} is not in the registry", payload
            )
        elif (taken := _taken_id(event)) is not None:
            refuse("id_conflict", f"{where}{taken}", payload)
        elif (outside := self.limits.outside_window(event.start, event.end, message.received_at)) is not None:
            refuse("time_window", f"{where}{outside}", payload)
        else:
            accepted.append(
                _Accepted(event, canonical_json(event), message.received_at, message.topic, payload)
            )

    def camera_registered(self, site: str, camera: str) -> bool | None:
        """Whether the camera is in the registry as last read (or unknown cameras are accepted); ``None`` if
        it is not there, that read is older than ``registry_refresh_s`` (or was never made) and no read
        since it was last asked about has lacked it. Never reads the store, so a thread that must not wait
        on it (the MQTT client's) can ask; see :meth:`read_registry`."""
        if self.accept_unknown_cameras or (site, camera) in self._known:
            return True
        if (site, camera) in self._absent or time.monotonic() - self._known_at < self._registry_refresh_s:
            return False
        if len(self._asked) >= _MAX_ASKED:
            return False  # a flood of made-up names: judged by the last read
        self._asked.add((site, camera))
        return None

    def read_registry(self) -> None:
        """Read the camera registry again, unless it was read within ``registry_refresh_s``."""
        with self._registry_lock:
            self._read_registry()

    def _camera_known(self, site: str, camera: str) -> bool:
        if self.accept_unknown_cameras or (site, camera) in self._known:
            return True
        with self._registry_lock:  # ingest's writer threads share this cache
            if (site, camera) in self._known:
                return True  # another thread has just read the registry
            self._read_registry()
            return (site, camera) in self._known

    def _read_registry(self) -> None:
        """The registry's cameras into ``_known``, at most once per ``registry_refresh_s`` (lock held)."""
        if time.monotonic() - self._known_at < self._registry_refresh_s:
            return
        try:
            with self.engine.connect() as connection:
                query = sa.select(schema.cameras.c.site, schema.cameras.c.camera)
                known = {(row.site, row.camera) for row in connection.execute(query)}
        except SQLAlchemyError as exc:
            where = redact_url(self.engine.url)
            raise StoreError(f"reading the camera registry from {where}: {exc}") from exc
        asked, self._asked = self._asked, set()
        absent = (self._absent | asked) - known
        self._known, self._absent = known, absent if len(absent) <= _MAX_ASKED else set()
        self._known_at = time.monotonic()

    # -- the transaction --------------------------------------------------------------------------------

    def _write(self, accepted: list[_Accepted], dead: list[_Row]) -> WriteResult:
        """One transaction; if the data makes the database refuse it, halves until the culprit is alone."""
        try:
            return self._transaction(accepted, dead)
        except _Refused as exc:
            if not accepted:  # the dead letters alone were refused: nothing to split, a real fault
                raise StoreError(f"writing {len(dead)} dead letters: {exc}") from exc
            if len(accepted) == 1:
                item = accepted[0]
                payload = item.payload if item.payload is not None else item.document
                reason = f"event {item.event.id}: the database refused it: {exc}"
                return self._write(
                    [], [*dead, _dead_row(item.topic, payload, item.received_at, "store", reason)]
                )
        half = len(accepted) // 2
        result = self._write(accepted[:half], dead)
        result.add(self._write(accepted[half:], []))
        return result

    def _transaction(self, accepted: list[_Accepted], dead_in: list[_Row]) -> WriteResult:
        result = WriteResult()
        dead = list(dead_in)
        unique: dict[uuid.UUID, _Accepted] = {}
        for item in accepted:
            first = unique.setdefault(item.event.id, item)
            if first is not item:
                result.duplicates += 1
                if first.event != item.event:
                    dead.append(_conflict_row(item))
        try:
            with self.engine.begin() as connection:
                items = self._own_incidents_only(connection, list(unique.values()), dead)
                items, counted_before = self._recordings_fill_in(connection, items, dead)
                unique = {item.event.id: item for item in items}
                inserted = self._insert(connection, items)
                repeats = [item for event_id, item in unique.items() if event_id not in inserted]
                dead.extend(self._conflicts(connection, repeats))
                if dead:
                    connection.execute(sa.insert(schema.dead_letters), dead)
        except _REFUSED_BY_DATABASE as exc:
            raise _Refused(_first_line(exc)) from exc
        except _DATABASE_FAILED as exc:
            raise StoreError(
                f"writing {len(accepted)} events to {redact_url(self.engine.url)}: {_first_line(exc)}"
            ) from exc
        result.stored_by_type.update(unique[event_id].event.type for event_id in inserted)
        result.duplicates += len(unique) - len(inserted) + counted_before
        result.dead.update(row["kind"] for row in dead)
        return result

    def _insert(self, connection: Connection, items: list[_Accepted]) -> set[uuid.UUID]:
        """Insert the events not stored yet, with their facts and roll-ups; return the ids inserted."""
        if not items:
            return set()
        if connection.dialect.name == "postgresql":
            # The database's clock stamps the rows (unless a caller gave the time): hubs that ingest side by
            # side stamp by one clock, so the readers that follow the store by ``received_at`` (the live
            # stream, the alert relay) pass nothing by when a hub's clock is off.
            stamps = [(i.received_at if i.stamped else None, i.document) for i in items]
            inserted = bulk.store_events_postgresql(connection, stamps)
            _note_incidents(connection, items, inserted)
            return inserted
        rows = [
            {
                "id": item.event.id,
                "site": item.event.site,
                "camera": item.event.camera,
                "type": item.event.type,
                "start": item.event.start,
                "end": item.event.end,
                "received_at": item.received_at,
                "body": item.document.decode(),
            }
            for item in items
        ]
        inserted = bulk.insert_new_events(connection, rows)
        facts: dict[sa.Table, list[_Row]] = {table: [] for table in _FACT_TABLES}
        rollups: dict[sa.Table, dict[_Key, list[Any]]] = {table: {} for table in _ROLLUP_OPS}
        for item in items:
            if item.event.id in inserted:
                _explode(item, facts, rollups)
        for table, fact_rows in facts.items():
            bulk.insert_rows(connection, table, fact_rows)
        for table, increments in rollups.items():
            bulk.upsert_add(connection, table, _ROLLUP_OPS[table], increments)
        _note_incidents(connection, items, inserted)
        return inserted

    def _own_incidents_only(
        self, connection: Connection, items: list[_Accepted], dead: list[_Row]
    ) -> list[_Accepted]:
        """``items`` without the incident events whose ``incident_id`` is another camera's.

        An incident's id belongs to the camera whose event first carried it (stored, or earlier in the batch):
        an event from anywhere else with that id (an edge's bug, or a forger who read the id off an alert)
        would otherwise update or clear that camera's incident. Each such event is an ``id_conflict`` dead
        letter."""
        claimed = {
            item.event.incident_id
            for item in items
            if isinstance(item.event, IncidentEvent) and item.event.incident_id is not None
        }
        if not claimed:
            return items
        # one row per incident (its latest, the owner's like all its rows), not every report of it
        table = schema.incident_latest
        owners: dict[uuid.UUID, tuple[str, str]] = {}
        wanted = sorted(claimed)
        for at in range(0, len(wanted), 500):
            query = sa.select(table.c.incident_key, table.c.site, table.c.camera).where(
                table.c.incident_key.in_(wanted[at : at + 500])
            )
            for incident_id, site, camera in connection.execute(query):
                owners.setdefault(incident_id, (site, camera))
        kept: list[_Accepted] = []
        for item in items:
            event = item.event
            if isinstance(event, IncidentEvent) and event.incident_id is not None:
                owner = owners.setdefault(event.incident_id, (event.site, event.camera))
                if owner != (event.site, event.camera):
                    payload = item.payload if item.payload is not None else item.document
                    reason = (
                        f"event {event.id}: incident {event.incident_id} is {owner[0]}/{owner[1]}'s;"
                        f" an event from {event.site}/{event.camera} cannot change it"
                    )
                    dead.append(_dead_row(item.topic, payload, item.received_at, "id_conflict", reason))
                    continue
            kept.append(item)
        return kept

    def _recordings_fill_in(
        self, connection: Connection, items: list[_Accepted], dead: list[_Row]
    ) -> tuple[list[_Accepted], int]:
        """``items`` without a recording's intervals that overlap another report of the same place, and
        how many of its incident reports were counted before (duplicates, left out too).

        A recording's events carry derived ids (:class:`~citytally.events.EventIds`): analysed again as it
        was, they repeat them and are duplicates. Analysed again otherwise (another interval, frame rate or
        config), or over a time a live camera of that name already reported, its intervals would add to
        what is stored for the same line or zone: each such interval is an ``overlap`` dead letter (an
        overlap of up to 2 s is none: files of one camera whose start times are whole seconds meet so;
        an interval that short lying within another report is one). A recording fills in what is missing;
        it never adds to what is stored. A live stream's events (random ids) are not held to this: its
        intervals follow one another.

        Once retention deleted a time's raw events, :mod:`~citytally.hub.store.counted` says what they
        counted: a recording's intervals are held to the spans noted as to stored events, and its incident
        reports noted are duplicates."""
        wanted = [i for i in items if i.event.id.version == 5]
        if not wanted:
            return items, 0
        cameras = sorted({(i.event.site, i.event.camera) for i in wanted})
        # Ingest's writers (and retention) work side by side: one camera's recordings are checked and
        # stored one transaction at a time, each seeing what the one before stored or deleted.
        lock_cameras(connection, cameras)
        hold_writes(connection)
        incidents = [i.event.id for i in wanted if isinstance(i.event, IncidentEvent)]
        again = counted_incident_ids(connection, incidents) if incidents else set()
        taken: dict[tuple[str, str, str, str], _Spans] = {}
        # a repeat of one of these is a duplicate (or a conflict with it): judged after the insert
        stored_ids: set[uuid.UUID] = set()
        events = schema.events
        for site, camera in cameras:
            mine = [
                i.event
                for i in wanted
                if (i.event.site, i.event.camera) == (site, camera) and i.event.type in INTERVAL_TYPES
            ]
            if not mine:
                continue
            low, high = min(e.start for e in mine), max(e.end for e in mine)
            kinds = sorted({e.type for e in mine})
            query = sa.select(events.c.id, events.c.type, events.c.start, events.c.end, events.c.body).where(
                events.c.site == site,
                events.c.camera == camera,
                events.c.start > low - LONGEST_INTERVAL,  # the index's range; no interval is longer
                events.c.start < high,
                events.c.end > low,
                events.c.type.in_(kinds),
            )
            for event_id, kind, start, end, body in connection.execute(query):
                stored_ids.add(event_id)
                stored = orjson.loads(body) if isinstance(body, str | bytes) else body
                key = (site, camera, kind, str(stored.get("line") or stored.get("zone") or ""))
                taken.setdefault(key, _Spans()).add(start, end, event_id)
            for kind, place, start, end in spans_over(connection, site, camera, kinds, low, high):
                taken.setdefault((site, camera, kind, place), _Spans()).add(start, end, _COUNTED)
        kept: list[_Accepted] = []
        for item in items:
            event = item.event
            if event.id in again:
                continue
            if event.id.version != 5 or event.type not in INTERVAL_TYPES or event.id in stored_ids:
                kept.append(item)
                continue
            place = event_place(event)
            spans = taken.setdefault((event.site, event.camera, event.type, place), _Spans())
            other = spans.overlapping(event.start, event.end, event.id)
            if other is None:
                spans.add(event.start, event.end, event.id)
                kept.append(item)
                continue
            payload = item.payload if item.payload is not None else item.document
            whose = "counted (its events since deleted by retention)" if other[2] == _COUNTED else "stored"
            reason = (
                f"event {event.id}: {event.type} {place or 'of the camera'} {event.start.isoformat()} to"
                f" {event.end.isoformat()} overlaps {other[0].isoformat()} to {other[1].isoformat()}, {whose}"
                f" for {event.site}/{event.camera}: a recording fills in what is missing and never adds to"
                " what is stored (analysed again with another interval, frame rate or config, or over a time"
                " the camera already reported)"
            )
            dead.append(_dead_row(item.topic, payload, item.received_at, "overlap", reason))
        return kept, len(again)

    def _conflicts(self, connection: Connection, repeats: list[_Accepted]) -> list[_Row]:
        """Dead letters for repeated ids whose content differs from what is stored (rare: one query)."""
        if not repeats:
            return []
        ids = [item.event.id for item in repeats]
        stored = dict(
            connection.execute(
                sa.select(schema.events.c.id, schema.events.c.body).where(schema.events.c.id.in_(ids))
            )
            .tuples()
            .all()
        )
        dead: list[_Row] = []
        for item in repeats:
            before = stored.get(item.event.id)
            if before is None or _same(before, item.event):
                continue
            dead.append(_conflict_row(item))
        return dead


_LONG_SPAN = timedelta(hours=1)
#: The id of a span read from ``counted_spans``: no event's.
_COUNTED = uuid.UUID(int=0)


def _taken_id(event: Event) -> str | None:
    """Why ``event``'s derived id is not its own, if it is not: the id of a recording's report is the one
    the report gives (an interval's camera, type, place and interval; an incident report's camera, incident
    id, phase and end): a sender may not take another camera's before it comes."""
    if event.id.version != 5 or (derived := derived_event_id(event)) == event.id:
        return None
    gives = "no derived id" if derived is None else derived
    return (
        f"event id {event.id} is a recording's (derived), but what the event reports gives {gives}: a"
        " sender may not take the id of another report"
    )


class _Spans:
    """The reports of one place (start, end, id), sorted by start: which one overlaps an interval by more
    than :data:`TOLERATED_OVERLAP`? Looked up by bisection, so a batch of a day's intervals is not
    quadratic."""

    def __init__(self) -> None:
        self._starts: list[datetime] = []
        self._spans: list[tuple[datetime, datetime, uuid.UUID]] = []
        self._longest = timedelta(0)  # of those in _spans
        #: Spans over an hour (a day's interval beside minutes), apart: one would make every lookup walk
        #: back as far as it is long.
        self._long: list[tuple[datetime, datetime, uuid.UUID]] = []

    def add(self, start: datetime, end: datetime, event_id: uuid.UUID) -> None:
        if end - start > _LONG_SPAN:
            self._long.append((start, end, event_id))
            return
        at = bisect.bisect_right(self._starts, start)
        self._starts.insert(at, start)
        self._spans.insert(at, (start, end, event_id))
        self._longest = max(self._longest, end - start)

    def overlapping(
        self, start: datetime, end: datetime, event_id: uuid.UUID
    ) -> tuple[datetime, datetime, uuid.UUID] | None:
        for span in self._long:
            if _overlaps(span, start, end, event_id):
                return span
        # those that start before ``end``, from the latest back to the first that cannot reach ``start``
        for at in range(bisect.bisect_left(self._starts, end) - 1, -1, -1):
            span = self._spans[at]
            if span[0] + self._longest <= start:
                break
            if _overlaps(span, start, end, event_id):
                return span
        return None


def _overlaps(
    span: tuple[datetime, datetime, uuid.UUID], start: datetime, end: datetime, event_id: uuid.UUID
) -> bool:
    if span[2] == event_id:
        return False
    overlap = min(span[1], end) - max(span[0], start)
    if overlap > TOLERATED_OVERLAP:
        return True
    # Up to 2 s is tolerated at a seam, but an interval of a few seconds (a run's last, cut short) lying
    # within another report is refused. Not the other way round: where a file ended seconds into an
    # interval and the next begins there (its start time its name's, to the second), the next file's whole
    # first interval would be refused for a sliver; so a run cut seconds into an interval and then analysed
    # whole may count those seconds twice.
    inside = span[0] - TOLERATED_OVERLAP <= start and end <= span[1] + TOLERATED_OVERLAP
    return overlap > timedelta(0) and inside


def _same(stored: Any, event: Event) -> bool:
    """Whether a stored body is ``event``. One stored under an older schema (a detail name no longer on
    the list, say) may not parse now: it is then compared as the JSON it is."""
    try:
        return parse_event(stored) == event
    except SchemaError:
        return bool(stored == event.model_dump(mode="json"))


def _note_incidents(connection: Connection, items: list[_Accepted], inserted: set[uuid.UUID]) -> None:
    """Point ``incident_latest`` at the incident rows just stored where they are their incident's latest."""
    by_database = connection.dialect.name == "postgresql"  # unstamped rows carry the database's clock
    stored = [
        Noted(i.event, None if by_database and not i.stamped else i.received_at)
        for i in items
        if isinstance(i.event, IncidentEvent) and i.event.id in inserted
    ]
    if stored:
        note_latest(connection, stored, datetime.now(UTC))


def _first_line(exc: BaseException) -> str:
    return f"{exc.__class__.__name__}: {(str(exc).splitlines() or [''])[0]}"


def _conflict_row(item: _Accepted) -> _Row:
    payload = item.payload if item.payload is not None else item.document
    reason = f"event id {item.event.id} is already stored with different content"
    if item.event.id.version == 5:  # derived: a recording with a start time (events.EventIds)
        reason += (
            ": a recording analysed again reports this otherwise (another config, frame rate, model or video"
            " given the same start_time, or a run interrupted before); the first report is kept"
        )
    return _dead_row(item.topic, payload, item.received_at, "id_conflict", reason)


def _dead_row(topic: str, payload: bytes, received_at: datetime, kind: str, reason: str) -> _Row:
    # A reason can quote the message (a field name), which may hold NUL: PostgreSQL's text cannot, and a
    # dead letter the database refuses would stop ingest. Written out, as the payload keeps the bytes.
    return {
        "received_at": received_at,
        "topic": topic.replace("\x00", "\\x00"),
        "payload": payload,
        "kind": kind,
        "reason": reason.replace("\x00", "\\x00")[:2000],
    }


@lru_cache(maxsize=65536)
def _bucket_keys(site: str, camera: str, start: datetime) -> tuple[tuple[Any, ...], ...]:
    """The roll-up key prefix (period, site, camera, bucket) of every period for one interval start."""
    return tuple((period, site, camera, bucket_start(start, period)) for period in schema.ROLLUP_PERIODS)


def _add(
    rollups: dict[sa.Table, dict[_Key, list[Any]]],
    table: sa.Table,
    event: Event,
    key: _Key,
    values: list[Any],
) -> None:
    """Fold ``values`` into ``table``'s increments for every period's bucket of ``event.start``."""
    ops = _ROLLUP_OPS[table]
    target = rollups[table]
    for prefix in _bucket_keys(event.site, event.camera, event.start):
        full_key = prefix + key
        current = target.get(full_key)
        if current is None:
            target[full_key] = list(values)
            continue
        for index, ((_, op), value) in enumerate(zip(ops, values, strict=True)):
            current[index] = current[index] + value if op == "sum" else max(current[index], value)


_Facts = dict[sa.Table, list[_Row]]
_Rollups = dict[sa.Table, dict[_Key, list[Any]]]


def _explode(item: _Accepted, facts: _Facts, rollups: _Rollups) -> None:
    """One event's fact rows (speeds and incidents have them) and roll-up increments."""
    event = item.event
    base = {
        "event_id": event.id,
        "site": event.site,
        "camera": event.camera,
        "start": event.start,
        "end": event.end,
    }
    if isinstance(event, LineCountEvent):
        _line_count(event, rollups)
    elif isinstance(event, SpeedEvent):
        _speed(event, base, facts, rollups)
    elif isinstance(event, ZoneOccupancyEvent):
        _occupancy(event, rollups)
    elif isinstance(event, TurningMovementEvent):
        _movements(event, rollups)
    elif isinstance(event, ConflictEvent):
        _conflict(event, rollups)
    elif isinstance(event, IncidentEvent):
        facts[schema.incidents].append(
            base
            | {"incident": event.incident, "severity": event.severity, "zone": event.zone, "line": event.line}
            | {"details": dict(event.details), "received_at": item.received_at}
            | {"acknowledged_at": None, "acknowledged_by": None}
            | {"incident_id": event.incident_id, "phase": event.phase}
        )
        # An incident counts once, at its onset (its updates and clearance share its start, so its bucket).
        onset = int(event.phase in (None, "onset"))
        _add(rollups, schema.incident_rollups, event, (event.incident, event.severity), [onset])


def _line_count(event: LineCountEvent, rollups: _Rollups) -> None:
    for direction, by_class in event.counts.items():
        for cls, count in by_class.items():
            _add(rollups, schema.line_count_rollups, event, (event.line, direction, cls), [count])


def _speed(event: SpeedEvent, base: _Row, facts: _Facts, rollups: _Rollups) -> None:
    for direction, by_class in event.speeds.items():
        for cls, stats in by_class.items():
            facts[schema.speeds].append(
                base
                | {"line": event.line, "direction": direction, "class": cls}
                | {"n": stats.n, "mean_kmh": stats.mean_kmh, "p85_kmh": stats.p85_kmh}
                | {"histogram": stats.histogram}
            )
            values = [stats.n, stats.mean_kmh * stats.n, stats.p85_kmh]
            _add(rollups, schema.speed_rollups, event, (event.line, direction, cls), values)
            for k, count in enumerate(stats.histogram or ()):
                if count:
                    _add(rollups, schema.speed_bin_rollups, event, (event.line, direction, cls, k), [count])


def _occupancy(event: ZoneOccupancyEvent, rollups: _Rollups) -> None:
    for cls in sorted(set(event.mean) | set(event.peak) | set(event.dwell)):
        mean = event.mean.get(cls, 0.0)
        peak = event.peak.get(cls, 0)
        _add(rollups, schema.occupancy_rollups, event, (event.zone, cls), [1, mean, peak])


def _movements(event: TurningMovementEvent, rollups: _Rollups) -> None:
    merged: Counter[tuple[str, str, str]] = Counter()
    for movement in event.movements:
        merged[(movement.from_zone, movement.to_zone, movement.cls)] += movement.count
    for (from_zone, to_zone, cls), count in merged.items():
        _add(rollups, schema.movement_rollups, event, (from_zone, to_zone, cls), [count])


def _conflict(event: ConflictEvent, rollups: _Rollups) -> None:
    for row in event.conflicts:
        key = (event.zone, row.type, row.severity, row.classes)
        _add(rollups, schema.conflict_rollups, event, key, [row.count])
    for cls, n in event.road_users.items():
        _add(rollups, schema.conflict_exposure_rollups, event, (event.zone, cls), [n])
    for cell in event.cells:
        image = [-1.0 if v is None else v for v in (cell.image_x, cell.image_y)]
        _add(
            rollups,
            schema.conflict_cell_rollups,
            event,
            (event.zone, event.cell_m, cell.x_m, cell.y_m),
            [cell.count, *image],
        )
    for measure, histogram in (("ttc", event.ttc), ("pet", event.pet)):
        for edge, count in zip(histogram.edges_s, histogram.counts, strict=True):
            _add(rollups, schema.conflict_histogram_rollups, event, (event.zone, measure, edge), [count])
