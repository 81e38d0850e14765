"""Incidents in the hub: an incident's onset, updates and clearance are one entry (its latest event) in the
incidents list, counted once in the roll-ups, acknowledged as a whole; out as NGSI-LD Alerts; and relayed on
the MQTT alert topic, from an edge's incident engine through the outbox, Mosquitto and ingest."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import paho.mqtt.client as mqtt
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from citytally.edge.detections import Detections
from citytally.edge.incidents import IncidentEngine
from citytally.events import IncidentEvent, event_to_json, event_topic
from citytally.hub.access import issue_token
from citytally.hub.alerts import AlertRelay, alert_subscription, relay_key
from citytally.hub.dashboard.incidents import acknowledge, list_incidents, summarise
from citytally.hub.ingest import Ingest
from citytally.hub.metrics import HubMetrics
from citytally.hub.queries import view_change_spans
from citytally.hub.store import EventWriter, Received, schema
from citytally.hub.store.follow import LOOKBACK
from citytally.hub.web import create_app
from citytally.transport.mqtt import MqttSettings
from citytally.transport.outbox import Outbox
from hub.conftest import (
    PrivateBroker,
    a_vehicle_lost_from_view_before_it_drives_off,
    empty_store,
    incident_events,
    make_camera,
    mqtt_settings_for,
    wait_until,
)

pytestmark = pytest.mark.integration

T0 = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)


def incident(
    kind: str, start_s: float, end_s: float, phase: str | None, incident_id: uuid.UUID | None, **details: Any
) -> IncidentEvent:
    return IncidentEvent.model_validate(
        {
            "id": uuid.uuid4(),
            "site": "plaza",
            "camera": "cam-1",
            "start": T0 + timedelta(seconds=start_s),
            "end": T0 + timedelta(seconds=end_s),
            "incident": kind,
            "zone": "west",
            "severity": "critical" if kind == "wrong_way" else "warning",
            "details": details,
            "incident_id": incident_id,
            "phase": phase,
        }
    )


def test_lifecycle_listed_once_counted_once_acknowledged_whole(
    store_engine: Engine, make_registry: Callable[..., Any]
) -> None:
    make_registry(store_engine, ("plaza", "cam-1"))
    stopped, wrong = uuid.uuid4(), uuid.uuid4()
    onset = incident("stopped_vehicle", 10, 15, "onset", stopped, stopped_s=5)
    events = [
        onset,
        incident("stopped_vehicle", 10, 45, "update", stopped, stopped_s=35),
        incident("stopped_vehicle", 10, 70, "cleared", stopped, stopped_s=60),
        incident("wrong_way", 100, 101, "onset", wrong, road_users=1),
        incident("congestion", 200, 260, None, None, mean_kmh=8.0),  # a one-off report
    ]
    assert EventWriter(store_engine).write_events(events).stored == 5

    listed = {i.incident: i for i in list_incidents(store_engine, include_acknowledged=True, limit=50)}
    assert sorted(listed) == ["congestion", "stopped_vehicle", "wrong_way"]
    assert (listed["stopped_vehicle"].phase, listed["stopped_vehicle"].open) == ("cleared", False)
    assert listed["stopped_vehicle"].details == {"stopped_s": 60}
    assert listed["stopped_vehicle"].end == T0 + timedelta(seconds=70)
    assert (listed["wrong_way"].phase, listed["wrong_way"].open) == ("onset", True)
    assert (listed["congestion"].phase, listed["congestion"].open) == (None, False)
    with store_engine.connect() as conn:
        counted = conn.execute(
            sa.select(sa.func.sum(schema.incident_rollups.c.count)).where(
                schema.incident_rollups.c.period == "1h"
            )
        ).scalar_one()
    assert counted == 3

    assert acknowledge(store_engine, onset.id, "tok-1")  # by any event of the incident
    later = incident("wrong_way", 100, 130, "update", wrong, road_users=2)
    assert acknowledge(store_engine, events[3].id, "tok-2")
    EventWriter(store_engine).write_events([later])  # an update after the acknowledgement stays acknowledged
    still_open = list_incidents(store_engine, include_acknowledged=False, limit=50)
    assert [i.incident for i in still_open] == ["congestion"]
    every = {i.incident: i for i in list_incidents(store_engine, include_acknowledged=True, limit=50)}
    assert every["stopped_vehicle"].acknowledged_by == "tok-1"
    assert (every["wrong_way"].acknowledged_by, every["wrong_way"].details) == ("tok-2", {"road_users": 2})


@pytest.mark.parametrize("arrival", ["as_sent", "one_batch", "clearance_first"])
def test_a_clearance_ends_its_incident_though_an_update_ends_later(
    store_engine: Engine, make_registry: Callable[..., Any], arrival: str
) -> None:
    # Before, the latest row was the one with the latest end: the update, so the car that drove off stayed
    # "ongoing" in the operator's list (then "no report since"), for good.
    make_registry(store_engine, ("plaza", "cam-1"))
    events = a_vehicle_lost_from_view_before_it_drives_off(T0)
    assert [(e.phase, (e.end - T0).total_seconds()) for e in events] == [
        ("onset", 12.001),  # an onset lasts at least 1 ms
        ("update", 42.0),
        ("cleared", 40.0),
    ]
    writer = EventWriter(store_engine)
    if arrival == "one_batch":
        writer.write_events(events)
    else:
        for event in reversed(events) if arrival == "clearance_first" else events:
            writer.write_events([event])
    [listed] = list_incidents(store_engine, include_acknowledged=True, limit=50)
    assert (listed.phase, listed.open, listed.end) == ("cleared", False, T0 + timedelta(seconds=40))
    assert listed.id == events[2].id

    # two reports that end at one time (an onset and an update of one frame) are still one incident
    twice = uuid.uuid4()
    same = [
        incident("wrong_way", 60, 61, phase, twice, road_users=n)
        for n, phase in ((1, "onset"), (2, "update"))
    ]
    writer.write_events(same)
    listed_now = list_incidents(store_engine, include_acknowledged=True, limit=50)
    assert [i.incident for i in listed_now] == ["wrong_way", "stopped_vehicle"]


def test_a_view_change_ends_at_its_clearance_though_an_update_ends_later(
    store_engine: Engine, make_registry: Callable[..., Any]
) -> None:
    # The view rule's clearance ends when the view came back, clear_s before it is sure; an update due
    # meanwhile ends later. Before, the span that marks the counts ran to the update's end.
    make_registry(store_engine, ("plaza", "cam-1"))
    came_back = T0 + timedelta(minutes=20)
    phases = [("onset", T0 + timedelta(seconds=20)), ("update", came_back + timedelta(seconds=8))]
    phases.append(("cleared", came_back))
    EventWriter(store_engine).write_events(incident_events("plaza", "cam-1", "view_changed", T0, phases))
    now = T0 + timedelta(hours=1)
    spans = view_change_spans(store_engine, T0 - timedelta(hours=1), now, now)
    assert [(s.start, s.end, s.open, s.change) for s in spans[("plaza", "cam-1")]] == [
        (T0, came_back, False, "moved")
    ]


def test_an_acknowledged_crowd_that_reaches_crush_risk_must_be_acknowledged_again(
    store_engine: Engine, make_registry: Callable[..., Any]
) -> None:
    # An operator acknowledges a dense crowd (Fruin level E, a warning); minutes later it reaches 4 persons
    # per m², crush risk (critical). Before, the first acknowledgement covered it: no badge, no
    # notification, not in the list of unacknowledged critical incidents the dashboard watches.
    make_registry(store_engine, ("plaza", "cam-1"))
    writer = EventWriter(store_engine)
    crowd = uuid.uuid4()

    def report(end_s: float, phase: str, severity: str, persons: float) -> IncidentEvent:
        event = incident("crowd_density", 10, end_s, phase, crowd, persons_per_m2=persons)
        return event.model_copy(update={"severity": severity})

    def unacknowledged(severity: str | None = None) -> list[tuple[str, dict[str, Any]]]:
        listed = list_incidents(store_engine, include_acknowledged=False, limit=50, severity=severity)
        return [(i.severity, i.details) for i in listed]

    writer.write_events([report(15, "onset", "warning", 2.4)])
    assert acknowledge(store_engine, crowd_row(store_engine), "tok-1")
    writer.write_events([report(45, "update", "warning", 2.9)])  # as severe as acknowledged: stays so
    assert unacknowledged() == [] and summarise(store_engine).open == 0
    writer.write_events([report(60, "update", "critical", 4.2)])  # crush risk
    assert unacknowledged("critical") == [("critical", {"persons_per_m2": 4.2})]
    assert summarise(store_engine).by_severity["critical"] == 1
    [every] = list_incidents(store_engine, include_acknowledged=True, limit=50)
    assert (every.acknowledged_at, every.acknowledged_by) == (None, None)
    assert acknowledge(store_engine, crowd_row(store_engine), "tok-2")  # seen at crush risk
    writer.write_events([report(90, "update", "critical", 4.6), report(120, "update", "warning", 2.5)])
    assert unacknowledged() == [] and summarise(store_engine).open == 0
    [every] = list_incidents(store_engine, include_acknowledged=True, limit=50)
    assert every.acknowledged_by == "tok-1"  # who saw it first stays


def crowd_row(engine: Engine) -> uuid.UUID:
    return list_incidents(engine, include_acknowledged=True, limit=1)[0].id


def from_camera(event: IncidentEvent, site: str, camera: str) -> Received:
    """``event`` as a message from another camera, on that camera's topic (a fresh event id)."""
    body = json.loads(event_to_json(event)) | {"id": str(uuid.uuid4()), "site": site, "camera": camera}
    return Received(event_topic(site, camera), json.dumps(body).encode(), T0 + timedelta(minutes=5))


