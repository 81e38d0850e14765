"""Read queries the API serves: the camera registry and time series from the roll-up tables.

Series never touch raw events or fact rows: a 15-minute, hourly or daily request reads the roll-up of that
period (``period`` is the first column of every roll-up key), so a day of one camera is a short range scan of
the primary key and a month of every camera a range scan of the ``(period, bucket)`` index.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from citytally.errors import CitytallyError
from citytally.events import INCIDENT_ALIVE_S
from citytally.hub.db_metadata import UtcDateTime
from citytally.hub.store import schema

__all__ = [
    "Interval",
    "INTERVALS",
    "MAX_RANGE",
    "SeriesQuery",
    "Series",
    "LocalBuckets",
    "local_buckets",
    "local_hour",
    "local_midnight",
    "window_span",
    "Tile",
    "tiles",
    "QueryError",
    "EARLIEST",
    "LATEST",
    "check_window",
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
    "Covered",
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


_HOUR = timedelta(hours=1)
_DAY = timedelta(days=1)
#: A local series reads its buckets a month of days or 16 days of hours at a time: few bound parameters (each
#: boundary is one) and, at the limit of rows, at most one such piece read beyond what is answered.
_SLOTS_PER_READ = {"1d": 31, "1h": 384}

#: The widest window a query may name: nothing is stored before 1970, and the calendar's own ends leave no
#: room for a bucket's end or a local day (year 1's first day in India began in year 0).
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 1, 1, tzinfo=UTC)


def check_window(start: datetime, end: datetime) -> None:
    """Raise :class:`QueryError` unless ``start`` and ``end`` lie within :data:`EARLIEST`–:data:`LATEST`."""
    if start < EARLIEST or end > LATEST:
        raise QueryError(
            f"start and end must lie between {EARLIEST.isoformat()} and {LATEST.isoformat()}"
            f" (got {start.isoformat()} to {end.isoformat()})"
        )


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

#: UTC, whose hours and days are the stored roll-ups' own.
UTC_ZONE = ZoneInfo("UTC")


@dataclass(frozen=True)
class SeriesQuery:
    """Which roll-up buckets to read. ``filters`` maps a key column (camera, line, class, ...) to a value.

    ``tz`` makes hourly and daily buckets hours and days of that zone (:func:`local_buckets`); 15-minute
    buckets are the same in every zone in use (offsets are whole quarters of an hour)."""

    interval: Interval
    start: datetime
    end: datetime
    filters: Mapping[str, str] = field(default_factory=dict)
    limit: int = 10_000
    tz: ZoneInfo = UTC_ZONE

    def __post_init__(self) -> None:
        if self.interval not in MAX_RANGE:
            raise QueryError(f"interval {self.interval!r} is not one of {', '.join(INTERVALS)}")
        check_window(self.start, self.end)
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


def local_hour(moment: datetime, tz: ZoneInfo) -> datetime:
    """The start of the local hour of ``tz`` that holds ``moment`` (a UTC instant)."""
    local = moment.astimezone(tz)
    # Offsets are whole minutes and change on the hour: the local minutes are the UTC instant's to go back.
    return moment.astimezone(UTC) - timedelta(
        minutes=local.minute, seconds=local.second, microseconds=local.microsecond
    )


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """The UTC instant at which ``day`` begins in ``tz``."""
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


@dataclass(frozen=True)
class LocalBuckets:
    """The buckets of a series in its time zone where they are not the stored roll-ups' own: ``starts``
    (UTC instants; each ends where the next starts, the last at ``end``; a day may have 23 or 25 hours),
    filled from the roll-ups of ``period``, and from the 15-minute ones in a UTC hour that holds a bucket
    boundary (India's, Nepal's, Newfoundland's midnights)."""

    starts: list[datetime]
    end: datetime
    period: str


def local_buckets(query: SeriesQuery) -> LocalBuckets | None:
    """The local days of ``query.tz`` (every zone but UTC) or hours (where they begin within a UTC hour)
    that begin in ``start``–``end``; None where the stored roll-ups' buckets are the ones asked for.

    As with UTC's buckets, the last one may reach past ``end`` (today's day so far)."""
    if query.tz.key == "UTC" or query.interval == "15m":
        return None
    if query.interval == "1h":
        starts = []
        moment = local_hour(query.start, query.tz)
        if moment < query.start:
            moment = local_hour(moment + _HOUR, query.tz)
        while moment < query.end:
            starts.append(moment)
            moment = local_hour(moment + _HOUR, query.tz)
        if all(start.minute == 0 for start in starts):  # this zone's hours are UTC's
            return None
        return LocalBuckets(starts, moment, "15m")
    day = query.start.astimezone(query.tz).date()
    if local_midnight(day, query.tz) < query.start:
        day += _DAY
    starts = []
    while (moment := local_midnight(day, query.tz)) < query.end:
        starts.append(moment)
        day += _DAY
    return LocalBuckets(starts, moment, "1h")


def window_span(query: SeriesQuery) -> tuple[datetime, datetime]:
    """The time the buckets of ``query`` that begin in ``start``–``end`` cover, as UTC instants (its zone's
    hours or days with ``tz``): from the first such bucket's start to the last one's end, which may lie past
    ``end``. Empty (``lo == hi``) where no bucket begins in the window."""
    buckets = local_buckets(query)
    if buckets is not None:
        return (buckets.starts[0] if buckets.starts else buckets.end), buckets.end
    step = schema.ROLLUP_PERIODS[query.interval]
    return _ceil(query.start, step), _ceil(query.end, step)


def _ceil(moment: datetime, step: int) -> datetime:
    """The first UTC bucket boundary of ``step`` seconds at or after ``moment`` (in whole microseconds: a
    float timestamp would round one just after a boundary onto it)."""
    return _EPOCH + -(-(moment - _EPOCH) // timedelta(seconds=step)) * timedelta(seconds=step)


def _floor(moment: datetime, step: int) -> datetime:
    return _EPOCH + (moment - _EPOCH) // timedelta(seconds=step) * timedelta(seconds=step)


#: A run of stored roll-up buckets: their period and the first start and the end of the run.
Tile = tuple[Interval, datetime, datetime]


def tiles(lo: datetime, hi: datetime) -> list[Tile]:
    """The fewest stored roll-up buckets that make up ``lo``–``hi`` (each boundary rounded up to a quarter
    hour): UTC days where whole ones fit, hours next to them, quarter hours at the ends. A sum over a window
    read this way is the sum of its 15-minute buckets, from a few rows a day instead of 96."""
    quarter, hour, day = (schema.ROLLUP_PERIODS[p] for p in INTERVALS)
    lo, hi = _ceil(lo, quarter), _ceil(hi, quarter)
    if lo >= hi:
        return []
    hours = _ceil(lo, hour), _floor(hi, hour)
    if hours[0] >= hours[1]:
        return [("15m", lo, hi)]
    days = _ceil(hours[0], day), _floor(hours[1], day)
    if days[0] >= days[1]:
        days = hours[1], hours[1]  # no whole UTC day: hours from the first to the last
    found: list[Tile] = [
        ("15m", lo, hours[0]),
        ("1h", hours[0], days[0]),
        ("1d", days[0], days[1]),
        ("1h", days[1], hours[1]),
        ("15m", hours[1], hi),
    ]
    return [(period, a, b) for period, a, b in found if a < b]


def _utc_hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


#: How a value column of a series comes from the roll-up rows: the column itself (summed over the rows a
#: bucket of another zone's hours or days takes in, or a ``group_by``'s), its highest, or a mean read as
#: one column over another (``(numerator, denominator)``, each summed first).
Value = tuple[str, Literal["sum", "max"] | tuple[str, str]]


def _series(
    engine: sa.Engine,
    table: sa.Table,
    query: SeriesQuery,
    keys: Sequence[str],
    values: Sequence[Value],
    only: Sequence[sa.ColumnElement[bool]] = (),
    kept: Sequence[str] | None = None,
) -> Series:
    """Roll-up rows per bucket, site, camera and ``keys``, oldest first; with ``kept``, only those of site,
    camera and ``keys`` are kept (the others ``None``) and the values summed over the rest."""
    c = table.c
    where = [*only]
    for name, value in query.filters.items():
        if name not in c or name not in ("site", "camera", *keys):
            raise QueryError(f"{table.name} cannot be filtered by {name!r}")
        where.append(c[name] == value)
    names = ["bucket", "site", "camera", *keys, *(name for name, _ in values)]
    buckets = local_buckets(query)
    if buckets is None:
        rows, truncated = _stored_rows(engine, table, query, keys, values, where, kept)
    else:
        rows, truncated = _local_rows(engine, table, query, buckets, keys, values, where, kept)
    if buckets is not None or kept is not None:  # summed-over columns come back as None
        rows = [{name: row.get(name) for name in names} for row in rows]
    if query.tz.key != "UTC":
        for row in rows:
            row["bucket"] = row["bucket"].astimezone(query.tz)
    return Series(rows=rows, truncated=truncated)


def _stored_rows(
    engine: sa.Engine,
    table: sa.Table,
    query: SeriesQuery,
    keys: Sequence[str],
    values: Sequence[Value],
    where: list[sa.ColumnElement[bool]],
    kept: Sequence[str] | None,
) -> tuple[list[dict[str, Any]], bool]:
    """The roll-up rows of the query's own period (its buckets are the stored ones)."""
    c = table.c
    where = [c.period == query.interval, c.bucket >= query.start, c.bucket < query.end, *where]
    if kept is None:
        columns = [c.bucket, c.site, c.camera, *(c[k] for k in keys)]
        statement = sa.select(*columns, *(_value(c, name, how) for name, how in values)).where(*where)
    else:
        columns = [c.bucket, *(c[name] for name in ("site", "camera", *keys) if name in kept)]
        statement = (
            sa.select(*columns, *(_total(c, name, how) for name, how in values))
            .where(*where)
            .group_by(*columns)
        )
    with engine.connect() as conn:
        rows = _dicts(conn.execute(statement.order_by(*columns).limit(query.limit + 1)))
    return rows[: query.limit], len(rows) > query.limit


def _local_rows(
    engine: sa.Engine,
    table: sa.Table,
    query: SeriesQuery,
    buckets: LocalBuckets,
    keys: Sequence[str],
    values: Sequence[Value],
    where: list[sa.ColumnElement[bool]],
    kept: Sequence[str] | None,
) -> tuple[list[dict[str, Any]], bool]:
    """Rows of ``buckets``, summed in the database: the roll-up rows are joined to the pieces of time each
    bucket takes in (:func:`_pieces`), a month of days or 16 days of hours a statement."""
    c = table.c
    groups = [c[name] for name in ("site", "camera", *keys) if kept is None or name in kept]
    found: list[dict[str, Any]] = []
    per_read = _SLOTS_PER_READ[query.interval]
    begin, last = _slots_with_rows(engine, table, buckets)
    for first in range(begin, last, per_read):
        starts = buckets.starts[first : min(first + per_read, last)]
        after = first + len(starts)
        ends = [*starts[1:], buckets.starts[after] if after < len(buckets.starts) else buckets.end]
        pieces = _pieces(starts, ends, buckets.period)
        on = sa.and_(c.period == pieces.c.period, c.bucket >= pieces.c.lo, c.bucket < pieces.c.hi)
        columns = [pieces.c.slot, *groups]
        statement = (
            sa.select(*columns, *(_total(c, name, how) for name, how in values))
            .select_from(table.join(pieces, on))
            .where(*where)
            .group_by(*columns)
            .order_by(*columns)
            .limit(query.limit + 1 - len(found))
        )
        with engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                # A city's month of India's days sums a million roll-up rows in three pieces a day: in
                # PostgreSQL's default 4 MB of work memory it planned a sort spilled to disk, in 32 MB a
                # hash of the groups, twice as fast (bench/api_latency.py).
                conn.execute(sa.text("SET LOCAL work_mem = '32MB'"))
            rows = _dicts(conn.execute(statement))
        for row in rows:
            row["bucket"] = starts[row.pop("slot")]
        found += rows
        if len(found) > query.limit:
            break
    return found[: query.limit], len(found) > query.limit


def _slots_with_rows(engine: sa.Engine, table: sa.Table, buckets: LocalBuckets) -> tuple[int, int]:
    """The slots ``first``–``last`` (exclusive) of ``buckets`` that may hold stored roll-ups: those from the
    one holding the earliest stored bucket in range to the one holding the latest.

    Building and reading a month of local days costs about 20 ms whatever the store holds, so ten years of
    them cost seconds of the hub's time on a store that holds a day (anyone with a viewer token could ask
    for that over and over). Two reads of the ``(period, bucket)`` index bound the work by what is stored.
    """
    c = table.c
    lo, hi = (buckets.starts[0] if buckets.starts else buckets.end), buckets.end
    spans = []
    with engine.connect() as conn:
        for period in {"15m", buckets.period}:
            in_range = (c.period == period, c.bucket >= lo, c.bucket < hi)
            earliest = conn.execute(sa.select(sa.func.min(c.bucket)).where(*in_range)).scalar_one()
            latest = conn.execute(sa.select(sa.func.max(c.bucket)).where(*in_range)).scalar_one()
            if earliest is not None:
                spans.append((earliest, latest))
    if not spans:
        return 0, 0
    earliest = min(_as_utc(span[0]) for span in spans)
    latest = max(_as_utc(span[1]) for span in spans)
    first = bisect_right(buckets.starts, earliest) - 1
    last = bisect_right(buckets.starts, latest)
    return max(first, 0), last


def _as_utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _pieces(starts: list[datetime], ends: list[datetime], period: str) -> sa.Subquery:
    """(slot, period, lo, hi): the roll-ups that make up bucket ``slot`` (``starts[slot]``–``ends[slot]``)
    are those of ``period`` starting in ``lo``–``hi``. A day is its whole UTC hours, and the quarters of
    the UTC hours it shares with the days either side; an hour of India's is its four quarters. As a
    table of a few dozen rows, the database knows how few buckets there are (it plans a hash of the
    groups, where a computed bucket made it sort a million rows)."""
    rows = []
    for slot, (lo, hi) in enumerate(zip(starts, ends, strict=True)):
        if period == "15m":
            rows.append((slot, "15m", lo, hi))
            continue
        whole_from = _utc_hour(lo) + (_HOUR if _utc_hour(lo) < lo else timedelta(0))
        whole_to = _utc_hour(hi)
        if lo < whole_from:
            rows.append((slot, "15m", lo, whole_from))
        rows.append((slot, "1h", whole_from, whole_to))
        if whole_to < hi:
            rows.append((slot, "15m", whole_to, hi))
    selects = [
        sa.select(
            sa.literal_column(str(slot), sa.Integer()).label("slot"),
            sa.literal(kind, sa.String()).label("period"),
            sa.literal(lo, UtcDateTime()).label("lo"),
            sa.literal(hi, UtcDateTime()).label("hi"),
        )
        for slot, kind, lo, hi in rows
    ]
    return (selects[0] if len(selects) == 1 else sa.union_all(*selects)).subquery("pieces")


def _value(c: Any, name: str, how: Literal["sum", "max"] | tuple[str, str]) -> sa.ColumnElement[Any]:
    """A value of one roll-up row."""
    if isinstance(how, str):
        return c[name]  # type: ignore[no-any-return]
    numerator, denominator = how
    return (c[numerator] / sa.func.nullif(c[denominator], 0)).label(name)  # type: ignore[no-any-return]


def _total(c: Any, name: str, how: Literal["sum", "max"] | tuple[str, str]) -> sa.ColumnElement[Any]:
    """A value over several roll-up rows (sums keep their column's type: PostgreSQL sums integers as
    numeric)."""
    if how == "sum":
        return sa.cast(sa.func.sum(c[name]), c[name].type).label(name)
    if how == "max":
        return sa.func.max(c[name]).label(name)
    numerator, denominator = (sa.cast(sa.func.sum(c[column]), sa.Float()) for column in how)
    return (numerator / sa.func.nullif(denominator, 0)).label(name)


def _dicts(result: sa.CursorResult[Any]) -> list[dict[str, Any]]:
    """Rows as dicts; zipping plain tuples with the column names is about twice as fast as mappings."""
    names = [str(name) for name in result.keys()]  # noqa: SIM118 - a result, not a dict; plain str keys
    return [dict(zip(names, row, strict=True)) for row in result]


def count_series(engine: sa.Engine, query: SeriesQuery, group_by: Sequence[str] | None = None) -> Series:
    """Line crossings per bucket, line, direction and class.

    With ``group_by`` (a subset of site, camera, line, direction, class), counts are summed over the other
    columns, which come back as ``None``: ``("class",)`` gives network-wide totals per bucket and class.
    """
    keys = ("line", "direction", "class")
    if group_by is not None and (unknown := set(group_by) - {"site", "camera", *keys}):
        raise QueryError(f"cannot group counts by {', '.join(sorted(unknown))}")
    return _series(engine, schema.line_count_rollups, query, keys, (("count", "sum"),), kept=group_by)


def speed_series(engine: sa.Engine, query: SeriesQuery) -> Series:
    """Measured road users, mean speed and the highest 85th percentile per bucket, line, direction, class."""
    values: list[Value] = [("n", "sum"), ("mean_kmh", ("speed_sum_kmh", "n")), ("p85_max_kmh", "max")]
    return _series(engine, schema.speed_rollups, query, ("line", "direction", "class"), values)


def occupancy_series(engine: sa.Engine, query: SeriesQuery) -> Series:
    """Mean and peak number present per bucket, zone and class (mean of the reported interval means)."""
    values: list[Value] = [("samples", "sum"), ("mean", ("mean_sum", "samples")), ("peak_max", "max")]
    return _series(engine, schema.occupancy_rollups, query, ("zone", "class"), values)


def movement_series(engine: sa.Engine, query: SeriesQuery) -> Series:
    """Turning movements per bucket, entry zone, exit zone and class."""
    keys = ("from_zone", "to_zone", "class")
    return _series(engine, schema.movement_rollups, query, keys, (("count", "sum"),))


def incident_series(engine: sa.Engine, query: SeriesQuery) -> Series:
    """Incidents that began per bucket, incident type and severity (each incident once, at its onset).

    The roll-up outlives the incident rows themselves (``retention``), so this is the long record."""
    t = schema.incident_rollups
    begun = t.c["count"] > 0  # an update or clearance whose onset never arrived adds a zero
    return _series(engine, t, query, ("incident", "severity"), (("count", "sum"),), (begun,))


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


class Covered:
    """The time some view changes cover, as sorted disjoint runs: whether a bucket overlaps it is one
    binary search, however many incidents there are (a camera knocked every few minutes for a month, or an
    edge sending thousands of one-off reports, made marking a month of quarters take seconds)."""

    def __init__(self, spans: Iterable[ViewChangeSpan]) -> None:
        starts: list[datetime] = []
        ends: list[datetime] = []
        for span in sorted(spans, key=lambda s: s.start):
            if ends and span.start <= ends[-1]:  # overlapping or touching: one run (exact for overlaps)
                ends[-1] = max(ends[-1], span.end)
            else:
                starts.append(span.start)
                ends.append(span.end)
        self._starts, self._ends = starts, ends

    def overlaps(self, start: datetime, end: datetime) -> bool:
        """Whether any span overlaps ``start``–``end`` (the runs before ``end``: the last ends latest)."""
        k = bisect_left(self._starts, end)
        return k > 0 and self._ends[k - 1] > start


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
    buckets = local_buckets(query)
    step = timedelta(seconds=schema.ROLLUP_PERIODS[query.interval])
    ends = {}
    if buckets is not None:
        ends = dict(zip(buckets.starts, [*buckets.starts[1:], buckets.end], strict=True))
    spans = view_change_spans(
        engine,
        query.start,
        query.end + step if buckets is None else buckets.end,
        now,
        site=query.filters.get("site"),
        camera=query.filters.get("camera"),
        with_change=False,
    )
    covers: dict[tuple[str | None, str | None], Covered] = {}
    for row in series.rows:
        lo = row["bucket"]
        key = (row.get("site"), row.get("camera"))
        if key not in covers:  # a camera's own spans, or those of every camera a summed row takes in
            site, camera = key
            covers[key] = Covered(
                span
                for (s, c), listed in spans.items()
                if (site is None or s == site) and (camera is None or c == camera)
                for span in listed
            )
        hi = ends.get(lo) or lo + step
        row["view_changed"] = covers[key].overlaps(lo, hi)
    return series
