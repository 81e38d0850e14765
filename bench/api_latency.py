"""Hub API latency (p50/p95) over a PostgreSQL store holding tens of millions of raw events.

Two steps, both reusable across runs::

    .venv/bin/python bench/api_latency.py generate --events 100000000   # resumable, day by day
    .venv/bin/python bench/api_latency.py measure --requests 200

``generate`` fills the dedicated database ``citytally_bench`` server-side (``INSERT ... SELECT
generate_series``): 200 cameras, one count line each, one ``line_count`` event per camera per minute
(288,000 events a day), and the matching 15-minute, hourly and daily roll-ups, computed from the same
formula. It commits one day at a time and remembers how far it got, so it can be stopped and resumed, or
grown from 10M to 100M events.

``measure`` starts the real API (uvicorn on 127.0.0.1, bearer token, audit log on) and times, over HTTP:

* one camera's day in 15-minute bins (``/counts?camera=...&interval=15m``; aim p95 < 100 ms);
* a month across all cameras in daily bins: city totals per class (``/counts?interval=1d&group_by=class``)
  and every camera's line/direction/class detail (``/counts?interval=1d``, 37,200 points); aim p95 < 1 s;
* the same month in the local days of India and Berlin (``tz=Asia/Kolkata``, ``tz=Europe/Berlin``), summed
  from the hourly roll-ups (and India's from the 15-minute ones in the UTC hour that holds its midnight);

against a baseline in the same run (``/health``, which touches the database once), so the noisy shared
machine shows up in the ratio rather than in the figure alone.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import threading
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/citytally_bench"
CAMERAS = 200
MINUTES_PER_DAY = 1440
EVENTS_PER_DAY = CAMERAS * MINUTES_PER_DAY
BASE = datetime(2025, 1, 1, tzinfo=UTC)
SITE = "bench"

# The synthetic count for (camera c, day d, minute m, direction k, class j): cheap, deterministic and
# varied enough that roll-ups are not all equal. Used for the events' bodies and for the roll-ups alike.
_COUNT = "((c * 7 + m * 13 + d * 3 + k * 5 + j * 11) % 9)"
_CLASSES = ("person", "bicycle", "car")
_DIRECTIONS = ("in", "out")


def _ensure_database(url: str) -> None:
    target = sa.make_url(url)
    admin = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(
            sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": target.database}
        ).first()
        if not exists:
            conn.execute(sa.text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()


def _prepare(engine: sa.Engine) -> int:
    """Migrate, register the cameras, and return how many days are already loaded."""
    from citytally.hub.store.migrate import migrate

    migrate(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE IF NOT EXISTS bench_progress (days_loaded integer NOT NULL)"))
        if conn.execute(sa.text("SELECT count(*) FROM bench_progress")).scalar_one() == 0:
            conn.execute(sa.text("INSERT INTO bench_progress VALUES (0)"))
        conn.execute(
            sa.text(
                "INSERT INTO sites (site, name, description) VALUES (:s, 'Bench', '') ON CONFLICT DO NOTHING"
            ),
            {"s": SITE},
        )
        conn.execute(
            sa.text(
                "INSERT INTO cameras "
                "(site, camera, location, purpose, legal_basis, contact, config, updated_at) "
                "SELECT :s, 'cam' || lpad(c::text, 3, '0'), 'Bench street ' || c, 'traffic counting', "
                "'public task', 'bench@example.org', '{}'::jsonb, now() FROM generate_series(0, :n - 1) c "
                "ON CONFLICT DO NOTHING"
            ),
            {"s": SITE, "n": CAMERAS},
        )
        conn.execute(
            sa.text(
                "INSERT INTO lines (site, camera, line, config) SELECT site, camera, 'main', '{}'::jsonb "
                "FROM cameras WHERE site = :s ON CONFLICT DO NOTHING"
            ),
            {"s": SITE},
        )
        return int(conn.execute(sa.text("SELECT days_loaded FROM bench_progress")).scalar_one())


def _counts_json() -> str:
    parts = []
    for k, direction in enumerate(_DIRECTIONS):
        inner = ", ".join(
            f"'{cls}', {_COUNT.replace('k', str(k)).replace('j', str(j))}" for j, cls in enumerate(_CLASSES)
        )
        parts.append(f"'{direction}', jsonb_build_object({inner})")
    return f"jsonb_build_object({', '.join(parts)})"


def _load_day(conn: sa.Connection, d: int) -> None:
    day = BASE + timedelta(days=d)
    conn.execute(
        sa.text(
            f"""
            INSERT INTO events (id, site, camera, type, start, "end", received_at, body)
            SELECT lpad(to_hex(CAST(:d AS bigint) * {EVENTS_PER_DAY} + c * {MINUTES_PER_DAY} + m),
                        32, '0')::uuid,
                   CAST(:s AS text), 'cam' || lpad(c::text, 3, '0'), 'line_count', t, t + interval '1 minute',
                   t + interval '62 seconds',
                   jsonb_build_object('v', 1, 'type', 'line_count', 'site', CAST(:s AS text),
                       'camera', 'cam' || lpad(c::text, 3, '0'), 'line', 'main',
                       'start', t, 'end', t + interval '1 minute', 'counts', {_counts_json()})
            FROM generate_series(0, {CAMERAS - 1}) c,
                 LATERAL (SELECT CAST(:d AS integer) AS d) dd,
                 generate_series(0, {MINUTES_PER_DAY - 1}) m,
                 LATERAL (SELECT CAST(:day AS timestamptz) + m * interval '1 minute' AS t) tt
            """
        ),
        {"d": d, "s": SITE, "day": day},
    )
    classes = "ARRAY['person', 'bicycle', 'car']"
    conn.execute(
        sa.text(
            f"""
            INSERT INTO line_count_rollups (period, site, camera, bucket, line, direction, class, count)
            SELECT '15m', :s, 'cam' || lpad(c::text, 3, '0'),
                   CAST(:day AS timestamptz) + (m / 15) * interval '15 minutes', 'main',
                   (ARRAY['in', 'out'])[k + 1], ({classes})[j + 1], sum({_COUNT})
            FROM generate_series(0, {CAMERAS - 1}) c, LATERAL (SELECT CAST(:d AS integer) AS d) dd,
                 generate_series(0, {MINUTES_PER_DAY - 1}) m, generate_series(0, 1) k, generate_series(0, 2) j
            GROUP BY c, m / 15, k, j
            """
        ),
        {"d": d, "s": SITE, "day": day},
    )
    for period, width in (("1h", "1 hour"), ("1d", "1 day")):
        conn.execute(
            sa.text(
                f"""
                INSERT INTO line_count_rollups (period, site, camera, bucket, line, direction, class, count)
                SELECT :p, site, camera,
                       date_bin(interval '{width}', bucket, TIMESTAMPTZ '2000-01-01 00:00+00'),
                       line, direction, class, sum(count)
                FROM line_count_rollups
                WHERE period = '15m' AND bucket >= :day
                  AND bucket < CAST(:day AS timestamptz) + interval '1 day'
                GROUP BY 2, 3, 4, 5, 6, 7
                """
            ),
            {"p": period, "day": day},
        )
    conn.execute(sa.text("UPDATE bench_progress SET days_loaded = :n"), {"n": d + 1})


def generate(url: str, target_events: int, min_free_gb: float) -> None:
    _ensure_database(url)
    engine = sa.create_engine(url)
    done = _prepare(engine)
    with engine.connect() as conn:  # the server shares this machine's disk; watch the disk it writes to
        data_directory = str(conn.execute(sa.text("SHOW data_directory")).scalar_one())
    want = -(-target_events // EVENTS_PER_DAY)
    print(f"{done} days loaded ({done * EVENTS_PER_DAY:,} events); loading up to {want} days", flush=True)
    for d in range(done, want):
        free_gb = shutil.disk_usage(data_directory).free / 1e9
        if free_gb < min_free_gb:
            print(f"stopped before day {d + 1}: {free_gb:.1f} GB free < {min_free_gb} GB", flush=True)
            break
        started = time.perf_counter()
        with engine.begin() as conn:
            conn.execute(sa.text("SET LOCAL synchronous_commit = off"))
            _load_day(conn, d)
        print(
            f"day {d + 1}/{want}: {(d + 1) * EVENTS_PER_DAY:,} events, {time.perf_counter() - started:.1f} s",
            flush=True,
        )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE events"))
        conn.execute(sa.text("VACUUM ANALYZE line_count_rollups"))
    engine.dispose()


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered), p95


def measure(url: str, requests: int, port: int) -> None:
    import httpx
    import uvicorn

    from citytally.hub.access import issue_token
    from citytally.hub.store.engine import create_store_engine
    from citytally.hub.store.migrate import migrate
    from citytally.hub.web import create_app

    engine = create_store_engine(url)
    migrate(engine)
    with engine.connect() as conn:
        days = int(conn.execute(sa.text("SELECT days_loaded FROM bench_progress")).scalar_one())
    events = days * EVENTS_PER_DAY  # exact by construction (pg_class.reltuples lags until ANALYZE)
    if days < 31:
        raise SystemExit(f"only {days} days loaded; run `generate` first (a month is needed)")
    token = issue_token(
        engine, "viewer", label="api_latency bench", expires_at=datetime.now(UTC) + timedelta(hours=1)
    )
    server = uvicorn.Server(
        uvicorn.Config(create_app(None, engine), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    last_day = BASE + timedelta(days=days - 1)
    month_from = last_day - timedelta(days=30)
    cases = {
        "baseline /health": ("/health", {}),
        "one camera, one day, 15m bins": (
            "/counts",
            {
                "site": SITE,
                "camera": "cam042",
                "interval": "15m",
                "start": last_day.isoformat(),
                "end": (last_day + timedelta(days=1)).isoformat(),
            },
        ),
        "all cameras, one month, totals by class": (
            "/counts",
            {
                "interval": "1d",
                "start": month_from.isoformat(),
                "end": (last_day + timedelta(days=1)).isoformat(),
                "group_by": "class",
            },
        ),
        "all cameras, one month, 1d bins": (
            "/counts",
            {
                "interval": "1d",
                "start": month_from.isoformat(),
                "end": (last_day + timedelta(days=1)).isoformat(),
                "limit": 100000,
            },
        ),
    }
    for zone in ("Asia/Kolkata", "Europe/Berlin"):  # local days: India's begin within a UTC hour
        tz = ZoneInfo(zone)
        local = {
            "interval": "1d",
            "start": datetime.combine(month_from.date(), datetime.min.time(), tz).isoformat(),
            "end": datetime.combine(
                (last_day + timedelta(days=1)).date(), datetime.min.time(), tz
            ).isoformat(),
            "tz": zone,
        }
        cases[f"all cameras, one month, {zone} days, totals by class"] = (
            "/counts",
            local | {"group_by": "class"},
        )
        cases[f"all cameras, one month, {zone} days, 1d bins"] = ("/counts", local | {"limit": 100000})
    headers = {"Authorization": f"Bearer {token.secret}"}
    print(f"store: {events:,} raw events, {days} days, {CAMERAS} cameras; {requests} requests per case")
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=60) as client:
        baseline = 0.0
        for name, (path, params) in cases.items():
            for _ in range(5):  # warm the connection pool and the caches the real service would have warm
                client.get(path, params=params).raise_for_status()
            samples = []
            for _ in range(requests):
                started = time.perf_counter()
                answer = client.get(path, params=params)
                samples.append(time.perf_counter() - started)
                answer.raise_for_status()
            p50, p95 = _percentiles(samples)
            baseline = baseline or p50
            rows = len(answer.json()["points"]) if path != "/health" else 0
            print(
                f"{name:58s} p50 {p50 * 1000:8.1f} ms  p95 {p95 * 1000:8.1f} ms  "
                f"({p50 / baseline:5.1f}x baseline p50, {rows} rows)"
            )
    server.should_exit = True
    thread.join(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_URL)
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="load synthetic events and roll-ups (resumable)")
    gen.add_argument("--events", type=int, default=100_000_000)
    gen.add_argument("--min-free-gb", type=float, default=8.0, help="stop before a day when less is free")
    mes = sub.add_parser("measure", help="time the API over HTTP")
    mes.add_argument("--requests", type=int, default=200)
    mes.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    if args.command == "generate":
        generate(args.database_url, args.events, args.min_free_gb)
    else:
        measure(args.database_url, args.requests, args.port)


if __name__ == "__main__":
    main()