def test_only_the_camera_that_opened_an_incident_can_update_or_clear_it(
    store_engine: Engine, make_registry: Callable[..., Any]
) -> None:
    make_registry(store_engine, ("plaza", "cam-1"), ("plaza", "cam-2"), ("depot", "cam-9"))
    writer = EventWriter(store_engine)
    stopped, fresh = uuid.uuid4(), uuid.uuid4()
    onset = incident("wrong_way", 10, 11, "onset", stopped, road_users=1)
    assert writer.write_messages([from_camera(onset, "plaza", "cam-1")]).stored == 1
    # Another site's edge, and another camera of the same site, "clear" it with its id; then its own
    # camera updates it. In a second batch, a new id is opened by cam-2 and then sent by cam-1.
    forged = [
        from_camera(incident("wrong_way", 10, 20, "cleared", stopped), "depot", "cam-9"),
        from_camera(incident("wrong_way", 10, 25, "cleared", stopped), "plaza", "cam-2"),
        from_camera(incident("wrong_way", 10, 30, "update", stopped, road_users=2), "plaza", "cam-1"),
    ]
    result = writer.write_messages(forged)
    assert (result.stored, dict(result.dead)) == (1, {"id_conflict": 2})
    batch = [
        from_camera(incident("stopped_vehicle", 50, 55, "onset", fresh), "plaza", "cam-2"),
        from_camera(incident("stopped_vehicle", 50, 60, "cleared", fresh), "plaza", "cam-1"),
    ]
    result = writer.write_messages(batch)
    assert (result.stored, dict(result.dead)) == (1, {"id_conflict": 1})
    # a one-off report's own id is its incident's: another camera cannot take it over with that id
    one_off = incident("congestion", 70, 80, None, None, mean_kmh=6.0)
    assert writer.write_messages([from_camera(one_off, "plaza", "cam-1")]).stored == 1
    [stored_one_off] = [i for i in list_incidents(store_engine, True, 50) if i.incident == "congestion"]
    taken = from_camera(incident("congestion", 70, 90, "cleared", stored_one_off.id), "depot", "cam-9")
    assert dict(writer.write_messages([taken]).dead) == {"id_conflict": 1}

    listed = {i.incident: i for i in list_incidents(store_engine, include_acknowledged=True, limit=50)}
    wrong = listed["wrong_way"]
    assert (wrong.site, wrong.camera, wrong.open, wrong.details) == (
        "plaza",
        "cam-1",
        True,
        {"road_users": 2},
    )
    assert (listed["stopped_vehicle"].camera, listed["stopped_vehicle"].open) == ("cam-2", True)
    with store_engine.connect() as conn:
        reasons = conn.execute(sa.select(schema.dead_letters.c.reason)).scalars().all()
    assert sorted(r.split(": ", 1)[1] for r in reasons) == sorted(
        [
            f"incident {stopped} is plaza/cam-1's; an event from depot/cam-9 cannot change it",
            f"incident {stopped} is plaza/cam-1's; an event from plaza/cam-2 cannot change it",
            f"incident {fresh} is plaza/cam-2's; an event from plaza/cam-1 cannot change it",
            f"incident {stored_one_off.id} is plaza/cam-1's; an event from depot/cam-9 cannot change it",
        ]
    )


