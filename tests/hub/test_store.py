"""The store: migrations match the tables, writes are idempotent, roll-ups equal the sums of the facts."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine

from citytally.events import new_event_id, parse_event
from citytally.hub.store import (
    HEAD_REVISION,
    EventWriter,
    Received,
    current_revision,
    migrate,
    schema,
)

pytestmark = pytest.mark.integration

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
            "details": {"seconds": 95},
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


def test_migration_builds_exactly_the_declared_tables(store_engine: Engine) -> None:
    assert current_revision(store_engine) == HEAD_REVISION
    migrate(store_engine)  # twice is harmless
    with store_engine.connect() as connection:
        # Other areas' tables (access, audit) live in later revisions and their own metadata.
        mine = set(schema.metadata.tables)
        context = MigrationContext.configure(connection, opts={"include_object": _ours(mine)})
        diff = compare_metadata(context, schema.metadata)
    assert diff == []


def test_writes_every_kind_of_event_into_facts(
    store_engine: Engine, make_registry: Callable[..., Any]
) -> None:
    make_registry(store_engine)
    bodies = [line_count(), *other_events()]
    result = EventWriter(store_engine).write_messages([message(body) for body in bodies])
    assert (result.stored, result.duplicates, dict(result.dead)) == (5, 0, {})
    expected = {
        schema.events: 5,
        schema.line_counts: 3,
        schema.speeds: 1,
        schema.zone_occupancy: 2,
        schema.turning_movements: 1,
        schema.incidents: 1,
    }
    assert {table: count(store_engine, table) for table in expected} == expected
    with store_engine.connect() as connection:
        movement = connection.execute(sa.select(schema.turning_movements)).one()
        stored = connection.execute(sa.select(schema.events.c.body, schema.events.c.start)).first()
        incident = connection.execute(sa.select(schema.incidents)).one()
    assert movement.count == 5
    assert stored is not None and stored.start.tzinfo is not None
    assert incident.acknowledged_at is None and incident.details == {"seconds": 95}
    assert str(parse_event(stored.body).id) in {body["id"] for body in bodies}
