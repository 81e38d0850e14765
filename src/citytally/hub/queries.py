"""Read queries the API serves: the camera registry and time series from the roll-up tables.

Series never touch raw events or fact rows: a 15-minute, hourly or daily request reads the roll-up of that
period (``period`` is the first column of every roll-up key), so a day of one camera is a short range scan of
the primary key and a month of every camera a range scan of the ``(period, bucket)`` index.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import sqlalchemy as sa

from citytally.errors import CitytallyError
from citytally.events import INCIDENT_ALIVE_S
from citytally.hub.store import schema

__all__ = [
    "Interval",
    "INTERVALS",
    "MAX_RANGE",
    "SeriesQuery",
    "Series",
    "QueryError",
    "list_cameras",
    "get_camera",
    "count_series",
    "occupancy_series",
    "speed_series",
    "movement_series",
    "incident_series",
    "camera_activity",
    "STALE_AFTER",
    "is_silent",
    "ViewChangeSpan",
    "view_change_spans",
    "mark_view_changes",
]

Interval = Literal["15m", "1h", "1d"]
INTERVALS: tuple[Interval, ...] = ("15m", "1h", "1d")

#: The longest time range one request may cover, per interval (keeps answers and scans bounded).
MAX_RANGE: dict[str, timedelta] = {
    "15m": timedelta(days=31),
    "1h": timedelta(days=366),
    "1d": timedelta(days=3660),
}


class QueryError(CitytallyError):
    """A query's parameters do not make sense together (e.g. start after end, range too long)."""


@dataclass(frozen=True)
class SeriesQuery:
    """Which roll-up buckets to read. ``filters`` maps a key column (camera, line, class, ...) to a value."""

    interval: Interval
    start: datetime
    end: datetime
    filters: Mapping[str, str] = field(default_factory=dict)
    limit: int = 10_000

    def __post_init__(self) -> None:
        if self.interval not in MAX_RANGE:
            raise QueryError(f"interval {self.interval!r} is not one of {', '.join(INTERVALS)}")
        if self.end <= self.start:
            raise QueryError(f"end ({self.end.isoformat()}) must be after start ({self.start.isoformat()})")
        if self.end - self.start > MAX_RANGE[self.interval]:
            days = MAX_RANGE[self.interval].days
            raise QueryError(f"a {self.interval} series covers at most {days} days; narrow start/end")
        if self.limit < 1:
            raise QueryError(f"limit must be at least 1, got {self.limit}")


@dataclass(frozen=True)
class Series:
    """Rows (``bucket`` first, then the key columns and values) and whether ``limit`` cut them short."""

    rows: list[dict[str, Any]]
    truncated: bool


def _series(
    engine: sa.Engine,
    table: sa.Table,
    query: SeriesQuery,
    keys: Sequence[str],
    values: Sequence[sa.ColumnElement[Any]],
    only: Sequence[sa.ColumnElement[bool]] = (),
) -> Series:
    c = table.c
    where = [c.period == query.interval, c.bucket >= query.start, c.bucket < query.end, *only]
    for name, value in query.filters.items():
        if name not in c or name not in ("site", "camera", *keys):
            raise QueryError(f"{table.name} cannot be filtered by {name!r}")
        where.append(c[name] == value)
    order = [c.bucket, c.site, c.camera, *(c[k] for k in keys)]
    statement = (
        sa.select(c.bucket, c.site, c.camera, *(c[k] for k in keys), *values)
        .where(*where)
        .order_by(*order)
        .limit(query.limit + 1)
    )
    with engine.connect() as conn:
        rows = _dicts(conn.execute(statement))
    return Series(rows=rows[: query.limit], truncated=len(rows) > query.limit)


def _dicts(result: sa.CursorResult[Any]) -> list[dict[str, Any]]:
    """Rows as dicts; zipping plain tuples with the column names is about twice as fast as mappings."""
    names = [str(name) for name in result.keys()]  # noqa: SIM118 - a result, not a dict; plain str keys
    return [dict(zip(names, row, strict=True)) for row in result]


