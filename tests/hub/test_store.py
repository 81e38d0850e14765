"""The store: migrations match the tables, writes are idempotent, roll-ups equal the sums of the facts."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine

from citytally.errors import ConfigError
from citytally.events import LineCountEvent, event_to_json, new_event_id, parse_event
from citytally.hub.store import (
    HEAD_REVISION,
    EventWriter,
    Received,
    create_store_engine,
    current_revision,
    head_revisions,
    migrate,
    schema,
)
from citytally.hub.store.writer import bucket_start
from citytally.redaction import redact_url
from hub.conftest import event_stream, make_camera

T0 = datetime(2026, 11, 23, 7, 45, tzinfo=UTC)


def line_count(start: datetime = T0, camera: str = "cam-1", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "v": 1,
        "id": str(new_event_id()),
        "site": "plaza",
        "camera": camera,
        "start": start.isoformat(),
        "end": (start + timedelta(minutes=5)).isoformat(),
        "type": "line_count",
        "line": "north",
        "counts": {"inbound": {"person": 3, "car": 1}, "outbound": {"car": 2}},
    }
    body.update(overrides)
    return body


def other_events(start: datetime = T0) -> list[dict[str, Any]]:
    common = {"v": 1, "site": "plaza", "camera": "cam-1", "start": start.isoformat()}
    common["end"] = (start + timedelta(minutes=5)).isoformat()
    return [
        common
        | {
            "id": str(new_event_id()),
            "type": "speed",
            "line": "north",
            "speeds": {"inbound": {"car": {"n": 4, "mean_kmh": 30.0, "p85_kmh": 41.0}}},
        },
        common
        | {
            "id": str(new_event_id()),
            "type": "zone_occupancy",
            "zone": "west",
            "mean": {"person": 1.5},
            "peak": {"person": 4, "car": 1},
            "dwell": {"person": {"n": 2, "mean_s": 10.0, "max_s": 14.0}},
        },
        common
        | {
            "id": str(new_event_id()),
            "type": "turning_movement",
            "movements": [
                {"from_zone": "west", "to_zone": "east", "class": "car", "count": 3},
                {"from_zone": "west", "to_zone": "east", "class": "car", "count": 2},
            ],
        },
        common
        | {
            "id": str(new_event_id()),
            "type": "incident",
            "incident": "stopped_vehicle",
            "zone": "west",
            "severity": "warning",
            "details": {"stopped_s": 95},
        },
    ]


def message(body: dict[str, Any] | bytes, topic: str | None = None) -> Received:
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    if topic is None:
        topic = "citytally/plaza/cam-1/events"
    return Received(topic, payload, datetime.now(UTC))


def count(engine: Engine, table: sa.Table) -> int:
    with engine.connect() as connection:
        return int(connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def _ours(mine: set[str]) -> Callable[..., bool]:
    def include(obj: Any, _name: Any, kind: str, _reflected: bool, _compare_to: Any) -> bool:
        table = obj if kind == "table" else getattr(obj, "table", None)
        return table is None or table.name in mine

    return include


@pytest.mark.integration
def test_migration_builds_exactly_the_declared_tables(store_engine: Engine) -> None:
    assert current_revision(store_engine) == HEAD_REVISION
    assert head_revisions() == [HEAD_REVISION]
    migrate(store_engine)  # twice is harmless
    with store_engine.connect() as connection:
        # Other areas' tables (access, audit) live in later revisions and their own metadata.
        mine = set(schema.metadata.tables)
        context = MigrationContext.configure(connection, opts={"include_object": _ours(mine)})
        diff = compare_metadata(context, schema.metadata)
    assert diff == []


@pytest.mark.integration
def test_writes_every_kind_of_event_into_its_tables(
    store_engine: Engine, make_registry: Callable[..., Any]
) -> None:
    make_registry(store_engine)
    bodies = [line_count(), *other_events()]
    result = EventWriter(store_engine).write_messages([message(body) for body in bodies])
    assert (result.stored, result.duplicates, dict(result.dead)) == (5, 0, {})
    periods = len(schema.ROLLUP_PERIODS)
    expected = {
        schema.events: 5,
        schema.speeds: 1,
        schema.incidents: 1,
        schema.line_count_rollups: 3 * periods,  # inbound person, inbound car, outbound car
        schema.speed_rollups: 1 * periods,
        schema.occupancy_rollups: 2 * periods,  # person, car
        schema.movement_rollups: 1 * periods,  # the two west→east car movements add up
        schema.incident_rollups: 1 * periods,
    }
    assert {table: count(store_engine, table) for table in expected} == expected
    daily = {"period": "1d"}
    with store_engine.connect() as connection:
        movement = connection.execute(sa.select(schema.movement_rollups).filter_by(**daily)).one()
        occupancy = connection.execute(
            sa.select(schema.occupancy_rollups).filter_by(**daily, **{"class": "person"})
        ).one()
        stored = connection.execute(sa.select(schema.events.c.body, schema.events.c.start)).first()
        incident = connection.execute(sa.select(schema.incidents)).one()
    assert movement.count == 5
    assert (occupancy.samples, occupancy.mean_sum, occupancy.peak_max) == (1, 1.5, 4)
    assert stored is not None and stored.start.tzinfo is not None
    assert incident.acknowledged_at is None and incident.details == {"stopped_s": 95}
    assert str(parse_event(stored.body).id) in {body["id"] for body in bodies}


def rows(engine: Engine, query: sa.Select[Any]) -> list[Any]:
    with engine.connect() as connection:
        return list(connection.execute(query).all())


@pytest.mark.integration
def test_redelivered_events_are_stored_and_counted_once(
    store_engine: Engine, make_registry: Callable[..., Any]
) -> None:
    make_registry(store_engine)
    messages = [message(line_count(T0 + timedelta(minutes=5 * i))) for i in range(10)]
    writer = EventWriter(store_engine)
    first = writer.write_messages(messages[:6] + messages[:2])  # two repeats inside one batch
    again = writer.write_messages(messages)  # at-least-once: the whole stream comes again
    assert (first.stored, first.duplicates) == (6, 2)
    assert (again.stored, again.duplicates, dict(again.dead)) == (4, 6, {})
    assert count(store_engine, schema.events) == 10
    table = schema.line_count_rollups
    for period in schema.ROLLUP_PERIODS:
        total = rows(store_engine, sa.select(sa.func.sum(table.c.count)).where(table.c.period == period))
        assert total[0][0] == 10 * (3 + 1 + 2), period


def _independent_bucket(moment: datetime, period: str) -> datetime:
    if period == "1d":
        return moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "1h":
        return moment.replace(minute=0, second=0, microsecond=0)
    return moment.replace(minute=moment.minute - moment.minute % 15, second=0, microsecond=0)


@pytest.mark.integration
def test_rollups_equal_the_sums_of_the_events(
    store_engine: Engine, make_registry: Callable[..., Any]
) -> None:
    make_registry(store_engine, ("plaza", "cam-1"), ("plaza", "cam-2"), ("plaza", "cam-3"))
    events = event_stream(400, cameras=3)
    payloads = [
        Received(f"citytally/{e.site}/{e.camera}/events", event_to_json(e).encode(), T0) for e in events
    ]
    writer = EventWriter(store_engine)
    for start in range(0, len(payloads), 70):  # uneven batches, one overlapping repeat each
        writer.write_messages(payloads[max(0, start - 5) : start + 70])
    stored_events = [parse_event(r.body) for r in rows(store_engine, sa.select(schema.events.c.body))]
    assert sorted(e.id for e in stored_events) == sorted(e.id for e in events)
    for period in schema.ROLLUP_PERIODS:
        expected: dict[tuple[Any, ...], int] = {}
        for event in stored_events:
            assert isinstance(event, LineCountEvent)
            for direction, by_class in event.counts.items():
                for cls, n in by_class.items():
                    key = (event.camera, _independent_bucket(event.start, period), event.line, direction, cls)
                    expected[key] = expected.get(key, 0) + n
        table = schema.line_count_rollups
        stored = {
            (r.camera, r.bucket, r.line, r.direction, r[6]): r.count
            for r in rows(store_engine, sa.select(table).where(table.c.period == period))
        }
        assert stored == expected, period


@pytest.mark.parametrize(
    ("topic", "payload", "kind", "reason"),
    [
        ("elsewhere/plaza/cam-1/events", line_count(), "topic", "is not citytally/<site>/<camera>/events"),
        ("citytally/plaza/cam-1/status", line_count(), "topic", "is not citytally"),
        ("citytally/plaza/cam-1/events", b"\xff{not json", "not_json", "not JSON"),
        ("citytally/plaza/cam-1/events", line_count(v=2), "schema", "unsupported schema version"),
        ("citytally/plaza/cam-1/events", line_count(counts={"in": {"face": 1}}), "schema", "counts"),
        ("citytally/plaza/cam-1/events", b"[]", "schema", "empty array"),
        ("citytally/plaza/cam-2/events", line_count(), "topic_mismatch", "published on"),
        ("citytally/plaza/cam-9/events", line_count(camera="cam-9"), "unknown_camera", "not in the registry"),
    ],
)
@pytest.mark.integration
def test_bad_messages_are_dead_lettered_and_the_rest_stored(
    sqlite_engine: Engine,
    make_registry: Callable[..., Any],
    topic: str,
    payload: dict[str, Any] | bytes,
    kind: str,
    reason: str,
) -> None:
    make_registry(sqlite_engine)
    bad = message(payload, topic)
    good = [message(line_count()), message(line_count())]
    result = EventWriter(sqlite_engine).write_messages([good[0], bad, good[1]])
    assert (result.stored, dict(result.dead)) == (2, {kind: 1})
    [letter] = rows(sqlite_engine, sa.select(schema.dead_letters))
    assert (letter.topic, letter.payload, letter.kind) == (bad.topic, bad.payload, kind)
    assert reason in letter.reason and "\n" not in letter.reason


@pytest.mark.integration
def test_an_array_payload_is_judged_event_by_event(
    store_engine: Engine, make_registry: Callable[..., Any]
) -> None:
    make_registry(store_engine)
    bodies = [line_count(), line_count(counts={"in": {"car": -1}}), line_count()]
    result = EventWriter(store_engine).write_messages([message(json.dumps(bodies).encode())])
    assert (result.stored, dict(result.dead)) == (2, {"schema": 1})
    [letter] = rows(store_engine, sa.select(schema.dead_letters))
    assert letter.reason.startswith("[1] ") and json.loads(letter.payload) == bodies[1]


@pytest.mark.integration
def test_a_reused_id_with_other_content_is_dead_lettered(
    store_engine: Engine, make_registry: Callable[..., Any]
) -> None:
    make_registry(store_engine)
    original = line_count()
    impostor = original | {"counts": {"inbound": {"car": 99}}}
    writer = EventWriter(store_engine)
    writer.write_messages([message(original)])
    result = writer.write_messages([message(original), message(impostor)])
    assert (result.stored, result.duplicates, dict(result.dead)) == (0, 2, {"id_conflict": 1})
    table = schema.line_count_rollups
    outbound = sa.select(table.c.count).where(table.c.period == "1d", table.c.direction == "outbound")
    assert rows(store_engine, outbound) == [(2,)]


@pytest.mark.integration
def test_a_repeat_of_an_event_stored_under_an_older_schema_is_judged_not_raised(
    store_engine: Engine, make_registry: Callable[..., Any]
) -> None:
    """A stored body is read back to judge a repeated id. One stored before a detail name left the list
    ("seconds", before the closed list) no longer parses: that raised out of the batch, every retry."""
    make_registry(store_engine)
    incident = next(body for body in other_events() if body["type"] == "incident")
    writer = EventWriter(store_engine)
    assert writer.write_messages([message(incident)]).stored == 1
    older = incident | {"details": {"seconds": 95}}
    with store_engine.begin() as connection:  # as a store written before the list holds it
        connection.execute(
            schema.events.update().where(schema.events.c.id == uuid.UUID(incident["id"])).values(body=older)
        )
    result = writer.write_messages([message(incident)])
    assert (result.stored, result.duplicates, dict(result.dead)) == (0, 1, {"id_conflict": 1})


@pytest.mark.integration
def test_registry_keeps_metadata_and_leaves_the_video_source_out(
    store_engine: Engine, make_registry: Callable[..., Any]
) -> None:
    from citytally.hub.store import sync_registry

    make_registry(store_engine)
    sync_registry(store_engine, [make_camera(lines=[])], {"plaza": {"name": "Plaza junction"}})
    [camera] = rows(store_engine, sa.select(schema.cameras))
    assert (camera.lat, camera.legal_basis, camera.retention_days) == (52.52, "public task", 365)
    assert "uri" not in camera.config["source"] and "secret" not in json.dumps(camera.config)
    assert count(store_engine, schema.lines) == 0 and count(store_engine, schema.zones) == 2
    assert rows(store_engine, sa.select(schema.sites.c.name)) == [("Plaza junction",)]


@pytest.mark.integration
def test_a_camera_registered_or_its_register_facts_changed_is_audited(store_engine: Engine) -> None:
    """The public register's facts about a camera (its purpose, legal basis, retention, ...) change in its
    config file: the hub's start that takes them in says what they were and became, in the audit log."""
    from citytally.hub.audit import read_entries, verify_chain
    from citytally.hub.store import sync_registry

    def camera_entries() -> list[dict[str, Any]]:
        return [dict(r.entry.detail) for r in read_entries(store_engine) if r.entry.kind == "camera"]

    camera = make_camera()
    sync_registry(store_engine, [camera])
    [registered] = camera_entries()
    assert registered["action"] == "registered" and (registered["site"], registered["camera"]) == (
        "plaza",
        "cam-1",
    )
    assert registered["facts"]["purpose"] == "count road users for traffic planning"
    sync_registry(store_engine, [camera])  # a restart with the same config: nothing to say
    assert len(camera_entries()) == 1
    facts = camera.metadata.model_copy(update={"purpose": "enforcement", "retention_days": 7})
    sync_registry(store_engine, [camera.model_copy(update={"metadata": facts}), make_camera(camera="cam-2")])
    changed, new = camera_entries()[1:]
    assert changed == {
        "action": "changed",
        "site": "plaza",
        "camera": "cam-1",
        "changed": {
            "purpose": {"from": "count road users for traffic planning", "to": "enforcement"},
            "retention_days": {"from": 365, "to": 7},
        },
    }
    assert (new["action"], new["camera"]) == ("registered", "cam-2")
    assert verify_chain(store_engine).ok


