"""Hub ingest of speed events: a city's cameras reporting every minute, through the store's writer.

Each minute, ``--cameras`` cameras each send one speed event (one line, two directions, three classes, each
with its road users' 5 km/h speed bins) and the writer stores them in one transaction: the event, its speed
facts and its roll-ups (speeds and, from migration 0012, the speed bins), on SQLite (a temporary file) and
on PostgreSQL (a database of its own, created and dropped). Prints events per second and ms per minute.

The figure is the cost of a version of the writer: with ``PYTHONPATH`` pointing at an older checkout's
``src`` the same script measures that version, so a before/after is two runs in one sitting:

    .venv/bin/python bench/hub_ingest_speeds.py --cameras 50 --minutes 30
    PYTHONPATH=../before/src .venv/bin/python bench/hub_ingest_speeds.py --cameras 50 --minutes 30
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

import citytally
from citytally.events import RoadUserClass, SpeedEvent, SpeedStats
from citytally.hub.store import EventWriter, create_store_engine, migrate, schema, sqlite_url

SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
T0 = datetime(2026, 11, 23, tzinfo=UTC)
#: class -> (road users per minute, mean km/h, spread)
TRAFFIC: dict[RoadUserClass, tuple[int, float, float]] = {
    "car": (8, 42.0, 8.0),
    "bicycle": (3, 18.0, 4.0),
    "person": (4, 5.0, 1.0),
}


def minutes(cameras: int, count: int, seed: int = 12) -> list[list[SpeedEvent]]:
    rng = random.Random(seed)
    batches = []
    for m in range(count):
        start = T0 + timedelta(minutes=m)
        batch = []
        for c in range(cameras):
            speeds = {
                direction: {
                    cls: SpeedStats.of([max(0.5, rng.gauss(mean, spread)) for _ in range(n)])
                    for cls, (n, mean, spread) in TRAFFIC.items()
                }
                for direction in ("inbound", "outbound")
            }
            batch.append(
                SpeedEvent(
                    id=uuid.uuid4(),
                    site="bench",
                    camera=f"cam-{c}",
                    start=start,
                    end=start + timedelta(minutes=1),
                    line="main",
                    speeds=speeds,
                )  # fmt: skip
            )
        batches.append(batch)
    return batches


def timed(url: str, batches: list[list[SpeedEvent]]) -> list[float]:
    engine = create_store_engine(url)
    migrate(engine)
    with engine.begin() as connection:  # the writer stores events of registered cameras only
        connection.execute(sa.insert(schema.sites), [{"site": "bench"}])
        cameras = sorted({event.camera for event in batches[0]})
        connection.execute(
            sa.insert(schema.cameras),
            [{"site": "bench", "camera": c, "config": {}, "updated_at": datetime.now(UTC)} for c in cameras],
        )
    writer = EventWriter(engine)
    took = []
    for batch in batches:
        began = time.perf_counter()
        assert writer.write_events(batch).stored == len(batch)
        took.append(time.perf_counter() - began)
    engine.dispose()
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=50)
    parser.add_argument("--minutes", type=int, default=30)
    args = parser.parse_args()
    batches = minutes(args.cameras, args.minutes)
    print(f"citytally from {Path(citytally.__file__).parent}")
    name = f"citytally_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(SERVER, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        with tempfile.TemporaryDirectory() as tmp:
            stores = {
                "sqlite": sqlite_url(Path(tmp) / "speeds.sqlite3"),
                "postgresql": make_url(SERVER).set(database=name).render_as_string(hide_password=False),
            }
            for label, url in stores.items():
                took = timed(url, batches)
                rate = args.cameras * len(took) / sum(took)
                median_ms = statistics.median(took) * 1000
                print(f"{label}: {rate:,.0f} events/s, {median_ms:.0f} ms per minute (median)")
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


if __name__ == "__main__":
    main()