def count_series(engine: sa.Engine, query: SeriesQuery, group_by: Sequence[str] | None = None) -> Series:
    """Line crossings per bucket, line, direction and class.

    With ``group_by`` (a subset of site, camera, line, direction, class), counts are summed over the other
    columns, which come back as ``None``: ``("class",)`` gives network-wide totals per bucket and class.
    """
    t = schema.line_count_rollups
    keys = ("line", "direction", "class")
    if group_by is None:
        return _series(engine, t, query, keys, (t.c["count"],))
    unknown = set(group_by) - {"site", "camera", *keys}
    if unknown:
        raise QueryError(f"cannot group counts by {', '.join(sorted(unknown))}")
    kept = [name for name in ("site", "camera", *keys) if name in group_by]
    where = [t.c.period == query.interval, t.c.bucket >= query.start, t.c.bucket < query.end]
    where += [t.c[name] == value for name, value in query.filters.items()]
    columns = [t.c.bucket, *(t.c[name] for name in kept)]
    statement = (
        sa.select(*columns, sa.func.sum(t.c["count"]).label("count"))
        .where(*where)
        .group_by(*columns)
        .order_by(*columns)
        .limit(query.limit + 1)
    )
    names = ("bucket", "site", "camera", *keys, "count")  # summed-over columns come back as None
    with engine.connect() as conn:
        found = _dicts(conn.execute(statement))
    rows: list[dict[str, Any]] = [{name: row.get(name) for name in names} for row in found]
    for row in rows:
        row["count"] = int(row["count"])
    return Series(rows=rows[: query.limit], truncated=len(rows) > query.limit)


def speed_series(engine: sa.Engine, query: SeriesQuery) -> Series:
    """Measured road users, mean speed and the highest 85th percentile per bucket, line, direction, class."""
    t = schema.speed_rollups
    mean = (t.c.speed_sum_kmh / sa.func.nullif(t.c.n, 0)).label("mean_kmh")
    return _series(engine, t, query, ("line", "direction", "class"), (t.c.n, mean, t.c.p85_max_kmh))


def occupancy_series(engine: sa.Engine, query: SeriesQuery) -> Series:
    """Mean and peak number present per bucket, zone and class (mean of the reported interval means)."""
    t = schema.occupancy_rollups
    mean = (t.c.mean_sum / sa.func.nullif(t.c.samples, 0)).label("mean")
    return _series(engine, t, query, ("zone", "class"), (t.c.samples, mean, t.c.peak_max))


def movement_series(engine: sa.Engine, query: SeriesQuery) -> Series:
    """Turning movements per bucket, entry zone, exit zone and class."""
    t = schema.movement_rollups
    return _series(engine, t, query, ("from_zone", "to_zone", "class"), (t.c["count"],))


def incident_series(engine: sa.Engine, query: SeriesQuery) -> Series:
    """Incidents that began per bucket, incident type and severity (each incident once, at its onset).

    The roll-up outlives the incident rows themselves (``retention``), so this is the long record."""
    t = schema.incident_rollups
    begun = t.c["count"] > 0  # an update or clearance whose onset never arrived adds a zero
    return _series(engine, t, query, ("incident", "severity"), (t.c["count"],), (begun,))


def _children(conn: sa.Connection, table: sa.Table, name: str) -> dict[tuple[str, str], list[dict[str, Any]]]:
    found: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in conn.execute(sa.select(table).order_by(table.c.site, table.c.camera, table.c[name])):
        found.setdefault((row.site, row.camera), []).append({"name": row[2], "config": row.config})
    return found


def list_cameras(engine: sa.Engine, site: str | None = None) -> list[dict[str, Any]]:
    """Every registered camera with its public metadata, lines and zones (no video source)."""
    c = schema.cameras
    statement = sa.select(c).order_by(c.c.site, c.c.camera)
    if site is not None:
        statement = statement.where(c.c.site == site)
    with engine.connect() as conn:
        cameras = [dict(row) for row in conn.execute(statement).mappings()]
        lines = _children(conn, schema.lines, "line")
        zones = _children(conn, schema.zones, "zone")
    for camera in cameras:
        key = (camera["site"], camera["camera"])
        camera["lines"] = lines.get(key, [])
        camera["zones"] = zones.get(key, [])
    return cameras


def get_camera(engine: sa.Engine, site: str, camera: str) -> dict[str, Any] | None:
    """One camera as :func:`list_cameras` describes it, or ``None``."""
    found = [cam for cam in list_cameras(engine, site) if cam["camera"] == camera]
    return found[0] if found else None


def camera_activity(engine: sa.Engine) -> list[dict[str, Any]]:
    """Per registered camera: the start of its newest stored interval (live state; ``None`` if none).

    A correlated ``max(start)`` per camera walks the ``(site, camera, start)`` index backwards: one probe
    per camera, however many events are stored.
    """
    c, e = schema.cameras, schema.events
    newest = (
        sa.select(sa.func.max(e.c.start))
        .where(e.c.site == c.c.site, e.c.camera == c.c.camera)
        .scalar_subquery()
        .label("last_interval_start")
    )
    statement = sa.select(c.c.site, c.c.camera, newest).order_by(c.c.site, c.c.camera)
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(statement).mappings()]


#: An open incident not reported for this long has lost its edge (an edge reports one every
#: :data:`~citytally.events.INCIDENT_ALIVE_S`).
STALE_AFTER = timedelta(seconds=3 * INCIDENT_ALIVE_S)


