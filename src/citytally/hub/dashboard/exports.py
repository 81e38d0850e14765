"""CSV exports of one camera's roll-ups at a chosen bucket size, and the 15-minute turning-movement count
(TMC) report with its peak hour and peak-hour factor, in the layout traffic engineers use."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field

from citytally.hub import queries
from citytally.hub.dashboard.data import Grid, camera_rows, grid_rows, view_cover
from citytally.hub.dashboard.speeds import grid_bins, histogram_percentile, speed_bins_by_bucket
from citytally.hub.store.schema import ROLLUP_PERIODS

__all__ = ["EXPORTS", "Export", "csv_lines", "TmcOut", "TmcRow", "turning_movement_count", "tmc_csv"]


#: How a value column of several roll-up rows adds up to one local day or hour: summed, their highest, or
#: their mean weighted by another column.
Merge = Literal["sum", "max"] | tuple[Literal["mean"], str]


@dataclass(frozen=True)
class Export:
    """One exportable roll-up: how to read it, which columns (key, then value) the CSV carries and how each
    value column adds up over a local day or hour."""

    read: Callable[[sa.Engine, queries.SeriesQuery], queries.Series]
    columns: tuple[tuple[str, str], ...]  # (row key, CSV header)
    merge: dict[str, Merge]
    #: Adds the columns the roll-ups do not hold (``added``): (engine, site, camera, start, end, bucket, grid,
    #: rows).
    extend: (
        Callable[[sa.Engine, str, str, datetime, datetime, str, Grid | None, list[dict[str, Any]]], None]
        | None
    ) = None
    added: tuple[str, ...] = ()


def _speed_bins(
    engine: sa.Engine,
    site: str,
    camera: str,
    start: datetime,
    end: datetime,
    bucket: str,
    grid: Grid | None,
    rows: list[dict[str, Any]],
) -> None:
    """Each speed row gets the road users binned in its bucket and the V85 read off their summed bins (empty
    where none was binned; the bucket's own V85 cannot be made from the intervals' percentiles)."""
    if grid is None:
        bins = speed_bins_by_bucket(engine, site, camera, start, end, bucket)
    else:
        bins = grid_bins(engine, site, camera, grid, end)
    for row in rows:
        counts = bins.get((row["bucket"], row["line"], row["direction"], row["class"]))
        row["binned"] = sum(counts) if counts else 0
        row["v85_kmh"] = histogram_percentile(counts, 0.85) if counts else None


#: kind -> export. Speeds carry the V85 read off each bucket's summed speed bins with how many road users
#: those bins hold (fewer than measured where edges sent no bins), and the highest interval V85 beside it.
EXPORTS: dict[str, Export] = {
    "counts": Export(
        queries.count_series,
        (("line", "line"), ("direction", "direction"), ("class", "class"), ("count", "count")),
        {"count": "sum"},
    ),
    "occupancy": Export(
        queries.occupancy_series,
        (
            ("zone", "zone"),
            ("class", "class"),
            ("samples", "intervals"),
            ("mean", "mean_present"),
            ("peak_max", "peak_present"),
        ),
        {"samples": "sum", "mean": ("mean", "samples"), "peak_max": "max"},
    ),  # fmt: skip
    "speeds": Export(
        queries.speed_series,
        (
            ("line", "line"),
            ("direction", "direction"),
            ("class", "class"),
            ("n", "measured"),
            ("mean_kmh", "mean_kmh"),
            ("p85_max_kmh", "highest_interval_v85_kmh"),
            ("binned", "binned"),
            ("v85_kmh", "v85_from_bins_kmh"),
        ),
        {"n": "sum", "mean_kmh": ("mean", "n"), "p85_max_kmh": "max"},
        _speed_bins,
        ("binned", "v85_kmh"),
    ),  # fmt: skip
    "movements": Export(
        queries.movement_series,
        (("from_zone", "from_zone"), ("to_zone", "to_zone"), ("class", "class"), ("count", "count")),
        {"count": "sum"},
    ),
}


def csv_lines(
    engine: sa.Engine,
    kind: str,
    site: str,
    camera: str,
    start: datetime,
    end: datetime,
    bucket: str,
    tz: ZoneInfo | None = None,
    now: datetime | None = None,
) -> Iterator[str]:
    """The CSV of ``kind`` for one camera, one row per ``bucket`` (15m: UTC quarters; 1h, 1d: hours and
    days of ``tz``, UTC's without it) and key. Every bound is written at ``tz``'s offset
    (``2026-11-02T00:00:00+05:30``). The last column, ``view_changed``, is ``true`` where the camera's view
    was knocked, turned, covered or out of focus during part of the bucket (its numbers may be wrong)."""
    export = EXPORTS[kind]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["site", "camera", "bucket_start", "bucket_end", *(h for _, h in export.columns), "view_changed"]
    )
    changed = view_cover(engine, site, camera, start, end, now or datetime.now(UTC))
    grid = _local_grid(bucket, start, end, tz)
    if grid is None:
        rows = camera_rows(export.read, engine, site, camera, start, end, bucket)
        step = timedelta(seconds=ROLLUP_PERIODS[bucket])
        # UTC's quarters (and hours, where the zone's begin with them), written at the zone's offset as
        # the local days and hours are: a spreadsheet shows 03:00 where the viewer's clock said 03:00
        zone = tz or UTC
        bounds = [(row["bucket"].astimezone(zone), (row["bucket"] + step).astimezone(zone)) for row in rows]
    else:
        rows = _merged(export, grid_rows(export.read, engine, site, camera, grid, end))
        bounds = [
            (row["bucket"].astimezone(grid.tz), grid.bucket_end(row["bucket"]).astimezone(grid.tz))
            for row in rows
        ]
    if export.extend is not None:
        export.extend(engine, site, camera, start, end, bucket, grid, rows)
    for row, (lo, hi) in zip(rows, bounds, strict=True):
        values = [_cell(row[key]) for key, _ in export.columns]
        marked = "true" if changed.overlaps(lo, hi) else "false"
        writer.writerow([site, camera, lo.isoformat(), hi.isoformat(), *values, marked])
    yield out.getvalue()


def _local_grid(bucket: str, start: datetime, end: datetime, tz: ZoneInfo | None) -> Grid | None:
    """Local days of ``tz``, or its hours where they begin within a UTC hour; None: UTC buckets do."""
    if tz is None or tz.key == "UTC" or bucket == "15m":
        return None
    if bucket == "1d":
        return Grid.days(start, end, tz)
    grid = Grid.hours(start, end, tz)
    return grid if grid.times and grid.times[0].minute else None  # else UTC's hours are the same


def _merged(export: Export, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows that share a grid bucket and key made one, each value column as ``export.merge`` says."""
    keys = [key for key, _ in export.columns if key not in export.merge and key not in export.added]
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[(row["bucket"], *(row[key] for key in keys))].append(row)
    merged = []
    for group_key, group in sorted(groups.items(), key=lambda item: item[0]):
        row = dict(zip(["bucket", *keys], group_key, strict=True))
        row |= {column: _merge(how, column, group) for column, how in export.merge.items()}
        merged.append(row)
    return merged


def _merge(how: Merge, column: str, rows: list[dict[str, Any]]) -> Any:
    present = [row for row in rows if row[column] is not None]
    if how == "sum":
        return sum(row[column] for row in present)
    if how == "max":
        return max((row[column] for row in present), default=None)
    weight = sum(float(row[how[1]]) for row in present)
    return sum(float(row[column]) * float(row[how[1]]) for row in present) / weight if weight else None


def _cell(value: Any) -> Any:
    return round(value, 3) if isinstance(value, float) else value


class TmcRow(BaseModel):
    """One 15-minute row of the report: road users per movement (from → to) and class."""

    model_config = ConfigDict(extra="forbid")
    start: datetime
    counts: dict[str, dict[str, int]] = Field(description="'from>to' -> class -> road users")
    total: int
    view_changed: bool = Field(
        default=False,
        description="The camera's view was knocked, turned, covered or out of focus during part of the "
        "quarter: its counts may be wrong.",
    )


class TmcOut(BaseModel):
    """The turning-movement count: 15-minute rows, totals and the peak hour with its factor."""

    model_config = ConfigDict(extra="forbid")
    movements: list[str] = Field(description="'from>to', in column order")
    classes: list[str]
    rows: list[TmcRow]
    totals: dict[str, int] = Field(description="'from>to' -> road users over the range")
    peak_hour_start: datetime | None = Field(
        description="Start of the busiest four consecutive quarters, of those in which the camera's view was "
        "not changed (a quarter marked view_changed may have wrong counts: no peak hour includes one)."
    )
    peak_hour_volume: int
    peak_hour_factor: float | None = Field(
        description="Peak-hour volume / (4 × its busiest quarter); 1.0 is perfectly even flow."
    )
    view_changed_quarters: int = Field(
        default=0, description="Quarters marked view_changed, left out of the peak-hour search."
    )


def turning_movement_count(
    engine: sa.Engine, site: str, camera: str, start: datetime, end: datetime, now: datetime | None = None
) -> TmcOut:
    """Movement × class × 15 minutes over ``start``–``end``, with the peak hour and peak-hour factor.

    Every quarter of the range gets a row (zeros included), so the peak hour is four consecutive quarters;
    none in which the camera's view was changed (its counts may be wrong: a junction is not timed off them).
    """
    rows = camera_rows(queries.movement_series, engine, site, camera, start, end, "15m")
    cells: dict[datetime, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
    for r in rows:
        movement = f"{r['from_zone']}>{r['to_zone']}"
        by_class = cells[r["bucket"]][movement]
        by_class[r["class"]] = by_class.get(r["class"], 0) + int(r["count"])
    quarter = timedelta(minutes=15)
    first = min(cells, default=None)
    times: list[datetime] = []
    if first is not None:
        moment = first
        while moment < end:
            times.append(moment)
            moment += quarter
    changed = view_cover(engine, site, camera, start, end, now or datetime.now(UTC))
    out_rows = [
        TmcRow(
            start=t,
            counts={m: dict(c) for m, c in sorted(cells.get(t, {}).items())},
            total=sum(n for c in cells.get(t, {}).values() for n in c.values()),
            view_changed=changed.overlaps(t, t + quarter),
        )
        for t in times
    ]
    totals: dict[str, int] = defaultdict(int)
    for row in out_rows:
        for movement, by_class in row.counts.items():
            totals[movement] += sum(by_class.values())
    peak_start, peak_volume, phf = _peak_hour(out_rows)
    return TmcOut(
        movements=sorted(totals),
        classes=sorted({cls for r in out_rows for c in r.counts.values() for cls in c}),
        rows=out_rows,
        totals=dict(sorted(totals.items())),
        peak_hour_start=peak_start,
        peak_hour_volume=peak_volume,
        peak_hour_factor=phf,
        view_changed_quarters=sum(row.view_changed for row in out_rows),
    )


def _peak_hour(rows: list[TmcRow]) -> tuple[datetime | None, int, float | None]:
    """The four consecutive quarters with the most road users (earliest on a tie), none with the view
    changed; their volume and PHF."""
    best: tuple[int, int] | None = None  # (volume, first index)
    for i in range(len(rows) - 3):
        if any(r.view_changed for r in rows[i : i + 4]):
            continue
        volume = sum(r.total for r in rows[i : i + 4])
        if best is None or volume > best[0]:
            best = (volume, i)
    if best is None or best[0] == 0:
        return None, 0, None
    volume, i = best
    busiest = max(r.total for r in rows[i : i + 4])
    return rows[i].start, volume, round(volume / (4 * busiest), 3)


def tmc_csv(report: TmcOut, site: str, camera: str) -> Iterator[str]:
    """The report as CSV: one row per quarter, one column per movement and class, then totals."""
    out = io.StringIO()
    writer = csv.writer(out)
    columns = [(m, c) for m in report.movements for c in report.classes]
    movements = (f"{m.replace('>', ' to ')} {c}" for m, c in columns)
    writer.writerow(["site", "camera", "quarter_start", *movements, "total", "view_changed"])
    for row in report.rows:
        cells = [row.counts.get(m, {}).get(c, 0) for m, c in columns]
        changed = "true" if row.view_changed else "false"
        writer.writerow([site, camera, row.start.isoformat(), *cells, row.total, changed])
    peak = report.peak_hour_start.isoformat() if report.peak_hour_start else ""
    writer.writerow([])
    factor = report.peak_hour_factor if report.peak_hour_factor is not None else ""
    writer.writerow(["peak hour start", peak, "peak hour volume", report.peak_hour_volume])
    writer.writerow(["peak hour factor", factor])
    if report.view_changed_quarters:
        left_out = "quarters with the view changed (left out of the peak hour)"
        writer.writerow([left_out, report.view_changed_quarters])
    yield out.getvalue()
