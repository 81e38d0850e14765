"""Shared fixtures for hub tests (others reuse them): real PostgreSQL and SQLite stores, a real Mosquitto.

* ``pg_url`` — a fresh PostgreSQL database per test module on 127.0.0.1:5432 (created from the ``test``
  database, dropped afterwards); ``$CITYTALLY_TEST_DATABASE_URL`` overrides the server URL.
* ``sqlite_engine`` / ``pg_engine`` — migrated stores; ``store_engine`` is parametrized over both, and empty
  at the start of each test.
* ``mqtt_prefix`` / ``mqtt_client`` — a unique topic prefix per test and a connected paho client on the
  shared broker (127.0.0.1:1883).
* ``private_broker`` — a separate Mosquitto on a free port that a test may stop and restart.
* ``make_camera`` / ``make_registry`` — small camera-config builders.
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from citytally.edge.config import CameraConfig
from citytally.edge.incidents import IncidentBook
from citytally.events import Event, IncidentEvent, new_event_id, parse_event
from citytally.hub.store import create_store_engine, migrate, sqlite_url, sync_registry
from citytally.hub.store.schema import metadata
from citytally.transport.mqtt import MqttSettings

SERVER_URL = os.environ.get(
    "CITYTALLY_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
BROKER_HOST = "127.0.0.1"
BROKER_PORT = 1883


# -- stores -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    """A uniquely named, empty PostgreSQL database for this test module; dropped afterwards."""
    name = f"citytally_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(SERVER_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.OperationalError as exc:
        admin.dispose()
        pytest.fail(f"PostgreSQL at {SERVER_URL} is not reachable (run scripts/ensure-services.sh): {exc}")
    try:
        yield make_url(SERVER_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(scope="module")
def pg_engine(pg_url: str) -> Iterator[Engine]:
    """A migrated PostgreSQL store (shared by the module; ``store_engine`` empties it per test)."""
    engine = create_store_engine(pg_url)
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    """A migrated SQLite store in a temporary directory."""
    engine = create_store_engine(sqlite_url(tmp_path / "hub.sqlite3"))
    migrate(engine)
    yield engine
    engine.dispose()


def empty_store(engine: Engine) -> None:
    """Delete every row of every hub table."""
    with engine.begin() as connection:
        for table in reversed(metadata.sorted_tables):
            connection.execute(table.delete())


@pytest.fixture(params=["sqlite", "postgresql"])
def store_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty migrated store, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        yield request.getfixturevalue("sqlite_engine")
        return
    engine: Engine = request.getfixturevalue("pg_engine")
    empty_store(engine)
    yield engine


# -- cameras ------------------------------------------------------------------------------------------------


def make_camera(site: str = "plaza", camera: str = "cam-1", **overrides: Any) -> CameraConfig:
    """A valid camera config with one line and two zones; ``overrides`` replace top-level keys."""
    data: dict[str, Any] = {
        "site": site,
        "camera": camera,
        "metadata": {
            "location": f"{site} {camera}",
            "lat": 52.52,
            "lon": 13.405,
            "purpose": "count road users for traffic planning",
            "legal_basis": "public task",
            "retention_days": 365,
            "contact": "traffic@example.org",
        },
        "source": {"uri": "rtsp://user:secret@camera.invalid/stream"},
        "lines": [{"name": "north", "p1": [0, 100], "p2": [200, 100], "directions": ["inbound", "outbound"]}],
        "zones": [
            {"name": "west", "polygon": [[0, 0], [50, 0], [50, 50], [0, 50]]},
            {"name": "east", "polygon": [[100, 0], [150, 0], [150, 50], [100, 50]]},
        ],
    }
    data.update(overrides)
    return CameraConfig.model_validate(data)


@pytest.fixture(name="make_camera")
def make_camera_fixture() -> Callable[..., CameraConfig]:
    """:func:`make_camera` as a fixture, for test modules in other directories."""
    return make_camera


@pytest.fixture
def make_registry() -> Callable[..., list[CameraConfig]]:
    """``make_registry(engine, ("plaza", "cam-1"), ...)``: write those cameras to the store, return them."""

    def build(engine: Engine, *keys: tuple[str, str]) -> list[CameraConfig]:
        cameras = [make_camera(site, camera) for site, camera in keys or (("plaza", "cam-1"),)]
        sync_registry(engine, cameras)
        return cameras

    return build


# -- MQTT ---------------------------------------------------------------------------------------------------


@pytest.fixture
def mqtt_prefix() -> str:
    """A topic prefix no other test (or engineer) publishes under."""
    return f"citytally-test-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def mqtt_client() -> Iterator[mqtt.Client]:
    """A paho client connected to the shared broker, its network loop running."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"citytally-test-{uuid.uuid4().hex[:8]}")
    try:
        client.connect(BROKER_HOST, BROKER_PORT)
    except OSError as exc:
        pytest.fail(
            f"Mosquitto at {BROKER_HOST}:{BROKER_PORT} is not reachable (scripts/ensure-services.sh): {exc}"
        )
    client.loop_start()
    yield client
    client.disconnect()
    client.loop_stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PrivateBroker:
    """A Mosquitto process of this test's own, with persistence and no queue limit, on a free port."""

    def __init__(self, directory: Path, access: str = "allow_anonymous true\n") -> None:
        """``access``: the configuration lines on who may connect (passwords, an ACL file)."""
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.config = directory / "mosquitto.conf"
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\n"
            f"{access}"
            "persistence true\n"
            f"persistence_location {directory}/\n"
            "max_queued_messages 0\n"
            "max_inflight_messages 0\n"
            f"user {getpass.getuser()}\n"  # as root, Mosquitto would switch to a user that cannot write here
            f"log_dest file {directory}/mosquitto.log\n"
        )

    def start(self) -> None:
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.process = subprocess.Popen([binary, "-c", str(self.config)])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        pytest.fail(
            f"private mosquitto on port {self.port} did not start; see {self.directory}/mosquitto.log"
        )

    def kill(self) -> None:
        """Crash it (SIGKILL): whatever Mosquitto had not saved yet is gone."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None

    def stop(self) -> None:
        """Stop gracefully (SIGTERM): Mosquitto saves its persistence file, as on a planned restart."""
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture
def private_broker(tmp_path: Path) -> Iterator[PrivateBroker]:
    """A started private broker (see :class:`PrivateBroker`); stopped at the end of the test."""
    directory = tmp_path / "broker"
    directory.mkdir()
    broker = PrivateBroker(directory)
    broker.start()
    yield broker
    broker.stop()


# -- events -------------------------------------------------------------------------------------------------

T0 = datetime(2026, 11, 23, 7, 45, tzinfo=UTC)


def line_count_event(
    site: str = "plaza",
    camera: str = "cam-1",
    start: datetime = T0,
    counts: dict[str, dict[str, int]] | None = None,
    minutes: int = 5,
) -> Event:
    """A valid line-count event (a fresh id each call) on line ``north``."""
    body = {
        "v": 1,
        "id": str(new_event_id()),
        "site": site,
        "camera": camera,
        "start": start.isoformat(),
        "end": (start + timedelta(minutes=minutes)).isoformat(),
        "type": "line_count",
        "line": "north",
        "counts": counts
        if counts is not None
        else {"inbound": {"person": 3, "car": 1}, "outbound": {"car": 2}},
    }
    return parse_event(body)


def a_vehicle_lost_from_view_before_it_drives_off(t0: datetime) -> list[IncidentEvent]:
    """What an edge's incident book sends for a car seen standing from 12 s to 40 s, then lost by the
    detector and held (as a stopped vehicle the detector loses is) until 45 s: its update at 42 s, due then,
    ends at 42 s; its clearance ends when the car was last seen, 40 s."""
    book = IncidentBook("plaza", "cam-1", "stopped_vehicle", "west", clear_s=3, update_s=30)
    seen_until = t0 + timedelta(seconds=40)
    events: list[IncidentEvent] = []
    for tenth in range(120, 500):
        at = t0 + timedelta(seconds=tenth / 10)
        if at < seen_until:
            events += book.hold(
                "car", at, t0 + timedelta(seconds=12), "warning", {"stopped_s": tenth // 10 - 12}
            )
        elif at < seen_until + timedelta(seconds=5):
            events += book.hold(
                "car", at, t0 + timedelta(seconds=12), "warning", {"vehicles": 1}, observed=seen_until
            )
        events += book.sweep(at)
    return events


def incident_events(
    site: str,
    camera: str,
    incident: str,
    start: datetime,
    phases: list[tuple[str, datetime]],
    zone: str = "road",
    details: dict[str, Any] | None = None,
) -> list[IncidentEvent]:
    """One incident as an edge reports it: one event per ``(phase, end)``, sharing a random incident id."""
    key = uuid.uuid4()
    found = details if details is not None else ({"change": "moved"} if incident == "view_changed" else {})
    return [
        IncidentEvent.model_validate(
            {
                "id": uuid.uuid4(),
                "site": site,
                "camera": camera,
                "start": start,
                "end": end,
                "incident": incident,
                "zone": zone,
                "details": found,
                "incident_id": key,
                "phase": phase,
            }
        )
        for phase, end in phases
    ]


def conflict_event_in_many_cells(minute: int, cells: int = 400) -> Event:
    """A valid conflict event of about 27 kB: ``cells`` ground cells with one conflict each."""
    start = T0 + timedelta(minutes=minute)
    body = {
        "v": 1,
        "id": str(new_event_id()),
        "site": "plaza",
        "camera": "cam-1",
        "start": start.isoformat(),
        "end": (start + timedelta(minutes=1)).isoformat(),
        "type": "conflict",
        "zone": "junction",
        "road_users": {"car": 2 * cells},
        "conflicts": [{"type": "crossing", "severity": "slight", "classes": "car-car", "count": cells}],
        "ttc": {"edges_s": [0.0], "counts": [0]},
        "pet": {"edges_s": [0.0, 1.0, 2.0], "counts": [0, 0, cells]},
        "cell_m": 2.0,
        "cells": [
            {
                "x_m": 2.0 * (k % 20),
                "y_m": 2.0 * (k // 20),
                "image_x": 3.5 * k,
                "image_y": 1.25 * k,
                "count": 1,
            }
            for k in range(cells)
        ],
    }
    return parse_event(body)


def event_stream(n: int, cameras: int = 2, site: str = "plaza") -> list[Event]:
    """``n`` line-count events round-robin over ``cam-1``..``cam-<cameras>``, one 5-minute interval apart."""
    return [
        line_count_event(
            site,
            f"cam-{i % cameras + 1}",
            T0 + timedelta(minutes=5 * (i // cameras)),
            {"inbound": {"person": i % 7, "car": 1}, "outbound": {"bicycle": i % 3}},
        )
        for i in range(n)
    ]


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``predicate`` until true; fail the test with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def mqtt_settings_for(prefix: str, port: int = BROKER_PORT, client_id: str | None = None) -> MqttSettings:
    """Broker settings for a test: its own prefix and client id; short session expiry on shared brokers."""
    return MqttSettings(
        host=BROKER_HOST,
        port=port,
        topic_prefix=prefix,
        client_id=client_id or f"{prefix}-hub",
        session_expiry_s=300,
    )
