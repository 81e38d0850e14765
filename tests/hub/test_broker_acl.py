"""The shipped Mosquitto ACL (``examples/mosquitto.acl``) on a real Mosquitto with passwords (and the
shipped configuration's bound on a packet's length): an edge, the
hub and a system taking the incident alerts do their work under it, and what each is not meant to do is
refused. A stolen edge password must not feed another site, forge receipts (they make edges delete events)
or forge alerts; an alert subscriber's password must not read or write anything else."""

from __future__ import annotations

import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from sqlalchemy.engine import Engine

from citytally.events import IncidentEvent
from citytally.hub.alerts import AlertRelay
from citytally.hub.ingest import Ingest
from citytally.hub.store import EventWriter
from citytally.transport.mqtt import MQTT_PASSWORD_ENV, MqttSettings
from citytally.transport.outbox import Outbox

from .conftest import PrivateBroker, conflict_event_in_many_cells, wait_until

pytestmark = pytest.mark.integration

ACL = Path(__file__).resolve().parents[2] / "examples" / "mosquitto.acl"
#: The shipped configuration's bound on a packet's length, applied to this broker as shipped.
[SHIPPED_PACKET_BOUND] = [
    line
    for line in (ACL.parent / "mosquitto.conf").read_text().splitlines()
    if line.startswith("max_packet_size ")
]
PASSWORD = "a-password-for-tests"
NOT_AUTHORIZED = 135  # MQTT 5 reason code


@pytest.fixture
def acl_broker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[PrivateBroker]:
    """A private Mosquitto with passwords and the shipped ACL; users hub, plaza and depot (sites) and
    traffic-centre (alerts), all with :data:`PASSWORD` (also in the environment, for citytally's clients)."""
    directory = tmp_path / "broker"
    directory.mkdir()
    passwords = directory / "passwd"
    for k, user in enumerate(("hub", "plaza", "depot", "traffic-centre")):
        create = ["-c"] if k == 0 else []
        subprocess.run(["mosquitto_passwd", *create, "-b", str(passwords), user, PASSWORD], check=True)
    access = f"allow_anonymous false\npassword_file {passwords}\nacl_file {ACL}\n{SHIPPED_PACKET_BOUND}\n"
    broker = PrivateBroker(directory, access)
    monkeypatch.setenv(MQTT_PASSWORD_ENV, PASSWORD)
    broker.start()
    yield broker
    broker.stop()


class Client:
    """A raw MQTT 5 client logged in as ``user``: what it receives, the broker's answer to each publish."""

    def __init__(self, user: str, port: int, *subscriptions: str) -> None:
        self.received: list[tuple[str, bytes]] = []
        self.answers: dict[int, int] = {}  # message id → the PUBACK's reason code
        self.granted: list[int] = []
        self._ready = threading.Event()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"acl-{user}-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv5,
        )
        self.client.username_pw_set(user, PASSWORD)
        self.client.on_message = lambda _c, _u, m: self.received.append((m.topic, m.payload))
        self.client.on_publish = self._on_publish
        self.client.on_subscribe = self._on_subscribe
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        if subscriptions:
            self.client.subscribe([(topic, 1) for topic in subscriptions])
            assert self._ready.wait(5), f"{user}: no SUBACK"

    def _on_publish(self, _c: mqtt.Client, _u: Any, mid: int, code: ReasonCode, _p: Properties) -> None:
        self.answers[mid] = code.value

    def _on_subscribe(
        self, _c: mqtt.Client, _u: Any, _mid: int, codes: list[ReasonCode], _p: Properties | None
    ) -> None:
        self.granted = [code.value for code in codes]
        self._ready.set()

    def publish(self, topic: str, payload: bytes = b"{}") -> int:
        """Publish at QoS 1; the broker's reason code (0: accepted, 135: not authorized)."""
        mid = self.client.publish(topic, payload, qos=1).mid
        wait_until(lambda: mid in self.answers, 5, f"the broker's answer to {topic}")
        return self.answers[mid]

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def wrong_way_at_plaza() -> IncidentEvent:
    """A wrong-way driver's onset at plaza/cam-1, just now."""
    now = datetime.now(UTC)
    return IncidentEvent(
        id=uuid.uuid4(),
        site="plaza",
        camera="cam-1",
        start=now - timedelta(seconds=10),
        end=now,
        incident="wrong_way",
        severity="critical",
        details={"road_users": 1},
        incident_id=uuid.uuid4(),
        phase="onset",
    )


def settings(port: int, user: str) -> MqttSettings:
    return MqttSettings(port=port, client_id=f"acl-{user}-{uuid.uuid4().hex[:8]}", username=user)


def test_an_edge_the_hub_and_an_alert_subscriber_work_under_the_shipped_acl(
    acl_broker: PrivateBroker, sqlite_engine: Engine, make_registry: Callable[..., Any], tmp_path: Path
) -> None:
    """The site's edge sends an incident; the hub stores it and its receipt empties the edge's outbox; the
    relay publishes the alert and traffic-centre receives it."""
    make_registry(sqlite_engine, ("plaza", "cam-1"))
    hub = settings(acl_broker.port, "hub")
    ingest = Ingest(EventWriter(sqlite_engine), hub)
    relay = AlertRelay(sqlite_engine, hub, poll_s=0.2)
    centre = Client("traffic-centre", acl_broker.port, "citytally/alerts/+/+/incident")
    box = Outbox(tmp_path / "outbox.sqlite3", settings(acl_broker.port, "plaza"))
    onset = wrong_way_at_plaza()
    try:
        ingest.start()
        relay.start()
        assert ingest.wait_connected(10)
        box.start()
        box.publish(onset)
        assert box.wait_drained(30), "the hub's receipt never reached the edge"
        wait_until(lambda: centre.received, 10, "the alert to reach traffic-centre")
    finally:
        box.close()
        relay.stop()
        ingest.stop()
        centre.close()
    [(topic, _payload)] = centre.received
    assert topic == "citytally/alerts/plaza/cam-1/incident"
    assert centre.granted == [1]


