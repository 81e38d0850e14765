"""The dashboard's reads: camera summaries, the city overview and one camera's series, from the roll-ups.

Per-camera series reuse :mod:`citytally.hub.queries`; the city-wide sums are the dashboard's own.
Sums over a range use whole-day roll-ups for the UTC days fully inside it and hourly roll-ups for the
edges, so a month costs a few thousand rows, not a million. Series pick the finest period that keeps a
chart under about a thousand points.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from citytally.hub import queries
from citytally.hub.dashboard.models import (
    BusyLine,
    CameraInfo,
    CameraSummary,
    CountSeries,
    CountSeriesOut,
    MovementCell,
    OccupancyOut,
    OccupancySeries,
    Overview,
    SpeedClass,
    SpeedsOut,
    TurningOut,
)
from citytally.hub.store import schema

__all__ = [
    "series_period",
    "bucket_times",
    "camera_summaries",
    "camera_info",
    "overview",
    "count_series",
    "count_rows",
    "occupancy_series",
    "turning_movements",
    "speed_distribution",
]

_DAY = timedelta(days=1)
_HOUR = timedelta(hours=1)
SPEED_BIN_KMH = 5
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
    """Every camera with a position, with its line crossings between ``since`` and ``until``."""
    c = schema.cameras
    with engine.connect() as conn:
        cams = conn.execute(
            sa.select(c.c.site, c.c.camera, c.c.location, c.c.lat, c.c.lon)
            .where(c.c.lat.is_not(None), c.c.lon.is_not(None))
            .order_by(c.c.site, c.c.camera)
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
        hourly = conn.execute(
            sa.select(r.c.bucket, sa.func.sum(r.c.count))
            .where(r.c.period == "1h", r.c.bucket >= start, r.c.bucket < end)
            .group_by(r.c.bucket)
        ).all()
    heat = [[0] * 24 for _ in range(7)]
    for bucket, count in hourly:
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


def _camera_rows(
    read: Callable[[sa.Engine, queries.SeriesQuery], queries.Series],
    engine: sa.Engine,
    site: str,
    camera: str,
    start: datetime,
    end: datetime,
    period: str,
) -> list[dict[str, Any]]:
    """One camera's roll-up rows of ``period`` covering ``start``–``end`` (the first bucket whole)."""
    query = queries.SeriesQuery(
        interval=cast(queries.Interval, period),
        start=_floor(start, schema.ROLLUP_PERIODS[period]),
        end=end,
        filters={"site": site, "camera": camera},
        limit=_ROW_LIMIT,
    )
    return read(engine, query).rows


def count_rows(
    engine: sa.Engine, site: str, camera: str, start: datetime, end: datetime, period: str
) -> list[dict[str, Any]]:
    """Line-count roll-up rows of one camera (bucket, line, direction, class, count), oldest first."""
    return _camera_rows(queries.count_series, engine, site, camera, start, end, period)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def count_series(engine: sa.Engine, site: str, camera: str, start: datetime, end: datetime) -> CountSeriesOut:
    """Crossings per bucket for each (line, direction, class) of one camera, gaps filled with 0."""
    period = series_period(start, end)
    times = bucket_times(start, end, period)
    index = {t: i for i, t in enumerate(times)}
    values: dict[tuple[str, str, str], list[int]] = {}
    for row in count_rows(engine, site, camera, start, end, period):
        series = values.setdefault((row["line"], row["direction"], row["class"]), [0] * len(times))
        if row["bucket"] in index:
            series[index[row["bucket"]]] += int(row["count"])
    return CountSeriesOut(
        period=period,
        times=[_ms(t) for t in times],
        series=[
            CountSeries(line=k[0], direction=k[1], cls=k[2], values=v) for k, v in sorted(values.items())
        ],
        total=sum(sum(v) for v in values.values()),
    )


def occupancy_series(
    engine: sa.Engine, site: str, camera: str, start: datetime, end: datetime
) -> OccupancyOut:
    """Mean road users present per bucket, for each (zone, class) of one camera."""
    period = series_period(start, end)
    times = bucket_times(start, end, period)
    index = {t: i for i, t in enumerate(times)}
    values: dict[tuple[str, str], list[float | None]] = {}
    for row in _camera_rows(queries.occupancy_series, engine, site, camera, start, end, period):
        series = values.setdefault((row["zone"], row["class"]), [None] * len(times))
        if row["bucket"] in index and row["mean"] is not None:
            series[index[row["bucket"]]] = round(float(row["mean"]), 3)
    return OccupancyOut(
        period=period,
        times=[_ms(t) for t in times],
        series=[OccupancySeries(zone=k[0], cls=k[1], values=v) for k, v in sorted(values.items())],
    )


def turning_movements(
    engine: sa.Engine, site: str, camera: str, start: datetime, end: datetime
) -> TurningOut:
    """The from-zone × to-zone matrix of one camera over the range, all classes together."""
    period = series_period(start, end)
    cells: dict[tuple[str, str], int] = defaultdict(int)
    for row in _camera_rows(queries.movement_series, engine, site, camera, start, end, period):
        cells[(row["from_zone"], row["to_zone"])] += int(row["count"])
    return TurningOut(
        movements=[MovementCell(from_zone=f, to_zone=t, count=n) for (f, t), n in sorted(cells.items()) if n]
    )


def speed_distribution(
    engine: sa.Engine, site: str, camera: str, start: datetime, end: datetime
) -> SpeedsOut:
    """Road users by their interval's mean speed, in 5 km/h bins, per class (from the per-interval facts)."""
    s = schema.speeds
    query = sa.select(s.c["class"], s.c.n, s.c.mean_kmh, s.c.p85_kmh).where(
        s.c.site == site, s.c.camera == camera, s.c.start >= start, s.c.start < end
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    top = max((int(r.mean_kmh // SPEED_BIN_KMH) for r in rows), default=-1) + 1
    per: dict[str, dict[str, Any]] = {}
    for cls, n, mean, p85 in rows:
        acc = per.setdefault(cls, {"counts": [0] * top, "n": 0, "sum": 0.0, "p85": 0.0})
        acc["counts"][int(mean // SPEED_BIN_KMH)] += int(n)
        acc["n"] += int(n)
        acc["sum"] += float(mean) * int(n)
        acc["p85"] += float(p85) * int(n)
    return SpeedsOut(
        bin_width=SPEED_BIN_KMH,
        bins=[i * SPEED_BIN_KMH for i in range(top)],
        series=[
            SpeedClass(
                cls=cls,
                counts=a["counts"],
                n=a["n"],
                mean_kmh=round(a["sum"] / a["n"], 1),
                p85_kmh=round(a["p85"] / a["n"], 1),
            )
            for cls, a in sorted(per.items())
        ],
    )
