"""Hub ingest throughput: edge outbox → Mosquitto → hub → PostgreSQL / SQLite, against PostgreSQL's own COPY.

Prints, for the same generated line-count events (one interval each, 2 directions × 2–3 classes):

* ``copy``: PostgreSQL COPY of exactly the rows ingest stores for the events (``events``, and the
  ``line_count_rollups`` rows they sum to: each key once), from text rendered before timing, no validation,
  no upserts — PostgreSQL's own ceiling;
* ``writer pg`` / ``writer sqlite``: :class:`EventWriter` alone on pre-received messages (parse, validate,
  idempotent insert, roll-ups) — the hub's store path;
* ``e2e pg`` / ``e2e sqlite``: a pre-filled outbox drained through the broker into a running :class:`Ingest`,
  timed from the outbox's start to the last event committed (the outbox in a process of its own, as an edge
  is; all on this one machine); with events packed up to 200 per message
  (how a backlog drains), into PostgreSQL with one writer thread and with two side by side (the default),
  and, for PostgreSQL, one event per message (the per-message limit of one paho client at QoS 1);
* ``live city pg``: :class:`EventWriter` into PostgreSQL on a city of ``--cameras`` reporting every minute
  (the edge's default interval) for ``--minutes``, one transaction per minute: unlike the figures above
  (one 15-minute interval per event, so nearly every roll-up row is new), most roll-up rows are updated,
  many times; prints how many of those updates stayed on their page (HOT) and the roll-up table's size;
* ``mqtt receive only``: the same one-event-per-message stream into a paho client that only acknowledges
  (no store): what MQTT alone costs per message;
* each figure's ratio to the COPY ceiling; for COPY and the writers also the CPU time per event of this
  process and of the database's PostgreSQL backends (from /proc: the cost, which the machine's other load
  hardly changes, unlike the rate), and COPY's CPU per event over theirs.

``--only copy,writer-pg`` runs some figures; with ``PYTHONPATH`` pointing at an older checkout's ``src``
the same script measures that version (a before/after in one sitting).

Run: ``.venv/bin/python bench/hub_ingest.py [--events 30000]`` with PostgreSQL (127.0.0.1:5432, trust) and
Mosquitto (127.0.0.1:1883) up. Creates and drops its own database.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import shutil
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from citytally.events import Event, LineCountEvent, event_to_json, parse_event
from citytally.hub.ingest import Ingest
from citytally.hub.store import EventWriter, Received, create_store_engine, migrate, sqlite_url
from citytally.transport.mqtt import MqttSettings
from citytally.transport.outbox import Outbox

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


def minute_events(cameras: int, minutes: int) -> list[list[Event]]:
    """A city reporting every minute (the edge's default interval): one list of events per minute, one
    event per camera, so from the second minute on most roll-up rows of a batch already exist."""
    batches: list[list[Event]] = []
    for m in range(minutes):
        start = T0 + timedelta(minutes=m)
        batch = []
        for c in range(cameras):
            counts = {"inbound": {"car": (c + m) % 7, "person": (c * m) % 3}, "outbound": {"car": m % 5}}
            body = {
                "v": 1, "id": str(uuid.uuid4()), "site": "bench", "camera": f"cam-{c}",
                "start": start.isoformat(), "end": (start + timedelta(minutes=1)).isoformat(),
                "type": "line_count", "line": "main", "counts": counts,
            }  # fmt: skip
            batch.append(parse_event(body))
        batches.append(batch)
    return batches


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


@dataclass
class Figure:
    """One measurement: events per second, and (where measured) CPU seconds per event spent by this
    process and by the benchmark database's PostgreSQL backends: a cost the rest of the machine's load
    hardly changes, unlike the rate."""

    rate: float
    python_s: float | None = None
    postgres_s: float | None = None


class CpuMeter:
    """CPU time of this process and of the PostgreSQL backends serving ``database`` (read from /proc)."""

    def __init__(self, database: str | None) -> None:
        self.database = database.encode() if database else None

    def _postgres(self) -> float:
        if self.database is None:
            return 0.0
        total = 0.0
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as handle:
                    title = handle.read()
                if not title.startswith(b"postgres:") or self.database not in title:
                    continue
                with open(f"/proc/{pid}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
        return total

    def __enter__(self) -> CpuMeter:
        self._python, self._pg = time.process_time(), self._postgres()
        return self

    def figure(self, events: int, elapsed: float) -> Figure:
        python = (time.process_time() - self._python) / events
        postgres = (self._postgres() - self._pg) / events if self.database else None
        return Figure(events / elapsed, python, postgres)

    def __exit__(self, *_exc: object) -> None:
        return None


def rollup_rows(events: list[Event]) -> list[tuple[object, ...]]:
    """The ``line_count_rollups`` rows these events sum to (every period; each key once)."""
    from citytally.hub.store import schema
    from citytally.hub.store.writer import bucket_start

    sums: Counter[tuple[object, ...]] = Counter()
    for e in events:
        if not isinstance(e, LineCountEvent):
            continue
        for period in schema.ROLLUP_PERIODS:
            bucket = bucket_start(e.start, period)
            for direction, by_class in e.counts.items():
                for cls, count in by_class.items():
                    sums[(period, e.site, e.camera, bucket, e.line, direction, cls)] += count
    return [(*key, count) for key, count in sums.items()]


def copy_rate(url: str, events: list[Event]) -> Figure:
    """PostgreSQL COPY of the rows ingest stores for these events (events + roll-ups), no validation."""
    from citytally.hub.store import bulk, schema

    engine = store(url)
    now = datetime.now(UTC)
    event_rows = [(e.id, e.site, e.camera, e.type, e.start, e.end, now, event_to_json(e)) for e in events]
    # Rendered before the clock starts: this times PostgreSQL taking the rows, not Python producing them.
    events_text = _copy_text(event_rows)
    rollups_text = _copy_text(rollup_rows(events))
    raw = engine.raw_connection()
    try:
        with CpuMeter(engine.url.database) as meter:
            started = time.perf_counter()
            with raw.cursor() as cursor:  # type: ignore[attr-defined]
                with cursor.copy(f"COPY events ({bulk._column_list(schema.events)}) FROM STDIN") as copy:  # noqa: SLF001
                    copy.write(events_text)
                with cursor.copy(
                    f"COPY line_count_rollups ({bulk._column_list(schema.line_count_rollups)}) FROM STDIN"
                ) as copy:  # noqa: SLF001
                    copy.write(rollups_text)
            raw.commit()
            return meter.figure(len(events), time.perf_counter() - started)
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


def writer_rate(engine: Engine, events: list[Event], batch: int) -> Figure:
    registered(engine, events)
    messages = [
        Received(f"citytally/{e.site}/{e.camera}/events", event_to_json(e).encode(), T0) for e in events
    ]
    writer = EventWriter(engine)
    database = engine.url.database if engine.dialect.name == "postgresql" else None
    with CpuMeter(database) as meter:
        started = time.perf_counter()
        for i in range(0, len(messages), batch):
            writer.write_messages(messages[i : i + batch])
        return meter.figure(len(messages), time.perf_counter() - started)


def live_rate(engine: Engine, cameras: int, minutes: int) -> Figure:
    """:class:`EventWriter` into PostgreSQL on :func:`minute_events`, one transaction per minute; prints
    the share of roll-up updates that stayed on their page (HOT) and the roll-up table's size."""
    batches = minute_events(cameras, minutes)
    registered(engine, batches[0])
    writer = EventWriter(engine)
    topic = "citytally/bench/{}/events"
    messages = [[Received(topic.format(e.camera), event_to_json(e).encode(), T0) for e in b] for b in batches]
    with CpuMeter(engine.url.database) as meter:
        started = time.perf_counter()
        for minute in messages:
            writer.write_messages(minute)
        figure = meter.figure(cameras * minutes, time.perf_counter() - started)
    engine.dispose()  # a backend reports its table statistics when it ends
    time.sleep(0.5)
    with engine.connect() as connection:
        updated, hot, size = connection.exec_driver_sql(
            "SELECT n_tup_upd, n_tup_hot_upd, pg_total_relation_size(relid) FROM pg_stat_user_tables "
            "WHERE relname = 'line_count_rollups'"
        ).one()
    share = hot / max(updated, 1)
    print(f"  live: {share:.0%} of {updated:,} roll-up updates HOT; roll-ups {size / 1e6:.1f} MB")
    return figure


def e2e_rate(
    engine: Engine,
    events: list[Event],
    per_message: int,
    broker: tuple[str, int],
    batch: int,
    writers: int = 1,
    edge_process: bool = True,
) -> float:
    from citytally.hub.config import IngestSettings

    registered(engine, events)
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    settings = MqttSettings(
        host=broker[0], port=broker[1], topic_prefix=prefix, client_id=f"{prefix}-hub", session_expiry_s=60
    )
    # (no writers field before the hub had more than one: the bench also measures older checkouts)
    ingest_settings = IngestSettings(batch_max=batch, **({"writers": writers} if writers > 1 else {}))
    ingest = Ingest(EventWriter(engine, topic_prefix=prefix), settings, ingest_settings)
    ingest.start()
    if not ingest.wait_connected(10):
        raise SystemExit("the hub could not connect to the broker")
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "outbox.sqlite3"
        box = Outbox(path, settings, max_events_per_message=per_message)
        for i in range(0, len(events), 5000):
            box.publish_many(events[i : i + 5000])
        box.close()
        if edge_process:
            elapsed = _drain_in_a_process(path, settings, per_message, ingest, len(events))
        else:  # the old way: the outbox in this process, taking turns with the hub for the GIL
            box = Outbox(
                path, settings, max_events_per_message=per_message, window=max(2000 // per_message, 20)
            )
            started = time.perf_counter()
            box.start()
            elapsed = _until_stored(ingest, len(events), started)
            box.close()
    ingest.stop()
    return len(events) / elapsed


def _until_stored(ingest: Ingest, n: int, started: float) -> float:
    """Seconds from ``started`` until the hub has stored ``n`` events."""
    while ingest.totals.stored < n:
        time.sleep(0.01)
    return time.perf_counter() - started


def _drain_in_a_process(
    path: Path, settings: MqttSettings, per_message: int, ingest: Ingest, n: int
) -> float:
    """Seconds from the edge's start to the hub's ``n``-th stored event, the edge draining ``path`` in a
    process of its own, as in the field (there on its own machine; here it shares this one). It signals once
    its imports are done, so they are not timed."""
    context = multiprocessing.get_context("spawn")
    ready, go, done = context.Event(), context.Event(), context.Event()
    edge = context.Process(target=_drain_outbox, args=(path, settings, per_message, ready, go, done))
    edge.start()
    if not ready.wait(60):
        raise SystemExit("the edge process did not start")
    started = time.perf_counter()
    go.set()
    elapsed = _until_stored(ingest, n, started)
    done.set()
    edge.join(30)
    return elapsed


def _drain_outbox(
    path: Path, settings: MqttSettings, per_message: int, ready: Any, go: Any, done: Any
) -> None:
    """The edge's side of ``e2e``: publish a filled outbox until told to stop."""
    box = Outbox(path, settings, max_events_per_message=per_message, window=max(2000 // per_message, 20))
    ready.set()
    go.wait()
    box.start()
    done.wait()
    box.close()


def receive_rate(events: list[Event], broker: tuple[str, int]) -> float:
    """Messages per second one paho client takes at QoS 1 from the same outbox, doing nothing but the
    acknowledgement: the MQTT part of the one-event-per-message figure, without the store."""
    import threading

    from citytally.hub.ingest import subscription_topic
    from citytally.transport.mqtt import build_mqtt_client, connect_properties

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
        # no hub here to confirm: the broker's PUBACK is the end of the line
        box = Outbox(
            Path(directory) / "outbox.sqlite3",
            settings,
            max_events_per_message=1,
            window=2000,
            confirm="broker",
        )
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
    parser.add_argument("--cameras", type=int, default=2000, help="cameras of the live-pg figure")
    parser.add_argument("--minutes", type=int, default=10, help="minutes of the live-pg figure")
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated figures to run, of: copy, writer-pg, writer-sqlite, e2e-pg-1, e2e-pg-2, "
        "e2e-pg-2-inproc, e2e-sqlite, e2e-pg-single, receive, live-pg (default: all)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    host, _, port = args.broker.rpartition(":")
    broker = (host, int(port))
    n = args.events
    figures: dict[str, list[Figure]] = {}
    single = max(n // 5, 1000)  # one event per message is slow: fewer of them
    wanted = [prefix for prefix in args.only.split(",") if prefix]

    def measure(key: str, name: str, run: Callable[[str], Figure | float], backend: str) -> None:
        if wanted and key not in wanted:
            return
        if backend == "pg":
            url, drop = fresh_database()
        else:
            directory = tempfile.mkdtemp()
            url, drop = sqlite_url(Path(directory) / "hub.sqlite3"), (lambda: shutil.rmtree(directory))
        try:
            found = run(url)
            figures.setdefault(name, []).append(found if isinstance(found, Figure) else Figure(found))
        finally:
            drop()

    for _ in range(args.repeat):  # interleaved, so a burst of load elsewhere hits every figure alike
        measure("copy", "copy (pg ceiling)", lambda url: copy_rate(url, make_events(n)), "pg")
        measure(
            "writer-pg", "writer pg", lambda url: writer_rate(store(url), make_events(n), args.batch), "pg"
        )
        measure(
            "writer-sqlite",
            "writer sqlite",
            lambda url: writer_rate(store(url), make_events(n), args.batch),
            "sqlite",
        )
        measure(
            "e2e-pg-2-inproc",
            "e2e pg (200/message, 2 writers, edge in the hub's process)",
            lambda url: e2e_rate(store(url), make_events(n), 200, broker, args.batch, 2, edge_process=False),
            "pg",
        )
        for writers in (1, 2):
            measure(
                f"e2e-pg-{writers}",
                f"e2e pg (200/message, {writers} writer{'s' if writers > 1 else ''})",
                lambda url, w=writers: e2e_rate(store(url), make_events(n), 200, broker, args.batch, w),
                "pg",
            )
        measure(
            "e2e-sqlite",
            "e2e sqlite (200/message)",
            lambda url: e2e_rate(store(url), make_events(n), 200, broker, args.batch),
            "sqlite",
        )
        measure(
            "e2e-pg-single",
            "e2e pg (1/message, 2 writers)",
            lambda url: e2e_rate(store(url), make_events(single), 1, broker, args.batch, 2),
            "pg",
        )
        measure(
            "live-pg",
            "live city pg (1-min events, writer)",
            lambda url: live_rate(store(url), args.cameras, args.minutes),
            "pg",
        )
        measure(
            "receive",
            "mqtt receive only (1/message)",
            lambda _url: receive_rate(make_events(single), broker),
            "sqlite",
        )
    report(figures)


def _us(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1e6:,.0f}"


def report(figures: dict[str, list[Figure]]) -> None:
    """Best rate of the repeats (the least disturbed) and the least CPU per event, with ratios to COPY."""
    best = {name: max(runs, key=lambda f: f.rate) for name, runs in figures.items()}
    cpu = {
        name: min((f for f in runs if f.python_s is not None), key=_cpu_total, default=None)
        for name, runs in figures.items()
    }
    for name, runs in figures.items():
        rates = ", ".join(f"{f.rate:,.0f}" for f in runs)
        line = f"{name:<32} {best[name].rate:>8,.0f} events/s  (runs: {rates})"
        low = cpu[name]
        if low is not None:
            line += f"  cpu µs/event: python {_us(low.python_s)} + postgres {_us(low.postgres_s)}"
        print(line)
    ceiling = best.get("copy (pg ceiling)")
    ceiling_cpu = cpu.get("copy (pg ceiling)")
    summary: dict[str, dict[str, float]] = {}
    for name, figure in best.items():
        entry: dict[str, float] = {"events_per_s": round(figure.rate)}
        if ceiling is not None:
            entry["of_copy"] = round(figure.rate / ceiling.rate, 3)
        low = cpu[name]
        if low is not None:
            entry["cpu_us_per_event"] = round(_cpu_total(low) * 1e6, 1)
            if ceiling_cpu is not None:
                entry["copy_cpu_over_this"] = round(_cpu_total(ceiling_cpu) / _cpu_total(low), 3)
        summary[name] = entry
    print(json.dumps(summary, indent=1))


def _cpu_total(figure: Figure) -> float:
    return (figure.python_s or 0.0) + (figure.postgres_s or 0.0)


if __name__ == "__main__":
    main()