def test_the_shipped_acl_refuses_what_an_edge_or_an_alert_subscriber_is_not_meant_to_do(
    acl_broker: PrivateBroker,
) -> None:
    hub = Client("hub", acl_broker.port, "citytally/+/+/events", "citytally/+/+/status")
    plaza = Client("plaza", acl_broker.port, "citytally/plaza/+/ack", "citytally/depot/+/ack")
    centre = Client("traffic-centre", acl_broker.port, "citytally/alerts/+/+/incident")
    snooper = Client("traffic-centre", acl_broker.port, "citytally/+/+/events", "citytally/+/+/ack")
    try:
        # Allowed: the site's own events and status, the hub's receipts and alerts.
        assert plaza.publish("citytally/plaza/cam-1/events") == 0
        assert plaza.publish("citytally/plaza/cam-1/status") == 0
        assert hub.publish("citytally/plaza/cam-1/ack") == 0
        assert hub.publish("citytally/depot/cam-9/ack") == 0
        assert hub.publish("citytally/alerts/plaza/cam-1/incident") == 0
        # Refused: another site's events, receipts, alerts; an alert subscriber writing anything.
        refused = {
            "plaza: depot's events": plaza.publish("citytally/depot/cam-9/events"),
            "plaza: depot's status": plaza.publish("citytally/depot/cam-9/status"),
            "plaza: a receipt": plaza.publish("citytally/plaza/cam-1/ack"),
            "plaza: an alert": plaza.publish("citytally/alerts/plaza/cam-1/incident"),
            "plaza: the hub's presence": plaza.publish("citytally/hub/presence"),
            "traffic-centre: an alert": centre.publish("citytally/alerts/plaza/cam-1/incident"),
            "traffic-centre: events": centre.publish("citytally/plaza/cam-1/events"),
        }
        time.sleep(0.5)  # anything delivered by mistake has arrived
    finally:
        for client in (hub, plaza, centre, snooper):
            client.close()
    assert {what: code for what, code in refused.items() if code != NOT_AUTHORIZED} == {}
    assert [topic for topic, _ in hub.received] == [
        "citytally/plaza/cam-1/events",
        "citytally/plaza/cam-1/status",
    ]
    assert [topic for topic, _ in plaza.received] == ["citytally/plaza/cam-1/ack"]  # not depot's
    assert [topic for topic, _ in centre.received] == ["citytally/alerts/plaza/cam-1/incident"]  # the hub's
    assert snooper.received == []  # neither events nor receipts


def test_an_edge_logged_in_as_another_site_says_so_and_keeps_its_events(
    acl_broker: PrivateBroker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A misconfigured edge (plaza's cameras, depot's user) is refused by the broker: one error line names
    the topic, the broker's reason and the user, and every event stays in the outbox for when it is fixed."""
    box = Outbox(tmp_path / "outbox.sqlite3", settings(acl_broker.port, "depot"), drain_timeout_s=0.5)
    onset = wrong_way_at_plaza()
    try:
        box.start()
        box.publish(onset)
        wait_until(lambda: "refused" in caplog.text, 10, "the outbox to report the refusal")
        assert box.depth == 1
    finally:
        box.close()
    [line] = {r.getMessage() for r in caplog.records if "refused" in r.getMessage()}
    assert "citytally/plaza/cam-1/events" in line and "Not authorized" in line and "as depot" in line, line
    reopened = Outbox(tmp_path / "outbox.sqlite3", settings(acl_broker.port, "plaza"))
    assert reopened.depth == 1  # kept on disk for the right user
    reopened.close()


def test_an_edge_backlog_of_large_events_fits_the_shipped_packet_bound_and_a_longer_message_does_not(
    acl_broker: PrivateBroker, sqlite_engine: Engine, make_registry: Callable[..., Any], tmp_path: Path
) -> None:
    """200 conflict events of 27 kB (5.4 MB) reach the hub through the bound, each message under it; a
    5 MiB message from a holder of the site's password is stopped at the broker and never reaches the hub."""
    make_registry(sqlite_engine, ("plaza", "cam-1"))
    ingest = Ingest(EventWriter(sqlite_engine), settings(acl_broker.port, "hub"))
    box = Outbox(tmp_path / "outbox.sqlite3", settings(acl_broker.port, "plaza"))
    box.publish_many([conflict_event_in_many_cells(minute) for minute in range(200)])
    flooder = Client("plaza", acl_broker.port)
    try:
        ingest.start()
        assert ingest.wait_connected(10)
        box.start()
        assert box.wait_drained(60), f"{box.depth} events never confirmed by the hub"
        flooder.client.publish("citytally/plaza/cam-1/events", b"[" + b" " * (5 * 2**20) + b"]", qos=1)
        time.sleep(1.0)  # what the broker let through has reached the hub by now
        assert flooder.answers == {}  # no PUBACK: the broker ended the connection instead
    finally:
        box.close()
        flooder.close()
        ingest.stop()
    assert (ingest.totals.stored, ingest.totals.dead.total()) == (200, 0)