def is_silent(last_report: datetime, heard: datetime, now: datetime) -> bool:
    """Whether an open incident whose latest report is stamped ``last_report`` and reached the hub at
    ``heard`` has lost its edge: neither is within :data:`STALE_AFTER` of ``now``. A file replayed with a
    ``start_time`` in the past stamps its reports hours back, but they arrive now: not silent."""
    return now - last_report > STALE_AFTER and now - heard > STALE_AFTER


@dataclass(frozen=True)
class ViewChangeSpan:
    """While one camera's view was knocked, turned, covered or out of focus (one ``view_changed``
    incident): ``end`` is its clearance, now (by the edge's clock) while ``open``, or ``STALE_AFTER`` after
    its last report if ``stale`` (never cleared: its edge was killed or lost power)."""

    start: datetime
    end: datetime
    open: bool
    stale: bool
    last_report: datetime
    change: str | None

    def overlaps(self, start: datetime, end: datetime) -> bool:
        return self.start < end and self.end > start


def view_change_spans(
    engine: sa.Engine,
    start: datetime,
    end: datetime,
    now: datetime,
    site: str | None = None,
    camera: str | None = None,
    with_change: bool = True,
) -> dict[tuple[str, str], list[ViewChangeSpan]]:
    """(site, camera) → its ``view_changed`` incidents that overlap ``start``–``end``, oldest first: while
    a camera's view was knocked, turned, covered or out of focus (:mod:`citytally.edge.incidents.view`),
    what it counted may be wrong. Of every camera, or of ``site`` and ``camera`` where given.

    One entry per incident, read off its latest row (``incident_latest``: a camera knocked for a month sends
    an update every ``update_s``, a foggy morning blurs every camera), only those that reach into the range.
    An open incident not reported for :data:`STALE_AFTER` is stale: it ends that long after its last report,
    so one lost clearance does not mark a camera's counts for good. ``with_change``: read each one's kind
    (``change``, one lookup by its latest row's id); the marks of a series or ranking need only the spans.
    Kept as long as the roll-ups they mark (:mod:`citytally.hub.retention`)."""
    latest, i = schema.incident_latest, schema.incidents
    # an open incident is reported every INCIDENT_ALIVE_S: one that reaches into the range has a report
    # after its start less STALE_AFTER; a cleared one ends (its clearance's end) after the start
    wanted = [latest.c.incident == "view_changed", latest.c.end >= start - STALE_AFTER, latest.c.start < end]
    wanted += [latest.c.site == site] if site is not None else []
    wanted += [latest.c.camera == camera] if camera is not None else []
    spans = sa.select(latest).where(*wanted).order_by(latest.c.start, latest.c.incident_key)
    details_of = sa.select(i.c.details).where(i.c.event_id == sa.bindparam("event_id"))
    found: dict[tuple[str, str], list[ViewChangeSpan]] = defaultdict(list)
    with engine.connect() as conn:
        for row in conn.execute(spans).all():
            is_open = row.phase in ("onset", "update")
            stale = is_open and is_silent(row.end, row.received_at, now)
            # open: until now by the edge's clock (its latest report, plus the time since it came)
            until = row.end + (STALE_AFTER if stale else max(now - row.received_at, timedelta(0)))
            until = until if is_open else row.end
            if until <= start:
                continue
            details = (
                conn.execute(details_of, {"event_id": row.event_id}).scalar_one_or_none()
                if with_change
                else None
            ) or {}
            change = details.get("change")
            found[(row.site, row.camera)].append(
                ViewChangeSpan(
                    row.start,
                    until,
                    is_open and not stale,
                    stale,
                    row.end,
                    change if isinstance(change, str) else None,
                )
            )
    return dict(found)


def mark_view_changes(engine: sa.Engine, query: SeriesQuery, series: Series, now: datetime) -> Series:
    """Each row of ``series`` with ``view_changed``: whether the view of its camera (of any camera it sums,
    where ``group_by`` left the camera out) was changed during part of its bucket."""
    spans = view_change_spans(
        engine,
        query.start,
        query.end + timedelta(seconds=schema.ROLLUP_PERIODS[query.interval]),
        now,
        site=query.filters.get("site"),
        camera=query.filters.get("camera"),
        with_change=False,
    )
    step = timedelta(seconds=schema.ROLLUP_PERIODS[query.interval])
    for row in series.rows:
        lo = row["bucket"]
        site, camera = row.get("site"), row.get("camera")
        if site is not None and camera is not None:
            mine = spans.get((site, camera), [])
        else:
            mine = [
                span
                for (s, c), listed in spans.items()
                if (site is None or s == site) and (camera is None or c == camera)
                for span in listed
            ]
        row["view_changed"] = any(span.overlaps(lo, lo + step) for span in mine)
    return series
