"""Hub ingest throughput: edge outbox → Mosquitto → hub → PostgreSQL / SQLite, against PostgreSQL's own COPY.

Prints, for the same generated line-count events (one interval each, 2 directions × 2–3 classes):

* ``copy``: PostgreSQL COPY of exactly the rows ingest writes for the events (events + line_counts), from
  text rendered before timing, no validation — PostgreSQL's own ceiling;
* ``writer pg`` / ``writer sqlite``: :class:`EventWriter` alone on pre-received messages (parse, validate,
  idempotent insert, facts, roll-ups) — the hub's store path;
* ``e2e pg`` / ``e2e sqlite``: a pre-filled outbox drained through the broker into a running :class:`Ingest`,
  timed from the outbox's start to the last event committed; with events packed up to 200 per message
  (how a backlog drains), into PostgreSQL with one writer thread and with two side by side (the default),
  and, for PostgreSQL, one event per message (the per-message limit of one paho client at QoS 1);
* ``mqtt receive only``: the same one-event-per-message stream into a paho client that only acknowledges
  (no store): what MQTT alone costs per message;
* each figure's ratio to the COPY ceiling.

Run: ``.venv/bin/python bench/hub_ingest.py [--events 30000]`` with PostgreSQL (127.0.0.1:5432, trust) and
Mosquitto (127.0.0.1:1883) up. Creates and drops its own database.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from citytally.events import Event, event_to_json, parse_event
from citytally.hub.config import MqttSettings
from citytally.hub.ingest import Ingest
from citytally.hub.outbox import Outbox
from citytally.hub.store import EventWriter, Received, create_store_engine, migrate, sqlite_url
from citytally.hub.store.writer import _explode  # noqa: PLC2701 - the bench copies exactly the writer's rows

SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
T0 = datetime(2026, 11, 23, tzinfo=UTC)
CLASSES = ("car", "person", "bicycle")


def make_events(n: int, cameras: int = 8) -> list[Event]:
    events: list[Event] = []
    for i in range(n):
        start = T0 + timedelta(minutes=15 * (i // cameras))
        counts = {
            "inbound": {cls: (i * 7 + k) % 11 for k, cls in enumerate(CLASSES[: 2 + i % 2])},
            "outbound": {"car": i % 5, "person": i % 3},
        }
        body = {
            "v": 1,
            "id": str(uuid.uuid4()),
            "site": "bench",
            "camera": f"cam-{i % cameras}",
            "start": start.isoformat(),
            "end": (start + timedelta(minutes=15)).isoformat(),
            "type": "line_count",
            "line": "main",
            "counts": counts,
        }
        events.append(parse_event(body))
    return events


def fresh_database() -> tuple[str, Callable[[], None]]:
    name = f"citytally_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(SERVER, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()

    return make_url(SERVER).set(database=name).render_as_string(hide_password=False), drop


def store(url: str) -> Engine:
    engine = create_store_engine(url)
    migrate(engine)
    return engine


def copy_rate(url: str, events: list[Event]) -> float:
    """Events per second PostgreSQL COPY takes for the same events + line_counts rows (no validation)."""
    from citytally.hub.store import bulk, schema
    from citytally.hub.store.writer import _FACT_TABLES, _ROLLUP_OPS, _Accepted

    engine = store(url)
    now = datetime.now(UTC)
    items = [_Accepted(e, event_to_json(e).encode(), now, "", None) for e in events]
    facts: dict[sa.Table, list[dict[str, object]]] = {table: [] for table in _FACT_TABLES}
    rollups: dict[sa.Table, dict[tuple[object, ...], list[object]]] = {table: {} for table in _ROLLUP_OPS}
    for item in items:
        _explode(item, facts, rollups)  # the writer's own rows, so both sides write the same
    event_rows = [(e.id, e.site, e.camera, e.type, e.start, e.end, now, event_to_json(e)) for e in events]
    fact_rows = bulk._tuples(schema.line_counts, "postgresql", facts[schema.line_counts])  # noqa: SLF001
    # Rendered before the clock starts: this times PostgreSQL taking the rows, not Python producing them.
    events_text = _copy_text(event_rows)
    facts_text = _copy_text(fact_rows)
    raw = engine.raw_connection()
    try:
        started = time.perf_counter()
        with raw.cursor() as cursor:  # type: ignore[attr-defined]
            with cursor.copy(f"COPY events ({bulk._column_list(schema.events)}) FROM STDIN") as copy:  # noqa: SLF001
                copy.write(events_text)
            with cursor.copy(
                f"COPY line_counts ({bulk._column_list(schema.line_counts)}) FROM STDIN"
            ) as copy:  # noqa: SLF001
                copy.write(facts_text)
        raw.commit()
        return len(events) / (time.perf_counter() - started)
    finally:
        raw.close()
        engine.dispose()


def _copy_text(rows: list[tuple[object, ...]]) -> bytes:
    """COPY text format: tab-separated, backslash escapes, \\N for NULL."""

    def field(value: object) -> str:
        if value is None:
            return "\\N"
        text = value.isoformat() if isinstance(value, datetime) else str(value)
        return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")

    return "".join("\t".join(field(v) for v in row) + "\n" for row in rows).encode()


def registered(engine: Engine, events: list[Event]) -> None:
    from citytally.hub.store import schema

    with engine.begin() as connection:
        connection.execute(sa.insert(schema.sites), [{"site": "bench"}])
        cams = sorted({e.camera for e in events})
        connection.execute(
            sa.insert(schema.cameras),
            [{"site": "bench", "camera": c, "config": {}, "updated_at": datetime.now(UTC)} for c in cams],
        )


def writer_rate(engine: Engine, events: list[Event], batch: int) -> float:
    registered(engine, events)
    messages = [
        Received(f"citytally/{e.site}/{e.camera}/events", event_to_json(e).encode(), T0) for e in events
    ]
    writer = EventWriter(engine)
    started = time.perf_counter()
    for i in range(0, len(messages), batch):
        writer.write_messages(messages[i : i + batch])
    return len(messages) / (time.perf_counter() - started)


def e2e_rate(
    engine: Engine,
    events: list[Event],
    per_message: int,
    broker: tuple[str, int],
    batch: int,
    writers: int = 1,
) -> float:
    from citytally.hub.config import IngestSettings

    registered(engine, events)
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    settings = MqttSettings(
        host=broker[0], port=broker[1], topic_prefix=prefix, client_id=f"{prefix}-hub", session_expiry_s=60
    )
    ingest_settings = IngestSettings(batch_max=batch, writers=writers)
    ingest = Ingest(EventWriter(engine, topic_prefix=prefix), settings, ingest_settings)
    ingest.start()
    if not ingest.wait_connected(10):
        raise SystemExit("the hub could not connect to the broker")
    with tempfile.TemporaryDirectory() as directory:
        box = Outbox(
            Path(directory) / "outbox.sqlite3",
            settings,
            max_events_per_message=per_message,
            window=max(2000 // per_message, 20),
        )
        for i in range(0, len(events), 5000):
            box.publish_many(events[i : i + 5000])
        started = time.perf_counter()
        box.start()
        while ingest.totals.stored < len(events):
            time.sleep(0.01)
        elapsed = time.perf_counter() - started
        box.close()
    ingest.stop()
    return len(events) / elapsed


def receive_rate(events: list[Event], broker: tuple[str, int]) -> float:
    """Messages per second one paho client takes at QoS 1 from the same outbox, doing nothing but the
    acknowledgement: the MQTT part of the one-event-per-message figure, without the store."""
    import threading

    from citytally.hub.ingest import build_mqtt_client, connect_properties, subscription_topic

    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    settings = MqttSettings(
        host=broker[0], port=broker[1], topic_prefix=prefix, client_id=f"{prefix}-hub", session_expiry_s=60
    )
    received = 0
    subscribed = threading.Event()
    client = build_mqtt_client(settings, settings.client_id, manual_ack=True)

    def on_message(c: object, _u: object, message: object) -> None:
        nonlocal received
        received += 1
        client.ack(message.mid, message.qos)  # type: ignore[attr-defined]

    client.on_message = on_message
    client.on_connect = lambda c, *_: c.subscribe(subscription_topic(prefix), qos=1)
    client.on_subscribe = lambda *_: subscribed.set()
    client.connect(*broker, clean_start=False, properties=connect_properties(settings))
    client.loop_start()
    if not subscribed.wait(10):
        raise SystemExit("the receiver could not subscribe")
    with tempfile.TemporaryDirectory() as directory:
        box = Outbox(Path(directory) / "outbox.sqlite3", settings, max_events_per_message=1, window=2000)
        box.publish_many(events)
        started = time.perf_counter()
        box.start()
        while received < len(events):
            time.sleep(0.01)
        elapsed = time.perf_counter() - started
        box.close()
    client.disconnect()
    client.loop_stop()
    return len(events) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=30000, help="events per measurement")
    parser.add_argument("--batch", type=int, default=5000, help="most messages per hub transaction")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each figure; the best is reported")
    parser.add_argument("--broker", default="127.0.0.1:1883", help="Mosquitto HOST:PORT")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    host, _, port = args.broker.rpartition(":")
    broker = (host, int(port))
    n = args.events
    rates: dict[str, list[float]] = {}
    single = max(n // 5, 1000)  # one event per message is slow: fewer of them

    def measure(name: str, run: Callable[[str], float], backend: str) -> None:
        if backend == "pg":
            url, drop = fresh_database()
        else:
            directory = tempfile.mkdtemp()
            url, drop = sqlite_url(Path(directory) / "hub.sqlite3"), (lambda: shutil.rmtree(directory))
        try:
            rates.setdefault(name, []).append(run(url))
        finally:
            drop()

    for _ in range(args.repeat):  # interleaved, so a burst of load elsewhere hits every figure alike
        measure("copy (pg ceiling)", lambda url: copy_rate(url, make_events(n)), "pg")
        measure("writer pg", lambda url: writer_rate(store(url), make_events(n), args.batch), "pg")
        measure("writer sqlite", lambda url: writer_rate(store(url), make_events(n), args.batch), "sqlite")
        for writers in (1, 2):
            measure(
                f"e2e pg (200/message, {writers} writer{'s' if writers > 1 else ''})",
                lambda url, w=writers: e2e_rate(store(url), make_events(n), 200, broker, args.batch, w),
                "pg",
            )
        measure(
            "e2e sqlite (200/message)",
            lambda url: e2e_rate(store(url), make_events(n), 200, broker, args.batch),
            "sqlite",
        )
        measure(
            "e2e pg (1/message, 2 writers)",
            lambda url: e2e_rate(store(url), make_events(single), 1, broker, args.batch, 2),
            "pg",
        )
        measure(
            "mqtt receive only (1/message)", lambda _url: receive_rate(make_events(single), broker), "sqlite"
        )
    results = {name: max(runs) for name, runs in rates.items()}  # best of the repeats: least disturbed
    for name, runs in rates.items():
        print(f"{name:<28} {results[name]:>10,.0f} events/s  (runs: {', '.join(f'{r:,.0f}' for r in runs)})")
    ceiling = results["copy (pg ceiling)"]
    print(
        json.dumps(
            {
                name: {"events_per_s": round(rate), "of_copy": round(rate / ceiling, 3)}
                for name, rate in results.items()
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
