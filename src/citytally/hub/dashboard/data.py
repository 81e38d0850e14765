"""The dashboard's reads: camera summaries, the city overview and one camera's series, from the roll-ups.

Per-camera series reuse :mod:`citytally.hub.queries`; the city-wide sums are the dashboard's own.
Sums over a range use whole-day roll-ups for the UTC days fully inside it and hourly roll-ups for the
edges, so a month costs a few thousand rows, not a million. Series pick the finest period that keeps a
chart under about a thousand points.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from citytally.errors import StoreError
from citytally.hub import queries
from citytally.hub.dashboard.models import (
    BusyLine,
    CameraInfo,
    CameraStatus,
    CameraSummary,
    CountSeries,
    CountSeriesOut,
    HourProfileOut,
    IncidentDayCount,
    IncidentDaysOut,
    MovementCell,
    OccupancyOut,
    OccupancySeries,
    Overview,
    TurningOut,
    ViewChangeOut,
    ViewChangesOut,
)
from citytally.hub.store import schema
from citytally.hub.store.counted import spans_over

__all__ = [
    "Grid",
    "series_period",
    "bucket_times",
    "camera_summaries",
    "camera_info",
    "camera_status",
    "overview",
    "count_series",
    "count_rows",
    "camera_rows",
    "grid_rows",
    "occupancy_series",
    "turning_movements",
    "incident_days",
    "hour_profile",
    "view_changes",
    "view_cover",
]

_DAY = timedelta(days=1)
_UTC = ZoneInfo("UTC")
_HOUR = timedelta(hours=1)
_MINUTE = timedelta(minutes=1)
#: Enough rows for a month of hourly buckets of a camera with many lines, directions and classes.
_ROW_LIMIT = 200_000


def series_period(start: datetime, end: datetime) -> str:
    """The roll-up period for a chart of ``start``–``end``: 15 min to 3 days, hourly to 45, else daily."""
    span = end - start
    if span <= timedelta(days=3):
        return "15m"
    return "1h" if span <= timedelta(days=45) else "1d"


def _floor(moment: datetime, seconds: int) -> datetime:
    epoch = int(moment.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, tz=UTC)


def bucket_times(start: datetime, end: datetime, period: str) -> list[datetime]:
    """Every bucket start of ``period`` from the one holding ``start`` up to (not including) ``end``."""
    step = schema.ROLLUP_PERIODS[period]
    first = _floor(start, step)
    count = max(0, -(-int((end - first).total_seconds()) // step))
    return [first + timedelta(seconds=step * i) for i in range(count)]


def _segments(start: datetime, end: datetime) -> list[tuple[str, datetime, datetime]]:
    """(period, from, to) pieces that tile ``start``–``end``: whole UTC days, hours at the edges."""
    first_day = _floor(start + _DAY - timedelta(microseconds=1), 86400)
    last_day = _floor(end, 86400)
    if first_day >= last_day:
        return [("1h", start, end)]
    pieces = [("1d", first_day, last_day)]
    if start < first_day:
        pieces.append(("1h", start, first_day))
    if last_day < end:
        pieces.append(("1h", last_day, end))
    return pieces


def _summed(
    conn: sa.Connection,
    table: sa.Table,
    value: str,
    group: Iterable[str],
    start: datetime,
    end: datetime,
    where: Iterable[sa.ColumnElement[bool]] = (),
) -> dict[tuple[Any, ...], int]:
    """sum(``value``) grouped by ``group`` over ``start``–``end``, from the cheapest roll-ups."""
    cols = [table.c[name] for name in group]
    total: dict[tuple[Any, ...], int] = defaultdict(int)
    for period, lo, hi in _segments(start, end):
        query = (
            sa.select(*cols, sa.func.sum(table.c[value]))
            .where(table.c.period == period, table.c.bucket >= lo, table.c.bucket < hi, *where)
            .group_by(*cols)
        )
        for row in conn.execute(query):
            total[tuple(row[:-1])] += int(row[-1] or 0)
    return total


def camera_summaries(engine: sa.Engine, since: datetime, until: datetime) -> list[CameraSummary]:
    """Every camera, with its position (or none) and its line crossings between ``since`` and ``until``."""
    c = schema.cameras
    with engine.connect() as conn:
        cams = conn.execute(
            sa.select(c.c.site, c.c.camera, c.c.location, c.c.lat, c.c.lon).order_by(c.c.site, c.c.camera)
        ).all()
        totals = _summed(conn, schema.line_count_rollups, "count", ("site", "camera"), since, until)
    return [
        CameraSummary(
            site=r.site,
            camera=r.camera,
            name=r.camera,
            location=r.location,
            lat=r.lat,
            lon=r.lon,
            total=totals.get((r.site, r.camera), 0),
        )
        for r in cams
    ]


def camera_status(engine: sa.Engine, edge: Any | None, now: datetime) -> list[CameraStatus]:
    """Every camera's newest reported interval and, where an edge status reached this hub process
    (``edge``: the hub's metrics registry), its outbox backlog."""
    c, e = schema.cameras, schema.events
    found: list[CameraStatus] = []
    gauges = _edge_gauges(edge)
    with engine.connect() as conn:
        cams = conn.execute(sa.select(c.c.site, c.c.camera).order_by(c.c.site, c.c.camera)).all()
        for site, camera in cams:
            newest = conn.execute(
                sa.select(e.c.start, e.c.end, e.c.received_at)
                # incidents come when they happen; the regular intervals say whether the camera reports
                .where(e.c.site == site, e.c.camera == camera, e.c.type != "incident")
                .order_by(e.c.start.desc())
                .limit(1)
            ).first()
            counted = None
            if newest is None:  # nothing stored: silent since retention deleted what it sent, or never heard
                spans = schema.counted_spans
                last = sa.select(sa.func.max(spans.c.end)).where(
                    spans.c.site == site, spans.c.camera == camera
                )
                counted = conn.execute(last).scalar_one()
            found.append(_status(site, camera, newest, gauges, now, counted))
    changed = queries.view_change_spans(engine, now - _MINUTE, now, now)
    for status in found:
        current = changed.get((status.site, status.camera), [])
        status.view_changed = next((c.change or "changed" for c in current if c.open), None)
    return found


_EDGE_GAUGES = (
    "citytally_edge_outbox_depth",
    "citytally_edge_outbox_held_events",
    "citytally_edge_outbox_dropped_events",
    "citytally_edge_outbox_oldest_seconds",
    "citytally_edge_status_timestamp_seconds",
)


def _edge_gauges(edge: Any | None) -> dict[tuple[str, str, str], float]:
    """(gauge, site, camera) -> value of the edge status gauges, read in one pass over the registry
    (``get_sample_value`` collects the whole registry for each value: 150 passes for 50 cameras)."""
    found: dict[tuple[str, str, str], float] = {}
    if edge is None:
        return found
    for metric in edge.collect():
        for sample in metric.samples:
            labels = sample.labels
            if sample.name in _EDGE_GAUGES and labels.keys() == {"site", "camera"}:
                found[(sample.name, labels["site"], labels["camera"])] = float(sample.value)
    return found


def _status(
    site: str,
    camera: str,
    newest: Any,
    gauges: dict[tuple[str, str, str], float],
    now: datetime,
    counted: datetime | None = None,
) -> CameraStatus:
    """``newest``: the camera's newest stored interval (start, end, received_at); ``counted``: where none
    is, the end of what it was counted over before retention deleted its events."""

    def gauge(name: str) -> float | None:
        return gauges.get((name, site, camera))

    def count(name: str) -> int | None:
        value = gauge(name)
        return int(value) if value is not None else None

    oldest_value = gauge("citytally_edge_outbox_oldest_seconds")
    measured = gauge("citytally_edge_status_timestamp_seconds")
    interval = (newest.end - newest.start).total_seconds() if newest is not None else None
    if newest is None:
        state = "no data" if counted is None else "silent"
    elif (now - newest.end).total_seconds() <= 2 * (interval or 0) + 60:
        state = "reporting"
    else:
        state = "silent"
    return CameraStatus(
        site=site,
        camera=camera,
        state=state,
        last_data_end=newest.end if newest is not None else counted,
        last_received_at=newest.received_at if newest is not None else None,
        interval_s=interval,
        outbox_depth=count("citytally_edge_outbox_depth"),
        outbox_oldest_s=oldest_value,
        outbox_held=count("citytally_edge_outbox_held_events"),
        outbox_dropped=count("citytally_edge_outbox_dropped_events"),
        status_at=datetime.fromtimestamp(measured, UTC) if measured is not None else None,
    )


def camera_info(engine: sa.Engine, site: str, camera: str) -> CameraInfo | None:
    """One camera's registry entry, or None if it is not registered."""
    found = queries.get_camera(engine, site, camera)
    if found is None:
        return None
    return CameraInfo(
        site=site,
        camera=camera,
        name=camera,
        location=str(found.get("location") or ""),
        purpose=str(found.get("purpose") or ""),
        lat=found.get("lat"),
        lon=found.get("lon"),
        lines=[str(line["name"]) for line in found["lines"]],
        zones=[str(zone["name"]) for zone in found["zones"]],
    )


def overview(engine: sa.Engine, start: datetime, end: datetime, tz: ZoneInfo, top: int = 10) -> Overview:
    """City totals by class, the busiest lines and crossings by local weekday × hour."""
    r = schema.line_count_rollups
    with engine.connect() as conn:
        by_class = _summed(conn, r, "count", ("class",), start, end)
        by_line = _summed(conn, r, "count", ("site", "camera", "line"), start, end)
        buckets = _city_buckets(conn, "1h", start, end)
        if any(bucket.astimezone(tz).minute for bucket, _ in buckets):
            # A zone whose hours begin at the half or quarter hour (India, Nepal, Newfoundland): each UTC
            # hour holds parts of two local hours, the 15-minute roll-ups tell them apart.
            buckets = _city_buckets(conn, "15m", start, end)
    heat = [[0] * 24 for _ in range(7)]
    for bucket, count in buckets:
        local = bucket.astimezone(tz)
        heat[local.weekday()][local.hour] += int(count or 0)
    busiest = sorted(by_line.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    return Overview(
        start=start,
        end=end,
        totals={cls: n for (cls,), n in sorted(by_class.items())},
        busiest_lines=[
            BusyLine(site=s, camera=c, camera_name=c, line=line, total=n) for (s, c, line), n in busiest
        ],
        heatmap=heat,
    )


def _city_buckets(conn: sa.Connection, period: str, start: datetime, end: datetime) -> list[Any]:
    """Crossings of every camera per roll-up bucket of ``period`` starting in ``start``–``end``."""
    r = schema.line_count_rollups
    return list(
        conn.execute(
            sa.select(r.c.bucket, sa.func.sum(r.c.count))
            .where(r.c.period == period, r.c.bucket >= start, r.c.bucket < end)
            .group_by(r.c.bucket)
        ).all()
    )


def incident_days(engine: sa.Engine, days: int, tz: ZoneInfo, now: datetime) -> IncidentDaysOut:
    """Incidents that began per local day of ``tz`` (the last ``days`` days, today included), camera and
    type: summed from the 15-minute roll-ups, whose buckets fit the days of every zone (offsets are whole
    quarters of an hour); the stored daily roll-ups are UTC days. At most 31 days (the 15-minute limit)."""
    if not 1 <= days <= 31:
        raise queries.QueryError(f"days must be 1 to 31, got {days}")
    today = now.astimezone(tz).date()
    first = today - timedelta(days=days - 1)
    t = schema.incident_rollups
    begun = sa.func.sum(t.c["count"])
    statement = (
        sa.select(t.c.bucket, t.c.site, t.c.camera, t.c.incident, begun)
        .where(
            t.c.period == "15m",
            t.c.bucket >= queries.local_midnight(first, tz),
            t.c.bucket < queries.local_midnight(today + _DAY, tz),
            t.c["count"] > 0,  # an update or clearance whose onset never arrived adds a zero
        )
        .group_by(t.c.bucket, t.c.site, t.c.camera, t.c.incident)
    )
    per_day: dict[tuple[date, str, str, str], int] = defaultdict(int)
    with engine.connect() as conn:
        for bucket, site, camera, incident, count in conn.execute(statement):
            per_day[(bucket.astimezone(tz).date(), site, camera, incident)] += int(count)
    return IncidentDaysOut(
        tz=tz.key,
        days=[first + timedelta(days=k) for k in range(days)],
        counts=[
            IncidentDayCount(day=day, site=site, camera=camera, incident=incident, count=count)
            for (day, site, camera, incident), count in sorted(per_day.items())
        ],
    )


def hour_profile(
    engine: sa.Engine, site: str, camera: str, days: int, tz: ZoneInfo, now: datetime
) -> HourProfileOut:
    """Mean crossings of one camera per local hour of the day (of ``tz``), weekdays and weekends apart, over
    the local hours of the last ``days`` days in which it reported counts (an offline hour is not a quiet
    one). From the 15-minute roll-ups, so an hour is a whole local hour in every zone (India's begin at
    the half hour of UTC's). At most 31 days (the 15-minute limit)."""
    if not 1 <= days <= 31:
        raise queries.QueryError(f"days must be 1 to 31, got {days}")
    end = now
    start = _floor(now - timedelta(days=days), 900)
    r, e = schema.line_count_rollups, schema.events
    with engine.connect() as conn:
        quarters = conn.execute(
            sa.select(r.c.bucket, sa.func.sum(r.c["count"]))
            .where(r.c.period == "15m", r.c.site == site, r.c.camera == camera)
            .where(r.c.bucket >= start, r.c.bucket < end)
            .group_by(r.c.bucket)
        ).all()
        reported = list(
            conn.execute(
                sa.select(e.c.start)
                .distinct()
                .where(e.c.site == site, e.c.camera == camera, e.c.type == "line_count")
                .where(e.c.start >= start, e.c.start < end)
            ).scalars()
        )
        # and the quarters counted before retention deleted their events (a camera's own shorter limit)
        for span_start, span_end in _counted(conn, site, camera, "line_count", start, end):
            quarter = max(_floor(span_start, 900), start)
            while quarter < min(span_end, end):
                reported.append(quarter)
                quarter += timedelta(seconds=900)
        per_hour = dict.fromkeys((_hour_key(moment, tz) for moment in reported), 0)
    for bucket, count in quarters:
        key = _hour_key(bucket, tz)
        per_hour[key] = per_hour.get(key, 0) + int(count or 0)
    sums = {kind: [0] * 24 for kind in ("weekday", "weekend")}
    seen = {kind: [0] * 24 for kind in ("weekday", "weekend")}
    for (day, hour, _offset), count in per_hour.items():
        kind = "weekend" if day.weekday() >= 5 else "weekday"
        sums[kind][hour] += count
        seen[kind][hour] += 1
    mean = {k: [round(n / h, 3) if h else None for n, h in zip(sums[k], seen[k], strict=True)] for k in sums}
    return HourProfileOut(
        tz=tz.key, days=days, weekday=mean["weekday"], weekend=mean["weekend"], hours=len(per_hour)
    )


def _hour_key(moment: datetime, tz: ZoneInfo) -> tuple[date, int, timedelta | None]:
    """The local hour that holds ``moment``; its offset keeps the hour a clock goes back over twice apart."""
    local = moment.astimezone(tz)
    return local.date(), local.hour, local.utcoffset()


@dataclass(frozen=True)
class Grid:
    """The buckets of a chart: their starts (UTC instants), the roll-up period read to fill them and where
    any instant falls. Daily buckets are days of the asked time zone, summed from hourly roll-ups (the
    stored daily roll-ups are UTC days); where a local midnight is not on a UTC hour (India, Nepal,
    Newfoundland), the hour that holds it is read from the 15-minute roll-ups (:meth:`split_hours`).
    Hourly buckets are local hours too: where those begin at the half or quarter of a UTC hour, they are
    summed from the 15-minute roll-ups."""

    period: str
    read_period: str
    times: list[datetime]
    tz: ZoneInfo

    @classmethod
    def of(cls, start: datetime, end: datetime, tz: ZoneInfo = _UTC) -> Grid:
        """The grid of a chart of ``start``–``end``: its bucket size is :func:`series_period`'s."""
        period = series_period(start, end)
        if period == "1d" and tz.key != "UTC":
            return cls.days(start, end, tz)
        if period == "1h" and not all(_on_the_hour(moment, tz) for moment in (start, end)):
            return cls.hours(start, end, tz)
        return cls(period, period, bucket_times(start, end, period), tz)

    @classmethod
    def days(cls, start: datetime, end: datetime, tz: ZoneInfo) -> Grid:
        """The local days of ``tz`` from the one holding ``start`` to the one holding ``end``."""
        day = start.astimezone(tz).date()
        times: list[datetime] = []
        while (moment := queries.local_midnight(day, tz)) < end:
            times.append(moment)
            day += _DAY
        return cls("1d", "1h", times, tz)

    @classmethod
    def hours(cls, start: datetime, end: datetime, tz: ZoneInfo) -> Grid:
        """The local hours of ``tz`` from the one holding ``start``, read from the 15-minute roll-ups."""
        times: list[datetime] = []
        moment = queries.local_hour(start, tz)
        while moment < end:
            times.append(moment)
            moment = queries.local_hour(moment + _HOUR, tz)
        return cls("1h", "15m", times, tz)

    def bucket_end(self, bucket: datetime) -> datetime:
        """Where the grid bucket starting at ``bucket`` ends (a local day may have 23 or 25 hours)."""
        if self.read_period == self.period:
            return bucket + timedelta(seconds=schema.ROLLUP_PERIODS[self.period])
        if self.period == "1h":
            return queries.local_hour(bucket + _HOUR, self.tz)
        return queries.local_midnight(bucket.astimezone(self.tz).date() + _DAY, self.tz)

    def split_hours(self, end: datetime) -> frozenset[datetime]:
        """The UTC hours before ``end`` that hold a local midnight of the grid within them (India's, Nepal's,
        Newfoundland's), the last day's end included: their hourly roll-up holds the end of one day and the
        start of the next, so they are read from the 15-minute roll-ups instead."""
        if self.read_period != "1h" or self.period != "1d" or not self.times:
            return frozenset()
        midnights = [*self.times, self.bucket_end(self.times[-1])]
        hours = ((_floor(midnight, 3600), midnight) for midnight in midnights)
        return frozenset(hour for hour, midnight in hours if hour != midnight and hour < end)

    def bucket_of(self, moment: datetime) -> datetime:
        """The start of the bucket that holds ``moment``."""
        if self.read_period == self.period:
            return _floor(moment, schema.ROLLUP_PERIODS[self.period])
        if self.period == "1h":
            return queries.local_hour(moment, self.tz)
        return queries.local_midnight(moment.astimezone(self.tz).date(), self.tz)


def _on_the_hour(moment: datetime, tz: ZoneInfo) -> bool:
    """Do the hours of ``tz`` begin on UTC's around ``moment``?"""
    return _floor(moment, 3600).astimezone(tz).minute == 0


def camera_rows(
    read: Callable[[sa.Engine, queries.SeriesQuery], queries.Series],
    engine: sa.Engine,
    site: str,
    camera: str,
    start: datetime,
    end: datetime,
    period: str,
) -> list[dict[str, Any]]:
    """One camera's roll-up rows of ``period`` covering ``start``–``end`` (the first bucket whole), read in
    pieces no longer than the query layer allows for that period."""
    step = schema.ROLLUP_PERIODS[period]
    lo = _floor(start, step)
    longest = queries.MAX_RANGE[period]
    rows: list[dict[str, Any]] = []

    def span(lo: datetime, hi: datetime) -> list[dict[str, Any]]:
        query = queries.SeriesQuery(
            interval=cast(queries.Interval, period),
            start=lo,
            end=hi,
            filters={"site": site, "camera": camera},
            limit=_ROW_LIMIT,
        )
        series = read(engine, query)
        if not series.truncated:
            return series.rows
        # more rows than the limit (a camera with many lines, zones and classes over a month of quarters):
        # the halves are read on their own rather than the rows past the limit lost
        buckets = int((hi - lo).total_seconds() // step)
        if buckets < 2:
            raise StoreError(f"{site}/{camera}: one {period} bucket holds over {_ROW_LIMIT} rows")
        middle = lo + timedelta(seconds=step * (buckets // 2))
        return span(lo, middle) + span(middle, hi)

    while lo < end:
        hi = min(end, lo + longest)
        rows += span(lo, hi)
        lo = hi
    return rows


def grid_rows(
    read: Callable[[sa.Engine, queries.SeriesQuery], queries.Series],
    engine: sa.Engine,
    site: str,
    camera: str,
    grid: Grid,
    end: datetime,
) -> list[dict[str, Any]]:
    """Roll-up rows for ``grid``, ``bucket`` moved to its grid bucket (several rows may share one); rows
    before the grid's first bucket are left out."""
    if not grid.times:
        return []
    split = grid.split_hours(end)
    rows = camera_rows(read, engine, site, camera, grid.times[0], end, grid.read_period)
    rows = [row for row in rows if row["bucket"] not in split]
    for hour in sorted(split):
        rows += camera_rows(read, engine, site, camera, hour, min(hour + _HOUR, end), "15m")
    first = grid.times[0]
    return [row | {"bucket": grid.bucket_of(row["bucket"])} for row in rows if row["bucket"] >= first]


def _reported(
    engine: sa.Engine, site: str, camera: str, kind: str, grid: Grid, end: datetime
) -> set[datetime]:
    """Grid buckets in which the camera sent at least one event of ``kind`` (even one counting nothing).

    Raw events are kept shorter than roll-ups; past their retention what they covered is read from
    ``counted_spans`` (noted as retention deleted them), so a quiet bucket is still told from one without
    data (before migration 0019 only buckets with a roll-up row counted as reported there)."""
    if not grid.times:
        return set()
    e = schema.events
    query = (
        sa.select(e.c.start)
        .distinct()
        .where(e.c.site == site, e.c.camera == camera, e.c.type == kind)
        .where(e.c.start >= grid.times[0], e.c.start < end)
    )
    with engine.connect() as conn:
        reported = {grid.bucket_of(moment) for moment in conn.execute(query).scalars()}
        counted = _counted(conn, site, camera, kind, grid.times[0], end)
    for span_start, span_end in counted:
        first = max(bisect_right(grid.times, span_start) - 1, 0)
        for bucket in grid.times[first:]:
            if bucket >= span_end:
                break
            if grid.bucket_end(bucket) > span_start:
                reported.add(bucket)
    return reported


def _counted(
    conn: sa.Connection, site: str, camera: str, kind: str, start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """The stretches of ``start``–``end`` over which the camera's events of ``kind`` were counted and
    since deleted by retention (``counted_spans``)."""
    return [(low, high) for _, _, low, high in spans_over(conn, site, camera, [kind], start, end)]


def count_rows(
    engine: sa.Engine, site: str, camera: str, start: datetime, end: datetime, period: str
) -> list[dict[str, Any]]:
    """Line-count roll-up rows of one camera (bucket, line, direction, class, count), oldest first."""
    return camera_rows(queries.count_series, engine, site, camera, start, end, period)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def count_series(
    engine: sa.Engine, site: str, camera: str, start: datetime, end: datetime, tz: ZoneInfo = _UTC
) -> CountSeriesOut:
    """Crossings per bucket for each (line, direction, class) of one camera: 0 where the camera reported
    and nobody of that kind crossed, None where it sent nothing (offline, or not yet reported)."""
    grid = Grid.of(start, end, tz)
    index = {t: i for i, t in enumerate(grid.times)}
    rows = grid_rows(queries.count_series, engine, site, camera, grid, end)
    reported = _reported(engine, site, camera, "line_count", grid, end) | {r["bucket"] for r in rows}
    empty = [0 if t in reported else None for t in grid.times]
    values: dict[tuple[str, str, str], list[int | None]] = {}
    for row in rows:
        series = values.setdefault((row["line"], row["direction"], row["class"]), list(empty))
        i = index.get(row["bucket"])
        if i is not None:
            series[i] = (series[i] or 0) + int(row["count"])
    return CountSeriesOut(
        period=grid.period,
        tz=tz.key,
        times=[_ms(t) for t in grid.times],
        reported=[t in reported for t in grid.times],
        series=[
            CountSeries(line=k[0], direction=k[1], cls=k[2], values=v) for k, v in sorted(values.items())
        ],
        total=sum(n or 0 for v in values.values() for n in v),
    )


def occupancy_series(
    engine: sa.Engine, site: str, camera: str, start: datetime, end: datetime, tz: ZoneInfo = _UTC
) -> OccupancyOut:
    """Mean road users present per bucket, for each (zone, class) of one camera; None where the camera sent
    no occupancy for the bucket."""
    grid = Grid.of(start, end, tz)
    index = {t: i for i, t in enumerate(grid.times)}
    rows = grid_rows(queries.occupancy_series, engine, site, camera, grid, end)
    reported = _reported(engine, site, camera, "zone_occupancy", grid, end) | {r["bucket"] for r in rows}
    sums: dict[tuple[str, str], list[list[float]]] = {}
    for row in rows:
        acc = sums.setdefault((row["zone"], row["class"]), [[0.0, 0.0] for _ in grid.times])
        i = index.get(row["bucket"])
        if i is not None and row["mean"] is not None:
            acc[i][0] += float(row["mean"]) * int(row["samples"])
            acc[i][1] += int(row["samples"])
    values = {
        key: [
            (round(total / n, 3) if n else 0.0) if t in reported else None
            for t, (total, n) in zip(grid.times, acc, strict=True)
        ]
        for key, acc in sums.items()
    }
    return OccupancyOut(
        period=grid.period,
        tz=tz.key,
        times=[_ms(t) for t in grid.times],
        series=[OccupancySeries(zone=k[0], cls=k[1], values=v) for k, v in sorted(values.items())],
    )


def turning_movements(
    engine: sa.Engine, site: str, camera: str, start: datetime, end: datetime
) -> TurningOut:
    """The from-zone × to-zone matrix of one camera over the range, all classes together."""
    period = series_period(start, end)
    cells: dict[tuple[str, str], int] = defaultdict(int)
    for row in camera_rows(queries.movement_series, engine, site, camera, start, end, period):
        cells[(row["from_zone"], row["to_zone"])] += int(row["count"])
    return TurningOut(
        movements=[MovementCell(from_zone=f, to_zone=t, count=n) for (f, t), n in sorted(cells.items()) if n]
    )


def view_changes(
    engine: sa.Engine, site: str, camera: str, start: datetime, end: datetime, now: datetime
) -> ViewChangesOut:
    """The camera's ``view_changed`` incidents that overlap ``start``–``end``, oldest first
    (:func:`citytally.hub.queries.view_change_spans`)."""
    spans = queries.view_change_spans(engine, start, end, now, site=site, camera=camera)
    found = spans.get((site, camera), [])
    return ViewChangesOut(changes=[ViewChangeOut.model_validate(c, from_attributes=True) for c in found])


def view_cover(
    engine: sa.Engine, site: str, camera: str, start: datetime, end: datetime, now: datetime
) -> queries.Covered:
    """The time the camera's view was changed within ``start``–``end``: ``.overlaps(lo, hi)`` says
    whether it was during part of a bucket."""
    spans = queries.view_change_spans(engine, start, end, now, site=site, camera=camera, with_change=False)
    return queries.Covered(spans.get((site, camera), []))
