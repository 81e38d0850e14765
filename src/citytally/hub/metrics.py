"""The hub's Prometheus metrics: one registry, shared by ingest and the API, served at ``/metrics``.

Create one :class:`HubMetrics` in the wiring point (the ``hub`` command) and hand it to ingest and to
:func:`citytally.hub.web.create_app`. Counters that ingest updates live here too, so ``/metrics`` shows
everything from one registry. Gauges that describe the database (lag, dead letters) are read when
Prometheus scrapes, by :class:`StoreCollector`, so they are right even when ingest runs in another process.
Whether ingest is advancing is known only to the ingest in this process: :class:`IngestProgress`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from citytally.hub.alerts import AlertRelay
    from citytally.transport.mqtt import LinkWatch

__all__ = ["HubMetrics", "IngestProgress", "StoreCollector", "ingest_lag_seconds", "dead_letter_count"]

log = logging.getLogger(__name__)

# No `_created` series beside each counter and histogram (the text format's only use of them is a restart's
# time, which Prometheus' rate() does not need): they doubled the series a scrape stores.
disable_created_metrics()  # type: ignore[no-untyped-call]


class IngestProgress:
    """Whether ingest is advancing: messages waiting (received, not yet stored or dead-lettered) and when
    ingest last finished a batch.

    :meth:`stalled_seconds` is how long messages have waited with no batch finished: 0 while nothing waits,
    so a quiet hub (no traffic) is not "stalled", however old its newest event. A hub whose database hangs,
    or whose ingest retries one batch for ever, shows a number that keeps growing.
    """

    def __init__(self, stall_after_s: float = 60.0) -> None:
        self.stall_after_s = stall_after_s
        self._lock = threading.Lock()
        self._waiting = 0
        self._since = time.monotonic()

    def received(self, count: int = 1) -> None:
        """``count`` messages arrived and wait to be stored."""
        with self._lock:
            if self._waiting == 0:
                self._since = time.monotonic()  # progress is measured from when work arrived
            self._waiting += count

    def handled(self, count: int) -> None:
        """A batch of ``count`` messages was committed (stored, duplicate or dead-lettered)."""
        with self._lock:
            self._waiting = max(self._waiting - count, 0)
            self._since = time.monotonic()

    @property
    def waiting(self) -> int:
        """Messages received and not yet committed."""
        return self._waiting

    def stalled_seconds(self) -> float:
        """Seconds messages have waited without any batch being committed (0 when nothing waits)."""
        with self._lock:
            return time.monotonic() - self._since if self._waiting else 0.0

    def stalled(self) -> bool:
        """True when messages have waited ``stall_after_s`` or longer with no progress."""
        return self.stalled_seconds() >= self.stall_after_s


class HubMetrics:
    """Every metric the hub exports, registered on :attr:`registry` (never on the global default)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self._watching = False
        self.events_ingested = Counter(
            "citytally_events_ingested",
            "Events accepted and stored by ingest, by event type.",
            ["type"],
            registry=self.registry,
        )
        self.events_rejected = Counter(
            "citytally_events_rejected",
            "Messages ingest refused (sent to dead letters), by reason kind.",
            ["kind"],
            registry=self.registry,
        )
        self.api_requests = Counter(
            "citytally_api_requests",
            "API requests answered, by route template and status code.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.api_latency = Histogram(
            "citytally_api_request_seconds",
            "API request duration, by route template (live streams are counted, not timed).",
            ["route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=self.registry,
        )
        self.audit_failures = Counter(
            "citytally_audit_write_failures",
            "Audit entries that could not be written (the request itself was answered).",
            registry=self.registry,
        )
        # Per camera, from the status messages edges publish (citytally.transport.status).
        self.edge_outbox_depth = Gauge(
            "citytally_edge_outbox_depth",
            "Events waiting in a camera's edge outbox, as its latest status message said.",
            ["site", "camera"],
            registry=self.registry,
        )
        self.edge_outbox_oldest = Gauge(
            "citytally_edge_outbox_oldest_seconds",
            "How long the oldest event in a camera's edge outbox had waited, as its latest status said.",
            ["site", "camera"],
            registry=self.registry,
        )
        self.edge_outbox_held = Gauge(
            "citytally_edge_outbox_held_events",
            "Of a camera's queued events, those its edge holds in memory because its outbox file refuses "
            "them (a full or failing disk): lost if the edge stops first. As its latest status said.",
            ["site", "camera"],
            registry=self.registry,
        )
        self.edge_outbox_dropped = Gauge(
            "citytally_edge_outbox_dropped_events",
            "A camera's events its edge dropped since it started (its outbox file refused them and the "
            "memory hold was full, or it stopped holding them): lost. As its latest status said.",
            ["site", "camera"],
            registry=self.registry,
        )
        self.edge_status_time = Gauge(
            "citytally_edge_status_timestamp_seconds",
            "When the edge measured its latest status (Unix time): a stale one means the link is down.",
            ["site", "camera"],
            registry=self.registry,
        )
        self.edge_status_invalid = Counter(
            "citytally_edge_status_invalid",
            "Status messages the hub could not read (ignored).",
            registry=self.registry,
        )
        self.ingest_progress = IngestProgress()
        #: Whether the broker kept the hub's session at the last connection ("present"/"missing"; set by
        #: ingest, shown by /health), None before ingest has connected or when it runs elsewhere.
        self.broker_session: str | None = None
        #: This hub's ingest link to the broker (set by ingest; None when ingest runs elsewhere), and how
        #: long it may be down before /health says the hub is degraded (paho's backoff tops out at 30 s).
        self.broker_link: LinkWatch | None = None
        self.broker_grace_s = 30.0
        Gauge(
            "citytally_ingest_stalled_seconds",
            "Seconds messages have waited with no batch stored (0 while idle or advancing).",
            registry=self.registry,
        ).set_function(self.ingest_progress.stalled_seconds)
        Gauge(
            "citytally_ingest_waiting_messages",
            "Messages received by ingest and not yet stored or dead-lettered.",
            registry=self.registry,
        ).set_function(lambda: float(self.ingest_progress.waiting))
        self.retention_deleted = Counter(
            "citytally_retention_deleted_rows",
            "Rows deleted by retention, by data class.",
            ["data_class"],
            registry=self.registry,
        )

    def watch_alerts(self, relay: AlertRelay) -> None:
        """Export the MQTT alert relay's state: whether this hub relays, and what waits for the broker."""
        self.alerts_published = Counter(
            "citytally_alerts_published",
            "Incident events this hub published on the MQTT alert topic (some again after a restart).",
            registry=self.registry,
        )
        relay.on_published = self.alerts_published.inc
        Gauge(
            "citytally_alerts_relaying",
            "1 while this hub holds the alert relay, 0 while another hub on the store does (or none yet).",
            registry=self.registry,
        ).set_function(lambda: float(relay.holding))
        Gauge(
            "citytally_alerts_unacknowledged",
            "Incident events published on the alert topic that the broker has not acknowledged yet.",
            registry=self.registry,
        ).set_function(lambda: float(relay.unacknowledged))
        Gauge(
            "citytally_alerts_oldest_unacknowledged_seconds",
            "How long the oldest unacknowledged alert has been stored (0 when none waits): a broker away.",
            registry=self.registry,
        ).set_function(relay.oldest_unacknowledged_seconds)

    def watch_store(self, engine: sa.Engine) -> None:
        """Export the database-derived gauges (ingest lag, dead letters) at scrape time, and whether the
        store was found damaged; once is enough."""
        from citytally.hub.store.damage import damage

        if not self._watching:
            self.registry.register(StoreCollector(engine))
            Gauge(
                "citytally_store_damaged",
                "1 once the store has said part of it is damaged (/health's database_problem): recover it.",
                registry=self.registry,
            ).set_function(lambda: float(damage(engine) is not None))
            self._watching = True


def ingest_lag_seconds(engine: sa.Engine, now: datetime | None = None) -> float | None:
    """Seconds since the newest stored event was received, or ``None`` when nothing has arrived yet; by the
    clock that stamps them (the database's on PostgreSQL) unless ``now`` is given."""
    from citytally.hub.store.follow import store_now
    from citytally.hub.store.schema import events

    with engine.connect() as conn:
        newest = conn.execute(sa.select(sa.func.max(events.c.received_at))).scalar()
        now = now or store_now(conn)
    if newest is None:
        return None
    newest = newest.replace(tzinfo=UTC) if newest.tzinfo is None else newest
    return max(0.0, float((now - newest).total_seconds()))


def dead_letter_count(engine: sa.Engine) -> int:
    """How many refused messages are kept in ``dead_letters``."""
    from citytally.hub.store.schema import dead_letters

    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(dead_letters)).scalar_one())


class StoreCollector(Collector):
    """Reads lag and dead-letter depth from the store when scraped; a database error yields no samples."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def describe(self) -> list[Metric]:
        return []  # values come from the database, not known at registration

    def collect(self) -> Iterator[Metric]:
        try:
            lag = ingest_lag_seconds(self._engine)
            dead = dead_letter_count(self._engine)
        except sa.exc.SQLAlchemyError as exc:
            log.warning("metrics: cannot read the store: %s", exc.__class__.__name__)
            return
        lag_metric = GaugeMetricFamily(
            "citytally_ingest_lag_seconds", "Seconds since the newest stored event was received."
        )
        lag_metric.add_metric([], lag if lag is not None else float("nan"))
        yield lag_metric
        yield GaugeMetricFamily(
            "citytally_dead_letters", "Refused messages kept in dead_letters.", value=float(dead)
        )
