"""The dashboard's speeds: the distribution over road users and V85, over a range and per bucket.

Edges send each interval's road users binned by their own speed (5 km/h bins, ``speeds.histogram``). A V85
over several intervals is read off their summed bins, never made from the intervals' own percentiles (no
average or maximum of percentiles is one). Ingest keeps those sums per roll-up bucket
(``speed_bin_rollups``), so a chart reads a row per bucket, key and bin that holds somebody, however often
the edge reports. A range's distribution is exact: its whole buckets from the roll-ups, the pieces of a
bucket at either end from the facts (``speeds``), as the database sums their bins (SQLite ``json_each``,
PostgreSQL ``jsonb_array_elements_text``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from citytally.events import SPEED_BIN_KMH, SPEED_BINS
from citytally.hub import queries
from citytally.hub.dashboard.data import Grid, grid_rows
from citytally.hub.dashboard.models import SpeedClass, SpeedsOut, V85Series
from citytally.hub.db_metadata import UtcDateTime
from citytally.hub.store import schema

__all__ = ["SpeedKey", "speed_distribution", "histogram_percentile", "speed_bins_by_bucket", "grid_bins"]

_UTC = ZoneInfo("UTC")

#: (bucket start, line, direction, class) of a speed bucket.
SpeedKey = tuple[datetime, str, str, str]
_Key = tuple[str, str, str]  # line, direction, class

# One row per (bucket of :step seconds, inside the range, line, direction, class, bin): the road users in it.
_BINS_SQLITE = """
SELECT CAST(strftime('%s', s.start) AS INTEGER) / :step, s.start >= :inside, s.line, s.direction, s."class",
       CAST(j.key AS INTEGER), SUM(j.value)
FROM speeds AS s, json_each(s.histogram) AS j
WHERE s.site = :site AND s.camera = :camera AND s.start >= :lo AND s.start < :hi AND j.value > 0
GROUP BY 1, 2, 3, 4, 5, 6
"""
_BINS_POSTGRESQL = """
SELECT floor(extract(epoch FROM s.start) / :step)::bigint, s.start >= :inside, s.line, s.direction, s."class",
       j.ordinality - 1, sum(j.value::bigint)
FROM speeds AS s
CROSS JOIN LATERAL jsonb_array_elements_text(s.histogram) WITH ORDINALITY AS j(value, ordinality)
WHERE s.site = :site AND s.camera = :camera AND s.start >= :lo AND s.start < :hi AND j.value::bigint > 0
GROUP BY 1, 2, 3, 4, 5, 6
"""


def _bins_statement(dialect: str) -> sa.TextClause:
    text = _BINS_POSTGRESQL if dialect == "postgresql" else _BINS_SQLITE
    moments = (sa.bindparam(name, type_=UtcDateTime()) for name in ("inside", "lo", "hi"))
    return sa.text(text).bindparams(*moments)


@dataclass
class _Binned:
    """Summed bins: per bucket and key, and per class over the range."""

    buckets: dict[SpeedKey, list[int]] = field(default_factory=dict)
    classes: dict[str, list[int]] = field(default_factory=dict)


def _binned_facts(
    engine: sa.Engine, site: str, camera: str, lo: datetime, hi: datetime, step: int, inside: datetime
) -> _Binned:
    """The camera's speed bins of the intervals starting in ``lo``–``hi``, summed per bucket of ``step``
    seconds (UTC-aligned) and key, and per class over the intervals starting from ``inside``."""
    params = {"site": site, "camera": camera, "lo": lo, "hi": hi, "step": step, "inside": inside}
    with engine.connect() as conn:
        rows = conn.execute(_bins_statement(engine.dialect.name), params).all()
    found = _Binned()
    for bucket, within, line, direction, cls, k, count in rows:
        key = (datetime.fromtimestamp(int(bucket) * step, UTC), line, direction, cls)
        found.buckets.setdefault(key, [0] * SPEED_BINS)[int(k)] += int(count)
        if within:
            found.classes.setdefault(cls, [0] * SPEED_BINS)[int(k)] += int(count)
    return found


def _bins_from_rollups(
    engine: sa.Engine, site: str, camera: str, period: str, lo: datetime, hi: datetime
) -> dict[SpeedKey, list[int]]:
    """The camera's summed speed bins per bucket of ``period`` starting in ``lo``–``hi``, and key."""
    t = schema.speed_bin_rollups
    statement = sa.select(t.c.bucket, t.c.line, t.c.direction, t.c["class"], t.c.bin, t.c["count"]).where(
        t.c.period == period, t.c.site == site, t.c.camera == camera, t.c.bucket >= lo, t.c.bucket < hi
    )
    found: dict[SpeedKey, list[int]] = {}
    with engine.connect() as conn:
        for bucket, line, direction, cls, k, count in conn.execute(statement):
            found.setdefault((bucket, line, direction, cls), [0] * SPEED_BINS)[int(k)] += int(count)
    return found


