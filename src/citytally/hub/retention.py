"""Retention: delete what is older than the hub settings allow, and audit every deletion.

Data classes and their clocks (a row expires when its time is strictly before ``now - days``):

* ``raw_events`` — ``events`` and their fact rows (speeds, incidents), by interval ``start``. A camera
  whose own ``retention_days`` is shorter is pruned to its own limit. A camera's ``view_changed`` incidents
  are the exception: they say which of its roll-ups' buckets may be wrong (its view was knocked, turned,
  covered or out of focus), so they stay as long as those do; who acknowledged one is cleared at the raw
  limit (when stays: it is still acknowledged).
* ``rollups`` — every roll-up table, by ``bucket`` start, and the ``view_changed`` incidents, by ``start``.
  ``counted_spans`` and ``counted_incidents`` go with them: retention writes what the events it deletes
  counted there, so a recording analysed again after its raw events went is still refused
  (:mod:`citytally.hub.store.counted`).
* ``dead_letters`` — refused messages, by ``received_at``.
* ``audit_log`` — audit entries, by ``at``; pruned through :func:`citytally.hub.audit.prune_before`, which
  anchors the kept chain so it still verifies.
* ``login_failures`` — failed-login records, after a day (they only feed the throttle).

:func:`run_retention` is the one entry point: the ``hub`` command's :class:`RetentionJob` calls it
periodically and ``citytally retention run`` once. Each class with a limit gets an audit entry (kind
``retention``) naming the class, the cutoff and how many rows went.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial

import sqlalchemy as sa

from citytally.errors import StoreError
from citytally.hub.access_tables import login_failures_table
from citytally.hub.audit import AuditEntry, append_after, prune_before
from citytally.hub.config import RetentionSettings
from citytally.hub.metrics import HubMetrics
from citytally.hub.store import schema
from citytally.hub.store.counted import chunks, fold, hold_writes, lock_cameras
from citytally.redaction import redact_url

__all__ = ["DATA_CLASSES", "BATCH_ROWS", "Pruned", "run_retention", "RetentionJob", "LOGIN_FAILURE_DAYS"]

log = logging.getLogger(__name__)

DATA_CLASSES = ("raw_events", "rollups", "dead_letters", "audit_log", "login_failures")
LOGIN_FAILURE_DAYS = 1

_RAW_TABLES: tuple[sa.Table, ...] = (
    schema.events,
    schema.speeds,
    schema.incidents,
)
#: A camera's view changes: kept with the roll-ups whose buckets they mark (no road user is in them).
_VIEW_CHANGES = schema.incidents.c.incident == "view_changed"
_ROLLUP_TABLES: tuple[sa.Table, ...] = (
    schema.line_count_rollups,
    schema.speed_rollups,
    schema.speed_bin_rollups,
    schema.occupancy_rollups,
    schema.movement_rollups,
    schema.incident_rollups,
    schema.conflict_rollups,
    schema.conflict_exposure_rollups,
    schema.conflict_cell_rollups,
    schema.conflict_histogram_rollups,
)


@dataclass(frozen=True)
class _Expiry:
    """The rows of ``table`` that expire by ``column``; ``only``: which of them (all if None)."""

    table: sa.Table
    column: str
    only: sa.ColumnElement[bool] | None = None
    #: whether its rows are the data class's (counted and audited), not an index of them
    counted: bool = True


#: Which row of each incident is its latest: it goes with the incident's rows (they share ``start``).
_LATEST = schema.incident_latest
_LATEST_VIEW_CHANGES = _LATEST.c.incident == "view_changed"
_RAW = (
    *(_Expiry(t, "start", ~_VIEW_CHANGES if t is schema.incidents else None) for t in _RAW_TABLES),
    _Expiry(_LATEST, "start", ~_LATEST_VIEW_CHANGES, counted=False),
)
_ROLLUPS = (
    *(_Expiry(t, "bucket") for t in _ROLLUP_TABLES),
    _Expiry(schema.incidents, "start", _VIEW_CHANGES),
    _Expiry(_LATEST, "start", _LATEST_VIEW_CHANGES, counted=False),
    # what the roll-ups counted (store.counted): it goes with them
    _Expiry(schema.counted_spans, "end", counted=False),
    _Expiry(schema.counted_incidents, "start", counted=False),
)


@dataclass(frozen=True)
class Pruned:
    """What one data class lost in one run (``camera`` set for a camera's own, shorter limit)."""

    data_class: str
    cutoff: datetime
    deleted: int
    camera: str | None = None


#: Rows one delete statement removes from one table at most: a large expiry (the first run after a long
#: pause, a shortened limit) becomes many short transactions instead of one that holds locks and bloats the
#: write-ahead log for minutes.
BATCH_ROWS = 10_000


def _delete_batch(
    conn: sa.Connection,
    expiries: Sequence[_Expiry],
    cutoff: datetime,
    camera: tuple[str, str] | None,
    limit: int,
) -> tuple[int, bool]:
    """Delete up to ``limit`` expired rows from each table; return the count and whether any table may
    have more (it gave ``limit`` rows)."""
    deleted, more = 0, False
    for expiry in expiries:
        table = expiry.table
        where = [table.c[expiry.column] < cutoff]
        if expiry.only is not None:
            where.append(expiry.only)
        if camera is not None:
            where += [table.c.site == camera[0], table.c.camera == camera[1]]
        key = list(table.primary_key.columns)
        if table is schema.events:
            # What the roll-ups counted stays known once the events behind them go (store.counted): in time
            # order, so that a batch's spans are few; each camera's recordings checked or deleted one
            # transaction at a time.
            hold_writes(conn)  # SQLite: two runs at once (the hub's, `retention run`) take turns, whole
            doomed = sa.select(table.c.id, table.c.site, table.c.camera).where(*where)
            rows = conn.execute(doomed.order_by(table.c.start).limit(limit)).all()
            lock_cameras(conn, {(row.site, row.camera) for row in rows})
            ids = [row.id for row in rows]
            fold(conn, ids)
            count = sum(conn.execute(table.delete().where(table.c.id.in_(c))).rowcount for c in chunks(ids))
            more = more or len(ids) >= limit
        else:
            doomed = sa.select(*key).where(*where).limit(limit)
            target = key[0].in_(doomed) if len(key) == 1 else sa.tuple_(*key).in_(doomed)
            count = conn.execute(table.delete().where(target)).rowcount
            more = more or count >= limit
        deleted += count if expiry.counted else 0
    return deleted, more


def _prune(
    engine: sa.Engine,
    data_class: str,
    expiries: Sequence[_Expiry],
    cutoff: datetime,
    now: datetime,
    camera: tuple[str, str] | None = None,
    batch_rows: int = BATCH_ROWS,
) -> Pruned:
    """Delete one class's expired rows in bounded batches, one transaction each; the last batch and the
    audit entry (naming the total) share a transaction. A crash part-way leaves earlier batches deleted
    but not yet audited; the next run deletes the rest and audits its own count."""
    label = f"{camera[0]}/{camera[1]}" if camera else None
    deleted, more = 0, True
    while more:
        with engine.begin() as conn:
            count, more = _delete_batch(conn, expiries, cutoff, camera, batch_rows)
        deleted += count

    def work(conn: sa.Connection) -> AuditEntry:
        nonlocal deleted
        deleted += _delete_batch(conn, expiries, cutoff, camera, batch_rows)[0]  # stragglers
        detail: dict[str, object] = {
            "data_class": data_class,
            "cutoff": cutoff.isoformat(),
            "deleted": deleted,
        }
        if data_class == "raw_events":
            forgotten = _forget_acknowledgements(conn, cutoff, camera)
            if forgotten:
                detail["acknowledgements_cleared"] = forgotten
        if label:
            detail["camera"] = label
        return AuditEntry(kind="retention", actor="system", detail=detail)

    append_after(engine, work, now=now)
    return Pruned(data_class, cutoff, deleted, label)


def _forget_acknowledgements(conn: sa.Connection, cutoff: datetime, camera: tuple[str, str] | None) -> int:
    """Clear who acknowledged the view changes that outlive the raw events (a token is a staff member's):
    the camera's state stays, who saw it goes at the raw limit, as for other incidents. When it was
    acknowledged stays: it is still acknowledged (not counted again on the operator's badge)."""
    i = schema.incidents
    where = [_VIEW_CHANGES, i.c.start < cutoff, i.c.acknowledged_by.is_not(None)]
    if camera is not None:
        where += [i.c.site == camera[0], i.c.camera == camera[1]]
    cleared = i.update().where(*where).values(acknowledged_by=None)
    return int(conn.execute(cleared).rowcount)


def _camera_limits(engine: sa.Engine, days: int | None) -> list[tuple[tuple[str, str], int]]:
    """Cameras whose own retention is shorter than the hub-wide raw-event limit."""
    c = schema.cameras
    query = sa.select(c.c.site, c.c.camera, c.c.retention_days).where(c.c.retention_days.is_not(None))
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [
        ((r.site, r.camera), int(r.retention_days)) for r in rows if days is None or r.retention_days < days
    ]


def run_retention(
    engine: sa.Engine,
    settings: RetentionSettings,
    now: datetime | None = None,
    metrics: HubMetrics | None = None,
    batch_rows: int = BATCH_ROWS,
) -> list[Pruned]:
    """Delete every expired row of every data class with a limit (at most ``batch_rows`` rows per table
    and transaction); audit each class; return the counts."""
    if batch_rows < 1:
        raise StoreError(f"retention batch_rows must be at least 1, got {batch_rows}")
    now = now or datetime.now(UTC)
    prune = partial(_prune, engine, batch_rows=batch_rows)
    done: list[Pruned] = []
    try:
        raw_days = settings.raw_events_days
        if raw_days is not None:
            cutoff = now - timedelta(days=raw_days)
            done.append(prune("raw_events", _RAW, cutoff, now))
        for camera, days in _camera_limits(engine, raw_days):
            cutoff = now - timedelta(days=days)
            done.append(prune("raw_events", _RAW, cutoff, now, camera))
        if settings.rollups_days is not None:
            cutoff = now - timedelta(days=settings.rollups_days)
            done.append(prune("rollups", _ROLLUPS, cutoff, now))
        if settings.dead_letters_days is not None:
            cutoff = now - timedelta(days=settings.dead_letters_days)
            done.append(prune("dead_letters", (_Expiry(schema.dead_letters, "received_at"),), cutoff, now))
        cutoff = now - timedelta(days=LOGIN_FAILURE_DAYS)
        done.append(prune("login_failures", (_Expiry(login_failures_table, "at"),), cutoff, now))
        if settings.audit_log_days is not None:
            cutoff = now - timedelta(days=settings.audit_log_days)
            # prune_before appends its own anchor entry, which is this class's audit record.
            done.append(Pruned("audit_log", cutoff, prune_before(engine, cutoff, now=now)))
    except sa.exc.SQLAlchemyError as exc:
        raise StoreError(f"retention on {redact_url(engine.url)} failed: {exc.__class__.__name__}") from exc
    if metrics is not None:
        for pruned in done:
            metrics.retention_deleted.labels(pruned.data_class).inc(pruned.deleted)
    return done


class RetentionJob:
    """Runs :func:`run_retention` every ``every`` in a daemon thread until :meth:`stop`.

    A failed run is logged and retried at the next tick; the hub keeps serving meanwhile.
    """

    def __init__(
        self,
        engine: sa.Engine,
        settings: RetentionSettings,
        *,
        every: timedelta = timedelta(hours=1),
        metrics: HubMetrics | None = None,
    ) -> None:
        if every <= timedelta(0):
            raise StoreError(f"retention interval must be positive, got {every}")
        self._engine, self._settings, self._every, self._metrics = engine, settings, every, metrics
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="citytally-retention", daemon=True)
        self.runs = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                pruned = run_retention(self._engine, self._settings, metrics=self._metrics)
                said = (f"{p.data_class}{f' of {p.camera}' if p.camera else ''} -{p.deleted}" for p in pruned)
                log.info("retention: %s", ", ".join(said) or "nothing")
            except StoreError as exc:
                log.error("retention run failed (retrying in %s): %s", self._every, exc)
            self.runs += 1
            self._stop.wait(self._every.total_seconds())
