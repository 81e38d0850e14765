"""Dashboard first meaningful paint: a month of 15-minute roll-ups for 50 cameras, measured in Chromium.

The hub (full app: API, audit middleware, dashboard) runs on 127.0.0.1 over a SQLite store filled with
roll-ups as ingest would leave them (15 min, hourly and daily, in step). Headless Debian Chromium opens the
overview with a viewer token already in sessionStorage; the figure is the ``citytally:charts-drawn``
performance mark, which the page sets once the map, the class totals, the busiest lines and the heat map
are drawn, in ms since navigation start. Each run uses a fresh browser context (cold HTTP cache).

Baseline in the same run: the same page over an empty store (same cameras, no counts), so the ratio is the
cost of the data.

    .venv/bin/python bench/dashboard_paint.py --cameras 50 --days 31 --runs 7
"""

from __future__ import annotations

import argparse
import math
import platform
import statistics
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from playwright.sync_api import Browser, sync_playwright

from citytally.edge.config import CameraConfig
from citytally.hub.access import issue_token
from citytally.hub.dashboard import build_frontend, serve
from citytally.hub.store import create_store_engine, migrate, schema, sqlite_url, sync_registry

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CLASSES = ("person", "bicycle", "car", "bus")
DIRECTIONS = ("inbound", "outbound")
_BATCH = 20_000


def cameras(n: int) -> list[CameraConfig]:
    """``n`` cameras on a grid around the example plaza, one count line each."""
    side = math.ceil(math.sqrt(n))
    return [
        CameraConfig.model_validate(
            {
                "site": "bench",
                "camera": f"cam-{i:03d}",
                "metadata": {
                    "lat": 52.3690 + 0.0004 * (i // side),
                    "lon": 4.8880 + 0.0006 * (i % side),
                    "purpose": "benchmark",
                    "retention_days": 365,
                },
                "source": {"uri": "/dev/null"},
                "lines": [{"name": "main", "p1": [0, 100], "p2": [200, 100], "directions": list(DIRECTIONS)}],
            }
        )
        for i in range(n)
    ]


def _count(cam: int, bucket: datetime, direction: int, cls: int) -> int:
    """A plausible daily profile: busy by day, quiet at night, different per camera and class."""
    hour = bucket.hour + bucket.minute / 60
    day = 0.15 + max(0.0, math.sin(math.pi * (hour - 5) / 16))
    return int((20 + cam % 7 * 3) * day / (1 + 2 * cls) + direction)


def rollup_rows(n_cameras: int, end: datetime, days: int) -> Iterator[tuple[str, dict[str, Any]]]:
    """(period, row) for every roll-up bucket ingest would hold for this data."""
    first = end - timedelta(days=days)
    quarters = days * 96
    for cam in range(n_cameras):
        hours: dict[tuple[datetime, int, int], int] = {}
        daily: dict[tuple[datetime, int, int], int] = {}
        for q in range(quarters):
            bucket = first + timedelta(minutes=15 * q)
            for d, direction in enumerate(DIRECTIONS):
                for c, cls in enumerate(CLASSES):
                    count = _count(cam, bucket, d, c)
                    key = {
                        "site": "bench",
                        "camera": f"cam-{cam:03d}",
                        "line": "main",
                        "direction": direction,
                    }
                    yield "15m", key | {"class": cls, "bucket": bucket, "count": count}
                    hour = bucket.replace(minute=0)
                    hours[(hour, d, c)] = hours.get((hour, d, c), 0) + count
                    day = bucket.replace(hour=0, minute=0)
                    daily[(day, d, c)] = daily.get((day, d, c), 0) + count
        for period, sums in (("1h", hours), ("1d", daily)):
            for (bucket, d, c), count in sums.items():
                yield (
                    period,
                    {
                        "site": "bench",
                        "camera": f"cam-{cam:03d}",
                        "line": "main",
                        "direction": DIRECTIONS[d],
                        "class": CLASSES[c],
                        "bucket": bucket,
                        "count": count,
                    },
                )


def fill(engine: sa.Engine, n_cameras: int, days: int) -> int:
    """Write the month of roll-ups; returns the number of rows."""
    end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    batch: list[dict[str, Any]] = []
    total = 0
    with engine.begin() as conn:
        for period, row in rollup_rows(n_cameras, end, days):
            batch.append(row | {"period": period})
            if len(batch) >= _BATCH:
                conn.execute(sa.insert(schema.line_count_rollups), batch)
                total += len(batch)
                batch.clear()
        if batch:
            conn.execute(sa.insert(schema.line_count_rollups), batch)
            total += len(batch)
    return total


def paint_ms(browser: Browser, url: str, token: str) -> float:
    """Open the overview in a fresh context; ms from navigation start to the charts-drawn mark."""
    context = browser.new_context(viewport={"width": 1360, "height": 1000})
    context.add_init_script(f"sessionStorage.setItem('citytally.token', {token!r})")
    page = context.new_page()
    page.goto(url)
    page.wait_for_function("() => performance.getEntriesByName('citytally:charts-drawn').length > 0")
    mark = float(page.evaluate("() => performance.getEntriesByName('citytally:charts-drawn')[0].startTime"))
    context.close()
    return mark


def measure(engine: sa.Engine, browser: Browser, runs: int) -> list[float]:
    token = issue_token(engine, "viewer", label="bench").secret
    server = serve(None, engine, build=False)
    try:
        paint_ms(browser, server.url, token)  # warm-up: Python imports, SQLite page cache
        return [paint_ms(browser, server.url, token) for _ in range(runs)]
    finally:
        server.stop()


def store(path: Path, n_cameras: int, days: int | None) -> sa.Engine:
    """A store with ``n_cameras`` and ``days`` of roll-ups; an existing file is reused as it is."""
    reuse = path.exists()
    engine = create_store_engine(sqlite_url(path))
    migrate(engine)
    sync_registry(engine, cameras(n_cameras))
    if days and not reuse:
        started = time.perf_counter()
        rows = fill(engine, n_cameras, days)
        print(f"filled {rows:,} roll-up rows in {time.perf_counter() - started:.0f} s")
    return engine


def summary(name: str, values: list[float]) -> str:
    return (
        f"{name}: median {statistics.median(values):.0f} ms "
        f"(min {min(values):.0f}, max {max(values):.0f}, n={len(values)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cameras", type=int, default=50)
    parser.add_argument("--days", type=int, default=31)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--store", type=Path, help="Keep the filled store here (reused if it exists).")
    args = parser.parse_args()
    build_frontend()
    with tempfile.TemporaryDirectory() as tmp:
        full = store(args.store or Path(tmp) / "month.sqlite3", args.cameras, args.days)
        empty = store(Path(tmp) / "empty.sqlite3", args.cameras, None)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            with_data = measure(full, browser, args.runs)
            baseline = measure(empty, browser, args.runs)
            browser.close()
        full.dispose()
        empty.dispose()
    print(f"machine: {platform.node()} {platform.machine()}, Python {platform.python_version()}")
    print(summary(f"first meaningful paint, {args.cameras} cameras x {args.days} days", with_data))
    print(summary("baseline, same cameras, empty store", baseline))
    print(f"ratio: {statistics.median(with_data) / statistics.median(baseline):.2f}x")


if __name__ == "__main__":
    main()
