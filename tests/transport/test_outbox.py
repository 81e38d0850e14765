"""The edge outbox: durable before publish, gone only once confirmed (by the hub's receipt, or the broker's
PUBACK where no hub confirms), in order per camera, nothing lost."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import sqlalchemy as sa
from prometheus_client import CollectorRegistry
from sqlalchemy.engine import Engine

from citytally.events import Event, parse_event
from citytally.hub.ingest import Ingest, subscription_topic
from citytally.hub.store import EventWriter, schema
from citytally.transport.mqtt import MqttSettings
from citytally.transport.outbox import Outbox
from citytally.transport.publisher import Publisher
from hub.conftest import BROKER_PORT, PrivateBroker, event_stream, free_port, mqtt_settings_for, wait_until

pytestmark = pytest.mark.integration


class Listener:
    """Subscribes to a prefix on a broker and keeps every event it receives, in arrival order."""

    def __init__(self, prefix: str, port: int = BROKER_PORT) -> None:
        self.events: list[Event] = []
        self._lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.subscribe(subscription_topic(prefix), qos=1)
        self.client.loop_start()

    def _on_message(self, _c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        document = json.loads(message.payload)
        with self._lock:
            for body in document if isinstance(document, list) else [document]:
                self.events.append(parse_event(body))

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def listener(mqtt_prefix: str) -> Iterator[Listener]:
    found = Listener(mqtt_prefix)
    yield found
    found.close()


def assert_in_order_per_camera(events: list[Event]) -> None:
    for camera in {event.camera for event in events}:
        starts = [event.start for event in events if event.camera == camera]
        assert starts == sorted(starts), f"{camera}'s events arrived out of order"


def test_queued_events_survive_a_restart_without_a_broker(
    tmp_path: Path, mqtt_prefix: str, listener: Listener
) -> None:
    path = tmp_path / "outbox.sqlite3"
    events = event_stream(60, cameras=3)
    unreachable = mqtt_settings_for(mqtt_prefix, port=free_port())
    registry = CollectorRegistry()
    box = Outbox(path, unreachable, drain_timeout_s=0.5, registry=registry, confirm="broker")
    assert isinstance(box, Publisher)
    box.start()
    for event in events[:20]:
        box.publish(event)
    box.publish_many(events[20:])
    assert registry.get_sample_value("citytally_outbox_depth") == 60
    box.close()  # the edge stops with the broker still unreachable
    assert box.depth == 60

    again = Outbox(path, mqtt_settings_for(mqtt_prefix), max_events_per_message=7, confirm="broker")
    assert again.depth == 60
    again.start()
    assert again.wait_drained(30), f"{again.depth} events still queued"
    again.close()
    wait_until(lambda: len(listener.events) >= 60, 10, "60 events at the listener")
    assert sorted(str(e.id) for e in listener.events) == sorted(str(e.id) for e in events)
    assert_in_order_per_camera(listener.events)
    assert Outbox(path, mqtt_settings_for(mqtt_prefix)).depth == 0


def test_a_broker_outage_mid_stream_loses_nothing(
    tmp_path: Path,
    mqtt_prefix: str,
    private_broker: PrivateBroker,
    sqlite_engine: Engine,
    make_registry: Callable[..., Any],
) -> None:
    make_registry(sqlite_engine, ("plaza", "cam-1"), ("plaza", "cam-2"))
    settings = mqtt_settings_for(mqtt_prefix, port=private_broker.port)
    ingest = Ingest(EventWriter(sqlite_engine, topic_prefix=mqtt_prefix), settings)
    ingest.start()
    box = Outbox(tmp_path / "outbox.sqlite3", settings, max_events_per_message=5)
    box.start()
    assert ingest.wait_connected(10) and box.wait_connected(10)
    events = event_stream(90, cameras=2)
    try:
        for event in events[:30]:
            box.publish(event)
        assert box.wait_drained(20)
        private_broker.stop()
        for event in events[30:60]:  # the link is down: these wait on disk
            box.publish(event)
        assert box.depth == 30
        private_broker.start()
        for event in events[60:]:
            box.publish(event)
        assert box.wait_drained(60), f"{box.depth} events still queued after the broker came back"
        wait_until(lambda: ingest.totals.stored >= 90, 60, "90 events stored")
    finally:
        box.close()
        ingest.stop()
    with sqlite_engine.connect() as connection:
        stored = connection.execute(
            sa.select(schema.events.c.id, schema.events.c.camera, schema.events.c.start)
        )
        by_id = {row.id: row for row in stored}
    assert set(by_id) == {event.id for event in events}
    assert ingest.totals.stored == 90


def test_a_closed_outbox_refuses_events(tmp_path: Path) -> None:
    from citytally.errors import TransportError

    box = Outbox(tmp_path / "o.sqlite3", MqttSettings(port=free_port()))
    box.close()
    with pytest.raises(TransportError, match="closed"):
        box.publish(event_stream(1)[0])


def test_the_hub_shows_each_edges_outbox_depth(
    sqlite_engine: Engine, make_registry: Callable[..., Any], mqtt_prefix: str, tmp_path: Path
) -> None:
    from citytally.hub.metrics import HubMetrics

    make_registry(sqlite_engine, ("plaza", "cam-1"), ("plaza", "cam-2"))
    settings = mqtt_settings_for(mqtt_prefix)
    metrics = HubMetrics()
    ingest = Ingest(EventWriter(sqlite_engine, topic_prefix=mqtt_prefix), settings, metrics=metrics)
    box = Outbox(tmp_path / "outbox.sqlite3", settings, status_every_s=0.1)
    box.publish_many(event_stream(40, cameras=2))  # queued before the link is up: the first status shows it
    registry = metrics.registry

    def gauge(name: str, camera: str) -> float | None:
        return registry.get_sample_value(name, {"site": "plaza", "camera": camera})

    seen: set[float] = set()
    ingest.start()
    try:
        assert ingest.wait_connected(10)
        box.start()
        wait_until(lambda: ingest.totals.stored >= 40, 20, "40 events stored")
        wait_until(lambda: gauge("citytally_edge_outbox_depth", "cam-2") == 0, 10, "cam-2's depth back at 0")
        seen = {gauge("citytally_edge_status_timestamp_seconds", c) or 0.0 for c in ("cam-1", "cam-2")}
    finally:
        box.close()
        ingest.stop()
        clear_retained([f"{mqtt_prefix}/plaza/{camera}/status" for camera in ("cam-1", "cam-2")])
    assert gauge("citytally_edge_outbox_depth", "cam-1") == 0
    assert gauge("citytally_edge_outbox_oldest_seconds", "cam-1") == 0
    assert all(stamp > 0 for stamp in seen)
    assert registry.get_sample_value("citytally_edge_status_invalid_total") == 0


def _status_ingest(
    engine: Engine, make_registry: Callable[..., Any], prefix: str
) -> tuple[Ingest, Any, mqtt.Client, str]:
    """Ingest (not started) on a registry of plaza/cam-1 whose reads stay fresh 0.2 s, its metrics, a
    connected client to publish statuses with, and a status body."""
    from datetime import UTC, datetime

    from citytally.hub.metrics import HubMetrics

    make_registry(engine, ("plaza", "cam-1"))
    metrics = HubMetrics()
    writer = EventWriter(engine, topic_prefix=prefix, registry_refresh_s=0.2)
    ingest = Ingest(writer, mqtt_settings_for(prefix), metrics=metrics)
    body = json.dumps({"outbox_depth": 3, "oldest_pending_s": 2.0, "at": datetime.now(UTC).isoformat()})
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.connect("127.0.0.1", BROKER_PORT)
    client.loop_start()
    return ingest, metrics, client, body


def test_statuses_of_cameras_outside_the_registry_add_no_gauges(
    sqlite_engine: Engine, make_registry: Callable[..., Any], mqtt_prefix: str
) -> None:
    """Anyone who may publish statuses could make up camera names without end: each would be a label set of
    three gauges for good (20,000 names: 4.6 MB of /metrics and 66 MB of memory). Only registered cameras
    get gauges; one registered while the hub runs is shown from a later status."""
    ingest, metrics, client, body = _status_ingest(sqlite_engine, make_registry, mqtt_prefix)

    def shown() -> set[tuple[str, str]]:
        return {
            (s.labels["site"], s.labels["camera"])
            for family in metrics.registry.collect()
            if family.name == "citytally_edge_outbox_depth"
            for s in family.samples
        }

    def statuses(*cameras: tuple[str, str], depth: int = 3) -> None:
        message = body.replace('"outbox_depth": 3', f'"outbox_depth": {depth}')
        for site, camera in cameras:
            client.publish(f"{mqtt_prefix}/{site}/{camera}/status", message, qos=1).wait_for_publish(10)

    made_up = [("elsewhere", f"cam-{i}") for i in range(300)]
    ingest.start()
    try:
        assert ingest.wait_connected(10)
        statuses(*made_up)
        deadline = time.monotonic() + 10
        while ("plaza", "cam-1") not in shown() and time.monotonic() < deadline:
            statuses(("plaza", "cam-1"), ("plaza", "cam-2"))
            time.sleep(0.1)
        make_registry(sqlite_engine, ("plaza", "cam-1"), ("plaza", "cam-2"))
        while ("plaza", "cam-2") not in shown() and time.monotonic() < deadline:
            statuses(("plaza", "cam-2"))
            time.sleep(0.1)
        statuses(*made_up)
        statuses(("plaza", "cam-1"), depth=7)  # after the made-up ones: once it shows, they were judged
        depth = {"site": "plaza", "camera": "cam-1"}
        wait_until(
            lambda: metrics.registry.get_sample_value("citytally_edge_outbox_depth", depth) == 7,
            10,
            "cam-1's last status",
        )
    finally:
        client.loop_stop()
        client.disconnect()
        ingest.stop()
    assert shown() == {("plaza", "cam-1"), ("plaza", "cam-2")}
    assert (metrics.registry.get_sample_value("citytally_edge_status_invalid_total") or 0) > 0


def test_a_made_up_name_sending_statuses_as_an_edge_does_is_counted(
    sqlite_engine: Engine, make_registry: Callable[..., Any], mqtt_prefix: str
) -> None:
    """An edge sends a status every 10 s, longer than the registry read stays fresh: each status of a name
    the registry lacks found the read stale, waited for the next one, and was never counted as invalid."""
    ingest, metrics, client, body = _status_ingest(sqlite_engine, make_registry, mqtt_prefix)
    ingest.start()
    try:
        assert ingest.wait_connected(10)
        for _ in range(4):  # each a while after the registry was last read (0.2 s stays fresh here)
            time.sleep(0.6)
            client.publish(f"{mqtt_prefix}/elsewhere/cam-9/status", body, qos=1).wait_for_publish(10)
        wait_until(
            lambda: (metrics.registry.get_sample_value("citytally_edge_status_invalid_total") or 0) >= 3,
            5,
            "the made-up name's statuses counted",
        )
        client.publish(f"{mqtt_prefix}/plaza/cam-1/status", body, qos=1).wait_for_publish(10)
        depth = {"site": "plaza", "camera": "cam-1"}
        wait_until(
            lambda: metrics.registry.get_sample_value("citytally_edge_outbox_depth", depth) == 3,
            10,
            "cam-1's status",
        )
    finally:
        client.loop_stop()
        client.disconnect()
        ingest.stop()


def test_the_first_status_reports_the_backlog(mqtt_prefix: str, tmp_path: Path) -> None:
    from citytally.transport.status import OutboxStatus, status_subscription

    statuses: list[tuple[str, OutboxStatus]] = []
    watcher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    watcher.on_message = lambda _c, _u, m: statuses.append(
        (m.topic, OutboxStatus.model_validate_json(m.payload))
    )
    watcher.connect("127.0.0.1", BROKER_PORT)
    watcher.subscribe(status_subscription(mqtt_prefix), qos=0)
    watcher.loop_start()
    settings = mqtt_settings_for(mqtt_prefix)
    box = Outbox(tmp_path / "outbox.sqlite3", settings, status_every_s=0.1, confirm="broker")
    box.publish_many(event_stream(30, cameras=1))
    try:
        time.sleep(0.5)  # the watcher's subscription is in place
        box.start()
        wait_until(lambda: len(statuses) >= 1, 10, "a status message")
        wait_until(lambda: box.depth == 0, 10, "the queue drained (no hub: the broker acknowledges)")
    finally:
        box.close()
        watcher.disconnect()
        watcher.loop_stop()
    topic, first = statuses[0]
    assert topic == f"{mqtt_prefix}/plaza/cam-1/status"
    assert first.outbox_depth == 30 and first.oldest_pending_s >= 0.5
    assert statuses[-1][1].outbox_depth == 0  # the last word before closing: drained
    clear_retained([topic])


def clear_retained(topics: list[str]) -> None:
    """Status messages are retained: leave nothing of a test behind on the shared broker."""
    cleaner = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    cleaner.connect("127.0.0.1", BROKER_PORT)
    cleaner.loop_start()
    for topic in topics:
        cleaner.publish(topic, b"", retain=True).wait_for_publish(5)
    cleaner.disconnect()
    cleaner.loop_stop()
