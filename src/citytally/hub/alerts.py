"""Incidents for other systems: NGSI-LD ``Alert`` entities, and an MQTT topic with every new incident event.

**NGSI-LD.** Each incident (the latest event of its ``incident_id``) is one FIWARE Smart Data Models
``Alert`` (dataModel.Alert): ``category`` ``traffic`` (``security`` for crowd density and a left object),
``subCategory`` from the model's list (``carStopped``, ``carWrongDirection``, ``trafficJam``,
``pedestrianOnRoad`` or ``bikerOnRoad``, ``crowdRisk``, ``suspiciousAction``),
``severity`` (``informational``, ``medium``, ``critical``), ``dateIssued`` (when it began), ``validFrom``
and, once cleared, ``validTo``, ``alertSource`` (the camera), ``location`` (the camera's point, when
registered), ``description`` and ``data`` (the numbers behind it). Nothing in it names a road user.

**MQTT.** :class:`AlertRelay` republishes each incident event the hub stores (onset, update, clearance) on
``<prefix>/alerts/<site>/<camera>/incident`` (QoS 1, not retained), the event's own JSON as payload.
The topic has five levels, so it never matches an edge's ``<prefix>/<site>/<camera>/events``. It polls the
store (like the dashboard's live stream), so it works whether ingest runs in this process or another.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from citytally.events import SLUG_PATTERN
from citytally.hub.store import schema
from citytally.transport.mqtt import MqttSettings, build_mqtt_client, connect_properties

__all__ = ["ALERT_CONTEXT", "AlertRelay", "alert_entity", "alert_topic", "alert_subscription"]

log = logging.getLogger(__name__)

ALERT_CONTEXT: list[str] = [
    "https://raw.githubusercontent.com/smart-data-models/dataModel.Alert/master/context.jsonld",
    "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld",
]
#: citytally incident → (Alert category, subCategory from the model's list, or None where none fits).
_CATEGORIES: dict[str, tuple[str, str | None]] = {
    "stopped_vehicle": ("traffic", "carStopped"),
    "wrong_way": ("traffic", "carWrongDirection"),
    "congestion": ("traffic", "trafficJam"),
    "queue": ("traffic", "trafficJam"),
    "pedestrian_on_roadway": ("traffic", "pedestrianOnRoad"),  # "bikerOnRoad" where only cyclists are
    "crowd_density": ("security", "crowdRisk"),
    "left_object": ("security", "suspiciousAction"),
}
_SEVERITIES = {"info": "informational", "warning": "medium", "critical": "critical"}
_LOOKBACK = timedelta(seconds=10)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _prop(value: Any) -> dict[str, Any]:
    return {"type": "Property", "value": value}


def _date(moment: datetime) -> dict[str, Any]:
    return _prop({"@type": "DateTime", "@value": _iso(moment)})


def alert_entity(incident: Mapping[str, Any], camera: Mapping[str, Any] | None) -> dict[str, Any]:
    """One incident (its latest event, as the dashboard lists it) as a normalized NGSI-LD ``Alert``."""
    key = incident.get("incident_id") or incident["id"]
    category, sub = _CATEGORIES.get(incident["incident"], ("traffic", None))
    details = incident["details"]
    cyclists_only = not details.get("persons") and bool(details.get("cyclists"))
    if incident["incident"] == "pedestrian_on_roadway" and cyclists_only:
        sub = "bikerOnRoad"
    place = incident.get("zone") or incident.get("line")
    where = f"{incident['site']}/{incident['camera']}" + (f", {place}" if place else "")
    entity: dict[str, Any] = {
        "id": f"urn:ngsi-ld:Alert:citytally:{key}",
        "type": "Alert",
        "category": _prop(category),
        "severity": _prop(_SEVERITIES.get(incident["severity"], "medium")),
        "dateIssued": _date(incident["start"]),
        "validFrom": _date(incident["start"]),
        "alertSource": _prop(f"urn:ngsi-ld:Device:citytally:{incident['site']}:{incident['camera']}"),
        "description": _prop(f"{incident['incident'].replace('_', ' ')} at {where}"),
        "data": _prop(
            {"incident": incident["incident"], "phase": incident.get("phase"), **incident["details"]}
        ),
        "dataProvider": _prop("citytally"),
    }
    if sub is not None:
        entity["subCategory"] = _prop(sub)
    if not incident.get("open"):
        entity["validTo"] = _date(incident["end"])
    if camera is not None and camera.get("lat") is not None and camera.get("lon") is not None:
        point = {"type": "Point", "coordinates": [camera["lon"], camera["lat"]]}
        entity["location"] = {"type": "GeoProperty", "value": point}
    entity["@context"] = ALERT_CONTEXT
    return entity


def alert_topic(prefix: str, site: str, camera: str) -> str:
    """Where the hub republishes one camera's incident events."""
    import re

    for name, value in (("site", site), ("camera", camera)):
        if not re.match(SLUG_PATTERN, value):
            raise ValueError(f"{name} {value!r} is not a slug")
    return f"{prefix}/alerts/{site}/{camera}/incident"


def alert_subscription(prefix: str) -> str:
    """The filter that receives every camera's incident events."""
    return f"{prefix}/alerts/+/+/incident"


class AlertRelay:
    """Polls the store for newly stored incident events and publishes each on its alert topic."""

    def __init__(self, engine: sa.Engine, settings: MqttSettings, poll_s: float = 1.0) -> None:
        self.engine = engine
        self.settings = settings
        self.poll_s = poll_s
        self.published = 0
        self._after = datetime.now(UTC)
        self._sent: dict[uuid.UUID, datetime] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client = build_mqtt_client(settings, f"{settings.client_id}-alerts", persistent=False)

    def start(self) -> None:
        """Connect (in the background) and start polling; incidents stored from now on are relayed."""
        self._client.connect_async(
            self.settings.host,
            self.settings.port,
            keepalive=self.settings.keepalive_s,
            properties=connect_properties(self.settings) if self.settings.protocol == "5" else None,
        )
        self._client.loop_start()
        self._thread = threading.Thread(target=self._run, name="citytally-alert-relay", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        self._client.disconnect()
        self._client.loop_stop()

    def _run(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                self.relay_once()
            except sa.exc.SQLAlchemyError as exc:
                log.warning("alerts: reading the store failed (%s); trying again", exc.__class__.__name__)

    def relay_once(self) -> int:
        """Publish the incident events stored since the last call; return how many."""
        e = schema.events
        query = (
            sa.select(e.c.id, e.c.site, e.c.camera, e.c.received_at, e.c.body)
            .where(e.c.type == "incident", e.c.received_at > self._after - _LOOKBACK)
            .order_by(e.c.received_at)
            .limit(500)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        sent = 0
        for row in rows:
            if row.id in self._sent:
                continue
            body = row.body if isinstance(row.body, dict) else json.loads(row.body)
            topic = alert_topic(self.settings.topic_prefix, row.site, row.camera)
            self._client.publish(topic, json.dumps(body, separators=(",", ":")), qos=1)
            self._sent[row.id] = row.received_at
            self._after = max(self._after, row.received_at)
            sent += 1
        horizon = self._after - _LOOKBACK
        self._sent = {k: v for k, v in self._sent.items() if v >= horizon}
        self.published += sent
        return sent
