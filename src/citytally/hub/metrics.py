"""The hub's Prometheus metrics: one registry, shared by ingest and the API, served at ``/metrics``.

Create one :class:`HubMetrics` in the wiring point (the ``hub`` command) and hand it to ingest and to
:func:`citytally.hub.api.create_app`. Counters that ingest updates live here too, so ``/metrics`` shows
everything from one registry. Gauges that describe the database (lag, dead letters) are read when
Prometheus scrapes, by :class:`StoreCollector`, so they are right even when ingest runs in another process.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["HubMetrics", "StoreCollector", "ingest_lag_seconds", "dead_letter_count"]

log = logging.getLogger(__name__)


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
            "API request duration, by route template.",
            ["route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=self.registry,
        )
        self.audit_failures = Counter(
            "citytally_audit_write_failures",
            "Audit entries that could not be written (the request itself was answered).",
            registry=self.registry,
        )
        # Per camera, from the status messages edges publish (citytally.hub.status).
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
        self.retention_deleted = Counter(
            "citytally_retention_deleted_rows",
            "Rows deleted by retention, by data class.",
            ["data_class"],
            registry=self.registry,
        )

    def watch_store(self, engine: sa.Engine) -> None:
        """Export the database-derived gauges (ingest lag, dead letters) at scrape time; once is enough."""
        if not self._watching:
            self.registry.register(StoreCollector(engine))
            self._watching = True


def ingest_lag_seconds(engine: sa.Engine, now: datetime | None = None) -> float | None:
    """Seconds since the newest stored event was received, or ``None`` when nothing has arrived yet."""
    from citytally.hub.store.schema import events

    with engine.connect() as conn:
        newest = conn.execute(sa.select(sa.func.max(events.c.received_at))).scalar()
    if newest is None:
        return None
    newest = newest.replace(tzinfo=UTC) if newest.tzinfo is None else newest
    return max(0.0, float(((now or datetime.now(UTC)) - newest).total_seconds()))


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
