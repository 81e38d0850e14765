"""MQTT ingest: subscribe to every camera's events (QoS 1) and store them in batches, losing nothing.

Topic layout: ``<prefix>/<site>/<camera>/events`` (see :func:`citytally.events.event_topic`); the hub
subscribes to ``<prefix>/+/+/events``. Delivery is at-least-once and storage is idempotent on the event id,
so every event is stored exactly once.

Nothing is acknowledged before it is committed: the client runs with ``manual_ack=True`` and sends each
PUBACK only after the batch holding the message is in the database (bad messages count as handled once
their dead letter is committed). While the database is down the batch is retried with backoff and the
messages stay unacknowledged, so a hub that dies meanwhile gets them again from the broker, which keeps the
hub's persistent session (stable client id, ``clean_start=False``, session expiry) while it is away.

No message can stop ingest: the writer dead-letters whatever it cannot judge (see
:mod:`citytally.hub.store.writer`), and should writing a batch still raise anything but a database failure,
its messages are written one by one and the one that fails alone is dead-lettered (kind ``unreadable``).
Whether ingest advances is in :class:`~citytally.hub.metrics.IngestProgress` (``/health``, and the
``citytally_ingest_stalled_seconds`` gauge).

Batches: the paho network thread only queues what arrives (no parsing there); writer threads take up to
``batch_max`` messages (waiting at most ``batch_wait_ms`` for more) and store each batch in one transaction.
On PostgreSQL ``writers`` threads (each its own connection) store batches side by side, so the database works
on one batch while Python validates the next; SQLite has one writer. Batches are acknowledged in the order
they were taken, whichever commits first.

End-to-end confirmation (:mod:`citytally.transport.confirm`): after each batch is committed, ingest publishes
the ids of each camera's events in it on ``<prefix>/<site>/<camera>/ack``, and it keeps a retained presence
message (online while connected; offline as its will and on stop). Edges keep every event until it is
confirmed, so a broker that loses its queue (crash before saving, session gone) loses no event for good.
A connection with ``session present: false`` means the broker holds no queue for this hub: expected the
first time a new hub connects to a broker (the store records each broker it has had a session with, table
``broker_sessions``), otherwise the broker lost it. A loss is logged as an error (a warning where no session
with that broker is on record but the store holds events: a new broker, or a hub from before the record),
counted (``citytally_ingest_broker_sessions_missing_total``) and shown by ``/health`` (``broker_session``
``missing``; ``new`` the first time).

Broker requirements for "loses nothing" (Mosquitto names): ``persistence true`` (a restarted broker still
has the hub's queue) and ``max_queued_messages 0`` or a bound above the longest hub outage × event rate
(Mosquitto's default of 1000 silently drops the rest). MQTT 5 lets the hub raise how many messages the
broker sends before waiting for PUBACKs (``receive_maximum``); with 3.1.1 the broker's
``max_inflight_messages`` (default 20) bounds each batch, which costs throughput.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
import sqlalchemy as sa
from paho.mqtt.reasoncodes import ReasonCode
from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy.exc import SQLAlchemyError

from citytally.errors import Spell, StoreError
from citytally.hub.config import IngestSettings
from citytally.hub.metrics import HubMetrics
from citytally.hub.store import schema
from citytally.hub.store.writer import EventWriter, Received, WriteResult
from citytally.transport import confirm
from citytally.transport.mqtt import (
    HUBS_SHARING_AN_ID,
    LinkWatch,
    MqttSettings,
    build_mqtt_client,
    connect_properties,
)
from citytally.transport.status import OutboxStatus, camera_of_status_topic, status_subscription

__all__ = ["BATCH_BYTES", "Ingest", "IngestMetrics", "subscription_topic"]

log = logging.getLogger(__name__)

#: A batch also ends at this many payload bytes (about 6,000 events of a few hundred bytes): messages that
#: pack 200 events each would otherwise make ``batch_max`` messages a million-event transaction, and one
#: batch would starve the other writers.
BATCH_BYTES = 2 * 1024 * 1024


def subscription_topic(prefix: str) -> str:
    """The filter the hub subscribes with: every site's every camera's events."""
    return f"{prefix}/+/+/events"


class IngestMetrics:
    """Ingest's own metrics, on the hub's registry (stored/rejected counters live in :class:`HubMetrics`)."""

    def __init__(self, hub: HubMetrics) -> None:
        self.hub = hub
        registry = hub.registry
        self.duplicates = Counter(
            "citytally_events_duplicate", "Redelivered events already stored (skipped).", registry=registry
        )
        self.store_errors = Counter(
            "citytally_ingest_store_errors", "Batches the database refused (retried).", registry=registry
        )
        self.batch_size = Histogram(
            "citytally_ingest_batch_messages",
            "Messages per database transaction.",
            buckets=(1, 10, 100, 500, 1000, 2000, 5000, 10000, 20000),
            registry=registry,
        )
        self.queue_depth = Gauge(
            "citytally_ingest_queue_depth", "Messages received, not yet stored.", registry=registry
        )
        self.shed = Counter(
            "citytally_ingest_shed_messages",
            "QoS 0 messages dropped as they came, the messages waiting to be stored holding "
            "[ingest] max_queued_bytes already.",
            registry=registry,
        )
        self.connected = Gauge(
            "citytally_ingest_connected", "1 while connected to the broker.", registry=registry
        )
        self.sessions_missing = Counter(
            "citytally_ingest_broker_sessions_missing",
            "Connections where the broker had no session for the hub (it lost it), but a new hub's first.",
            registry=registry,
        )
        self.receipts = Counter(
            "citytally_ingest_receipts", "Receipt messages published to edges.", registry=registry
        )

    def record(self, result: WriteResult) -> None:
        for event_type, stored in result.stored_by_type.items():
            self.hub.events_ingested.labels(type=event_type).inc(stored)
        for kind, dead in result.dead.items():
            self.hub.events_rejected.labels(kind=kind).inc(dead)
        self.duplicates.inc(result.duplicates)


@dataclass(frozen=True, slots=True)
class _Pending:
    session: int
    mid: int
    qos: int
    received: Received


class Ingest:
    """Subscribes to the broker and writes what arrives through an :class:`EventWriter`, in batches.

    ``start()`` returns at once (the connection is made and re-made in the background, with backoff);
    ``stop()`` stores and acknowledges what was already received, then disconnects. Messages that arrive
    while stopping are left unacknowledged: the broker delivers them again to the next hub.
    """

    def __init__(
        self,
        writer: EventWriter,
        mqtt_settings: MqttSettings,
        settings: IngestSettings | None = None,
        *,
        metrics: HubMetrics | None = None,
    ) -> None:
        self.writer = writer
        self.mqtt_settings = mqtt_settings
        self.settings = settings or IngestSettings()
        self.metrics = IngestMetrics(metrics or HubMetrics())
        self.progress = self.metrics.hub.ingest_progress
        #: whether and since when this hub cannot reach its broker (said in the log, shown by /health)
        self.link = LinkWatch("ingest", mqtt_settings, log, mqtt_settings.client_id, HUBS_SHARING_AN_ID)
        self.metrics.hub.broker_link = self.link
        self.progress.stall_after_s = self.settings.stall_after_s
        self.totals = WriteResult()
        self._queue: queue.Queue[_Pending] = queue.Queue()
        self._queued_bytes = 0  # payload bytes in _queue (a flood of QoS 0 messages is shed past the bound)
        self._bytes_lock = threading.Lock()
        self._shed_said = -math.inf
        self._session = 0
        self._accepting = threading.Event()
        self._stopping = threading.Event()
        self._registry_wanted = threading.Event()  # a status came from a camera the registry lacked
        self._connected = threading.Event()
        self._client: mqtt.Client | None = None
        self._workers: list[threading.Thread] = []
        self._taking = threading.Lock()  # one thread forms a batch at a time, numbered in order
        self._taken = 0
        self._turn = threading.Condition()  # batches are acknowledged in the order they were taken
        self._done = 0
        # A database down or full: one line when storing fails, one a minute, one when it works again,
        # however many writers retry how often.
        self._failing = Spell(log)
        self._failing_lock = threading.Lock()

    # -- lifecycle --------------------------------------------------------------------------------------

    def start(self) -> None:
        """Connect (in the background) and start the writer thread."""
        if self._client is not None:
            raise RuntimeError("ingest is already started")
        settings = self.mqtt_settings
        client = build_mqtt_client(settings, settings.client_id, manual_ack=True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        self.link.attach(client)
        # if the hub dies, the broker tells the edges, which then hold back their re-sends
        client.will_set(confirm.presence_topic(settings.topic_prefix), confirm.offline(), qos=1, retain=True)
        self._client = client
        self._accepting.set()
        self._registry_wanted.set()  # the writer thread reads it first, for the edges' statuses
        writers = self.settings.writers if self.writer.engine.dialect.name == "postgresql" else 1
        self._workers = [
            threading.Thread(target=self._run, name=f"citytally-ingest-writer-{i}", daemon=True)
            for i in range(writers)
        ]
        for worker in self._workers:
            worker.start()
        log.info("ingest: connecting to %s:%d as %r", settings.host, settings.port, settings.client_id)
        if settings.protocol == "5":
            client.connect_async(
                settings.host,
                settings.port,
                keepalive=settings.keepalive_s,
                clean_start=False,
                properties=connect_properties(settings),
            )
        else:  # 3.1.1: the persistent session was asked for with clean_session=False
            client.connect_async(settings.host, settings.port, keepalive=settings.keepalive_s)
        client.loop_start()

    def wait_connected(self, timeout: float) -> bool:
        """Block until subscribed to the broker (or ``timeout`` seconds); true if connected."""
        return self._connected.wait(timeout)

    def stop(self, timeout: float = 30.0) -> None:
        """Store and acknowledge what has arrived, then disconnect. Safe to call twice."""
        self._accepting.clear()
        self._stopping.set()
        deadline = time.monotonic() + timeout
        for worker in self._workers:
            worker.join(max(deadline - time.monotonic(), 0))
        self._workers = []
        if self._client is not None:
            if self._connected.is_set():  # a clean disconnect sends no will: say it ourselves
                gone = self._client.publish(
                    confirm.presence_topic(self.mqtt_settings.topic_prefix), confirm.offline(), 1, retain=True
                )
                gone.wait_for_publish(2.0)
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None
        self._connected.clear()
        self.metrics.connected.set(0)

    # -- paho callbacks (network thread) ----------------------------------------------------------------

    def _on_connect(
        self, client: mqtt.Client, _userdata: Any, flags: Any, reason: ReasonCode, _properties: Any
    ) -> None:
        if reason.is_failure:
            log.warning("ingest: broker refused the connection: %s", reason)
            return
        self._session += 1
        prefix = self.mqtt_settings.topic_prefix
        client.subscribe([(subscription_topic(prefix), 1), (status_subscription(prefix), 0)])
        present = bool(getattr(flags, "session_present", False))
        where = f"{self.mqtt_settings.host}:{self.mqtt_settings.port}"
        history = self._session_history(where)
        if present:
            self.metrics.hub.broker_session = "present"
            log.info("ingest: connected to %s (session present: True)", where)
            return
        if history == "first":
            self.metrics.hub.broker_session = "new"
            log.info(
                "ingest: connected to %s for the first time: the broker keeps this hub's queue from now on",
                where,
            )
            return
        self.metrics.hub.broker_session = "missing"
        self.metrics.sessions_missing.inc()
        lost = (
            "the broker lost the hub's session (restarted without saving it, or the session expired) and "
            "dropped what was published meanwhile: edges re-send every event the hub has not confirmed"
        )
        if history == "known":
            log.error(
                "ingest: connected to %s with session present: False: the broker holds no queue for this "
                "hub, which had one there: %s",
                where,
                lost,
            )
        else:
            log.warning(
                "ingest: connected to %s with session present: False: the broker holds no queue for this "
                "hub, and none with it is on record (a new broker, or the first connection since sessions "
                "are recorded). If it had one, %s",
                where,
                lost,
            )

    def _session_history(self, broker: str) -> str:
        """This hub's (its client id's) record of sessions with ``broker``: ``known`` (it had one),
        ``first`` (none, and the store never took an event in: a new hub) or ``unrecorded``; the session
        is recorded from now on. On a database failure ``unknown`` (a connection without a session is then
        reported as a possible loss)."""
        client_id = self.mqtt_settings.client_id
        sessions, events = schema.broker_sessions, schema.events
        known = sa.select(sessions.c.broker).where(
            sessions.c.broker == broker, sessions.c.client_id == client_id
        )
        try:
            with self.writer.engine.begin() as conn:
                if conn.execute(known).first() is not None:
                    return "known"
                conn.execute(
                    sessions.insert().values(
                        broker=broker, client_id=client_id, first_connected_at=datetime.now(UTC)
                    )
                )
                empty = conn.execute(sa.select(events.c.id).limit(1)).first() is None
                return "first" if empty else "unrecorded"
        except SQLAlchemyError as exc:
            log.warning(
                "ingest: could not read or record the broker session in the store (%s)", type(exc).__name__
            )
            return "unknown"

    def _on_subscribe(
        self, client: mqtt.Client, _userdata: Any, _mid: int, reasons: list[ReasonCode], _properties: Any
    ) -> None:
        # Only now does the broker route events to this hub: "connected" means subscribed.
        topic = subscription_topic(self.mqtt_settings.topic_prefix)
        if reasons[0].is_failure:
            log.error("ingest: the broker refused the subscription to %s: %s", topic, reasons[0])
            return
        if len(reasons) > 1 and reasons[1].is_failure:  # events still flow; only the edge gauges stay empty
            log.warning("ingest: the broker refused the edge status subscription: %s", reasons[1])
        self._connected.set()
        self.metrics.connected.set(1)
        self.link.connected()
        log.info("ingest: subscribed to %s", topic)
        presence = confirm.presence_topic(self.mqtt_settings.topic_prefix)
        client.publish(presence, confirm.online(datetime.now(UTC)), qos=1, retain=True)

    def _on_disconnect(
        self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason: ReasonCode, _properties: Any
    ) -> None:
        self._connected.clear()
        self.metrics.connected.set(0)
        taken = self.link.lost(reason)  # another hub with this client id: said there
        if not self._stopping.is_set() and not taken:
            log.warning("ingest: lost the broker (%s); reconnecting with backoff", reason)

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        if message.topic.endswith("/status"):
            self._on_status(message)
            return
        if not self._accepting.is_set():
            return  # not acknowledged: the broker redelivers it to the next session
        size = len(message.payload)
        with self._bytes_lock:
            # QoS 0 is sent at most once: past the bound it is dropped here, not held without end. QoS 1 is
            # bounded by the broker (receive_maximum unacknowledged), and resent if the hub stops.
            shed = message.qos == 0 and self._queued_bytes + size > self.settings.max_queued_bytes
            if not shed:
                self._queued_bytes += size
        if shed:
            self.metrics.shed.inc()
            if time.monotonic() - self._shed_said >= 60:
                self._shed_said = time.monotonic()
                log.warning(
                    "ingest: dropping QoS 0 messages (%s, ...): those waiting to be stored hold %d MiB "
                    "([ingest] max_queued_bytes); edges publish at QoS 1, so this is not an edge's",
                    message.topic,
                    self.settings.max_queued_bytes // (1024 * 1024),
                )
            return
        received = Received(message.topic, bytes(message.payload), datetime.now(UTC))
        self.progress.received()
        self._queue.put(_Pending(self._session, message.mid, message.qos, received))

    def _on_status(self, message: mqtt.MQTTMessage) -> None:
        """An edge's outbox status (QoS 0, nothing to acknowledge): into the per-camera gauges."""
        if not message.payload:
            return  # a retained status being cleared
        camera = camera_of_status_topic(message.topic, self.mqtt_settings.topic_prefix)
        try:
            if camera is None:
                raise ValueError(f"topic {message.topic!r} is not <prefix>/<site>/<camera>/status")
            status = OutboxStatus.model_validate_json(message.payload)
            registered = self.writer.camera_registered(*camera)
            if not registered:
                # Only registered cameras get gauges: statuses for made-up names would add label sets (and
                # memory, and /metrics lines) without end. The writer thread reads the registry again, so a
                # camera registered since is shown from its next status (edges send one every 10 s).
                self._registry_wanted.set()
                if registered is None:
                    log.debug("ingest: a status from %s/%s waits for the registry to be read", *camera)
                    return
                raise ValueError(f"camera {camera[0]}/{camera[1]} is not in the registry")
        except ValueError as exc:  # pydantic's ValidationError is a ValueError
            self.metrics.hub.edge_status_invalid.inc()
            log.debug("ingest: ignored a status message on %s: %s", message.topic, exc)
            return
        hub = self.metrics.hub
        hub.edge_outbox_depth.labels(*camera).set(status.outbox_depth)
        hub.edge_outbox_oldest.labels(*camera).set(status.oldest_pending_s)
        hub.edge_outbox_held.labels(*camera).set(status.held_in_memory)
        hub.edge_outbox_dropped.labels(*camera).set(status.dropped)
        hub.edge_status_time.labels(*camera).set(status.at.timestamp())

    # -- the writer thread ------------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            if self._registry_wanted.is_set():
                self._registry_wanted.clear()
                try:
                    self.writer.read_registry()
                except StoreError as exc:
                    log.warning("ingest: %s (for an edge's status; read again at the next one)", exc)
            with self._taking:
                batch = self._next_batch()
                number = self._taken
                self._taken += len(batch) > 0
            if not batch:
                if self._stopping.is_set():
                    return
                continue
            stored = self._store(batch)
            with self._turn:
                self._turn.wait_for(lambda: self._done == number)  # noqa: B023 - evaluated right here
                if stored:
                    self._acknowledge(batch)
                    self.progress.handled(len(batch))
                self._done += 1
                self._turn.notify_all()
            if not stored:
                return  # stopping while the database is down: left unacknowledged, redelivered later

    def _next_batch(self) -> list[_Pending]:
        try:
            batch = [self._queue.get(timeout=0.2)]
        except queue.Empty:
            return []
        deadline = time.monotonic() + self.settings.batch_wait_ms / 1000
        size = len(batch[0].received.payload)
        while len(batch) < self.settings.batch_max and size < BATCH_BYTES:
            try:
                batch.append(self._queue.get_nowait())
                size += len(batch[-1].received.payload)
                continue
            except queue.Empty:
                pass
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._stopping.is_set():
                break
            try:
                batch.append(self._queue.get(timeout=remaining))
                size += len(batch[-1].received.payload)
            except queue.Empty:
                break
        with self._bytes_lock:
            self._queued_bytes -= sum(len(pending.received.payload) for pending in batch)
        return batch

    def _store(self, batch: list[_Pending]) -> bool:
        pause = 0.5
        while True:
            try:
                result = self._write([pending.received for pending in batch])
            except StoreError as exc:
                with self._failing_lock:
                    self._failing.failed(
                        "ingest: %s; retrying (nothing acknowledged, %d messages waiting)",
                        exc, self.progress.waiting, level=logging.WARNING,
                    )  # fmt: skip
            else:
                with self._failing_lock:
                    self._failing.ended("ingest: the store takes batches again")
                self.metrics.record(result)
                self.metrics.batch_size.observe(len(batch))
                self.metrics.queue_depth.set(self._queue.qsize())
                with self._turn:
                    self.totals.add(result)
                return True
            self.metrics.store_errors.inc()
            if self._stopping.wait(pause):
                return False
            pause = min(pause * 2, self.settings.retry_max_s)

    def _write(self, messages: list[Received]) -> WriteResult:
        """Write a batch; if that raises anything but a database failure (a bug: the writer dead-letters
        what it cannot judge), write the messages one by one and dead-letter each one that fails alone."""
        try:
            return self.writer.write_messages(messages)
        except StoreError:
            raise
        except Exception:  # noqa: BLE001 - one message must never stop ingest
            log.exception("ingest: writing a batch of %d raised; writing them one by one", len(messages))
        result = WriteResult()
        for message in messages:
            try:
                result.add(self.writer.write_messages([message]))
            except StoreError:
                raise  # what was written alone is stored; its redelivery counts as a duplicate
            except Exception as exc:  # noqa: BLE001
                reason = f"writing it raised {exc.__class__.__name__}: {(str(exc).splitlines() or [''])[0]}"
                result.add(self.writer.write_dead_letter(message, "unreadable", reason))
        return result

    def _acknowledge(self, batch: list[_Pending]) -> None:
        client = self._client
        if client is None:
            return
        for pending in batch:
            # A message from an earlier connection is redelivered on this one; acking it here could hit
            # another message's id, so leave it: it is stored, the redelivery counts as a duplicate.
            if pending.qos > 0 and pending.session == self._session:
                client.ack(pending.mid, pending.qos)
        # Committed: confirm every event of the batch to its edge (stored, duplicate or dead-lettered alike).
        messages = ((pending.received.topic, pending.received.payload) for pending in batch)
        for topic, receipt in confirm.receipts_for(messages):
            client.publish(topic, receipt, qos=1)
            self.metrics.receipts.inc()
