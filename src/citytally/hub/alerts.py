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

import hashlib
import json
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
import sqlalchemy as sa

from citytally.errors import Spell
from citytally.events import SLUG_PATTERN
from citytally.hub.store import schema
from citytally.hub.store.follow import LOOKBACK, StoreFollower, store_now
from citytally.transport.mqtt import (
    HUBS_SHARING_AN_ID,
    LinkWatch,
    MqttSettings,
    build_mqtt_client,
    connect_properties,
)

__all__ = [
    "ALERT_CONTEXT",
    "LEASE",
    "AlertRelay",
    "alert_entity",
    "alert_subscription",
    "alert_topic",
    "relay_key",
]

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
    "view_changed": ("security", None),  # a camera knocked, turned or covered: the model has no word for it
}
_SEVERITIES = {"info": "informational", "warning": "medium", "critical": "critical"}


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
    stream_ended = not incident.get("open") and details.get("stream_ended")
    ended = "; the camera's stream ended while it held, so it may go on" if stream_ended else ""
    entity: dict[str, Any] = {
        "id": f"urn:ngsi-ld:Alert:citytally:{key}",
        "type": "Alert",
        "category": _prop(category),
        "severity": _prop(_SEVERITIES.get(incident["severity"], "medium")),
        "dateIssued": _date(incident["start"]),
        "validFrom": _date(incident["start"]),
        # a Relationship in the model (dataModel.Alert), not a Property holding an id
        "alertSource": {
            "type": "Relationship",
            "object": f"urn:ngsi-ld:Device:citytally:{incident['site']}:{incident['camera']}",
        },
        "description": _prop(f"{incident['incident'].replace('_', ' ')} at {where}{ended}"),
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


#: How long a hub holds the relay without renewing it (it renews at half that); then another hub on the
#: store takes over.
LEASE = timedelta(seconds=15)


def relay_key(settings: MqttSettings) -> str:
    """The relay's row in the store: one per broker and topic prefix, so that hubs sharing both relay once.

    Hubs that name one broker differently (``localhost`` and ``127.0.0.1``) have a relay each."""
    key = f"{settings.topic_prefix}@{settings.host}:{settings.port}"
    if len(key) > 128:  # the column's width
        key = f"{key[:111]}#{hashlib.sha256(key.encode()).hexdigest()[:16]}"
    return key


class AlertRelay:
    """Follows the store's incident events and publishes each on its alert topic, at least once.

    The relay's position (see :data:`~citytally.hub.store.schema.alert_relay_positions`) moves past an event
    only once the broker has acknowledged it (QoS 1). A relay that starts again, after a stop, a crash or a
    ``kill -9``, sends from its saved position on, so what waited for a broker that was down is sent, and
    so is what was stored while no relay ran. The look-back window before the position
    (:data:`~citytally.hub.store.follow.LOOKBACK`) is sent again: a subscriber may get an event twice and
    knows it by its ``id``. The ids the broker acknowledged within that window are saved with the position,
    so a hub that takes over after a stop does not send them again; after a crash, what was acknowledged
    in the last :data:`SETTLE_S` may be. While the relay is idle and up to date its position follows the
    clock, so that what it sent long ago is not sent again. A relay with no saved position starts with what is
    stored from then on. At most :data:`MAX_IN_FLIGHT` events wait for the broker; the rest wait in the store.

    Hubs sharing a store and a broker share one position (:func:`relay_key`) and relay in turn: the hub that
    holds the lease (renewed every ``lease / 2``) relays; the others stand by and take over when it stops
    (at once: a stop hands the lease back) or dies (once the lease runs out). A holder that could not renew
    in time and finds another hub holding stops relaying. On PostgreSQL the lease is kept by the database's
    clock, so hubs whose clocks disagree still relay in turn. On SQLite (one machine) it is the hub's
    clock: hubs whose clocks disagree by more than ``lease / 2`` may relay at once (events twice, none
    lost)."""

    #: Events published and not yet acknowledged, beyond which the relay reads no more from the store.
    MAX_IN_FLIGHT = 1000
    #: Acknowledged ids saved with the position, at most; beyond it the oldest may be sent again.
    MAX_ACKNOWLEDGED = 5000
    #: While events wait for the broker, the relay looks this often (at most) for its acknowledgements and
    #: saves them, so that a crash sends again at most what was acknowledged in the last tenth of a second.
    SETTLE_S = 0.1

    def __init__(
        self,
        engine: sa.Engine,
        settings: MqttSettings,
        poll_s: float = 1.0,
        lease: timedelta = LEASE,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.poll_s = poll_s
        self.lease = lease
        #: This hub's clock; the lease uses the database's where the store is PostgreSQL.
        self.clock = clock
        self.published = 0
        #: Called with how many events each poll published (the hub's Prometheus counter).
        self.on_published: Callable[[int], object] = lambda _count: None
        self.key = relay_key(settings)
        self.holder = settings.client_id  # stable: a hub that starts again takes its own lease back at once
        self.name = f"{settings.client_id}-alerts"  # its MQTT client id
        self._held_until: datetime | None = None  # this hub's lease, as last taken or renewed (store's clock)
        self._renew_at = 0.0  # time.monotonic() at which to renew it
        self._offset = timedelta(0)  # the store's clock less this hub's (PostgreSQL)
        self._standing_by = False
        self._follower: StoreFollower | None = None
        # (received_at, message id, event id), as published
        self._in_flight: deque[tuple[datetime, int, uuid.UUID]] = deque()
        self._acknowledged: set[int] = set()  # message ids the broker acknowledged
        self._done: dict[uuid.UUID, datetime] = {}  # acknowledged events past the in-flight queue
        self._lock = threading.Lock()
        self._saved: tuple[datetime, frozenset[uuid.UUID]] | None = None  # position and ids, as saved
        self._caught_up = False  # the last poll read everything there was
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client = build_mqtt_client(settings, self.name, persistent=False)
        self._client.on_publish = self._on_publish
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._link = LinkWatch("alerts", settings, log, self.name, HUBS_SHARING_AN_ID)
        self._link.attach(self._client)

    def _on_connect(self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, *_: Any) -> None:
        if not reason.is_failure:
            self._link.connected()

    def _on_disconnect(self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, *_: Any) -> None:
        self._link.lost(reason)

    def _on_publish(self, _client: mqtt.Client, _userdata: Any, mid: int, *_: Any) -> None:
        with self._lock:
            self._acknowledged.add(mid)  # QoS 1: the broker's PUBACK

    @property
    def holding(self) -> bool:
        """Whether this hub relays (holds the lease) now."""
        return self._follower is not None

    @property
    def unacknowledged(self) -> int:
        """Events published and not yet acknowledged by the broker."""
        with self._lock:
            return sum(1 for _, mid, _ in self._in_flight if mid not in self._acknowledged)

    def oldest_unacknowledged_seconds(self) -> float:
        """How long ago the oldest event not yet acknowledged by the broker was stored; 0 when none waits."""
        with self._lock:
            waiting = [at for at, mid, _ in self._in_flight if mid not in self._acknowledged]
        return max((self._now() - min(waiting)).total_seconds(), 0.0) if waiting else 0.0

    def start(self) -> None:
        """Connect (in the background) and start relaying from the saved position (or from now)."""
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
        """Stop; save the position and hand the lease back, so that a hub standing by goes on at once."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        try:
            self._settle()  # what the broker acknowledged meanwhile is not sent again
            self._release()
        except sa.exc.SQLAlchemyError as exc:
            log.warning("alerts: saving the relay's position failed (%s)", exc.__class__.__name__)
        self._client.disconnect()
        self._client.loop_stop()

    def _run(self) -> None:
        spell = Spell(log)  # a store down or full: one line, then one a minute, not one a poll
        while True:
            try:
                self.relay_once()
            except sa.exc.SQLAlchemyError as exc:
                first = (str(exc).splitlines() or [""])[0]
                spell.failed(
                    "alerts: the store failed the relay (%s: %s); trying again every %.0f s",
                    exc.__class__.__name__,
                    first,
                    self.poll_s,
                    level=logging.WARNING,
                )
            except Exception:  # a bug must not end relaying while this hub holds the lease
                log.exception("alerts: relaying failed; trying again")
            else:
                spell.ended("alerts: the store answers the relay again")
            waiting = bool(self._in_flight)  # acknowledgements due: save them soon
            if self._stop.wait(min(self.poll_s, self.SETTLE_S) if waiting else self.poll_s):
                return

    def _store_now(self, conn: sa.Connection) -> datetime:
        """The store's clock, which keeps the lease and stamps the events: the database's on PostgreSQL (one
        for every hub; how far this hub's clock is off is kept for :meth:`_now`), else the hub's."""
        if conn.dialect.name != "postgresql":
            return self.clock()
        moment = store_now(conn)
        self._offset = moment - self.clock()
        return moment

    def _now(self) -> datetime:
        """Now by the store's clock, as of the last lease renewal."""
        return self.clock() + self._offset

    def _claim(self) -> bool:
        """Take or renew the lease (at most every ``lease / 2``); whether this hub holds it now."""
        t = schema.alert_relay_positions
        if self._held_until is not None and time.monotonic() < self._renew_at:
            # Not due for renewal; but another hub may have taken over while this one stalled.
            with self.engine.connect() as conn:
                holder = conn.execute(sa.select(t.c.holder).where(t.c.relay == self.key)).scalar_one_or_none()
                if holder != self.holder:
                    self._lose(conn)
            return self._held_until is not None
        fresh = False
        try:
            with self.engine.begin() as conn:
                now = self._store_now(conn)
                until = now + self.lease
                free = sa.or_(
                    t.c.holder == self.holder,
                    t.c.holder.is_(None),
                    t.c.held_until.is_(None),
                    t.c.held_until <= now,
                )
                renew_at = time.monotonic() + self.lease.total_seconds() / 2
                taken = (
                    sa.update(t)
                    .where(t.c.relay == self.key, free)
                    .values(holder=self.holder, held_until=until)
                )
                if conn.execute(taken).rowcount:
                    mine = sa.select(t.c.position, t.c.acknowledged).where(t.c.relay == self.key)
                    saved, acknowledged = conn.execute(mine).one()
                elif conn.execute(sa.select(t.c.relay).where(t.c.relay == self.key)).first() is None:
                    saved, acknowledged = self._adopt_earlier_name(conn), None
                    fresh = saved is None
                    row = {"relay": self.key, "position": saved or now, "saved_at": now}
                    conn.execute(sa.insert(t).values(**row, holder=self.holder, held_until=until))
                else:
                    self._lose(conn)
                    return False
        except sa.exc.IntegrityError:  # another hub inserted the row first
            self._lose(None)
            return False
        if self._follower is None:
            self._follower = self._open(None if fresh else saved, acknowledged)
            self._standing_by = False
            self._caught_up = False  # until its first poll: what is stored after the position waits
        self._held_until = until
        self._renew_at = renew_at
        return True

    def _adopt_earlier_name(self, conn: sa.Connection) -> datetime | None:
        """The position saved under the relay's name before migration 0014, ``<client id>-alerts``."""
        t = schema.alert_relay_positions
        earlier = sa.select(t.c.position).where(t.c.relay == self.name)
        saved = conn.execute(earlier).scalar_one_or_none()
        if saved is not None:
            conn.execute(sa.delete(t).where(t.c.relay == self.name))
            log.info("alerts: relay %s takes the position saved as %s", self.key, self.name)
        return saved

    def _lose(self, conn: sa.Connection | None) -> None:
        """Another hub holds the lease: stand by (and stop relaying, if this hub did)."""
        holder = None
        if conn is not None:
            t = schema.alert_relay_positions
            holder = conn.execute(sa.select(t.c.holder).where(t.c.relay == self.key)).scalar_one_or_none()
        if self._follower is not None:
            log.warning("alerts: relay %s is held by %s now; this hub stops relaying", self.key, holder)
        elif not self._standing_by:
            log.info("alerts: relay %s is held by %s; this hub stands by", self.key, holder)
        self._standing_by = True
        self._follower = None
        self._held_until = None
        self._saved = None
        with self._lock:
            self._in_flight.clear()
            self._acknowledged.clear()
        self._done.clear()

    def _release(self) -> None:
        if self._held_until is None:
            return
        t = schema.alert_relay_positions
        mine = (t.c.relay == self.key, t.c.holder == self.holder)
        with self.engine.begin() as conn:
            conn.execute(sa.update(t).where(*mine).values(holder=None, held_until=None))
        self._held_until = None
        self._follower = None

    def _open(self, saved: datetime | None, acknowledged: object) -> StoreFollower:
        self._done.clear()
        if saved is None:
            follower = StoreFollower(after=self._now())
            with self.engine.connect() as conn:
                follower.skip_old(conn, schema.events.c.type == "incident")
            log.info("alerts: relay %s starts with the incidents stored from now on", self.key)
        elif saved > (now := self._now()):
            # Saved while the clock ran ahead: events stamped from now on would sort before it and wait.
            log.warning(
                "alerts: relay %s: saved position %s is in the future (a wrong clock?); going on from now",
                self.key,
                saved.isoformat(),
            )
            follower = StoreFollower(after=now)
        else:
            follower = StoreFollower(after=saved)
            # What the broker acknowledged in the look-back window is not sent again.
            if acknowledged is not None:
                follower.sent.update(self._read_acknowledged(acknowledged))
            self._done.update(follower.sent)
            log.info("alerts: relay %s goes on from %s", self.key, saved.isoformat())
        self._saved = None if saved is None else (saved, frozenset(self._done))
        return follower

    def _read_acknowledged(self, saved: object) -> dict[uuid.UUID, datetime]:
        """The saved ``{event id: received_at}``; one that cannot be read is dropped with a warning (its
        events may go out again), so that it cannot stop the relay."""
        found: dict[uuid.UUID, datetime] = {}
        try:
            if not isinstance(saved, Mapping):
                raise TypeError(f"a {type(saved).__name__}, not a mapping")
            for key, at in saved.items():
                moment = datetime.fromisoformat(at)
                found[uuid.UUID(key)] = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        except (AttributeError, TypeError, ValueError) as exc:
            log.warning("alerts: relay %s: saved acknowledgements unreadable (%s); dropped", self.key, exc)
            return {}
        return found

    def _settle(self) -> None:
        """Drop what the broker acknowledged; save the position (the oldest event still unacknowledged) and
        the ids acknowledged within the look-back before it."""
        with self._lock:
            while self._in_flight and self._in_flight[0][1] in self._acknowledged:
                at, mid, event = self._in_flight.popleft()
                self._acknowledged.discard(mid)
                self._done[event] = at
            acknowledged_in_flight = {
                event: at for at, mid, event in self._in_flight if mid in self._acknowledged
            }
        if self._follower is None:
            return
        position = min((at for at, _, _ in self._in_flight), default=self._follower.after)
        if not self._in_flight and self._caught_up:
            # Everything read was acknowledged and nothing more waits: move the position on with the clock
            # (in steps of the look-back), so that a hub starting an hour later does not send the alerts
            # of the 10 s before the last one again. A commit later than twice the look-back is not awaited.
            step = LOOKBACK.total_seconds()
            now = self._now().timestamp()
            position = max(position, datetime.fromtimestamp(now // step * step, UTC) - LOOKBACK)
        horizon = position - LOOKBACK
        self._done = {event: at for event, at in self._done.items() if at > horizon}
        done = {**self._done, **acknowledged_in_flight}
        if len(done) > self.MAX_ACKNOWLEDGED:  # keep the latest; the oldest may be sent again
            done = dict(sorted(done.items(), key=lambda item: item[1])[-self.MAX_ACKNOWLEDGED :])
        state = (position, frozenset(done))
        if state == self._saved:
            return
        t = schema.alert_relay_positions
        mine = (t.c.relay == self.key, t.c.holder == self.holder)
        ids = {str(event): at.isoformat() for event, at in done.items()}
        with self.engine.begin() as conn:
            values = {"position": position, "acknowledged": ids, "saved_at": self._now()}
            if conn.execute(sa.update(t).where(*mine).values(**values)).rowcount == 0:
                self._lose(conn)  # another hub took over while this one could not renew
                return
        self._saved = state

    def relay_once(self) -> int:
        """Publish the incident events stored since the last call, if this hub holds the relay; return how
        many."""
        if not self._claim():
            return 0
        self._settle()
        if self._follower is None or len(self._in_flight) >= self.MAX_IN_FLIGHT:
            return 0
        e = schema.events
        columns = (e.c.id, e.c.site, e.c.camera, e.c.received_at, e.c.end, e.c.body)
        with self.engine.connect() as conn:
            rows = self._follower.poll(conn, columns, e.c.type == "incident")
        self._caught_up = len(rows) < self._follower.batch  # else more may wait beyond what was read
        sent = 0
        for row in rows:
            try:
                body = row.body if isinstance(row.body, dict) else json.loads(row.body)
                topic = alert_topic(self.settings.topic_prefix, row.site, row.camera)
                payload = json.dumps(body, separators=(",", ":"))
            except (ValueError, TypeError) as exc:  # a row that no relay could send: say so, go on
                log.error("alerts: stored incident event %s cannot be relayed (%s); skipped", row.id, exc)
                continue
            info = self._client.publish(topic, payload, qos=1)
            with self._lock:
                self._in_flight.append((row.received_at, info.mid, row.id))
            sent += 1
        self.published += sent
        if sent:
            self.on_published(sent)
        self._settle()
        return sent
