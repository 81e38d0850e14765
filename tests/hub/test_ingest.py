"""MQTT ingest against the real broker: stores what arrives, dead-letters bad input and keeps going,
stores redeliveries once, and acknowledges nothing while the database is down."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from citytally.events import event_to_json, event_topic
from citytally.hub.config import HubSettings
from citytally.hub.ingest import Ingest, subscription_topic
from citytally.hub.metrics import HubMetrics
from citytally.hub.store import EventWriter, schema
from citytally.transport.outbox import Outbox
from hub.conftest import SERVER_URL, conflict_event_in_many_cells, event_stream, mqtt_settings_for, wait_until

pytestmark = pytest.mark.integration


def count(engine: Engine, table: sa.Table) -> int:
    with engine.connect() as connection:
        return int(connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def publish(client: mqtt.Client, topic: str, payload: bytes | str) -> None:
    client.publish(topic, payload, qos=1).wait_for_publish(10)


@pytest.fixture
def start_ingest(mqtt_prefix: str) -> Iterator[Callable[..., Ingest]]:
    started: list[Ingest] = []

    def start(engine: Engine, **kwargs: Any) -> Ingest:
        ingest = Ingest(
            EventWriter(engine, topic_prefix=mqtt_prefix),
            mqtt_settings_for(mqtt_prefix),
            metrics=HubMetrics(),
            **kwargs,
        )
        ingest.start()
        assert ingest.wait_connected(10), "ingest did not connect to the broker"
        started.append(ingest)
        return ingest

    yield start
    for ingest in started:
        ingest.stop()


def test_subscription_covers_every_camera() -> None:
    assert subscription_topic("citytally") == "citytally/+/+/events"


def test_bad_input_is_dead_lettered_and_ingest_goes_on(
    store_engine: Engine,
    make_registry: Callable[..., Any],
    mqtt_client: mqtt.Client,
    mqtt_prefix: str,
    start_ingest: Callable[..., Ingest],
) -> None:
    make_registry(store_engine, ("plaza", "cam-1"), ("plaza", "cam-2"))
    ingest = start_ingest(store_engine)
    events = event_stream(20, cameras=2)
    topic = event_topic("plaza", "cam-1", mqtt_prefix)
    bad: list[tuple[str, bytes | str]] = [
        (topic, b"\x00\x01 not json"),
        (topic, json.dumps({"v": 1, "type": "line_count"})),
        (event_topic("plaza", "cam-7", mqtt_prefix), event_to_json(event_stream(1, site="plaza")[0])),
        (event_topic("elsewhere", "cam-1", mqtt_prefix), event_to_json(events[0])),
    ]
    for index, event in enumerate(events):
        publish(mqtt_client, event_topic(event.site, event.camera, mqtt_prefix), event_to_json(event))
        if index % 5 == 0 and bad:
            publish(mqtt_client, *bad.pop())
    for event in events[:5]:  # redelivered
        publish(mqtt_client, event_topic(event.site, event.camera, mqtt_prefix), event_to_json(event))
    wait_until(lambda: ingest.totals.stored + ingest.totals.duplicates >= 25, 30, "25 events handled")
    wait_until(lambda: ingest.totals.dead.total() >= 4, 10, "4 dead letters")
    assert (ingest.totals.stored, ingest.totals.duplicates) == (20, 5)
    assert dict(ingest.totals.dead) == {"not_json": 1, "schema": 1, "topic_mismatch": 2}
    assert count(store_engine, schema.events) == 20
    assert count(store_engine, schema.dead_letters) == 4
    ingested = ingest.metrics.hub.registry.get_sample_value(
        "citytally_events_ingested_total", {"type": "line_count"}
    )
    assert ingested == 20


def test_nothing_is_acknowledged_while_the_database_is_down(
    pg_engine: Engine,
    pg_url: str,
    make_registry: Callable[..., Any],
    mqtt_client: mqtt.Client,
    mqtt_prefix: str,
    start_ingest: Callable[..., Ingest],
) -> None:
    from hub.conftest import empty_store

    empty_store(pg_engine)
    make_registry(pg_engine)
    database = sa.engine.make_url(pg_url).database
    admin = sa.create_engine(SERVER_URL, isolation_level="AUTOCOMMIT")

    def set_outage(down: bool) -> None:
        with admin.connect() as connection:
            connection.exec_driver_sql(
                f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS {str(not down).lower()}'
            )
            if down:
                connection.exec_driver_sql(
                    f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database}'"
                )

    events = event_stream(30, cameras=1)
    ingest = start_ingest(pg_engine)
    try:
        set_outage(True)
        for event in events:
            publish(mqtt_client, event_topic(event.site, event.camera, mqtt_prefix), event_to_json(event))
        registry = ingest.metrics.hub.registry
        failed = "citytally_ingest_store_errors_total"
        wait_until(lambda: (registry.get_sample_value(failed) or 0) >= 1, 20, "a failed write")
        assert ingest.totals.stored == 0
        ingest.stop()  # the hub goes away during the outage, holding unacknowledged messages
        set_outage(False)
        second = start_ingest(pg_engine)  # same client id: the broker redelivers the session's messages
        wait_until(lambda: second.totals.stored >= 30, 30, "30 events stored after the outage")
    finally:
        set_outage(False)
        admin.dispose()
    assert count(pg_engine, schema.events) == 30


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_both_protocol_versions_deliver(
    sqlite_engine: Engine, make_registry: Callable[..., Any], mqtt_prefix: str, tmp_path: Path, protocol: str
) -> None:
    from citytally.transport.outbox import Outbox

    make_registry(sqlite_engine)
    settings = mqtt_settings_for(mqtt_prefix).model_copy(update={"protocol": protocol})
    ingest = Ingest(EventWriter(sqlite_engine, topic_prefix=mqtt_prefix), settings)
    ingest.start()
    box = Outbox(tmp_path / "outbox.sqlite3", settings)
    try:
        assert ingest.wait_connected(10)
        box.start()
        box.publish_many(event_stream(30, cameras=1))
        assert box.wait_drained(20)
        wait_until(lambda: ingest.totals.stored >= 30, 20, "30 events stored")
    finally:
        box.close()
        ingest.stop()
    assert count(sqlite_engine, schema.events) == 30


def test_writers_side_by_side_store_once_and_acknowledge_everything(
    pg_engine: Engine,
    make_registry: Callable[..., Any],
    mqtt_client: mqtt.Client,
    mqtt_prefix: str,
    start_ingest: Callable[..., Ingest],
) -> None:
    from citytally.hub.config import IngestSettings
    from hub.conftest import empty_store

    empty_store(pg_engine)
    make_registry(pg_engine, ("plaza", "cam-1"), ("plaza", "cam-2"))
    settings = IngestSettings(writers=4, batch_max=3, batch_wait_ms=0)
    ingest = start_ingest(pg_engine, settings=settings)
    events = event_stream(120, cameras=2)
    for event in events + events[:30]:  # a redelivered stretch lands in concurrent batches too
        publish(mqtt_client, event_topic(event.site, event.camera, mqtt_prefix), event_to_json(event))
    wait_until(lambda: ingest.totals.stored + ingest.totals.duplicates >= 150, 30, "150 messages handled")
    assert (ingest.totals.stored, ingest.totals.duplicates, ingest.totals.dead.total()) == (120, 30, 0)
    ingest.stop()
    again = start_ingest(pg_engine, settings=settings)  # same session: anything unacknowledged comes back
    marker = event_stream(1, cameras=1)[0]  # queued behind anything the broker would redeliver
    publish(mqtt_client, event_topic(marker.site, marker.camera, mqtt_prefix), event_to_json(marker))
    wait_until(lambda: again.totals.stored >= 1, 20, "the marker event")
    time.sleep(0.5)  # a redelivered batch taken beside the marker's would be stored by now
    assert (again.totals.stored, again.totals.duplicates) == (1, 0)
    with pg_engine.connect() as connection:
        daily = connection.execute(
            sa.select(sa.func.sum(schema.line_count_rollups.c.count)).where(
                schema.line_count_rollups.c.period == "1d"
            )
        ).scalar_one()
        bodies = connection.execute(sa.select(schema.events.c.body)).scalars().all()
    raw = sum(n for body in bodies for by_class in body["counts"].values() for n in by_class.values())
    assert daily == raw and count(pg_engine, schema.events) == 121


def test_a_flood_of_qos_0_messages_is_shed_past_the_bound_and_qos_1_is_not(
    sqlite_engine: Engine,
    make_registry: Callable[..., Any],
    mqtt_client: mqtt.Client,
    mqtt_prefix: str,
    start_ingest: Callable[..., Ingest],
    tmp_path: Path,
) -> None:
    """Whoever may publish on an events topic could send QoS 0 messages (which the broker does not hold
    back) faster than the store takes them, and the hub held every one in memory, without end. Past
    [ingest] max_queued_bytes they are dropped and counted; QoS 1 messages, an edge's, are all kept."""
    import sqlite3

    from citytally.hub.config import IngestSettings

    make_registry(sqlite_engine, ("plaza", "cam-1"))
    ingest = start_ingest(sqlite_engine, settings=IngestSettings(max_queued_bytes=1024 * 1024))
    topic = event_topic("plaza", "cam-1", mqtt_prefix)
    junk = b"x" * 300_000  # not JSON: each one a dead letter once stored
    database = sqlite_engine.url.database
    assert database is not None
    holder = sqlite3.connect(database, timeout=30)
    holder.execute("BEGIN IMMEDIATE")  # the store is busy: nothing is stored meanwhile
    try:
        for _ in range(20):  # 6 MB, against a bound of 1 MiB (and a batch of 2 MiB the writer holds)
            mqtt_client.publish(topic, junk, qos=0).wait_for_publish(10)
        for _ in range(3):
            publish(mqtt_client, topic, junk)  # QoS 1
        shed = "citytally_ingest_shed_messages_total"
        registry = ingest.metrics.hub.registry
        wait_until(lambda: (registry.get_sample_value(shed) or 0) >= 10, 10, "QoS 0 messages shed")
    finally:
        holder.rollback()
        holder.close()

    def kept() -> int:  # QoS 0 messages still on their way when the store was freed are shed or kept then
        return 20 - int(registry.get_sample_value(shed) or 0) + 3

    wait_until(lambda: ingest.totals.dead.total() >= kept(), 90, "the rest stored as dead letters")
    time.sleep(0.5)
    assert count(sqlite_engine, schema.dead_letters) == kept()  # every QoS 1 one among them


