"""Retention on real stores: exactly the expired rows go (boundary rows stay), every deletion is audited,
the audit chain still verifies, and the periodic job runs."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from citytally.events import IncidentEvent, LineCountEvent
from citytally.hub import retention
from citytally.hub.access import record_login_failure
from citytally.hub.access_tables import login_failures_table
from citytally.hub.audit import AuditEntry, append_entry, read_entries, verify_chain
from citytally.hub.config import RetentionSettings
from citytally.hub.dashboard.incidents import list_incidents, summarise
from citytally.hub.queries import view_change_spans
from citytally.hub.retention import RetentionJob, run_retention
from citytally.hub.store import EventWriter, schema
from hub.conftest import incident_events

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
TICK = timedelta(microseconds=1)
NOTHING = RetentionSettings(
    raw_events_days=None, rollups_days=None, dead_letters_days=None, audit_log_days=None
)


def count(engine: Engine, table: sa.Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def line_count(start: datetime, camera: str = "cam-1") -> LineCountEvent:
    return LineCountEvent(
        id=uuid.uuid4(),
        site="plaza",
        camera=camera,
        start=start,
        end=start + timedelta(seconds=60),
        line="north",
        counts={"inbound": {"car": 1}},
    )


@pytest.fixture
def registry(store_engine: Engine, make_registry: Callable[..., Any]) -> Engine:
    return register_cameras(store_engine, make_registry)


def register_cameras(store_engine: Engine, make_registry: Callable[..., Any]) -> Engine:
    make_registry(store_engine, ("plaza", "cam-1"), ("plaza", "cam-2"))
    with store_engine.begin() as conn:  # cam-2 keeps its raw data only 2 days
        conn.execute(
            schema.cameras.update().where(schema.cameras.c.camera == "cam-1").values(retention_days=None)
        )
        conn.execute(
            schema.cameras.update().where(schema.cameras.c.camera == "cam-2").values(retention_days=2)
        )
    return store_engine


def test_raw_events_expire_at_the_cutoff_exactly(registry: Engine) -> None:
    cutoff = NOW - 7 * DAY
    starts = [cutoff - timedelta(seconds=1), cutoff - TICK, cutoff, cutoff + TICK, NOW - DAY]
    EventWriter(registry).write_events([line_count(s) for s in starts])
    pruned = run_retention(registry, NOTHING.model_copy(update={"raw_events_days": 7}), now=NOW)
    assert [(p.data_class, p.deleted) for p in pruned if p.data_class == "raw_events"] == [
        ("raw_events", 2),  # 2 line-count events (no fact rows: their queries read roll-ups)
        ("raw_events", 0),  # cam-2's own limit: nothing of cam-2 stored
    ]
    with registry.connect() as conn:
        kept = sorted(conn.execute(sa.select(schema.events.c.start)).scalars())
    assert kept == starts[2:]
    assert count(registry, schema.line_count_rollups) > 0  # roll-ups have their own limit (none here)


def test_a_camera_with_shorter_retention_is_pruned_to_it(registry: Engine) -> None:
    events = [line_count(NOW - 3 * DAY, cam) for cam in ("cam-1", "cam-2")]
    EventWriter(registry).write_events(events + [line_count(NOW - DAY, "cam-2")])
    pruned = run_retention(registry, NOTHING.model_copy(update={"raw_events_days": 30}), now=NOW)
    assert [(p.camera, p.deleted) for p in pruned if p.data_class == "raw_events"] == [
        (None, 0),
        ("plaza/cam-2", 1),
    ]
    with registry.connect() as conn:
        kept = sorted(conn.execute(sa.select(schema.events.c.camera, schema.events.c.start)).all())
    assert kept == [("cam-1", NOW - 3 * DAY), ("cam-2", NOW - DAY)]


def test_rollups_dead_letters_and_login_failures_expire_by_their_own_clock(registry: Engine) -> None:
    EventWriter(registry).write_events([line_count(NOW - 10 * DAY), line_count(NOW - DAY)])
    with registry.begin() as conn:
        conn.execute(
            schema.dead_letters.insert(),
            [
                {"received_at": t, "topic": "t", "payload": b"x", "kind": "schema", "reason": "bad"}
                for t in (NOW - 30 * DAY - TICK, NOW - 30 * DAY, NOW)
            ],
        )
    for at in (NOW - DAY - TICK, NOW - DAY, NOW):
        record_login_failure(registry, "10.0.0.1", now=at)
    rollups_before = count(registry, schema.line_count_rollups)
    settings = NOTHING.model_copy(update={"rollups_days": 5, "dead_letters_days": 30})
    pruned = {p.data_class: p.deleted for p in run_retention(registry, settings, now=NOW)}
    # raw events: only cam-2 has a limit (its own, 2 days), and nothing of cam-2 is stored
    assert pruned == {
        "raw_events": 0,
        "rollups": 3,
        "dead_letters": 1,
        "login_failures": 1,
    }  # 15m, 1h and 1d buckets of day -10
    assert count(registry, schema.line_count_rollups) == rollups_before - 3
    assert count(registry, schema.dead_letters) == 2
    assert count(registry, login_failures_table) == 2
    assert count(registry, schema.events) == 2  # raw events have no limit here


def incident(kind: str, start: datetime, camera: str = "cam-1") -> list[IncidentEvent]:
    """An incident that began at ``start`` and cleared 10 minutes later: its onset and clearance."""
    phases = [("onset", start + timedelta(minutes=1)), ("cleared", start + timedelta(minutes=10))]
    return incident_events("plaza", camera, kind, start, phases)


def test_a_cameras_view_changes_stay_as_long_as_the_rollups_they_mark(registry: Engine) -> None:
    # A view change says which buckets of the roll-ups may be wrong (the camera was knocked, turned,
    # covered or out of focus): deleted with the raw events after 30 days, it would leave a year of kept
    # counts unmarked. It stays as long as the roll-ups; who acknowledged it goes at the raw limit, as for
    # other incidents. Before, it went with the raw events.
    old = NOW - 40 * DAY
    events = [
        *incident("view_changed", old),
        *incident("stopped_vehicle", old),
        *incident("view_changed", NOW - 5 * DAY, "cam-2"),  # cam-2 keeps its raw data 2 days
    ]
    assert EventWriter(registry).write_events(events).stored == len(events)
    i = schema.incidents
    with registry.begin() as conn:
        conn.execute(i.update().values(acknowledged_at=old + DAY, acknowledged_by="5840f33c5ffe"))
    settings = NOTHING.model_copy(update={"raw_events_days": 30, "rollups_days": 3650})
    pruned = run_retention(registry, settings, now=NOW)
    assert [(p.data_class, p.camera, p.deleted) for p in pruned if p.data_class != "login_failures"] == [
        (
            "raw_events",
            None,
            6,
        ),  # the stopped vehicle's 2 events and 2 incidents rows, the view change's 2 events
        ("raw_events", "plaza/cam-2", 2),  # the events of cam-2's view change
        ("rollups", None, 0),
    ]
    with registry.connect() as conn:
        kept = conn.execute(sa.select(i.c.camera, i.c.incident, i.c.acknowledged_by).order_by(i.c.camera))
        assert sorted(set(kept.all())) == [("cam-1", "view_changed", None), ("cam-2", "view_changed", None)]
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.events)).scalar_one() == 0
        # which row is each incident's latest goes with its rows, and stays with the view changes' (their
        # clearances)
        latest = schema.incident_latest
        noted = conn.execute(sa.select(latest.c.incident, latest.c.event_id).order_by(latest.c.camera)).all()
        assert [r.incident for r in noted] == ["view_changed", "view_changed"]
        assert {r.event_id for r in noted} == {e.id for e in events if e.phase == "cleared"} - {events[3].id}
    # still acknowledged (when, not who): before, the badge counted them again once retention had run
    assert summarise(registry).open == 0
    kept_acks = {(i.camera, i.acknowledged_at, i.acknowledged_by) for i in list_incidents(registry, True, 50)}
    assert kept_acks == {("cam-1", old + DAY, None), ("cam-2", old + DAY, None)}
    spans = view_change_spans(registry, NOW - 365 * DAY, NOW, NOW, "plaza", "cam-1")
    assert [(s.start, s.end) for s in spans[("plaza", "cam-1")]] == [(old, old + timedelta(minutes=10))]
    entries = [dict(e.entry.detail) for e in read_entries(registry, limit=100) if e.entry.kind == "retention"]
    assert [d.get("acknowledgements_cleared") for d in entries if d["data_class"] == "raw_events"] == [2, 2]
    # past the roll-ups' limit they go too
    pruned = run_retention(registry, NOTHING.model_copy(update={"rollups_days": 4}), now=NOW)
    # the three incidents' roll-up rows (15 min, hour, day each) and the two view changes' incident rows
    rollups = [(p.data_class, p.deleted) for p in pruned if p.data_class == "rollups"]
    assert rollups == [("rollups", 3 * 3 + 4)]
    assert count(registry, i) == count(registry, schema.incident_latest) == 0


def test_every_rollup_and_fact_table_has_a_retention_limit() -> None:
    # The public register states the roll-ups' retention: a roll-up table kept for ever would make it false.
    tables = schema.metadata.tables.values()
    assert {t for t in tables if t.name.endswith("_rollups")} == set(retention._ROLLUP_TABLES)
    assert {t for t in tables if "event_id" in t.c} | {schema.events} == {e.table for e in retention._RAW}
    # the view changes, and which of their rows is latest, stay as long as the roll-ups they mark
    kept = {e.table for e in retention._ROLLUPS if e.only is not None}
    assert kept == {schema.incidents, schema.incident_latest}


def test_every_deletion_is_audited_and_the_chain_survives_pruning(
    store_engine: Engine, make_registry: Callable[..., Any]
) -> None:
    for i in range(6):  # three entries older than the 30-day audit limit, three newer
        append_entry(
            store_engine, AuditEntry(kind="request", actor="t"), now=NOW - timedelta(days=35 - 2 * i)
        )
    registry = register_cameras(store_engine, make_registry)  # its audit entries come after, as in a hub
    EventWriter(registry).write_events([line_count(NOW - 100 * DAY)])
    settings = RetentionSettings(
        raw_events_days=90, rollups_days=3650, dead_letters_days=30, audit_log_days=30
    )
    pruned = run_retention(registry, settings, now=NOW)
    assert pruned[-1].data_class == "audit_log" and pruned[-1].deleted == 3
    entries = read_entries(registry, limit=100)
    retention = [dict(e.entry.detail) for e in entries if e.entry.kind in ("retention", "audit_anchor")]
    assert [(d["data_class"], d["deleted"]) for d in retention] == [
        ("raw_events", 1),
        ("raw_events", 0),
        ("rollups", 0),
        ("dead_letters", 0),
        ("login_failures", 0),
        ("audit_log", 3),
    ]
    assert retention[0]["cutoff"] == (NOW - 90 * DAY).isoformat() and retention[1]["camera"] == "plaza/cam-2"
    assert verify_chain(registry).ok


def test_the_periodic_job_runs_and_stops(registry: Engine) -> None:
    job = RetentionJob(registry, RetentionSettings(), every=timedelta(seconds=0.2))
    job.start()
    deadline = time.monotonic() + 30
    while job.runs < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    job.stop()
    assert job.runs >= 2
    assert any(e.entry.kind == "retention" for e in read_entries(registry, limit=100))


@pytest.mark.parametrize("batch_rows", [1, 3, 10_000])
def test_a_large_expiry_goes_in_bounded_batches_and_is_audited_once(
    registry: Engine, batch_rows: int
) -> None:
    cutoff = NOW - 7 * DAY
    expired = [line_count(cutoff - timedelta(minutes=m)) for m in range(1, 12)]
    kept = [line_count(cutoff), line_count(NOW - DAY)]
    EventWriter(registry).write_events(expired + kept)
    settings = NOTHING.model_copy(update={"raw_events_days": 7, "rollups_days": 7})
    pruned = run_retention(registry, settings, now=NOW, batch_rows=batch_rows)
    deleted = {(p.data_class, p.camera): p.deleted for p in pruned}
    assert deleted[("raw_events", None)] == len(expired)
    assert deleted[("rollups", None)] > 0
    with registry.connect() as conn:
        starts = sorted(conn.execute(sa.select(schema.events.c.start)).scalars())
        oldest_bucket = conn.execute(sa.select(sa.func.min(schema.line_count_rollups.c.bucket))).scalar()
    assert starts == [cutoff, NOW - DAY]
    assert oldest_bucket == cutoff  # its day bucket started before the cutoff: gone too
    audited = [e.entry.detail for e in read_entries(registry, limit=100) if e.entry.kind == "retention"]
    assert sum(1 for d in audited if d["data_class"] == "raw_events" and "camera" not in d) == 1
