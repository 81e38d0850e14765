"""Cost of the dashboard's speeds from rolled-up speed bins: a month of one camera's speeds, before vs now.

The store holds 31 days of one camera's speed facts as ingest leaves them: one interval a minute (the edge's
default), one line, two directions, four classes (cars, cyclists, pedestrians, buses; a class that saw
nobody in an interval has no row), each row with its road users' speeds binned (5 km/h), and the speed
roll-ups and speed-bin roll-ups (15 min, hourly, daily) in step.

Timed, interleaved, over the last 30 days (the camera page's hourly chart):

* **speeds endpoint** (``speed_distribution``): now, each bucket's bins and the range's distribution come from
  ``speed_bin_rollups`` (the pieces of a bucket at the range's ends from the facts); the baseline is the
  function as it was before: the database summed every fact's bins per bucket, key and bin;
* **speeds CSV per hour** (``csv_lines``, with the binned and V85-from-bins columns): now the bins from the
  roll-ups; the baseline summed the facts' bins, as the endpoint did.

Both variants give the same answer here (checked before timing). On SQLite (a temporary file) and, with
``--postgresql URL``, on a PostgreSQL database of its own as well (the bench migrates it and replaces the
rows of its site ``bench``; drop it afterwards).

    .venv/bin/python bench/dashboard_speeds.py --days 31 --runs 3 \
        --postgresql postgresql+psycopg://postgres@127.0.0.1:5432/bench_speeds
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from harness import RESULTS_DIR, Run

from citytally.events import SPEED_BIN_KMH, SPEED_BINS, SpeedStats
from citytally.hub.dashboard import data, exports, speeds
from citytally.hub.dashboard.exports import csv_lines
from citytally.hub.dashboard.models import SpeedClass, SpeedsOut
from citytally.hub.store import create_store_engine, migrate, schema, sqlite_url

SITE, CAMERA = "bench", "cam-000"
#: class -> (mean road users per interval, mean speed, spread), km/h
TRAFFIC = {
    "car": (6.0, 42.0, 8.0),
    "bicycle": (2.0, 18.0, 4.0),
    "person": (3.0, 5.0, 1.0),
    "bus": (0.2, 30.0, 5.0),
}
DIRECTIONS = ("inbound", "outbound")
_BATCH = 20_000


def _interval(rng: random.Random, start: datetime) -> list[dict[str, Any]]:
    """One minute's speed facts: a row per direction and class that saw somebody."""
    event = uuid.uuid4()
    rows = []
    for direction in DIRECTIONS:
        for cls, (rate, mean, spread) in TRAFFIC.items():
            n = sum(rng.random() < rate / 10 for _ in range(10))
            if not n:
                continue
            stats = SpeedStats.of([max(0.5, rng.gauss(mean, spread)) for _ in range(n)])
            rows.append(
                {
                    "event_id": event,
                    "site": SITE,
                    "camera": CAMERA,
                    "start": start,
                    "end": start + timedelta(minutes=1),
                    "line": "main",
                    "direction": direction,
                    "class": cls,
                    "n": stats.n,
                    "mean_kmh": stats.mean_kmh,
                    "p85_kmh": stats.p85_kmh,
                    "histogram": stats.histogram,
                }
            )
    return rows


