"""Dashboard first meaningful paint: a month of 15-minute roll-ups for 50 cameras, measured in Chromium.

The hub (full app: API, audit middleware, dashboard) runs on 127.0.0.1 over a SQLite store filled with
roll-ups as ingest would leave them (15 min, hourly and daily, in step). Headless Debian Chromium opens the
overview with a viewer token already in sessionStorage; the figure is the ``citytally:charts-drawn``
performance mark, which the page sets once the map, the class totals, the busiest lines and the heat map
are drawn, in ms since navigation start. Each run uses a fresh browser context (cold HTTP cache).

Baseline in the same run: the same page over an empty store (same cameras, no counts), served by a second
hub process and measured alternately with the full one (so load changes hit both); the ratio is the
cost of the data. With ``--before CHECKOUT`` (another checkout of the repository, e.g. an earlier commit
unpacked with ``git archive``, its dashboard built), that checkout's hub serves the same month store in a
third process, measured in turn with the other two: the "now / before" column is the change's effect.

Two profiles: a desktop (1360 px, unthrottled) and a phone (390 px, 3x pixel ratio, touch, the CPU slowed
4x and the network to "fast 3G": 150 ms round trip, 1.6 Mbit/s down, 750 kbit/s up, through Chromium's
DevTools protocol). Aims: under 1 s on the desktop, under 3 s on the phone. Results go to
``bench/results/dashboard_paint.json`` (see ``bench/harness.py``).

    flock /tmp/citytally-bench.lock .venv/bin/python bench/dashboard_paint.py --cameras 50 --days 31 --runs 7
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import uvicorn
from harness import RESULTS_DIR, Run
from playwright.sync_api import Browser, sync_playwright

from citytally.edge.config import CameraConfig
from citytally.hub.access import issue_token
from citytally.hub.dashboard.server import build_frontend, free_port
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


#: name -> (browser context options, CPU slow-down factor, network conditions or None)
PROFILES: dict[str, tuple[dict[str, Any], float, dict[str, Any] | None]] = {
    "desktop": ({"viewport": {"width": 1360, "height": 1000}}, 1.0, None),
    "phone": (
        {
            "viewport": {"width": 390, "height": 844},
            "device_scale_factor": 3,
            "is_mobile": True,
            "has_touch": True,
        },
        4.0,
        # DevTools' "fast 3G": latency in ms, throughput in bytes per second
        {"offline": False, "latency": 150, "downloadThroughput": 1.6e6 / 8, "uploadThroughput": 750e3 / 8},
    ),
}


def paint_ms(browser: Browser, url: str, token: str, profile: str = "desktop") -> tuple[float, float]:
    """Open the overview in a fresh context; ms from navigation start to (data received, charts drawn)."""
    options, cpu_slowdown, network = PROFILES[profile]
    context = browser.new_context(**options)
    # a tab that is already logged in (a reload): the token was checked before
    context.add_init_script(
        f"sessionStorage.setItem('citytally.token', {token!r});"
        "sessionStorage.setItem('citytally.token-checked', 'yes')"
    )
    page = context.new_page()
    if cpu_slowdown != 1.0 or network is not None:
        devtools = context.new_cdp_session(page)
        devtools.send("Emulation.setCPUThrottlingRate", {"rate": cpu_slowdown})
        if network is not None:
            devtools.send("Network.enable")
            devtools.send("Network.emulateNetworkConditions", network)
    page.goto(url, timeout=60_000)
    page.wait_for_function(
        "() => performance.getEntriesByName('citytally:charts-drawn').length > 0", timeout=60_000
    )
    marks = page.evaluate(
        "() => ['citytally:data-received', 'citytally:charts-drawn']"
        ".map(n => performance.getEntriesByName(n)[0].startTime)"
    )
    context.close()
    return float(marks[0]), float(marks[1])


def _serve(path: str, port: int) -> None:
    """The hub app over the store at ``path``, in its own process like a real hub."""
    from citytally.hub.web import create_app

    uvicorn.run(create_app(None, create_store_engine(sqlite_url(Path(path)))), port=port, log_level="warning")


#: The hub of another checkout (its ``src`` first on the path), serving the store ``argv[1]`` on ``argv[2]``.
_SERVE_CHECKOUT = (
    "import sys; from pathlib import Path; import uvicorn; from citytally.hub.web import create_app; "
    "from citytally.hub.store import create_store_engine, sqlite_url; "
    "uvicorn.run(create_app(None, create_store_engine(sqlite_url(Path(sys.argv[1])))), "
    "port=int(sys.argv[2]), log_level='warning')"
)


def _start(path: Path, port: int, checkout: Path | None) -> Any:
    """A hub over the store at ``path``: this checkout's in a spawned process, or ``checkout``'s."""
    if checkout is None:
        server = multiprocessing.get_context("spawn").Process(
            target=_serve, args=(str(path), port), daemon=True
        )
        server.start()
        return server
    env = dict(os.environ, PYTHONPATH=str(checkout / "src"))
    return subprocess.Popen([sys.executable, "-c", _SERVE_CHECKOUT, str(path), str(port)], env=env)


def measure(
    stores: list[tuple[Path, sa.Engine]],
    browser: Browser,
    runs: int,
    profile: str = "desktop",
    checkouts: list[Path | None] | None = None,
) -> list[list[tuple[float, float]]]:
    """Serve each store from its own hub process (of this checkout, or of ``checkouts[i]`` where given)
    and time the page on them in turn, run after run, so a change in the machine's load hits every store
    alike."""
    servers: list[Any] = []
    urls, tokens = [], []
    for i, (path, engine) in enumerate(stores):
        tokens.append(issue_token(engine, "viewer", label="bench").secret)
        port = free_port()
        servers.append(_start(path, port, checkouts[i] if checkouts else None))
        urls.append(f"http://127.0.0.1:{port}/dashboard/")
    try:
        for url, token in zip(urls, tokens, strict=True):
            _wait_for(url)
            paint_ms(browser, url, token, profile)  # warm-up: Python imports, SQLite page cache
        results: list[list[tuple[float, float]]] = [[] for _ in stores]
        for _ in range(runs):
            for i, (url, token) in enumerate(zip(urls, tokens, strict=True)):
                results[i].append(paint_ms(browser, url, token, profile))
        return results
    finally:
        for server in servers:
            server.terminate()
            if isinstance(server, subprocess.Popen):
                server.wait()
            else:
                server.join()


def _wait_for(url: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


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


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cameras", type=int, default=50)
    parser.add_argument("--days", type=int, default=31)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--profiles", nargs="+", choices=sorted(PROFILES), default=list(PROFILES))
    parser.add_argument("--store", type=Path, help="Keep the filled store here (reused if it exists).")
    parser.add_argument(
        "--before",
        type=Path,
        help="Another checkout of the repository (its dashboard built) to serve the month store too.",
    )
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args()
    if args.before and not (args.before / "src/citytally/hub/dashboard/static/index.html").is_file():
        parser.error(f"--before {args.before}: no built dashboard in src/citytally/hub/dashboard/static")
    return args


#: profile -> runs, each (data received ms, paint ms), for: month now, empty store now[, month before]
Results = dict[str, list[list[tuple[float, float]]]]


def run_all(args: argparse.Namespace) -> Results:
    results: Results = {}
    with tempfile.TemporaryDirectory() as tmp:
        full_path = args.store or Path(tmp) / "month.sqlite3"
        empty_path = Path(tmp) / "empty.sqlite3"
        full = store(full_path, args.cameras, args.days)
        empty = store(empty_path, args.cameras, None)
        stores = [(full_path, full), (empty_path, empty)]
        checkouts: list[Path | None] = [None, None]
        if args.before:
            stores.append((full_path, full))
            checkouts.append(args.before.resolve())
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for profile in args.profiles:
                results[profile] = measure(stores, browser, args.runs, profile, checkouts)
            browser.close()
        full.dispose()
        empty.dispose()
    return results


def main() -> None:
    args = _arguments()
    build_frontend()
    columns = [
        ("profile", "profile"),
        ("store", "store"),
        ("data_ms", "data received, median ms (min-max)"),
        ("paint_ms", "first meaningful paint, median ms (min-max)"),
        ("ratio", "paint / empty store"),
        ("aim", "aim"),
        ("n", "n"),
    ]
    if args.before:
        columns.insert(5, ("vs_before", "paint now / before"))
    title = (
        f"Dashboard overview, first meaningful paint: {args.cameras} cameras, {args.days} days of roll-ups"
    )
    run = Run("dashboard_paint", title, columns=columns)
    results = run_all(args)
    load = os.getloadavg()[0]
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, load average {load:.1f}")
    aims = {"desktop": 1000.0, "phone": 3000.0}
    month = f"{args.cameras} cameras x {args.days} days"
    for profile, sets in results.items():
        paint = [statistics.median(r[1] for r in runs) for runs in sets]
        names = [month, "empty store", f"{month}, before"][: len(sets)]
        for i, (name, runs) in enumerate(zip(names, sets, strict=True)):
            print(summary(f"{profile}, {name}: data received", [r[0] for r in runs]))
            print(summary(f"{profile}, {name}: first meaningful paint", [r[1] for r in runs]))
            paints = [r[1] for r in runs]
            row = {
                "profile": profile,
                "store": name,
                "data_ms": _spread([r[0] for r in runs]),
                "paint_ms": _spread(paints),
                "ratio": round(paint[i] / paint[1], 2),
                "aim": f"< {aims[profile]:.0f} ms: {sum(p < aims[profile] for p in paints)}/{len(runs)} runs",
                "n": len(runs),
            }
            if args.before:
                row["vs_before"] = round(paint[0] / paint[2], 2) if i == 0 else ""
            run.add(**row)
        print(f"{profile}: paint ratio, month of data / empty store: {paint[0] / paint[1]:.2f}x")
        if args.before:
            print(f"{profile}: paint ratio, now / before: {paint[0] / paint[2]:.2f}x")
    run.notes.append(
        "phone: 390 px, 3x pixel ratio, CPU slowed 4x, network 150 ms RTT, 1.6 Mbit/s down (DevTools)"
    )
    print(f"wrote {run.save(args.results_dir)}")


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):.0f} ({min(values):.0f}-{max(values):.0f})"


if __name__ == "__main__":
    main()
