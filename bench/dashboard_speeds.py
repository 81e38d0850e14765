"""Cost of V85 per bucket from summed speed bins: a month of one camera's speeds, before vs now.

The store holds 31 days of one camera's speed facts as ingest leaves them: one interval a minute (the edge's
default), one line, two directions, four classes (cars, cyclists, pedestrians, buses; a class that saw
nobody in an interval has no row), each row with its road users' speeds binned (5 km/h), and the speed
roll-ups (15 min, hourly, daily) in step.

Timed, interleaved, over the last 30 days (the camera page's hourly chart):

* **speeds endpoint** (``speed_distribution``): now, the database sums the facts' bins per bucket, key and
  bin (the range's distribution and each bucket's V85 come from them) beside the roll-ups' measured counts;
  the baseline is the function as it was before (every fact's bins decoded and summed in Python for the
  distribution, the highest interval V85 per bucket from the roll-ups);
* **speeds CSV per hour** (``csv_lines``): now with the binned and V85-from-bins columns; the baseline is
  the roll-up rows alone.

On SQLite (a temporary file) and, with ``--postgresql URL``, on a PostgreSQL database of its own as well (the
bench migrates it and replaces the rows of its site ``bench``; drop it afterwards).

    .venv/bin/python bench/dashboard_speeds.py --days 31 --runs 3 \
        --postgresql postgresql+psycopg://postgres@127.0.0.1:5432/bench_speeds
"""

from __future__ import annotations

import argparse
import dataclasses
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

from citytally.events import SPEED_BINS, SpeedStats
from citytally.hub import queries
from citytally.hub.dashboard import data, speeds
from citytally.hub.dashboard.exports import EXPORTS, csv_lines
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


def _rollups(facts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The speed roll-up rows of every period that ``facts`` sum to."""
    sums: dict[tuple[Any, ...], list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
    for f in facts:
        epoch = int(f["start"].timestamp())
        for period, step in schema.ROLLUP_PERIODS.items():
            bucket = datetime.fromtimestamp(epoch - epoch % step, tz=UTC)
            acc = sums[(period, bucket, f["direction"], f["class"])]
            acc[0] += f["n"]
            acc[1] += f["n"] * f["mean_kmh"]
            acc[2] = max(acc[2], f["p85_kmh"])
    return [
        {
            "period": period,
            "site": SITE,
            "camera": CAMERA,
            "bucket": bucket,
            "line": "main",
            "direction": direction,
            "class": cls,
            "n": int(n),
            "speed_sum_kmh": total,
            "p85_max_kmh": top,
        }
        for (period, bucket, direction, cls), (n, total, top) in sums.items()
    ]


def fill(engine: sa.Engine, end: datetime, days: int, seed: int = 18) -> int:
    """``days`` of one camera's speeds up to ``end``; returns the fact rows stored."""
    rng = random.Random(seed)
    facts: list[dict[str, Any]] = []
    moment = end - timedelta(days=days)
    while moment < end:
        facts += _interval(rng, moment)
        moment += timedelta(minutes=1)
    with engine.begin() as conn:
        for table, rows in ((schema.speeds, facts), (schema.speed_rollups, _rollups(facts))):
            conn.execute(table.delete().where(table.c.site == SITE))  # an earlier run's
            for i in range(0, len(rows), _BATCH):
                conn.execute(table.insert(), rows[i : i + _BATCH])
    return len(facts)


def speeds_before(engine: sa.Engine, start: datetime, end: datetime) -> Any:
    """The speeds endpoint's reads as they were: the facts (class, n, mean, bins) summed per class, and the
    highest interval V85 per bucket from the roll-ups."""
    s = schema.speeds
    query = sa.select(s.c["class"], s.c.n, s.c.mean_kmh, s.c.histogram).where(
        s.c.site == SITE, s.c.camera == CAMERA, s.c.start >= start, s.c.start < end
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    per: dict[str, dict[str, Any]] = {}
    for cls, n, mean, histogram in rows:
        acc = per.setdefault(cls, {"counts": [0] * SPEED_BINS, "n": 0, "sum": 0.0})
        acc["n"] += int(n)
        acc["sum"] += float(mean) * int(n)
        for k, count in enumerate(histogram or ()):
            acc["counts"][k] += int(count)
    v85 = {cls: speeds.histogram_percentile(a["counts"], 0.85) for cls, a in per.items()}
    grid = data.Grid.of(start, end)
    index = {t: i for i, t in enumerate(grid.times)}
    series: dict[tuple[str, str, str], list[float | None]] = {}
    read = data.camera_rows(queries.speed_series, engine, SITE, CAMERA, grid.times[0], end, grid.read_period)
    for row in read:
        values = series.setdefault((row["line"], row["direction"], row["class"]), [None] * len(grid.times))
        i = index.get(grid.bucket_of(row["bucket"]))
        if i is not None:
            values[i] = round(max(values[i] or 0.0, float(row["p85_max_kmh"])), 1)
    return v85, series


def _timed(work: Callable[[], Any]) -> float:
    began = time.perf_counter()
    work()
    return (time.perf_counter() - began) * 1000


def measure(engine: sa.Engine, start: datetime, end: datetime, runs: int) -> dict[str, list[float]]:
    """ms per call of each variant, interleaved so that load changes hit all of them."""
    EXPORTS["speeds-before"] = dataclasses.replace(
        EXPORTS["speeds"], columns=EXPORTS["speeds"].columns[:-2], extend=None
    )
    variants: dict[str, Callable[[], Any]] = {
        "endpoint before": lambda: speeds_before(engine, start, end),
        "endpoint now": lambda: speeds.speed_distribution(engine, SITE, CAMERA, start, end),
        "csv before": lambda: "".join(csv_lines(engine, "speeds-before", SITE, CAMERA, start, end, "1h")),
        "csv now": lambda: "".join(csv_lines(engine, "speeds", SITE, CAMERA, start, end, "1h")),
    }
    for work in variants.values():  # warm the page cache
        work()
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
        f"V85 per bucket from summed bins: one camera, {args.days} days of 1-minute speeds, last 30 days",
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
