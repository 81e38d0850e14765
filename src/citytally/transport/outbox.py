"""The edge outbox: events wait in a durable local queue until the hub has confirmed them.

:meth:`Outbox.publish` commits the event to a SQLite file (WAL, ``synchronous=FULL``: fsync'd) before it
returns, so a crash, an edge restart, a broker outage or a hub restart loses nothing. A sender thread hands
queued events to the broker in order (QoS 1). With ``confirm="hub"`` (the default) an event leaves the file
only when the hub's receipt names it (:mod:`citytally.transport.confirm`): the broker's PUBACK is not
enough, because a broker that crashes before saving, or loses the hub's session, has acknowledged events
that no hub will ever get. Events not confirmed ``resend_after_s`` after they were sent are sent again
(while the hub is online; backing off while nothing is confirmed). ``confirm="broker"`` deletes at PUBACK,
for a hub that sends no receipts. While the link is down paho reconnects with backoff (1 s doubling to
30 s, logged) and resends what was in flight; events keep queuing on disk meanwhile. An event may be sent
twice, never lost; the hub stores each event id once.

An edge's disk can fill (a long outage's backlog, another program's logs) or fail (an SD card gone
read-only). The camera's analysis does not stop for it: events the file refuses are held in memory, in
order, up to ``hold_bytes``, and written as soon as the file takes them again (tried every second, and on
every publish). One line says so when it starts, one a minute while it lasts and one when it ends. Past
``hold_bytes`` the oldest held events are dropped, counted and logged; what is held when the edge stops
and still cannot be written is logged as lost. Each camera's status tells the hub how many of its events are
held and how many were dropped, the last one after any loss at the stop. Deletions the file refuses are
kept and tried again every second, while what the file holds goes on going out (sending only reads it): a
backlog that filled the disk reaches the hub all the same.

A backlog drains fast: consecutive queued events of one camera travel as one MQTT message holding a JSON
array of up to ``max_events_per_message`` events and ``max_message_bytes`` bytes (the hub accepts an object
or an array, and refuses a message over its ``[ingest] max_message_bytes``, 4 MiB by default, as a whole:
large events, such as conflicts with many cells, must not add up past it). An event longer than
``max_message_bytes`` goes alone. Order per camera is kept. The gauge ``citytally_outbox_depth`` says how
many events wait; every ``status_every_s`` seconds while connected the outbox also tells the hub, one
retained status message per camera (see :mod:`citytally.transport.status`), so the hub's ``/metrics``
shows every edge's queue.
"""

from __future__ import annotations

import fcntl
import logging
import os
import queue
import sqlite3
import threading
import time
import uuid
import weakref
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Literal

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode
from prometheus_client import CollectorRegistry, Counter, Gauge

from citytally.errors import Spell, StoreError, TransportError
from citytally.events import Event, event_to_json, event_topic
from citytally.salvage import salvage, sqlite_damage
from citytally.transport.confirm import (
    HubPresence,
    Receipt,
    ResendPlanner,
    ack_topic,
    event_ids_in,
    presence_topic,
)
from citytally.transport.mqtt import LinkWatch, MqttSettings, build_mqtt_client
from citytally.transport.status import OutboxStatus, status_topic

