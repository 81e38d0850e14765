"""The broker crashes (kill -9) while the hub is away: with end-to-end confirmation nothing is lost.

Real processes: a private Mosquitto with persistence but Mosquitto's default autosave (every 30 min, so a
kill -9 loses its whole state: the hub's session and everything queued for it), ``citytally hub`` as a
child process, and an edge outbox publishing meanwhile. The second test is the control: an outbox that
trusts the broker's PUBACK loses the events in the same crash, so the first test can fail.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import pytest
import sqlalchemy as sa
from prometheus_client import CollectorRegistry
from sqlalchemy.engine import Engine

from citytally.hub.store import schema
from citytally.transport.outbox import Outbox

from .conftest import PrivateBroker, event_stream, mqtt_settings_for, wait_until
from .test_end_to_end import CAMERA_TOML, HubProcess, stored_ids

pytestmark = pytest.mark.integration


@pytest.fixture
def hub(
    sqlite_engine: Engine, tmp_path: Path, mqtt_prefix: str, private_broker: PrivateBroker
) -> Iterator[HubProcess]:
    cameras = []
    for camera in ("cam-1", "cam-2"):
        path = tmp_path / f"{camera}.toml"
        path.write_text(CAMERA_TOML.format(camera=camera))
        cameras.append(path.name)
    config = tmp_path / "hub.toml"
    config.write_text(
        f"cameras = {cameras!r}\n\n"
        f'[mqtt]\nport = {private_broker.port}\ntopic_prefix = "{mqtt_prefix}"\n'
        f'client_id = "{mqtt_prefix}-hub"\nsession_expiry_s = 600\n\n'
        "[ingest]\nbatch_wait_ms = 20\n"
    )
    env = dict(os.environ, CITYTALLY_DATABASE_URL=sqlite_engine.url.render_as_string(hide_password=False))
    process = HubProcess(config, env, tmp_path / "hub.log")
    yield process
    if process.process is not None:
        process.kill()


def crash_while_the_hub_is_away(
    confirm: Literal["hub", "broker"],
    hub: HubProcess,
    broker: PrivateBroker,
    prefix: str,
    path: Path,
    n: int = 300,
) -> tuple[Outbox, set[object]]:
    """Hub up then stopped; the edge publishes ``n`` events, the broker acknowledges them and crashes;
    broker and hub restart. Returns the (started) outbox and the ids of the events published."""
    settings = mqtt_settings_for(prefix, port=broker.port, client_id=f"{prefix}-edge")
    registry = CollectorRegistry()
    box = Outbox(
        path, settings, max_events_per_message=20, confirm=confirm, resend_after_s=2.0, registry=registry
    )
    events = event_stream(n, cameras=2)
    hub.start()  # the hub's session now exists on the broker
    assert hub.stop() == 0
    box.start()
    box.publish_many(events)
    sent = lambda: registry.get_sample_value("citytally_outbox_sent_events_total") or 0  # noqa: E731
    wait_until(lambda: sent() >= n, 30, f"the broker acknowledging all {n} events")
    broker.kill()  # before its first autosave: the hub's session and its queue are gone
    broker.start()
    hub.start()
    return box, {event.id for event in events}


def test_a_broker_crash_while_the_hub_is_away_loses_nothing(
    hub: HubProcess, private_broker: PrivateBroker, sqlite_engine: Engine, mqtt_prefix: str, tmp_path: Path
) -> None:
    box, published = crash_while_the_hub_is_away(
        "hub", hub, private_broker, mqtt_prefix, tmp_path / "o.sqlite3"
    )
    try:
        assert box.wait_drained(45), f"{box.depth} events never confirmed by the hub"
        assert hub.stop() == 0
    finally:
        box.close()
    ids = stored_ids(sqlite_engine)
    assert len(ids) == len(set(ids)) and set(ids) == published
    log = hub.log.read_text()
    assert "session present: False" in log and "the broker holds no queue for this hub" in log


def test_control_trusting_the_brokers_puback_loses_the_events(
    hub: HubProcess, private_broker: PrivateBroker, sqlite_engine: Engine, mqtt_prefix: str, tmp_path: Path
) -> None:
    box, published = crash_while_the_hub_is_away(
        "broker", hub, private_broker, mqtt_prefix, tmp_path / "o.sqlite3"
    )
    try:
        assert box.depth == 0  # the outbox believed every event delivered
        wait_until(lambda: hub.log.read_text().count("ingest: subscribed") >= 2, 30, "the hub back")
    finally:
        box.close()
        hub.stop()
    assert len(set(stored_ids(sqlite_engine)) & published) < len(published) // 10


def test_the_hub_says_loudly_when_the_broker_lost_its_session(
    sqlite_engine: Engine, private_broker: PrivateBroker, mqtt_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    from fastapi.testclient import TestClient

    from citytally.hub.ingest import Ingest
    from citytally.hub.metrics import HubMetrics
    from citytally.hub.store import EventWriter
    from citytally.hub.web import create_app

    caplog.set_level(logging.INFO, "citytally.hub.ingest")
    settings = mqtt_settings_for(mqtt_prefix, port=private_broker.port)

    def connect_and_ask() -> tuple[dict[str, object], float | None]:
        """Start ingest, read /health and the missing-session counter, stop ingest."""
        metrics = HubMetrics()
        ingest = Ingest(EventWriter(sqlite_engine, topic_prefix=mqtt_prefix), settings, metrics=metrics)
        with TestClient(create_app(None, sqlite_engine, metrics=metrics)) as client:
            assert client.get("/health").json()["broker_session"] is None
            ingest.start()
            assert ingest.wait_connected(10)
            health = client.get("/health").json()
        ingest.stop()
        return health, metrics.registry.get_sample_value("citytally_ingest_broker_sessions_missing_total")

    first, first_missing = connect_and_ask()  # a new hub's very first start: no session yet, and no alarm
    second, second_missing = connect_and_ask()  # the broker kept it
    private_broker.kill()
    private_broker.start()
    third, third_missing = connect_and_ask()  # the crash took it
    assert (first["broker_session"], first_missing) == ("new", 0)
    assert (second["broker_session"], second_missing) == ("present", 0)
    assert (third["broker_session"], third_missing, third["status"]) == ("missing", 1, "ok")
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and "session present: False" in errors[0] and "which had one there" in errors[0]
    firsts = [r for r in caplog.records if "for the first time" in r.getMessage()]
    assert [r.levelname for r in firsts] == ["INFO"]

    # A store that holds events but no session with this broker on record (a new broker, or a hub from
    # before the record): a possible loss, said as a warning.
    with sqlite_engine.begin() as conn:
        conn.execute(sa.delete(schema.broker_sessions))
    assert EventWriter(sqlite_engine, accept_unknown_cameras=True).write_events(event_stream(1)).stored == 1
    private_broker.kill()
    private_broker.start()
    caplog.clear()
    fourth, fourth_missing = connect_and_ask()
    assert (fourth["broker_session"], fourth_missing) == ("missing", 1)
    warned = [r for r in caplog.records if "session present: False" in r.getMessage()]
    assert [r.levelname for r in warned] == ["WARNING"] and "none with it is on record" in warned[
        0
    ].getMessage()


@pytest.mark.parametrize(
    "kill_after", [0, 150, 300], ids=["before-any-event", "mid-stream", "after-the-last"]
)
def test_a_broker_crash_with_the_hub_up_loses_nothing(
    kill_after: int,
    sqlite_engine: Engine,
    private_broker: PrivateBroker,
    mqtt_prefix: str,
    tmp_path: Path,
) -> None:
    """kill -9 of the broker at several points of a stream while hub and edge are both connected."""
    from citytally.hub.ingest import Ingest
    from citytally.hub.store import EventWriter

    settings = mqtt_settings_for(mqtt_prefix, port=private_broker.port)
    writer = EventWriter(sqlite_engine, topic_prefix=mqtt_prefix, accept_unknown_cameras=True)
    ingest = Ingest(writer, settings)
    box = Outbox(tmp_path / "o.sqlite3", settings.model_copy(update={"client_id": f"{mqtt_prefix}-edge"}),
                 max_events_per_message=10, resend_after_s=2.0)  # fmt: skip
    events = event_stream(300, cameras=2)
    ingest.start()
    box.start()
    try:
        assert ingest.wait_connected(10) and box.wait_connected(10)
        box.publish_many(events[:kill_after])
        private_broker.kill()
        box.publish_many(events[kill_after:])  # into the outbox while the broker is down
        private_broker.start()
        assert box.wait_drained(60), f"{box.depth} events never confirmed"
    finally:
        box.close()
        ingest.stop()
    ids = stored_ids(sqlite_engine)
    assert len(ids) == len(set(ids)) and set(ids) == {event.id for event in events}