def test_a_backlog_of_large_events_reaches_the_hub_in_messages_it_takes(
    sqlite_engine: Engine,
    make_registry: Callable[..., Any],
    mqtt_prefix: str,
    start_ingest: Callable[..., Ingest],
    tmp_path: Path,
) -> None:
    """An edge's backlog of 200 conflict events of 27 kB each was one 5.4 MB message, which the hub refuses
    whole (its default limit is 4 MiB): the 200 events went to the dead letters, confirmed and gone from
    the edge, and none into the counts."""
    make_registry(sqlite_engine, ("plaza", "cam-1"))
    events = [conflict_event_in_many_cells(minute) for minute in range(200)]
    sizes = [len(event_to_json(event)) for event in events]
    assert min(sizes) > 25_000 and sum(sizes) > HubSettings().ingest.max_message_bytes
    box = Outbox(tmp_path / "outbox.sqlite3", mqtt_settings_for(mqtt_prefix, client_id=f"{mqtt_prefix}-edge"))
    box.publish_many(events)  # queued while the edge was offline: the backlog it sends when it connects
    ingest = start_ingest(sqlite_engine)
    box.start()
    try:
        assert box.wait_drained(60), f"{box.depth} events never confirmed by the hub"
    finally:
        box.close()
    assert (ingest.totals.stored, ingest.totals.dead.total()) == (200, 0)
    with sqlite_engine.connect() as connection:
        stored = connection.execute(sa.select(sa.func.count()).select_from(schema.conflict_rollups)).scalar()
    assert stored