def test_alerts_as_ngsi_ld(sqlite_engine: Engine, make_registry: Callable[..., Any]) -> None:
    make_registry(sqlite_engine, ("plaza", "cam-1"))
    wrong = uuid.uuid4()
    EventWriter(sqlite_engine).write_events(
        [
            incident("wrong_way", 100, 101, "onset", wrong, road_users=1),
            incident("left_object", 300, 400, "cleared", uuid.uuid4(), area_px=900),
            incident("stopped_vehicle", 500, 600, "cleared", uuid.uuid4(), vehicles=1, stream_ended=1),
        ]
    )
    client = TestClient(create_app(None, sqlite_engine))
    viewer = {"Authorization": f"Bearer {issue_token(sqlite_engine, 'viewer').secret}"}
    assert client.get("/ngsi-ld/Alert", headers=viewer).status_code == 403
    operator = {"Authorization": f"Bearer {issue_token(sqlite_engine, 'operator').secret}"}
    response = client.get("/ngsi-ld/Alert", headers=operator)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/ld+json")
    alerts = {a["id"]: a for a in response.json()}
    open_one = alerts[f"urn:ngsi-ld:Alert:citytally:{wrong}"]
    assert open_one["type"] == "Alert"
    assert (open_one["category"]["value"], open_one["subCategory"]["value"]) == (
        "traffic",
        "carWrongDirection",
    )
    assert open_one["severity"]["value"] == "critical"
    assert open_one["validFrom"]["value"]["@value"] == "2026-12-04T08:01:40Z"
    assert "validTo" not in open_one  # still open
    # the model's alertSource is a Relationship (dataModel.Alert's model), to the camera
    assert open_one["alertSource"] == {
        "type": "Relationship",
        "object": "urn:ngsi-ld:Device:citytally:plaza:cam-1",
    }
    assert open_one["location"]["value"] == {"type": "Point", "coordinates": [13.405, 52.52]}
    assert open_one["data"]["value"] == {"incident": "wrong_way", "phase": "onset", "road_users": 1}
    left = next(a for a in alerts.values() if a["data"]["value"]["incident"] == "left_object")
    assert left["validTo"]["value"]["@value"] == "2026-12-04T08:06:40Z"
    assert left["description"]["value"] == "left object at plaza/cam-1, west"
    # cleared because the camera stopped watching: the vehicle may still be there
    cut = next(a for a in alerts.values() if a["data"]["value"]["incident"] == "stopped_vehicle")
    assert "stream ended" in cut["description"]["value"] and cut["data"]["value"]["stream_ended"] == 1


COUNTS_WINDOW = {"interval": "1h", "start": "2026-12-04T08:00:00Z", "end": "2026-12-04T10:00:00Z"}


def viewer_client(store_engine: Engine) -> tuple[TestClient, dict[str, str]]:
    """The hub's API on ``store_engine`` and a viewer's headers."""
    viewer = {"Authorization": f"Bearer {issue_token(store_engine, 'viewer').secret}"}
    return TestClient(create_app(None, store_engine)), viewer


def test_incident_counts_per_place_type_and_severity_outlive_the_incidents(
    store_engine: Engine, make_registry: Callable[..., Any]
) -> None:
    """A road-safety engineer asks where incidents keep happening: each incident once, in the hour it
    began, by camera, type and severity, as JSON and CSV; still there once retention deleted the incidents."""
    make_registry(store_engine, ("plaza", "cam-1"), ("plaza", "cam-2"))
    stopped = uuid.uuid4()
    events = [
        incident("stopped_vehicle", 10, 15, "onset", stopped, stopped_s=5),
        incident("stopped_vehicle", 10, 45, "update", stopped, stopped_s=35),
        incident("stopped_vehicle", 10, 3700, "cleared", stopped, stopped_s=3690),  # ends the next hour
        incident("stopped_vehicle", 3000, 3005, "onset", uuid.uuid4(), stopped_s=5),
        incident("wrong_way", 3700, 3701, "onset", uuid.uuid4(), road_users=1),
        incident("queue", 4000, 4060, "cleared", uuid.uuid4(), queue_m=40),  # its onset never arrived
        incident("congestion", 200, 260, None, None, mean_kmh=8.0).model_copy(update={"camera": "cam-2"}),
    ]
    assert EventWriter(store_engine).write_events(events).stored == len(events)
    with store_engine.begin() as conn:  # what retention does to incidents older than raw_events_days
        conn.execute(sa.delete(schema.incidents))
    client, viewer = viewer_client(store_engine)
    window = COUNTS_WINDOW
    answer = client.get("/incident-counts", params=window, headers=viewer)
    assert answer.status_code == 200, answer.text
    points = [
        (p["bucket"], p["camera"], p["incident"], p["severity"], p["count"]) for p in answer.json()["points"]
    ]
    assert points == [
        ("2026-12-04T08:00:00Z", "cam-1", "stopped_vehicle", "warning", 2),
        ("2026-12-04T08:00:00Z", "cam-2", "congestion", "warning", 1),
        ("2026-12-04T09:00:00Z", "cam-1", "wrong_way", "critical", 1),
    ]
    one = client.get("/incident-counts", params={**window, "incident": "wrong_way"}, headers=viewer).json()
    assert [p["incident"] for p in one["points"]] == ["wrong_way"]
    csv_text = client.get("/incident-counts.csv", params={**window, "camera": "cam-2"}, headers=viewer).text
    assert csv_text.splitlines() == [
        "bucket,site,camera,incident,severity,count,view_changed",
        "2026-12-04T08:00:00+00:00,plaza,cam-2,congestion,warning,1,false",
    ]
    wrong = client.get("/incident-counts", params={**window, "incident": "fire"}, headers=viewer)
    assert wrong.status_code == 422


def test_incident_counts_mark_the_buckets_in_which_the_camera_view_changed(
    store_engine: Engine, make_registry: Callable[..., Any]
) -> None:
    """cam-1 was knocked from 09:10 to 09:20: its stopped vehicles counted in that hour may be the rule
    reading a moved picture, so its rows there (JSON and CSV) say ``view_changed``, as the other series
    do; the hour before and cam-2's rows do not. Before, the incident counts had no such mark."""
    make_registry(store_engine, ("plaza", "cam-1"), ("plaza", "cam-2"))
    knocked = uuid.uuid4()
    events = [
        incident("stopped_vehicle", 10, 15, "onset", uuid.uuid4(), stopped_s=5),
        incident("stopped_vehicle", 3900, 3905, "onset", uuid.uuid4(), stopped_s=5),
        incident("stopped_vehicle", 3900, 3905, "onset", uuid.uuid4(), stopped_s=5).model_copy(
            update={"camera": "cam-2"}
        ),
        incident("view_changed", 4200, 4220, "onset", knocked, change="moved"),
        incident("view_changed", 4200, 4800, "cleared", knocked, change="moved"),
    ]
    assert EventWriter(store_engine).write_events(events).stored == len(events)
    client, viewer = viewer_client(store_engine)
    window = COUNTS_WINDOW
    answer = client.get("/incident-counts", params=window, headers=viewer)
    assert answer.status_code == 200, answer.text
    points = [
        (p["bucket"][11:16], p["camera"], p["incident"], p["view_changed"]) for p in answer.json()["points"]
    ]
    assert points == [
        ("08:00", "cam-1", "stopped_vehicle", False),
        ("09:00", "cam-1", "stopped_vehicle", True),
        ("09:00", "cam-1", "view_changed", True),
        ("09:00", "cam-2", "stopped_vehicle", False),
    ]
    csv_text = client.get("/incident-counts.csv", params={**window, "camera": "cam-1"}, headers=viewer).text
    assert csv_text.splitlines() == [
        "bucket,site,camera,incident,severity,count,view_changed",
        "2026-12-04T08:00:00+00:00,plaza,cam-1,stopped_vehicle,warning,1,false",
        "2026-12-04T09:00:00+00:00,plaza,cam-1,stopped_vehicle,warning,1,true",
        "2026-12-04T09:00:00+00:00,plaza,cam-1,view_changed,warning,1,true",
    ]