__all__ = ["Outbox"]

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    enqueued_at REAL NOT NULL,
    event_id TEXT
)
"""
_INDEX = "CREATE INDEX IF NOT EXISTS outbox_event_id ON outbox (event_id)"
_REFUSED_RETRY_S = 5.0
_SQLITE_MAGIC = b"SQLite format 3\x00"  # the first bytes of every SQLite file
#: How long a closing outbox waits for a broker it cannot reach before it leaves the rest in its file.
_OFFLINE_GIVE_UP_S = 3.0
#: A message's length at most (but for one event longer than it): a quarter of the hub's default limit.
MAX_MESSAGE_BYTES = 1024 * 1024
_HOLD_BYTES = 64 * 1024 * 1024  # ~200,000 events of ~340 bytes: two weeks of a camera at ten a minute
_WRITE_RETRY_S = 1.0

#: One event as the outbox file stores it: topic, payload, enqueued_at (epoch s), event id.
_Row = tuple[str, bytes, float, str]
_Sent = tuple[int, str, bytes]  # seq, topic, payload


class Outbox:
    """A durable, ordered, at-least-once MQTT publisher (a :class:`citytally.transport.publisher.Publisher`).

    Nothing runs until :meth:`start`; events published before that wait on disk. :meth:`close` waits up to
    ``drain_timeout_s`` for the queue to empty, then stops; whatever is left is sent by the next start.
    """

    def __init__(
        self,
        path: Path,
        mqtt_settings: MqttSettings,
        *,
        client_id: str | None = None,
        window: int = 2000,
        max_events_per_message: int = 200,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
        drain_timeout_s: float = 10.0,
        registry: CollectorRegistry | None = None,
        status_every_s: float = 10.0,
        confirm: Literal["hub", "broker"] = "hub",
        resend_after_s: float = 30.0,
        hold_bytes: int = _HOLD_BYTES,
    ) -> None:
        if window < 1 or max_events_per_message < 1:
            raise ValueError("window and max_events_per_message must be at least 1")
        if max_message_bytes < 1:
            raise ValueError("max_message_bytes must be at least 1")
        if hold_bytes < 0:
            raise ValueError("hold_bytes must be 0 (hold nothing) or more")
        if confirm not in ("hub", "broker"):
            raise ValueError(f"confirm must be 'hub' or 'broker', not {confirm!r}")
        if status_every_s < 0:
            raise ValueError("status_every_s must be 0 (no status messages) or more")
        self.path = path
        self.mqtt_settings = mqtt_settings
        self.client_id = client_id or f"citytally-edge-{uuid.uuid4().hex[:12]}"
        self.window = window
        self.max_events_per_message = max_events_per_message
        self.max_message_bytes = max_message_bytes
        self.drain_timeout_s = drain_timeout_s
        self.status_every_s = status_every_s
        self.confirm = confirm
        self.hold_bytes = hold_bytes
        self._status_due = 0.0
        self._planner = ResendPlanner(resend_after_s)
        registry = registry or CollectorRegistry()
        self._depth_gauge = Gauge(
            "citytally_outbox_depth", "Events waiting in the outbox.", registry=registry
        )
        self._sent = Counter(
            "citytally_outbox_sent_events", "Events the broker acknowledged.", registry=registry
        )
        self._confirmed_events = Counter(
            "citytally_outbox_confirmed_events", "Events the hub confirmed it stored.", registry=registry
        )
        self._resent = Counter(
            "citytally_outbox_resent_events",
            "Events sent again because the hub had not confirmed them.",
            registry=registry,
        )
        self._held_gauge = Gauge(
            "citytally_outbox_held_events",
            "Events held in memory because the outbox file refused them (disk full, read-only, failing).",
            registry=registry,
        )
        self._dropped = Counter(
            "citytally_outbox_dropped_events",
            "Events lost: the outbox file refused them and the memory hold was full, or the edge stopped.",
            registry=registry,
        )
        # events the file refused, oldest first, waiting to be written (guarded by _lock, as the file)
        self._held: deque[_Row] = deque()
        self._held_bytes = 0
        self._lost = 0
        self._lost_by_topic: dict[str, int] = {}  # per camera (events topic), for its status
        self._unwritable = Spell(log)  # on while the file refuses the events
        self._dropping = Spell(log)  # on while the hold is full too
        self._write_due = 0.0
        self._deletes_due = 0.0  # while the file refuses deletions (a full disk), when to try them again
        # deletions the file refused, tried again (sender thread)
        self._undeleted_seqs: list[int] = []
        self._undeleted_ids: list[str] = []
        self._trouble = Spell(log)  # on while the file fails the sender thread
        shared = "two edges of one camera (one camera config on two machines?) or two clients given that id"
        self._link = LinkWatch("outbox", mqtt_settings, log, self.client_id, shared)
        self._lock = threading.Lock()  # guards the SQLite connection
        had_lock = path.with_name(path.name + ".lock").exists()
        owner = _take_outbox(path)  # one edge per outbox: held until close (or the process ends)
        try:
            self._db = self._open(path)
        except BaseException:
            if not had_lock:  # a file named by mistake: nothing left beside it
                Path(owner.name).unlink(missing_ok=True)
            owner.close()
            raise
        # an outbox dropped unclosed lets go of it as of its SQLite connection, when collected
        self._let_go = weakref.finalize(self, owner.close)
        self._depth = int(self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
        self._topics = {row[0] for row in self._db.execute("SELECT DISTINCT topic FROM outbox")}
        self._depth_gauge.set(self._depth)
        self._acks: queue.SimpleQueue[tuple[int, str | None]] = queue.SimpleQueue()  # None: accepted
        self._receipts: queue.SimpleQueue[list[str]] = queue.SimpleQueue()
        self._presence: queue.SimpleQueue[HubPresence] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._connected = threading.Event()
        self._closed = False
        self._client: mqtt.Client | None = None
        self._sender: threading.Thread | None = None
        # sender-thread state: message id → the rows it carries; the last row handed to paho
        self._in_flight: dict[int, list[int]] = {}
        self._in_flight_topics: dict[int, str] = {}  # message id → its topic, to name it if refused
        self._last_handed = 0
        self._refused: deque[tuple[float, list[int]]] = deque()
        self._subscribed: set[str] = set()  # ack topics subscribed on connection number _subscribed_on
        self._subscribed_on = 0
        self._connections = 0  # counts successful connects (paho's thread)
        self._resend_cursor = 0  # a re-send sweep goes over rows (cursor, upto]
        self._resend_upto = 0

    @staticmethod
    def _open(path: Path) -> sqlite3.Connection:
        """Open (or create) the file, in the folder :func:`_take_outbox` made; a damaged one is set aside,
        kept whole, and a new one started."""
        try:
            return _connect(path)
        except sqlite3.Error as exc:
            if not _damaged(path, exc):
                raise StoreError(f"{path}: cannot open the outbox: {exc}") from exc
            problem = exc
        try:
            aside = _set_aside(path)
        except OSError as exc:
            raise StoreError(f"{path}: the outbox is damaged ({problem}); cannot move it: {exc}") from exc
        log.error(
            "outbox: %s is damaged (%s); set aside as %s, whose readable events `citytally salvage %s"
            " <new file>` saves, and a new outbox started: the camera goes on",
            path,
            problem,
            aside.name,
            aside.name,
        )
        try:
            return _connect(path)
        except sqlite3.Error as exc:
            raise StoreError(f"{path}: cannot open the outbox: {exc}") from exc

    # -- Publisher ----------------------------------------------------------------------------------------

    def publish(self, event: Event) -> None:
        """Queue one event durably (fsync'd; in memory while the file refuses it) and return.

        It is sent in the background.
        """
        self.publish_many([event])

    def publish_many(self, events: Iterable[Event]) -> None:
        """Queue several events in one durable transaction (held in memory while the file refuses them)."""
        now = time.time()
        prefix = self.mqtt_settings.topic_prefix
        rows: list[_Row] = [
            (event_topic(e.site, e.camera, prefix), event_to_json(e).encode(), now, str(e.id)) for e in events
        ]
        if not rows:
            return
        with self._lock:
            if self._closed:
                raise TransportError(f"{self.path}: the outbox is closed")
            self._held.extend(rows)  # behind anything held before: the order per camera is kept
            self._held_bytes += sum(len(row[1]) for row in rows)
            self._depth += len(rows)
            self._topics.update(row[0] for row in rows)
            self._write_held()
            self._bound_held()
            self._depth_gauge.set(self._depth)
            self._held_gauge.set(len(self._held))
        self._wake.set()

    def _write_held(self, again: bool = True) -> bool:
        """Write the held events to the file in one transaction (caller holds ``_lock``); true if written."""
        if not self._held:
            return True
        rows = list(self._held)
        try:
            with self._transaction():
                self._db.executemany(
                    "INSERT INTO outbox (topic, payload, enqueued_at, event_id) VALUES (?, ?, ?, ?)", rows
                )
        except sqlite3.Error as exc:
            if again and self._recover(exc):
                return self._write_held(again=False)
            self._write_refused(exc)
            return False
        self._held.clear()
        self._held_bytes = 0
        saved = len(rows)
        self._unwritable.ended("outbox: %s takes events again; %d held in memory are saved", self.path, saved)
        self._dropping.ended("outbox: %s: no more held events dropped (%d in all)", self.path, self._lost)
        return True

    def _write_refused(self, exc: sqlite3.Error) -> None:
        self._write_due = time.monotonic() + _WRITE_RETRY_S
        self._unwritable.failed(
            "outbox: cannot write to %s (%s); %d events (%.1f MiB) held in memory, up to %.1f MiB,"
            " until it takes them again",
            self.path,
            exc,
            len(self._held),
            self._held_bytes / 2**20,
            self.hold_bytes / 2**20,
        )

    def _bound_held(self) -> None:
        """Drop the oldest held events past ``hold_bytes`` (caller holds ``_lock``)."""
        gone: list[_Row] = []
        while self._held and self._held_bytes > self.hold_bytes:
            gone.append(self._held.popleft())
            self._held_bytes -= len(gone[-1][1])
        if gone:
            self._depth -= len(gone)
            self._lost += len(gone)
            self._count_lost(gone)
            self._dropped.inc(len(gone))
            self._dropping.failed(
                "outbox: %s refuses writes and the memory hold (%.1f MiB) is full: the oldest held events"
                " are dropped, %d so far",
                self.path,
                self.hold_bytes / 2**20,
                self._lost,
            )

    def _count_lost(self, rows: Iterable[_Row]) -> None:
        for row in rows:
            self._lost_by_topic[row[0]] = self._lost_by_topic.get(row[0], 0) + 1

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """One write transaction on the file (caller holds ``_lock``), rolled back if anything fails."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                with suppress(sqlite3.Error):  # SQLite may have rolled back already (a full disk)
                    self._db.execute("ROLLBACK")
            raise

    def _recover(self, problem: BaseException) -> bool:
        """The file turned out damaged while the edge ran (caller holds ``_lock``): set it aside whole and go
        on with a new file at the same path holding every event that still reads, each with its sequence
        number (so what is in flight stays known); true if so. Anything else is not this method's."""
        if self._closed or not _is_damage(problem):
            return False
        in_file = self._depth - len(self._held)
        try:
            aside = _set_aside(self.path)
        except OSError as exc:
            log.error("outbox: %s is damaged (%s) and cannot be moved aside: %s", self.path, problem, exc)
            return False
        with suppress(sqlite3.Error):
            self._db.close()
        try:
            salvage(aside, self.path)
        except (StoreError, sqlite3.Error) as exc:  # nothing reads (its schema, say): a new, empty outbox
            log.error("outbox: nothing of %s could be read (%s)", aside.name, exc)
            for part in ("", ".partial"):
                self.path.with_name(self.path.name + part).unlink(missing_ok=True)
        try:
            self._db = _connect(self.path)
        except sqlite3.Error as exc:  # the disk refuses the new file too
            log.error(
                "outbox: cannot start a new outbox at %s (%s): new events are held in memory; restart the"
                " edge once the disk takes writes",
                self.path,
                exc,
            )
            return False
        # new events are numbered after every one handed to the broker, read or not
        floor = max([self._last_handed, self._resend_upto, *self._undeleted_seqs, 0])
        with self._transaction():
            if not self._db.execute(
                "UPDATE sqlite_sequence SET seq = MAX(seq, ?) WHERE name = 'outbox'", (floor,)
            ).rowcount:
                self._db.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('outbox', ?)", (floor,))
        saved = int(self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
        lost = max(in_file - saved, 0)
        self._depth = saved + len(self._held)
        self._depth_gauge.set(self._depth)
        self._lost += lost
        self._dropped.inc(lost)
        if len(self._topics) == 1:  # one camera's outbox: its status says what it lost
            (topic,) = self._topics
            self._lost_by_topic[topic] = self._lost_by_topic.get(topic, 0) + lost
        log.error(
            "outbox: %s turned out damaged while the edge ran (%s); set aside as %s, a new outbox started"
            " with the %d events that still read, %d lost on the damaged pages (any of those sent already"
            " may have reached the hub): the camera goes on",
            self.path,
            problem,
            aside.name,
            saved,
            lost,
        )
        return True

    def close(self) -> None:
        """Wait up to ``drain_timeout_s`` for the queue to drain, then stop and close the file.

        The wait ends early once the broker has been out of reach for :data:`_OFFLINE_GIVE_UP_S`: what is
        queued stays in the file for the next run either way, and a service manager's stop (``docker stop``
        gives 10 s) should not wait on a broker that is down."""
        if self._sender is not None:
            self._drain_before_close()
        self._stopping.set()
        self._wake.set()
        sending, self._sender = self._sender, None
        if sending is not None:
            sending.join(30)
        with self._lock:
            if not self._closed and self._held and not self._write_held():
                self._lost += len(self._held)
                self._dropped.inc(len(self._held))
                self._count_lost(self._held)
                log.error(
                    "outbox: %d events held in memory are lost: %s still refuses writes",
                    len(self._held),
                    self.path,
                )
                self._depth -= len(self._held)
                self._held.clear()
                self._held_bytes = 0
        if sending is not None and self._connected.is_set() and not self._closed:
            # the retained status outlives this process: its last word, with what was lost at the stop
            try:
                self._report_status(now_due=True)
            except sqlite3.Error as exc:
                log.warning("outbox: no last status sent: %s cannot be read (%s)", self.path, exc)
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()
                self._let_go()

    # -- status -------------------------------------------------------------------------------------------

    @property
    def depth(self) -> int:
        """Events queued and not yet confirmed (by the hub; by the broker with ``confirm="broker"``).

        Events held in memory while the file refuses them are counted: they wait too.
        """
        return self._depth

    @property
    def held(self) -> int:
        """Events held in memory because the file refused them."""
        return len(self._held)

    @property
    def lost(self) -> int:
        """Events dropped since this outbox opened: the file refused them and the hold was full, or the
        outbox closed while the file still refused them."""
        return self._lost

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def _drain_before_close(self) -> None:
        if self._depth == 0:
            return
        log.info(
            "outbox: waiting up to %.0f s for %d events to be confirmed before closing",
            self.drain_timeout_s,
            self._depth,
        )
        deadline = time.monotonic() + self.drain_timeout_s
        offline_since: float | None = None
        path = self.path
        try:
            while self._depth > 0 and time.monotonic() < deadline:
                if self._connected.is_set():
                    offline_since = None
                elif offline_since is None:
                    offline_since = time.monotonic()
                elif time.monotonic() - offline_since >= _OFFLINE_GIVE_UP_S:
                    log.warning(
                        "outbox: the broker is out of reach; %d events stay in %s for the next run",
                        self._depth,
                        self.path,
                    )
                    return
                time.sleep(0.02)
        except KeyboardInterrupt:  # Ctrl-C (again) or a stop while waiting: stop waiting, close properly
            log.warning("outbox: stopped waiting; %d events stay in %s for the next run", self._depth, path)

    def wait_drained(self, timeout: float) -> bool:
        """Block until every queued event is acknowledged (or ``timeout`` seconds); true if drained."""
        deadline = time.monotonic() + timeout
        while self._depth > 0:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return True

    # -- sending --------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Connect to the broker (in the background, with backoff) and start draining the queue."""
        if self._sender is not None:
            raise RuntimeError("the outbox is already started")
        settings = self.mqtt_settings
        client = build_mqtt_client(settings, self.client_id, persistent=False)
        client.max_inflight_messages_set(self.window)
        client.max_queued_messages_set(0)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        self._link.attach(client)
        self._client = client
        log.info(
            "outbox: %d events queued in %s; connecting to %s:%d",
            self._depth,
            self.path,
            settings.host,
            settings.port,
        )
        if settings.protocol == "5":
            client.connect_async(
                settings.host, settings.port, keepalive=settings.keepalive_s, clean_start=True
            )
        else:
            client.connect_async(settings.host, settings.port, keepalive=settings.keepalive_s)
        client.loop_start()
        self._sender = threading.Thread(target=self._run, name="citytally-outbox", daemon=True)
        self._sender.start()

    def _on_connect(self, _c: mqtt.Client, _u: Any, _flags: Any, reason: ReasonCode, _p: Any) -> None:
        if reason.is_failure:
            log.warning("outbox: broker refused the connection: %s", reason)
            return
        log.info("outbox: connected to %s:%d", self.mqtt_settings.host, self.mqtt_settings.port)
        self._link.connected()
        if self.confirm == "hub":
            _c.subscribe(presence_topic(self.mqtt_settings.topic_prefix), qos=1)
        self._connections += 1  # a clean session: the sender subscribes to the ack topics again
        self._connected.set()
        self._wake.set()

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _flags: Any, reason: ReasonCode, _p: Any) -> None:
        self._connected.clear()
        taken = self._link.lost(reason)  # another edge with this client id: said there
        if not self._stopping.is_set() and not taken:
            log.warning(
                "outbox: lost the broker (%s); %d events wait; reconnecting with backoff", reason, self._depth
            )

    def _on_publish(self, _c: mqtt.Client, _u: Any, mid: int, reason: ReasonCode, _p: Any) -> None:
        # Runs in paho's thread holding paho's locks: only hand the fact over, never block here.
        self._acks.put((mid, str(reason) if reason.is_failure else None))
        self._wake.set()

    def _on_message(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        # paho's thread: parse and hand over, never touch the file here
        try:
            if message.topic.endswith("/ack"):
                self._receipts.put(Receipt.model_validate_json(message.payload).ids)
            elif message.payload:
                self._presence.put(HubPresence.model_validate_json(message.payload))
        except ValueError as exc:  # pydantic's ValidationError is a ValueError
            log.warning("outbox: ignored an unreadable message on %s: %s", message.topic, exc)
            return
        self._wake.set()

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(0.2)
            self._wake.clear()
            refused: Exception | None = None
            try:
                self._save_held()
                self._settle_acks()
                self._settle_receipts()
            except (sqlite3.Error, StoreError) as exc:
                if self._recovered(exc):
                    continue
                refused = exc  # the deletions are kept and tried again in a second
                self._deletes_due = time.monotonic() + 1.0
            try:
                # Sending and the status only read the file: a full disk that refuses the deletions above
                # (they need room too) must not stop what the file holds from going out, nor the hub from
                # hearing how many events are held in memory.
                if self._connected.is_set():
                    self._subscribe_receipts()
                    self._report_status()
                    self._hand_over()
            except (sqlite3.Error, StoreError) as exc:  # the file cannot be read: wait before trying again
                if self._recovered(exc):
                    continue
                self._trouble.failed("outbox: %s: %s; retrying every second", self.path, exc)
                self._stopping.wait(1.0)
                continue
            if refused is not None:
                self._trouble.failed("outbox: %s: %s; retrying every second", self.path, refused)
                continue
            self._trouble.ended("outbox: %s works again", self.path)

    def _recovered(self, exc: BaseException) -> bool:
        """:meth:`_recover` from the sender thread."""
        if not _is_damage(exc):
            return False
        with self._lock:
            return self._recover(exc)

    def _save_held(self) -> None:
        """Try again to write what the file refused (every ``_WRITE_RETRY_S`` while it refuses)."""
        with self._lock:
            if self._held and not self._closed and time.monotonic() >= self._write_due:
                self._write_held()
                self._held_gauge.set(len(self._held))

    def _settle_acks(self) -> None:
        while True:
            try:
                mid, refusal = self._acks.get_nowait()
            except queue.Empty:
                break
            seqs = self._in_flight.pop(mid, None)
            topic = self._in_flight_topics.pop(mid, "?")
            if seqs is None:
                continue
            if refusal is None and self.confirm == "broker":
                self._undeleted_seqs.extend(seqs)
            elif refusal is None:
                self._sent.inc(len(seqs))  # with the broker; deleted when the hub confirms
            else:
                hint = ""
                if refusal == "Not authorized":
                    user = self.mqtt_settings.username or "no user"
                    hint = f"; logged in as {user}: under examples/mosquitto.acl an edge logs in as its site"
                log.error(
                    "outbox: the broker refused %d events on %s (%s%s; kept, retrying in %.0f s)",
                    len(seqs),
                    topic,
                    refusal,
                    hint,
                    _REFUSED_RETRY_S,
                )
                self._refused.append((time.monotonic() + _REFUSED_RETRY_S, seqs))
        done = self._undeleted_seqs  # kept until the file has taken the deletion
        if not done or time.monotonic() < self._deletes_due:
            return
        with self._lock, self._transaction():
            # rows lost with a damaged file (see _recover) are gone already, and counted there
            gone = self._db.executemany("DELETE FROM outbox WHERE seq = ?", [(seq,) for seq in done]).rowcount
        self._undeleted_seqs = []
        with self._lock:
            self._depth -= gone
            self._depth_gauge.set(self._depth)
        self._sent.inc(len(done))

    def _settle_receipts(self) -> None:
        """Delete the events the hub's receipts name."""
        while True:
            try:
                presence = self._presence.get_nowait()
            except queue.Empty:
                break
            self._planner.presence(time.monotonic(), presence)
        ids = self._undeleted_ids  # kept until the file has taken the deletion
        fresh = False
        while True:
            try:
                ids.extend(self._receipts.get_nowait())
                fresh = True
            except queue.Empty:
                break
        if fresh:
            self._planner.confirmed()
        if not ids or time.monotonic() < self._deletes_due:
            return
        gone = 0
        with self._lock:
            with self._transaction():
                for start in range(0, len(ids), 500):
                    chunk = ids[start : start + 500]
                    marks = ",".join("?" * len(chunk))
                    gone += self._db.execute(
                        f"DELETE FROM outbox WHERE event_id IN ({marks})", chunk
                    ).rowcount
            self._undeleted_ids = []
            self._depth -= gone
            self._depth_gauge.set(self._depth)
        self._confirmed_events.inc(gone)

    def _subscribe_receipts(self) -> None:
        client = self._client
        if client is None or self.confirm != "hub":
            return
        connection = self._connections
        if connection != self._subscribed_on:  # a new connection (clean session): none are subscribed
            self._subscribed, self._subscribed_on = set(), connection
        with self._lock:
            wanted = {ack_topic(topic) for topic in self._topics} - self._subscribed
        for topic in sorted(wanted):
            # a subscription that did not go out (the link just dropped) is tried again next time
            if client.subscribe(topic, qos=1)[0] == mqtt.MQTT_ERR_SUCCESS:
                self._subscribed.add(topic)

    def _report_status(self, now_due: bool = False) -> None:
        """Every ``status_every_s``: each camera's queue depth, oldest wait, events held in memory and
        events dropped, retained, at QoS 0."""
        client = self._client
        if client is None or not self.status_every_s:
            return
        if time.monotonic() < self._status_due and not now_due:
            return
        self._status_due = time.monotonic() + self.status_every_s
        with self._lock:
            rows = self._db.execute(
                "SELECT topic, COUNT(*), MIN(enqueued_at) FROM outbox GROUP BY topic"
            ).fetchall()
            held = [(row[0], row[2]) for row in self._held]
            topics = set(self._topics)
            lost = dict(self._lost_by_topic)
        waiting = {topic: (int(n), float(oldest)) for topic, n, oldest in rows}
        in_memory: dict[str, int] = {}
        for topic, enqueued_at in held:  # held in memory: waiting as well, after what is on disk
            n, oldest = waiting.get(topic, (0, enqueued_at))
            waiting[topic] = (n + 1, min(oldest, enqueued_at))
            in_memory[topic] = in_memory.get(topic, 0) + 1
        now = time.time()
        for topic in sorted(topics):
            depth, oldest = waiting.get(topic, (0, now))
            status = OutboxStatus(
                outbox_depth=depth,
                oldest_pending_s=max(now - oldest, 0.0),
                at=datetime.now(UTC),
                held_in_memory=in_memory.get(topic, 0),
                dropped=lost.get(topic, 0),
            )
            client.publish(status_topic(topic), status.model_dump_json(), qos=0, retain=True)

    def _hand_over(self) -> None:
        client = self._client
        if client is None:
            return
        while self._refused and self._refused[0][0] <= time.monotonic():
            self._send(client, self._refused.popleft()[1])
        room = self.window * self.max_events_per_message - sum(len(s) for s in self._in_flight.values())
        if room <= 0:
            return
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, topic, payload FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
                (self._last_handed, min(room, 20_000)),
            ).fetchall()
        self._send_rows(client, rows)
        if rows:
            self._last_handed = rows[-1][0]
            self._planner.handed(time.monotonic(), self._last_handed)
        if self.confirm == "hub" and len(rows) < room:
            self._resend(client, room - len(rows))

    def _send_rows(self, client: mqtt.Client, rows: list[_Sent]) -> None:
        # Group by camera (topic), keeping each camera's order; cameras need no order between them.
        by_topic: dict[str, list[_Sent]] = {}
        for row in rows:
            by_topic.setdefault(row[1], []).append(row)
        for group in by_topic.values():
            for part in self._messages(group):
                self._send_group(client, part)

    def _messages(self, group: list[_Sent]) -> Iterator[list[_Sent]]:
        """One camera's rows in messages of at most ``max_events_per_message`` events and
        ``max_message_bytes`` bytes (an array's brackets and commas included)."""
        part: list[_Sent] = []
        size = 1
        for row in group:
            grown = size + len(row[2]) + 1
            if part and (len(part) == self.max_events_per_message or grown > self.max_message_bytes):
                yield part
                part, grown = [], 1 + len(row[2]) + 1
            part.append(row)
            size = grown
        if part:
            yield part

    def _resend(self, client: mqtt.Client, room: int) -> None:
        """Continue (or start, when due) a sweep that sends again what the hub has not confirmed."""
        if self._resend_cursor >= self._resend_upto:
            with self._lock:
                oldest = self._db.execute("SELECT MIN(seq) FROM outbox").fetchone()[0]
            upto = self._planner.start_sweep(time.monotonic(), oldest)
            if upto is None:
                return
            with self._lock:
                overdue = self._db.execute("SELECT COUNT(*) FROM outbox WHERE seq <= ?", (upto,)).fetchone()[
                    0
                ]
            log.warning(
                "outbox: the hub has not confirmed %d events %.0f s after they were sent; sending them again",
                overdue,
                self._planner.resend_after_s,
            )
            self._resend_cursor, self._resend_upto = 0, upto
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, topic, payload FROM outbox WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?",
                (self._resend_cursor, self._resend_upto, min(room, 20_000)),
            ).fetchall()
        self._send_rows(client, rows)
        self._resent.inc(len(rows))
        self._resend_cursor = rows[-1][0] if rows else self._resend_upto

    def _send_group(self, client: mqtt.Client, group: list[_Sent]) -> None:
        payload = group[0][2] if len(group) == 1 else b"[" + b",".join(row[2] for row in group) + b"]"
        info = client.publish(group[0][1], payload, qos=1)
        self._in_flight[info.mid] = [row[0] for row in group]
        self._in_flight_topics[info.mid] = group[0][1]

    def _send(self, client: mqtt.Client, seqs: list[int]) -> None:
        marks = ",".join("?" * len(seqs))
        with self._lock:
            rows = self._db.execute(
                f"SELECT seq, topic, payload FROM outbox WHERE seq IN ({marks}) ORDER BY seq", seqs
            ).fetchall()
        if rows:
            payload = rows[0][2] if len(rows) == 1 else b"[" + b",".join(row[2] for row in rows) + b"]"
            info = client.publish(rows[0][1], payload, qos=1)
            self._in_flight[info.mid] = [row[0] for row in rows]
            self._in_flight_topics[info.mid] = rows[0][1]