@pytest.mark.integration
def test_in_process_events_use_the_same_rules(
    store_engine: Engine, make_registry: Callable[..., Any]
) -> None:
    make_registry(store_engine)
    events = event_stream(4, cameras=1) + event_stream(1, cameras=1, site="nowhere")
    writer = EventWriter(store_engine)
    result = writer.write_events(events)
    again = writer.write_events(events[:2])
    assert (result.stored, dict(result.dead), again.duplicates) == (4, {"unknown_camera": 1}, 2)


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("mysql://u@h/db", "the hub stores to sqlite"),
        ("not a url", "is not a URL"),
        ("postgresql+psycopg://user:hunter2@h/db", None),
    ],
)
def test_engine_urls(url: str, error: str | None) -> None:
    if error is None:
        engine = create_store_engine(url)  # no connection is made yet
        assert "hunter2" not in redact_url(engine.url) and "***" in redact_url(engine.url)
        return
    with pytest.raises(ConfigError, match=error):
        create_store_engine(url)


@pytest.mark.parametrize(
    ("moment", "period", "expected"),
    [
        (datetime(2026, 11, 23, 7, 44, 59, tzinfo=UTC), "15m", datetime(2026, 11, 23, 7, 30, tzinfo=UTC)),
        (datetime(2026, 11, 23, 7, 45, tzinfo=UTC), "15m", datetime(2026, 11, 23, 7, 45, tzinfo=UTC)),
        (datetime(2026, 11, 23, 7, 45, tzinfo=UTC), "1h", datetime(2026, 11, 23, 7, 0, tzinfo=UTC)),
        (
            datetime(2026, 11, 23, 0, 30, tzinfo=timezone(timedelta(hours=2))),
            "1d",
            datetime(2026, 11, 22, tzinfo=UTC),
        ),
    ],
)
def test_buckets_are_utc_aligned(moment: datetime, period: str, expected: datetime) -> None:
    assert bucket_start(moment, period) == expected