def _rollups(facts: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The speed roll-up rows and speed-bin roll-up rows of every period that ``facts`` sum to."""
    sums: dict[tuple[Any, ...], list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
    bins: dict[tuple[Any, ...], int] = defaultdict(int)
    for f in facts:
        epoch = int(f["start"].timestamp())
        for period, step in schema.ROLLUP_PERIODS.items():
            bucket = datetime.fromtimestamp(epoch - epoch % step, tz=UTC)
            acc = sums[(period, bucket, f["direction"], f["class"])]
            acc[0] += f["n"]
            acc[1] += f["n"] * f["mean_kmh"]
            acc[2] = max(acc[2], f["p85_kmh"])
            for k, count in enumerate(f["histogram"] or ()):
                if count:
                    bins[(period, bucket, f["direction"], f["class"], k)] += count
    where = {"site": SITE, "camera": CAMERA, "line": "main"}
    speeds_rows = [
        where | {"period": period, "bucket": bucket, "direction": direction, "class": cls}
        | {"n": int(n), "speed_sum_kmh": total, "p85_max_kmh": top}
        for (period, bucket, direction, cls), (n, total, top) in sums.items()
    ]  # fmt: skip
    bin_rows = [
        where
        | {"period": period, "bucket": bucket, "direction": direction, "class": cls, "bin": k, "count": n}
        for (period, bucket, direction, cls, k), n in bins.items()
    ]
    return speeds_rows, bin_rows


def fill(engine: sa.Engine, end: datetime, days: int, seed: int = 18) -> int:
    """``days`` of one camera's speeds up to ``end``; returns the fact rows stored."""
    rng = random.Random(seed)
    facts: list[dict[str, Any]] = []
    moment = end - timedelta(days=days)
    while moment < end:
        facts += _interval(rng, moment)
        moment += timedelta(minutes=1)
    speed_rows, bin_rows = _rollups(facts)
    tables = (
        (schema.speeds, facts),
        (schema.speed_rollups, speed_rows),
        (schema.speed_bin_rollups, bin_rows),
    )
    with engine.begin() as conn:
        for table, rows in tables:
            conn.execute(table.delete().where(table.c.site == SITE))  # an earlier run's
            for i in range(0, len(rows), _BATCH):
                conn.execute(table.insert(), rows[i : i + _BATCH])
    return len(facts)


def _measured_from_facts(engine: sa.Engine, start: datetime, end: datetime) -> dict[str, tuple[int, float]]:
    s = schema.speeds
    query = (
        sa.select(s.c["class"], sa.func.sum(s.c.n), sa.func.sum(s.c.n * s.c.mean_kmh))
        .where(s.c.site == SITE, s.c.camera == CAMERA, s.c.start >= start, s.c.start < end)
        .group_by(s.c["class"])
    )
    with engine.connect() as conn:
        return {cls: (int(n), float(total)) for cls, n, total in conn.execute(query) if n}


def speeds_before(engine: sa.Engine, start: datetime, end: datetime) -> SpeedsOut:
    """``speed_distribution`` as it was before the speed-bin roll-ups: every fact's bins summed by the
    database per bucket, key and bin (one query for the buckets and the range), n and mean from the facts."""
    grid = data.Grid.of(start, end)
    first = grid.times[0]
    binned = speeds._binned_facts(
        engine, SITE, CAMERA, first, end, schema.ROLLUP_PERIODS[grid.read_period], start
    )
    per_bucket: dict[speeds.SpeedKey, list[int]] = {}
    for (moment, line, direction, cls), found in binned.buckets.items():
        total = per_bucket.setdefault((grid.bucket_of(moment), line, direction, cls), [0] * SPEED_BINS)
        for k, count in enumerate(found):
            total[k] += count
    measured = _measured_from_facts(engine, start, end)
    counts = {cls: binned.classes.get(cls, [0] * SPEED_BINS) for cls in measured}
    top = max((k + 1 for c in counts.values() for k, n in enumerate(c) if n), default=0)
    return SpeedsOut(
        bin_width=SPEED_BIN_KMH,
        bins=[i * SPEED_BIN_KMH for i in range(top)],
        series=[
            SpeedClass(
                cls=cls, counts=counts[cls][:top], n=n, n_binned=sum(counts[cls]),
                mean_kmh=round(total / n, 1), v85_kmh=speeds.histogram_percentile(counts[cls], 0.85),
            )
            for cls, (n, total) in sorted(measured.items())
        ],
        period=grid.period,
        tz="UTC",
        times=[int(t.timestamp() * 1000) for t in grid.times],
        v85=speeds._v85_series(engine, SITE, CAMERA, grid, end, per_bucket),
    )  # fmt: skip


def _bins_by_bucket_before(
    engine: sa.Engine, site: str, camera: str, start: datetime, end: datetime, period: str
) -> dict[speeds.SpeedKey, list[int]]:
    step = schema.ROLLUP_PERIODS[period]
    first = datetime.fromtimestamp(int(start.timestamp()) // step * step, UTC)
    return speeds._binned_facts(engine, site, camera, first, end, step, first).buckets


def csv_before(engine: sa.Engine, start: datetime, end: datetime) -> str:
    """The speeds CSV per hour with its bins summed from the facts, as before."""
    namespace = vars(exports)  # where the export looks the function up
    now = namespace["speed_bins_by_bucket"]
    namespace["speed_bins_by_bucket"] = _bins_by_bucket_before
    try:
        return "".join(csv_lines(engine, "speeds", SITE, CAMERA, start, end, "1h"))
    finally:
        namespace["speed_bins_by_bucket"] = now


def _timed(work: Callable[[], Any]) -> float:
    began = time.perf_counter()
    work()
    return (time.perf_counter() - began) * 1000


def measure(engine: sa.Engine, start: datetime, end: datetime, runs: int) -> dict[str, list[float]]:
    """ms per call of each variant, interleaved so that load changes hit all of them."""
    variants: dict[str, Callable[[], Any]] = {
        "endpoint before": lambda: speeds_before(engine, start, end),
        "endpoint now": lambda: speeds.speed_distribution(engine, SITE, CAMERA, start, end),
        "csv before": lambda: csv_before(engine, start, end),
        "csv now": lambda: "".join(csv_lines(engine, "speeds", SITE, CAMERA, start, end, "1h")),
    }
    answers = {name: work() for name, work in variants.items()}  # also warms the page cache
    for query in ("endpoint", "csv"):
        if answers[f"{query} before"] != answers[f"{query} now"]:
            raise SystemExit(f"the {query} differs between the facts and the roll-ups")
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(runs):
        for name, work in variants.items():
            times[name].append(_timed(work))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=31, help="days of data stored")
    parser.add_argument("--runs", type=int, default=5, help="timed calls of each variant")
    parser.add_argument(
        "--postgresql",
        metavar="URL",
        help="also measure on this PostgreSQL database (its site 'bench' refilled)",
    )
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args()
    run = Run(
        "dashboard_speeds",
        f"Speeds from rolled-up bins: one camera, {args.days} days of 1-minute speeds, last 30 days",
        columns=[
            ("store", "store"),
            ("query", "query"),
            ("before_ms", "before, median ms (min-max)"),
            ("now_ms", "now, median ms (min-max)"),
            ("ratio", "now / before"),
            ("n", "n"),
        ],
    )
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    with tempfile.TemporaryDirectory() as tmp:
        for url in (sqlite_url(Path(tmp) / "speeds.sqlite3"), args.postgresql):
            if url is None:
                continue
            engine = create_store_engine(url)
            migrate(engine)
            stored = fill(engine, end, args.days)
            times = measure(engine, end - timedelta(days=30), end, args.runs)
            engine.dispose()
            _report(run, f"{engine.dialect.name}, {stored:,} facts", times, args.runs)
    print(f"wrote {run.save(args.results_dir)}")


def _report(run: Run, store: str, times: dict[str, list[float]], runs: int) -> None:
    for query, label in (("endpoint", "speeds endpoint (chart)"), ("csv", "speeds CSV per hour")):
        before, now = times[f"{query} before"], times[f"{query} now"]
        ratio = statistics.median(now) / statistics.median(before)
        print(f"{store}: {label}: before {_spread(before)} ms, now {_spread(now)} ms, ratio {ratio:.2f}")
        run.add(
            store=store,
            query=label,
            before_ms=_spread(before),
            now_ms=_spread(now),
            ratio=round(ratio, 2),
            n=runs,
        )


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):.0f} ({min(values):.0f}-{max(values):.0f})"


if __name__ == "__main__":
    main()