def _take_outbox(path: Path) -> IO[str]:
    """Lock ``path``'s outbox for this edge (a ``.lock`` file beside it, locked while open): a second edge on
    the same outbox, or on the same camera's config (whose broker client id it shares, so that the two take
    the connection from each other every second), is refused in one line."""
    lock_path = path.with_name(path.name + ".lock")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"{path}: cannot make the outbox's folder: {exc.strerror or exc}") from exc
    try:
        owner = open(lock_path, "a+")  # noqa: SIM115 (held open until the outbox closes)
    except OSError as exc:
        raise StoreError(
            f"{path}: cannot open the outbox's lock {lock_path.name}: {exc.strerror or exc}"
        ) from exc
    try:
        fcntl.flock(owner, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        owner.seek(0)
        holder = owner.read().strip() or "?"
        owner.close()
        raise StoreError(
            f"{path}: the outbox is in use by another edge (pid {holder}): one edge per camera, or give this "
            "one an outbox of its own (--outbox)"
        ) from None
    owner.truncate(0)
    owner.write(str(os.getpid()))
    owner.flush()
    return owner


class _Damaged(sqlite3.DatabaseError):
    """The file opened, but SQLite's own check of it found damage."""


def _connect(path: Path) -> sqlite3.Connection:
    """Connect, bring the table up to date and check the file's structure (closed again if that fails)."""
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        found = [row[0] for row in db.execute("PRAGMA quick_check(3)")]
        if found != ["ok"]:  # one line: "Page 4: btreeInitPage() returns error code 11; …"
            lines = (line for text in found for line in text.splitlines() if not line.startswith("***"))
            raise _Damaged("; ".join(lines))
        db.execute(_SCHEMA)
        columns = {row[1] for row in db.execute("PRAGMA table_info(outbox)")}
        if "event_id" not in columns:  # an outbox file from before hub receipts: name its events
            db.execute("ALTER TABLE outbox ADD COLUMN event_id TEXT")
            rows = db.execute("SELECT seq, payload FROM outbox").fetchall()
            named = [(ids[0], seq) for seq, payload in rows if (ids := event_ids_in(payload))]
            db.executemany("UPDATE outbox SET event_id = ? WHERE seq = ?", named)
        db.execute(_INDEX)
        db.execute("SELECT COUNT(*), COUNT(DISTINCT topic) FROM outbox").fetchone()
    except BaseException:
        db.close()
        raise
    return db


def _is_damage(exc: BaseException) -> bool:
    """Whether SQLite said the file is damaged: a page or the header, or text that no longer decodes."""
    return isinstance(exc, _Damaged) or sqlite_damage(exc) is not None


def _damaged(path: Path, exc: sqlite3.Error) -> bool:
    """Whether ``path`` is an SQLite file gone bad (not another file named by mistake: that is left be)."""
    if not isinstance(exc, _Damaged) and getattr(exc, "sqlite_errorcode", None) not in (
        sqlite3.SQLITE_CORRUPT,
        sqlite3.SQLITE_NOTADB,
    ):
        return False
    try:
        with path.open("rb") as file:
            return file.read(len(_SQLITE_MAGIC)) == _SQLITE_MAGIC
    except OSError:
        return False


def _set_aside(path: Path) -> Path:
    """Rename the file and its WAL and shared-memory files to ``<name>.damaged-<UTC time>``."""
    aside = path.with_name(f"{path.name}.damaged-{datetime.now(UTC):%Y%m%dT%H%M%SZ}")
    for suffix in ("", "-wal", "-shm"):
        part = path.with_name(path.name + suffix)
        if part.exists():
            part.rename(aside.with_name(aside.name + suffix))
    return aside