def test_incidents_per_day_are_days_of_the_asked_time_zone(
    store_engine: Engine, make_registry: Callable[..., Any]
) -> None:
    """The incidents panel's per-day record counts the days of the operator's zone. It used UTC days: in
    India (UTC+5:30) a stopped vehicle at ten past midnight was put on the day before. Half-hour offsets
    fall inside an hour, so the days are summed from the 15-minute roll-ups."""
    make_registry(store_engine, ("plaza", "cam-1"))
    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=3)

    def at(hour: int, minute: int, kind: str = "stopped_vehicle") -> IncidentEvent:
        start = day + timedelta(hours=hour, minutes=minute)
        event = incident(kind, 0, 5, "onset", uuid.uuid4(), stopped_s=5)
        return event.model_copy(update={"start": start, "end": start + timedelta(seconds=5)})

    # 23:50 and 00:10 in Kolkata; a wrong-way driver at 00:10 UTC, 05:40 there.
    events = [at(18, 20), at(18, 40), at(0, 10, "wrong_way")]
    assert EventWriter(store_engine).write_events(events).stored == len(events)
    client = TestClient(create_app(None, store_engine))
    viewer = {"Authorization": f"Bearer {issue_token(store_engine, 'viewer').secret}"}

    def per_day(tz: str) -> tuple[list[str], list[tuple[str, str, int]]]:
        answer = client.get("/dashboard/api/incident-days", params={"tz": tz}, headers=viewer)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["tz"] == tz
        return body["days"], [(c["day"], c["incident"], c["count"]) for c in body["counts"]]

    d, d1 = day.date().isoformat(), (day + timedelta(days=1)).date().isoformat()
    days, counts = per_day("UTC")
    assert len(days) == 30 and days[-1] == datetime.now(UTC).date().isoformat()
    assert counts == [(d, "stopped_vehicle", 2), (d, "wrong_way", 1)]
    days, counts = per_day("Asia/Kolkata")
    kolkata = ZoneInfo("Asia/Kolkata")
    assert len(days) == 30 and days[-1] == datetime.now(kolkata).date().isoformat()
    assert counts == [(d, "stopped_vehicle", 1), (d, "wrong_way", 1), (d1, "stopped_vehicle", 1)]
    for wrong in ({"tz": "Mars/Olympus"}, {"days": 0}, {"days": 32}):
        assert client.get("/dashboard/api/incident-days", params=wrong, headers=viewer).status_code == 422


@pytest.mark.parametrize(
    ("kind", "details", "category", "sub"),
    [
        ("stopped_vehicle", {"vehicles": 1}, "traffic", "carStopped"),
        ("queue", {"queue_m": 40.0}, "traffic", "trafficJam"),
        # The model's words for people on the carriageway ("roadClosed" told subscribers the road was shut).
        ("pedestrian_on_roadway", {"persons": 2, "cyclists": 1}, "traffic", "pedestrianOnRoad"),
        ("pedestrian_on_roadway", {"persons": 0, "cyclists": 1}, "traffic", "bikerOnRoad"),
        ("crowd_density", {"persons_per_m2": 4.2, "level": "F"}, "security", "crowdRisk"),
        ("left_object", {"area_px": 900}, "security", "suspiciousAction"),
        # A camera knocked, turned or covered: the model has no subCategory for it, so none is given.
        ("view_changed", {"change": "moved", "shift_px": 20.0}, "security", None),
    ],
)
def test_alert_categories_are_the_models_own(
    sqlite_engine: Engine,
    make_registry: Callable[..., Any],
    kind: str,
    details: dict[str, Any],
    category: str,
    sub: str | None,
) -> None:
    """dataModel.Alert's subCategory list (its schema.json): the one that says what happened."""
    make_registry(sqlite_engine, ("plaza", "cam-1"))
    EventWriter(sqlite_engine).write_events([incident(kind, 100, 101, "onset", uuid.uuid4(), **details)])
    operator = {"Authorization": f"Bearer {issue_token(sqlite_engine, 'operator').secret}"}
    (alert,) = TestClient(create_app(None, sqlite_engine)).get("/ngsi-ld/Alert", headers=operator).json()
    assert (alert["category"]["value"], alert.get("subCategory", {}).get("value")) == (category, sub)


def stopped_car(t: float) -> Detections:
    """A car driving into the zone at 10 m/s and standing there from 3 s to 20 s, then gone."""
    x = 100 * min(t, 3.0) if t < 20 else None
    if x is None:
        return Detections.empty()
    box = np.array([[x - 20, 460, x + 20, 500]], np.float32)
    return Detections(box, np.array([0.9], np.float32), np.array([2]), np.array([7]))