def _whole_buckets(start: datetime, end: datetime, step: int) -> tuple[datetime, datetime]:
    """The first and last bucket bounds of ``step`` seconds inside ``start``–``end`` (equal: none inside)."""
    first = -(-int(start.timestamp()) // step) * step
    last = max(first, int(end.timestamp()) // step * step)
    return datetime.fromtimestamp(first, UTC), datetime.fromtimestamp(last, UTC)


def _edges(start: datetime, end: datetime, step: int) -> list[tuple[datetime, datetime]]:
    """The pieces of ``start``–``end`` outside its whole buckets of ``step`` seconds (the facts' part)."""
    first, last = _whole_buckets(start, end, step)
    if first >= end or first == last:
        return [(start, end)]
    return [piece for piece in ((start, first), (last, end)) if piece[0] < piece[1]]


def _class_bins(
    engine: sa.Engine, site: str, camera: str, start: datetime, end: datetime, period: str
) -> dict[str, list[int]]:
    """Road users per speed bin and class over the intervals starting in ``start``–``end``: its whole
    buckets of ``period`` from the roll-ups, the rest from the facts."""
    step = schema.ROLLUP_PERIODS[period]
    first, last = _whole_buckets(start, end, step)
    found: dict[str, list[int]] = {}
    if first < last:
        t = schema.speed_bin_rollups
        statement = (
            sa.select(t.c["class"], t.c.bin, sa.func.sum(t.c["count"]))
            .where(t.c.period == period, t.c.site == site, t.c.camera == camera)
            .where(t.c.bucket >= first, t.c.bucket < last)
            .group_by(t.c["class"], t.c.bin)
        )
        with engine.connect() as conn:
            for cls, k, count in conn.execute(statement):
                found.setdefault(cls, [0] * SPEED_BINS)[int(k)] += int(count)
    for lo, hi in _edges(start, end, step):
        for cls, counts in _binned_facts(engine, site, camera, lo, hi, step, lo).classes.items():
            total = found.setdefault(cls, [0] * SPEED_BINS)
            for k, count in enumerate(counts):
                total[k] += count
    return found


def speed_bins_by_bucket(
    engine: sa.Engine, site: str, camera: str, start: datetime, end: datetime, period: str
) -> dict[SpeedKey, list[int]]:
    """One camera's road users per 5 km/h speed bin, summed per UTC bucket of ``period`` (the first bucket
    whole, as :func:`~citytally.hub.dashboard.data.camera_rows` reads it), line, direction and class; keys
    without bins are left out."""
    step = schema.ROLLUP_PERIODS[period]
    first = datetime.fromtimestamp(int(start.timestamp()) // step * step, UTC)
    return _bins_from_rollups(engine, site, camera, period, first, end)


def grid_bins(
    engine: sa.Engine, site: str, camera: str, grid: Grid, end: datetime
) -> dict[SpeedKey, list[int]]:
    """One camera's road users per 5 km/h speed bin, summed per bucket of ``grid`` (local days and hours
    too), line, direction and class; keys without bins are left out."""
    if not grid.times:
        return {}
    split = grid.split_hours(end)
    found = {
        key: bins
        for key, bins in _bins_from_rollups(
            engine, site, camera, grid.read_period, grid.times[0], end
        ).items()
        if key[0] not in split
    }
    for hour in split:
        found |= _bins_from_rollups(engine, site, camera, "15m", hour, min(hour + timedelta(hours=1), end))
    per_bucket: dict[SpeedKey, list[int]] = {}
    for (moment, line, direction, cls), bins in found.items():
        if moment < grid.times[0]:
            continue  # the part of the first hour before the grid's first local midnight
        total = per_bucket.setdefault((grid.bucket_of(moment), line, direction, cls), [0] * SPEED_BINS)
        for k, count in enumerate(bins):
            total[k] += count
    return per_bucket


def _measured_per_class(
    engine: sa.Engine, site: str, camera: str, start: datetime, end: datetime, period: str
) -> dict[str, tuple[int, float]]:
    """class -> (road users measured, sum of their speeds) over the intervals starting in the range: its
    whole buckets of ``period`` from the roll-ups, the rest from the facts."""
    first, last = _whole_buckets(start, end, schema.ROLLUP_PERIODS[period])
    r, s = schema.speed_rollups, schema.speeds
    reads = [
        sa.select(s.c["class"], sa.func.sum(s.c.n), sa.func.sum(s.c.n * s.c.mean_kmh))
        .where(s.c.site == site, s.c.camera == camera, s.c.start >= lo, s.c.start < hi)
        .group_by(s.c["class"])
        for lo, hi in _edges(start, end, schema.ROLLUP_PERIODS[period])
    ]
    if first < last:
        reads.append(
            sa.select(r.c["class"], sa.func.sum(r.c.n), sa.func.sum(r.c.speed_sum_kmh))
            .where(r.c.period == period, r.c.site == site, r.c.camera == camera)
            .where(r.c.bucket >= first, r.c.bucket < last)
            .group_by(r.c["class"])
        )
    found: dict[str, tuple[int, float]] = {}
    with engine.connect() as conn:
        for statement in reads:
            for cls, n, total in conn.execute(statement):
                if n:
                    had = found.get(cls, (0, 0.0))
                    found[cls] = (had[0] + int(n), had[1] + float(total))
    return found


def speed_distribution(
    engine: sa.Engine, site: str, camera: str, start: datetime, end: datetime, tz: ZoneInfo = _UTC
) -> SpeedsOut:
    """Speeds of one camera: the distribution over road users (each by its own speed, 5 km/h bins, per
    class) and the V85 it gives, and V85 per bucket.

    The bins are summed over the range (and over each bucket) and V85 read off the sum (interpolated within
    its bin). Intervals from edges that send no histogram (older ones) count in ``n`` and the mean but cannot
    enter the distribution. A bucket without any bins shows its highest interval V85 instead, in a series of
    its own (:class:`V85Series`)."""
    grid = Grid.of(start, end, tz)
    per_bucket = grid_bins(engine, site, camera, grid, end)
    measured = _measured_per_class(engine, site, camera, start, end, grid.read_period)
    binned = _class_bins(engine, site, camera, start, end, grid.read_period)
    counts = {cls: binned.get(cls, [0] * SPEED_BINS) for cls in measured}
    top = max((k + 1 for c in counts.values() for k, n in enumerate(c) if n), default=0)
    return SpeedsOut(
        bin_width=SPEED_BIN_KMH,
        bins=[i * SPEED_BIN_KMH for i in range(top)],
        series=[
            SpeedClass(
                cls=cls,
                counts=counts[cls][:top],
                n=n,
                n_binned=sum(counts[cls]),
                mean_kmh=round(total / n, 1),
                v85_kmh=histogram_percentile(counts[cls], 0.85),
            )
            for cls, (n, total) in sorted(measured.items())
        ],
        period=grid.period,
        tz=tz.key,
        times=[int(t.timestamp() * 1000) for t in grid.times],
        v85=_v85_series(engine, site, camera, grid, end, per_bucket),
    )


def histogram_percentile(counts: Sequence[int], share: float) -> float | None:
    """The speed below which ``share`` of the road users in ``counts`` (per 5 km/h bin from 0) lie, linear
    within its bin (road users spread evenly over it); None for an empty histogram."""
    total = sum(counts)
    if total == 0:
        return None
    target = share * total
    below = 0
    for k, count in enumerate(counts):
        if count and below + count >= target:
            return round(SPEED_BIN_KMH * (k + (target - below) / count), 1)
        below += count
    return float(SPEED_BIN_KMH * len(counts))  # a share above 1: the top of the histogram


def _measured(
    engine: sa.Engine, site: str, camera: str, grid: Grid, end: datetime
) -> tuple[dict[_Key, list[int | None]], dict[_Key, list[float | None]]]:
    """From the roll-ups (kept longer than the facts), per key and bucket: road users measured and the
    highest interval V85."""
    index = {t: i for i, t in enumerate(grid.times)}
    measured: dict[_Key, list[int | None]] = {}
    highest: dict[_Key, list[float | None]] = {}
    for row in grid_rows(queries.speed_series, engine, site, camera, grid, end):
        key, i = (row["line"], row["direction"], row["class"]), index.get(row["bucket"])
        if i is None or not row["n"]:
            continue
        n = measured.setdefault(key, [None] * len(grid.times))
        top = highest.setdefault(key, [None] * len(grid.times))
        n[i] = (n[i] or 0) + int(row["n"])
        top[i] = round(max(top[i] or 0.0, float(row["p85_max_kmh"])), 1)
    return measured, highest


def _v85_series(
    engine: sa.Engine, site: str, camera: str, grid: Grid, end: datetime, bins: dict[SpeedKey, list[int]]
) -> list[V85Series]:
    """Per (line, direction, class) and bucket: V85 off the bucket's summed bins, the road users measured
    and binned, and where none is binned the highest interval V85."""
    measured, highest = _measured(engine, site, camera, grid, end)
    nothing: list[Any] = [None] * len(grid.times)
    found: list[V85Series] = []
    for key in sorted(set(measured) | {(k[1], k[2], k[3]) for k in bins}):
        counts = [bins.get((t, *key)) for t in grid.times]
        binned = [sum(c) if c else 0 for c in counts]
        found.append(
            V85Series(
                line=key[0],
                direction=key[1],
                cls=key[2],
                values=[histogram_percentile(c, 0.85) if c else None for c in counts],
                measured=[
                    max(m or 0, b) or None for m, b in zip(measured.get(key, nothing), binned, strict=True)
                ],
                binned=binned,
                unbinned_v85=[
                    None if b else v for v, b in zip(highest.get(key, nothing), binned, strict=True)
                ],
            )
        )
    return found
