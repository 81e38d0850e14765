"""A broker out of reach: paho retries without a word, so an edge booted before its network, or a hub given
a wrong broker name, said nothing at all, and the hub's /health answered "ok" while no event could arrive.
Each client now says it once, with why, and once when it connects; /health shows the link."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from citytally.hub.ingest import Ingest
from citytally.hub.metrics import HubMetrics
from citytally.hub.store import EventWriter
from citytally.hub.web import create_app
from citytally.transport.mqtt import MqttSettings
from citytally.transport.outbox import Outbox
from hub.conftest import PrivateBroker, mqtt_settings_for, wait_until

pytestmark = pytest.mark.integration


def said(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if text in r.getMessage()]


def test_a_broker_down_is_said_once_with_why_and_health_says_so_until_it_is_back(
    tmp_path: Path,
    sqlite_engine: Engine,
    make_registry: Callable[..., Any],
    private_broker: PrivateBroker,
    mqtt_prefix: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    make_registry(sqlite_engine, ("plaza", "cam-1"))
    private_broker.stop()
    settings = mqtt_settings_for(mqtt_prefix, port=private_broker.port)
    where = f"the broker 127.0.0.1:{private_broker.port}"
    metrics = HubMetrics()
    metrics.broker_grace_s = 1.0
    ingest = Ingest(EventWriter(sqlite_engine, topic_prefix=mqtt_prefix), settings, metrics=metrics)
    box = Outbox(tmp_path / "outbox.sqlite3", settings)
    with TestClient(create_app(None, sqlite_engine, metrics=metrics)) as client:
        ingest.start()
        box.start()
        try:
            for line in (f"ingest: cannot reach {where}", f"outbox: cannot reach {where}"):
                wait_until(lambda line=line: bool(said(caplog, line)), 10, line)
            time.sleep(4.0)  # paho has tried again meanwhile (after 1 s and 2 s)
            health = client.get("/health")
            private_broker.start()
            assert ingest.wait_connected(40) and box.wait_connected(40)
            back = client.get("/health")
        finally:
            box.close()
            ingest.stop()
    for who in ("ingest", "outbox"):
        [line] = said(caplog, f"{who}: cannot reach {where}")
        assert "(Connection refused)" in line, line
        assert len(said(caplog, f"{who}: reached {where}")) == 1
    assert health.status_code == 503
    body = health.json()
    assert (body["status"], body["broker"]) == ("degraded", "disconnected") and body["broker_down_s"] >= 4
    assert back.status_code == 200
    again = back.json()
    assert (again["status"], again["broker"], again["broker_down_s"]) == ("ok", "connected", None)


def test_a_broker_name_that_does_not_resolve_is_said(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    box = Outbox(tmp_path / "outbox.sqlite3", MqttSettings(host="broker.invalid", port=1883))
    box.start()
    try:
        wait_until(lambda: bool(said(caplog, "outbox: cannot reach the broker broker.invalid")), 15, "a line")
    finally:
        box.close()
    [line] = said(caplog, "outbox: cannot reach the broker broker.invalid:1883")
    assert "(broker.invalid does not resolve: " in line, line