def test_edge_incident_to_hub_and_alert_topic(
    sqlite_engine: Engine, make_registry: Callable[..., Any], mqtt_prefix: str, tmp_path: Path
) -> None:
    camera = make_camera(
        zones=[{"name": "west", "polygon": [[0, 400], [1000, 400], [1000, 600], [0, 600]]}],
        incidents={"stopped_vehicle": [{"zone": "west", "min_stop_s": 5}]},
    )
    make_registry(sqlite_engine, ("plaza", "cam-1"))
    settings = mqtt_settings_for(mqtt_prefix)
    ingest = Ingest(EventWriter(sqlite_engine, topic_prefix=mqtt_prefix), settings)
    relay = AlertRelay(sqlite_engine, settings, poll_s=0.2)
    received: list[dict[str, Any]] = []
    got = threading.Event()
    listener = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"{mqtt_prefix}-listener")

    def on_message(_c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        received.append({"topic": message.topic, **json.loads(message.payload)})
        if received[-1].get("phase") == "cleared":
            got.set()

    listener.on_message = on_message
    listener.connect(settings.host, settings.port)
    listener.subscribe(alert_subscription(mqtt_prefix), qos=1)
    listener.loop_start()
    box = Outbox(tmp_path / "outbox.sqlite3", settings)
    try:
        ingest.start()
        relay.start()
        assert ingest.wait_connected(10)
        box.start()
        engine = IncidentEngine(camera)
        for k in range(300):
            t = k / 10
            for event in engine.update(stopped_car(t), t, T0 + timedelta(seconds=t)):
                box.publish(event)
        for event in engine.finish():
            box.publish(event)
        assert box.wait_drained(30)
        assert got.wait(20), f"no cleared alert on the alert topic; got {received}"
    finally:
        box.close()
        relay.stop()
        ingest.stop()
        listener.loop_stop()
        listener.disconnect()
    [stored] = list_incidents(sqlite_engine, include_acknowledged=True, limit=10)
    assert (stored.incident, stored.phase, stored.zone) == ("stopped_vehicle", "cleared", "west")
    assert 3.0 <= (stored.start - T0).total_seconds() <= 4.0
    assert [r["phase"] for r in received] == ["onset", "cleared"]
    assert {r["topic"] for r in received} == {f"{mqtt_prefix}/alerts/plaza/cam-1/incident"}
    assert len({r["incident_id"] for r in received}) == 1


def test_an_incident_stored_while_the_broker_is_down_reaches_the_alert_topic_when_it_is_back(
    sqlite_engine: Engine, make_registry: Callable[..., Any], mqtt_prefix: str, private_broker: PrivateBroker
) -> None:
    """The broker stops (a planned restart); an incident is stored meanwhile (another hub process ingested
    it, or it came from the store's backlog); once the broker is back, a subscriber with a persistent
    session gets it on the alert topic."""
    make_registry(sqlite_engine, ("plaza", "cam-1"))
    settings = mqtt_settings_for(mqtt_prefix, private_broker.port)
    relay = AlertRelay(sqlite_engine, settings, poll_s=0.2)
    received: list[dict[str, Any]] = []
    got = threading.Event()
    listener = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=f"{mqtt_prefix}-listener", clean_session=False
    )
    listener.reconnect_delay_set(0.2, 1)

    def on_message(_c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        received.append(json.loads(message.payload))
        got.set()

    listener.on_message = on_message
    listener.connect(settings.host, private_broker.port)
    listener.subscribe(alert_subscription(mqtt_prefix), qos=1)
    listener.loop_start()
    wrong = uuid.uuid4()
    try:
        relay.start()
        time.sleep(1.0)  # both connected and subscribed
        private_broker.stop()
        onset = incident("wrong_way", 100, 101, "onset", wrong, road_users=1)
        EventWriter(sqlite_engine).write_events([onset])
        time.sleep(1.0)  # the relay has read it from the store while the broker was down
        private_broker.start()
        assert got.wait(20), "the incident stored during the outage never reached the alert topic"
    finally:
        relay.stop()
        listener.loop_stop()
        listener.disconnect()
    assert [(r["incident_id"], r["phase"]) for r in received] == [(str(wrong), "onset")]


class AlertListener:
    """A subscriber to every camera's alert topic with a persistent session: what the broker queues for it
    while it restarts is delivered."""

    def __init__(self, prefix: str, port: int) -> None:
        self.received: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"{prefix}-listener", clean_session=False
        )
        self.client.reconnect_delay_set(0.2, 1)
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.subscribe(alert_subscription(prefix), qos=1)
        self.client.loop_start()

    def _on_message(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.received.append(json.loads(message.payload))

    def wait_for(self, count: int, timeout: float) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(self.received) < count:
            time.sleep(0.05)
        with self._lock:
            return list(self.received)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def saved_position(engine: Engine) -> datetime | None:
    t = schema.alert_relay_positions
    with engine.connect() as conn:
        return conn.execute(sa.select(t.c.position)).scalar_one_or_none()


_RELAY_PROCESS = """
import sys, time
from datetime import timedelta
from citytally.hub.alerts import AlertRelay
from citytally.hub.store import create_store_engine
from citytally.transport.mqtt import MqttSettings
settings = MqttSettings.model_validate_json(sys.argv[2])
lease, poll_s = timedelta(seconds=float(sys.argv[3])), float(sys.argv[4])
AlertRelay(create_store_engine(sys.argv[1]), settings, poll_s=poll_s, lease=lease).start()
time.sleep(600)
"""


def relay_process(
    engine: Engine, settings: MqttSettings, lease_s: float = 15, poll_s: float = 0.2
) -> subprocess.Popen[bytes]:
    """A hub process that relays alerts (and nothing else), to be killed."""
    arguments = [str(engine.url), settings.model_dump_json(), str(lease_s), str(poll_s)]
    return subprocess.Popen([sys.executable, "-c", _RELAY_PROCESS, *arguments])


def test_alerts_survive_the_hub_being_killed_while_the_broker_is_down(
    sqlite_engine: Engine, make_registry: Callable[..., Any], mqtt_prefix: str, private_broker: PrivateBroker
) -> None:
    """A hub process relays alerts; the broker stops; an incident is stored and the relay has it ready to
    send; the hub is killed (SIGKILL). Its clearance is stored while no hub runs. Once the broker and a new
    hub process are up, the subscriber gets both, once each and in order."""
    make_registry(sqlite_engine, ("plaza", "cam-1"))
    settings = mqtt_settings_for(mqtt_prefix, private_broker.port)
    listener = AlertListener(mqtt_prefix, private_broker.port)
    hub = relay_process(sqlite_engine, settings)
    wrong = uuid.uuid4()
    relay: AlertRelay | None = None
    try:
        wait_until(lambda: saved_position(sqlite_engine) is not None, 30, "the hub's relay to start")
        private_broker.stop()
        now = datetime.now(UTC)
        onset = incident("wrong_way", 100, 101, "onset", wrong, road_users=1)
        EventWriter(sqlite_engine).write_events([onset], received_at=now)
        wait_until(lambda: saved_position(sqlite_engine) == now, 10, "the relay to read the incident")
        hub.kill()
        hub.wait(10)
        cleared = incident("wrong_way", 100, 130, "cleared", wrong, road_users=1)
        EventWriter(sqlite_engine).write_events([cleared], received_at=now + timedelta(seconds=5))
        time.sleep(LOOKBACK.total_seconds() + 1)  # the hub is down longer than the relay's look-back
        private_broker.start()
        relay = AlertRelay(sqlite_engine, settings, poll_s=0.2)
        relay.start()
        received = listener.wait_for(2, 20)
        wait_until(
            lambda: saved_position(sqlite_engine) == now + timedelta(seconds=5), 10, "both to be acknowledged"
        )
    finally:
        hub.kill()
        hub.wait(10)
        if relay is not None:
            relay.stop()
        listener.close()
    assert [(r["incident_id"], r["phase"]) for r in received] == [
        (str(wrong), "onset"),
        (str(wrong), "cleared"),
    ]


def test_a_stored_incident_no_relay_can_send_is_skipped_with_an_error(
    sqlite_engine: Engine,
    make_registry: Callable[..., Any],
    mqtt_prefix: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A row the relay cannot put on a topic (a camera name that is no slug, from a store restored by hand)
    ended the relay's thread: every later alert stayed unsent while the hub still held the relay. It is now
    logged with its id and skipped; the next incident goes out."""
    make_registry(sqlite_engine, ("plaza", "cam-1"))
    settings = mqtt_settings_for(mqtt_prefix)
    listener = AlertListener(mqtt_prefix, settings.port)
    relay = AlertRelay(sqlite_engine, settings, poll_s=0.2)
    broken = incident("wrong_way", 100, 101, "onset", uuid.uuid4(), road_users=1)
    good = incident("stopped_vehicle", 110, 115, "onset", uuid.uuid4(), stopped_s=5)
    try:
        relay.start()
        wait_until(lambda: relay.holding, 10, "the relay to start")
        EventWriter(sqlite_engine).write_events([broken])
        with sqlite_engine.begin() as conn:
            e = schema.events
            conn.execute(sa.update(e).where(e.c.id == broken.id).values(camera="Cam 1/#"))
        time.sleep(1.0)
        EventWriter(sqlite_engine).write_events([good])
        received = listener.wait_for(1, 10)
        assert relay.holding
    finally:
        relay.stop()
        listener.close()
    assert [r["id"] for r in received] == [str(good.id)]
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert any(str(broken.id) in message and "cannot be relayed" in message for message in errors), errors


def test_a_store_that_fails_the_relay_is_said_once_not_once_a_poll(
    sqlite_engine: Engine,
    make_registry: Callable[..., Any],
    mqtt_prefix: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A store down or full failed every poll of the relay, and each failure was a line of its own naming
    only the error's class: a hub's full disk wrote one line a second ("reading the store failed
    (OperationalError)"), 3,600 an hour. Now one line says what failed, a line a minute while it lasts, and
    one that it is over; the incident stored meanwhile goes out."""
    make_registry(sqlite_engine, ("plaza", "cam-1"))
    settings = mqtt_settings_for(mqtt_prefix)
    listener = AlertListener(mqtt_prefix, settings.port)
    relay = AlertRelay(sqlite_engine, settings, poll_s=0.05)
    stored = incident("stopped_vehicle", 110, 115, "onset", uuid.uuid4(), stopped_s=5)
    try:
        relay.start()
        wait_until(lambda: relay.holding, 10, "the relay to start")
        with sqlite_engine.begin() as conn:  # the store refuses every read of the events: a real failure
            conn.exec_driver_sql("ALTER TABLE events RENAME TO events_away")
        time.sleep(1.5)  # some 30 polls
        with sqlite_engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE events_away RENAME TO events")
        EventWriter(sqlite_engine).write_events([stored])
        received = listener.wait_for(1, 10)
    finally:
        relay.stop()
        listener.close()
    assert [r["id"] for r in received] == [str(stored.id)]
    said = [r.getMessage() for r in caplog.records if r.name == "citytally.hub.alerts"]
    failed = [line for line in said if "the store failed the relay" in line]
    assert len(failed) == 1, said
    assert "no such table: events" in failed[0]
    assert len([line for line in said if "answers the relay again" in line]) == 1, said


@pytest.mark.parametrize("saved", [{"not-an-id": "yesterday"}, ["a", "list"], {"id": 7}])
def test_unreadable_saved_acknowledgements_do_not_stop_the_relay(
    sqlite_engine: Engine,
    make_registry: Callable[..., Any],
    mqtt_prefix: str,
    saved: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The ids saved with the relay's position cannot be read (a store edited by hand): the relay said
    nothing and never started, while its hub held the lease. They are dropped with a warning."""
    make_registry(sqlite_engine, ("plaza", "cam-1"))
    settings = mqtt_settings_for(mqtt_prefix)
    now = datetime.now(UTC)
    with sqlite_engine.begin() as conn:
        row = {"relay": relay_key(settings), "position": now, "saved_at": now, "acknowledged": saved}
        conn.execute(sa.insert(schema.alert_relay_positions).values(row))
    listener = AlertListener(mqtt_prefix, settings.port)
    relay = AlertRelay(sqlite_engine, settings, poll_s=0.2)
    onset = incident("wrong_way", 100, 101, "onset", uuid.uuid4(), road_users=1)
    try:
        relay.start()
        wait_until(lambda: relay.holding, 10, "the relay to start")
        EventWriter(sqlite_engine).write_events([onset])
        received = listener.wait_for(1, 10)
    finally:
        relay.stop()
        listener.close()
    assert [r["id"] for r in received] == [str(onset.id)]
    assert any("saved acknowledgements unreadable" in r.getMessage() for r in caplog.records)


def test_a_hub_killed_just_after_the_broker_took_its_alerts_does_not_send_them_again(
    sqlite_engine: Engine, make_registry: Callable[..., Any], mqtt_prefix: str
) -> None:
    """A relaying hub (reading the store every second, the default) is killed with SIGKILL half a second
    after the broker took five alerts. It saved their acknowledgements only at its next read, so the hub
    that went on sent all five again (found with bench/alerts_chaos.py: 18 of 100 twice)."""
    make_registry(sqlite_engine, ("plaza", "cam-1"))
    settings = mqtt_settings_for(mqtt_prefix)
    listener = AlertListener(mqtt_prefix, settings.port)
    hub = relay_process(sqlite_engine, settings, poll_s=1.0)
    events = [incident("queue", k, k + 60, None, None, queue_m=10) for k in range(5)]
    relay: AlertRelay | None = None
    try:
        wait_until(lambda: saved_position(sqlite_engine) is not None, 30, "the hub's relay to start")
        EventWriter(sqlite_engine).write_events(events)
        listener.wait_for(len(events), 10)
        time.sleep(0.5)
        hub.kill()
        hub.wait(10)
        relay = AlertRelay(sqlite_engine, settings, poll_s=0.2)  # the same hub, started again
        relay.start()
        wait_until(lambda: relay is not None and relay.holding, 10, "the hub to relay again")
        time.sleep(1.0)
    finally:
        hub.kill()
        hub.wait(10)
        if relay is not None:
            relay.stop()
        listener.close()
    assert Counter(r["id"] for r in listener.received) == Counter(str(e.id) for e in events)


def test_the_alert_relay_sends_a_burst_larger_than_one_read(
    sqlite_engine: Engine, make_registry: Callable[..., Any], mqtt_prefix: str, private_broker: PrivateBroker
) -> None:
    """A hub catching up on what the broker queued for it stores many incident events within a second. The
    relay used to read the first 500 of its look-back window again at every poll and send nothing more."""
    make_registry(sqlite_engine, ("plaza", "cam-1"))
    settings = mqtt_settings_for(mqtt_prefix, private_broker.port)
    listener = AlertListener(mqtt_prefix, private_broker.port)
    relay = AlertRelay(sqlite_engine, settings, poll_s=0.2)
    burst = [incident("queue", k, k + 60, None, None, queue_m=10) for k in range(1200)]
    try:
        relay.start()
        wait_until(lambda: saved_position(sqlite_engine) is not None, 10, "the relay to start")
        now = datetime.now(UTC)
        for k in range(
            0, len(burst), 100
        ):  # twelve messages of 100 incident events within a tenth of a second
            EventWriter(sqlite_engine).write_events(
                burst[k : k + 100], received_at=now + timedelta(milliseconds=k // 10)
            )
        received = listener.wait_for(len(burst), 60)
    finally:
        relay.stop()
        listener.close()
    assert sorted(r["id"] for r in received) == sorted(str(e.id) for e in burst)


def test_a_relay_position_saved_while_the_clock_ran_ahead_does_not_hold_alerts_back(
    sqlite_engine: Engine, make_registry: Callable[..., Any], mqtt_prefix: str
) -> None:
    """The hub's clock ran a day ahead and was put right: its saved position is tomorrow. Incidents stored
    now sort before it; the relay goes on from now rather than holding them back for a day."""
    make_registry(sqlite_engine, ("plaza", "cam-1"))
    settings = mqtt_settings_for(mqtt_prefix)
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    with sqlite_engine.begin() as conn:
        row = {"relay": relay_key(settings), "position": tomorrow, "saved_at": tomorrow}
        conn.execute(sa.insert(schema.alert_relay_positions).values(row))
    listener = AlertListener(mqtt_prefix, settings.port)
    relay = AlertRelay(sqlite_engine, settings, poll_s=0.2)
    onset = incident("stopped_vehicle", 10, 15, "onset", uuid.uuid4(), stopped_s=5)
    try:
        relay.start()
        wait_until(lambda: saved_position(sqlite_engine) != tomorrow, 10, "the relay to start")
        EventWriter(sqlite_engine).write_events([onset])
        received = listener.wait_for(1, 10)
    finally:
        relay.stop()
        listener.close()
    assert [r["id"] for r in received] == [str(onset.id)]


def hub_settings(prefix: str, hub: str, port: int | None = None) -> MqttSettings:
    """One of several hubs on one broker: each has its own client id."""
    settings = mqtt_settings_for(prefix) if port is None else mqtt_settings_for(prefix, port)
    return settings.model_copy(update={"client_id": f"{prefix}-{hub}"})


def test_hubs_sharing_a_store_and_a_broker_relay_each_incident_once(
    store_engine: Engine, make_registry: Callable[..., Any], mqtt_prefix: str
) -> None:
    """Two hubs on one store and one broker (ingest and API scaled out): one relays, the other stands by
    and goes on when the first stops. Each hub used to relay every incident, so subscribers got each twice;
    then the second hub sent the first's last 10 s again when it took over."""
    make_registry(store_engine, ("plaza", "cam-1"))
    listener = AlertListener(mqtt_prefix, mqtt_settings_for(mqtt_prefix).port)
    first = AlertRelay(store_engine, hub_settings(mqtt_prefix, "hub-a"), poll_s=0.2)
    second = AlertRelay(store_engine, hub_settings(mqtt_prefix, "hub-b"), poll_s=0.2)
    before = [incident("queue", k, k + 60, None, None, queue_m=10) for k in range(3)]
    after = [incident("queue", k, k + 60, None, None, queue_m=20) for k in range(3, 5)]
    try:
        first.start()
        wait_until(lambda: first.holding, 10, "the first hub to take the relay")
        second.start()
        time.sleep(1.0)  # the second has looked and stands by
        EventWriter(store_engine).write_events(before)
        listener.wait_for(len(before), 10)
        time.sleep(1.5)  # a second relay would have sent its copies by now
        assert sorted(r["id"] for r in listener.received) == sorted(str(e.id) for e in before)
        assert not second.holding
        first.stop()  # hands the lease back: the second goes on at once, not after the lease
        wait_until(lambda: second.holding, 3, "the hub standing by to take over")
        EventWriter(store_engine).write_events(after)
        received = listener.wait_for(2 * len(before) + len(after), 5)
    finally:
        first.stop()
        second.stop()
        listener.close()
    counts = Counter(r["id"] for r in received)
    assert counts == Counter(str(e.id) for e in before + after)


def test_on_postgresql_hubs_whose_clocks_disagree_relay_in_turn(
    pg_engine: Engine, make_registry: Callable[..., Any], mqtt_prefix: str
) -> None:
    """A hub whose clock runs 20 s ahead (more than the lease) saw the holder's lease as run out and relayed
    too: each alert twice. On PostgreSQL the lease is kept by the database's clock."""
    empty_store(pg_engine)
    make_registry(pg_engine, ("plaza", "cam-1"))
    listener = AlertListener(mqtt_prefix, mqtt_settings_for(mqtt_prefix).port)
    first = AlertRelay(pg_engine, hub_settings(mqtt_prefix, "hub-a"), poll_s=0.2)
    ahead = AlertRelay(
        pg_engine,
        hub_settings(mqtt_prefix, "hub-b"),
        poll_s=0.2,
        clock=lambda: datetime.now(UTC) + timedelta(seconds=20),
    )
    events = [incident("queue", k, k + 60, None, None, queue_m=10) for k in range(3)]
    try:
        first.start()
        wait_until(lambda: first.holding, 10, "the first hub to take the relay")
        ahead.start()
        time.sleep(1.0)
        EventWriter(pg_engine).write_events(events)
        listener.wait_for(len(events), 10)
        time.sleep(1.5)  # a second relay would have sent its copies by now
        assert (first.holding, ahead.holding) == (True, False)
    finally:
        first.stop()
        ahead.stop()
        listener.close()
    assert Counter(r["id"] for r in listener.received) == Counter(str(e.id) for e in events)


def test_a_hub_standing_by_takes_the_relay_over_when_the_holder_is_killed(
    sqlite_engine: Engine, make_registry: Callable[..., Any], mqtt_prefix: str
) -> None:
    """The hub holding the relay dies without handing it back (SIGKILL); once its lease runs out, the hub
    standing by relays what was stored meanwhile."""
    make_registry(sqlite_engine, ("plaza", "cam-1"))
    listener = AlertListener(mqtt_prefix, mqtt_settings_for(mqtt_prefix).port)
    dying = hub_settings(mqtt_prefix, "hub-a")
    hub = relay_process(sqlite_engine, dying, lease_s=2)
    standby = AlertRelay(
        sqlite_engine, hub_settings(mqtt_prefix, "hub-b"), poll_s=0.2, lease=timedelta(seconds=2)
    )
    onset = incident("wrong_way", 100, 101, "onset", uuid.uuid4(), road_users=1)
    try:
        wait_until(lambda: saved_position(sqlite_engine) is not None, 30, "the first hub's relay to start")
        standby.start()
        time.sleep(1.0)
        assert not standby.holding
        hub.kill()
        hub.wait(10)
        EventWriter(sqlite_engine).write_events([onset])
        received = listener.wait_for(1, 10)
        assert standby.holding
    finally:
        hub.kill()
        hub.wait(10)
        standby.stop()
        listener.close()
    assert [r["id"] for r in received] == [str(onset.id)]


def test_a_holder_that_stalled_past_its_lease_stops_relaying(
    store_engine: Engine, make_registry: Callable[..., Any], mqtt_prefix: str
) -> None:
    """A hub that could not renew its lease in time (a long pause, a database outage) finds another hub
    holding the relay: it stops relaying and does not move the other's position."""
    make_registry(store_engine, ("plaza", "cam-1"))
    settings = mqtt_settings_for(mqtt_prefix)
    listener = AlertListener(mqtt_prefix, settings.port)
    relay = AlertRelay(store_engine, settings, poll_s=0.2)
    t = schema.alert_relay_positions
    taken_at = datetime.now(UTC) - timedelta(hours=1)
    try:
        relay.start()
        wait_until(lambda: relay.holding, 10, "the relay to start")
        with store_engine.begin() as conn:  # what another hub's takeover leaves in the store
            other = {"holder": "another-hub", "held_until": datetime.now(UTC) + timedelta(minutes=1)}
            conn.execute(sa.update(t).values(**other, position=taken_at))
        EventWriter(store_engine).write_events([incident("queue", 0, 60, None, None, queue_m=10)])
        time.sleep(1.5)
        received = listener.wait_for(1, 0)
        assert not relay.holding
    finally:
        relay.stop()
        listener.close()
    assert received == []
    assert saved_position(store_engine) == taken_at


def test_a_position_saved_under_the_relays_earlier_name_is_taken_over(
    sqlite_engine: Engine, make_registry: Callable[..., Any], mqtt_prefix: str
) -> None:
    """Before migration 0014 a relay was named by its hub's client id. An incident stored after that
    relay's last position (a minute ago, longer than the look-back) is sent by the relay's new name."""
    make_registry(sqlite_engine, ("plaza", "cam-1"))
    settings = mqtt_settings_for(mqtt_prefix)
    now = datetime.now(UTC)
    t = schema.alert_relay_positions
    with sqlite_engine.begin() as conn:
        row = {
            "relay": f"{settings.client_id}-alerts",
            "position": now - timedelta(minutes=1),
            "saved_at": now,
        }
        conn.execute(sa.insert(t).values(row))
    onset = incident("stopped_vehicle", 10, 15, "onset", uuid.uuid4(), stopped_s=5)
    EventWriter(sqlite_engine).write_events([onset], received_at=now - timedelta(seconds=30))
    listener = AlertListener(mqtt_prefix, settings.port)
    relay = AlertRelay(sqlite_engine, settings, poll_s=0.2)
    try:
        relay.start()
        received = listener.wait_for(1, 10)
    finally:
        relay.stop()
        listener.close()
    assert [r["id"] for r in received] == [str(onset.id)]
    with sqlite_engine.connect() as conn:
        assert conn.execute(sa.select(t.c.relay)).scalars().all() == [relay_key(settings)]


def test_the_alert_relays_metrics_say_which_hub_relays_and_what_waits_for_the_broker(
    sqlite_engine: Engine, make_registry: Callable[..., Any], mqtt_prefix: str, private_broker: PrivateBroker
) -> None:
    """An operator sees on /metrics which hub relays alerts, how many it published, and that alerts wait
    (and for how long) while the broker is away."""
    make_registry(sqlite_engine, ("plaza", "cam-1"))
    relays = [
        AlertRelay(sqlite_engine, hub_settings(mqtt_prefix, hub, private_broker.port), poll_s=0.2)
        for hub in ("hub-a", "hub-b")
    ]
    metrics = [HubMetrics(), HubMetrics()]
    for each, relay in zip(metrics, relays, strict=True):
        each.watch_alerts(relay)

    def sample(which: int, name: str) -> float | None:
        return metrics[which].registry.get_sample_value(name)

    try:
        relays[0].start()
        wait_until(lambda: relays[0].holding, 10, "the first hub to take the relay")
        relays[1].start()
        EventWriter(sqlite_engine).write_events([incident("queue", 0, 60, None, None, queue_m=10)])
        wait_until(lambda: sample(0, "citytally_alerts_published_total") == 1, 10, "the alert to go out")
        assert (sample(0, "citytally_alerts_relaying"), sample(1, "citytally_alerts_relaying")) == (1, 0)
        assert sample(1, "citytally_alerts_published_total") == 0
        private_broker.stop()
        EventWriter(sqlite_engine).write_events([incident("queue", 60, 120, None, None, queue_m=10)])
        wait_until(lambda: sample(0, "citytally_alerts_unacknowledged") == 1, 10, "the alert to wait")
        time.sleep(1.0)
        assert sample(0, "citytally_alerts_oldest_unacknowledged_seconds") >= 1.0  # type: ignore[operator]
        private_broker.start()
        wait_until(lambda: sample(0, "citytally_alerts_unacknowledged") == 0, 20, "the broker to take it")
        assert sample(0, "citytally_alerts_oldest_unacknowledged_seconds") == 0
    finally:
        for relay in relays:
            relay.stop()


def test_a_hub_that_starts_long_after_the_last_alert_does_not_send_it_again(
    sqlite_engine: Engine, make_registry: Callable[..., Any], mqtt_prefix: str
) -> None:
    """The relay sent an alert half a minute ago and has been idle since; the hub restarts. Its position had
    stayed at that alert, so every restart sent the alerts of the 10 s before it again, however old."""
    make_registry(sqlite_engine, ("plaza", "cam-1"))
    settings = mqtt_settings_for(mqtt_prefix)
    now = datetime.now(UTC)
    with sqlite_engine.begin() as conn:  # a relay that last moved a minute ago
        row = {"relay": relay_key(settings), "position": now - timedelta(minutes=1), "saved_at": now}
        conn.execute(sa.insert(schema.alert_relay_positions).values(row))
    onset = incident("wrong_way", 100, 101, "onset", uuid.uuid4(), road_users=1)
    EventWriter(sqlite_engine).write_events([onset], received_at=now - timedelta(seconds=30))
    listener = AlertListener(mqtt_prefix, settings.port)
    try:
        relay = AlertRelay(sqlite_engine, settings, poll_s=0.2)
        relay.start()
        assert [r["id"] for r in listener.wait_for(1, 10)] == [str(onset.id)]
        time.sleep(0.5)  # acknowledged, and read up to date
        relay.stop()
        position = saved_position(sqlite_engine)
        assert position is not None and position > now - timedelta(seconds=30) - LOOKBACK
        again = AlertRelay(sqlite_engine, settings, poll_s=0.2)
        again.start()
        time.sleep(1.5)
        again.stop()
    finally:
        listener.close()
    assert [r["id"] for r in listener.received] == [str(onset.id)]  # once, not again on the restart
