"""Counts beyond 32 bits (2³¹ and more) are stored exactly on SQLite and PostgreSQL; beyond 64 bits they are
one dead letter, and the events beside them are stored."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from citytally.events import new_event_id
from citytally.hub.store import EventWriter, Received, schema

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 23, 7, 45, tzinfo=UTC)
TOPIC = "citytally/plaza/cam-1/events"
BIG = 3_000_000_000  # above 2**31 - 1, the largest PostgreSQL integer
HUGE = 2**62


def event(kind: str, n: int) -> dict[str, Any]:
    common = {"v": 1, "id": str(new_event_id()), "site": "plaza", "camera": "cam-1"}
    common |= {"start": T0.isoformat(), "end": (T0 + timedelta(minutes=5)).isoformat(), "type": kind}
    bodies: dict[str, dict[str, Any]] = {
        "line_count": {"line": "north", "counts": {"inbound": {"car": n}}},
        "speed": {
            "line": "north",
            "speeds": {"inbound": {"car": {"n": n, "mean_kmh": 30.0, "p85_kmh": 40.0}}},
        },
        "zone_occupancy": {"zone": "west", "mean": {"car": 1.5}, "peak": {"car": n}},
        "turning_movement": {
            "movements": [{"from_zone": "west", "to_zone": "east", "class": "car", "count": n}]
        },
    }
    return common | bodies[kind]


def message(body: dict[str, Any]) -> Received:
    return Received(TOPIC, json.dumps(body).encode(), T0)


def daily(engine: Engine, table: sa.Table, column: str) -> int:
    with engine.connect() as connection:
        query = sa.select(table.c[column]).where(table.c.period == "1d")
        return int(connection.execute(query).scalar_one())


@pytest.mark.parametrize("n", [BIG, HUGE])
def test_counts_beyond_32_bits_are_stored_exactly(
    store_engine: Engine, make_registry: Callable[..., Any], n: int
) -> None:
    make_registry(store_engine)
    kinds = ("line_count", "speed", "zone_occupancy", "turning_movement")
    result = EventWriter(store_engine).write_messages([message(event(kind, n)) for kind in kinds])
    assert (result.stored, dict(result.dead)) == (4, {})
    assert daily(store_engine, schema.line_count_rollups, "count") == n
    assert daily(store_engine, schema.speed_rollups, "n") == n
    assert daily(store_engine, schema.occupancy_rollups, "peak_max") == n
    assert daily(store_engine, schema.movement_rollups, "count") == n
    with store_engine.connect() as connection:
        assert connection.execute(sa.select(schema.speeds.c.n)).scalar_one() == n


def test_a_count_beyond_64_bits_is_one_dead_letter(
    store_engine: Engine, make_registry: Callable[..., Any]
) -> None:
    make_registry(store_engine)
    result = EventWriter(store_engine).write_messages(
        [message(event("line_count", 2**64)), message(event("line_count", 7))]
    )
    assert (result.stored, dict(result.dead)) == (1, {"store": 1})
    assert daily(store_engine, schema.line_count_rollups, "count") == 7
