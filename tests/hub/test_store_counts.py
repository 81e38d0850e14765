"""A day's sums beyond 32 bits (2³¹ and more) are stored exactly on SQLite and PostgreSQL. A number beyond
the schema's bounds (a count over a million, a speed over 1,000 km/h) is one dead letter that names it, and
cannot overflow the roll-ups that later events of its day add to."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from citytally.events import MAX_COUNT, new_event_id
from citytally.hub.store import EventWriter, Received, schema

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 23, 7, 45, tzinfo=UTC)
TOPIC = "citytally/plaza/cam-1/events"
#: Events of MAX_COUNT road users each whose day holds more than 2**31 - 1, the largest PostgreSQL integer.
EVENTS_BEYOND_32_BITS = 215


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
        value = connection.execute(query).scalar_one()
    assert isinstance(value, int), f"{table.name}.{column} holds {value!r}, not an integer"
    return value


def test_a_days_sums_beyond_32_bits_are_stored_exactly(
    store_engine: Engine, make_registry: Callable[..., Any]
) -> None:
    make_registry(store_engine)
    kinds = ("line_count", "speed", "zone_occupancy", "turning_movement")
    n = EVENTS_BEYOND_32_BITS
    result = EventWriter(store_engine).write_messages(
        [message(event(kind, MAX_COUNT)) for kind in kinds for _ in range(n)]
    )
    assert (result.stored, dict(result.dead)) == (4 * n, {})
    assert daily(store_engine, schema.line_count_rollups, "count") == n * MAX_COUNT > 2**31
    assert daily(store_engine, schema.speed_rollups, "n") == n * MAX_COUNT
    assert daily(store_engine, schema.occupancy_rollups, "peak_max") == MAX_COUNT
    assert daily(store_engine, schema.movement_rollups, "count") == n * MAX_COUNT


@pytest.mark.parametrize(
    ("kind", "field", "value"),
    [
        ("line_count", ("counts", "inbound", "car"), MAX_COUNT + 1),
        ("line_count", ("counts", "inbound", "car"), 2**63 - 1),
        ("line_count", ("counts", "inbound", "car"), 2**64),
        ("speed", ("speeds", "inbound", "car", "n"), 2**62),
        ("speed", ("speeds", "inbound", "car", "mean_kmh"), 1.7e308),
        ("speed", ("speeds", "inbound", "car", "p85_kmh"), 1001.0),
        ("zone_occupancy", ("mean", "car"), 1.7e308),
        ("zone_occupancy", ("peak", "car"), 2**62),
        ("zone_occupancy", ("dwell", "car", "mean_s"), 1e300),
        ("turning_movement", ("movements", 0, "count"), 2**62),
    ],
    ids=lambda v: str(v) if not isinstance(v, tuple) else ".".join(map(str, v)),
)
def test_a_number_beyond_its_bound_is_one_dead_letter_and_the_day_is_summed_right(
    store_engine: Engine,
    make_registry: Callable[..., Any],
    kind: str,
    field: tuple[str | int, ...],
    value: float,
) -> None:
    make_registry(store_engine)
    poison = event(kind, 7)
    poison.setdefault("dwell", {"car": {"n": 1, "mean_s": 4.0, "max_s": 9.0}})
    place: Any = poison
    for key in field[:-1]:
        place = place[key]
    place[field[-1]] = value
    later = [event(kind, 7) for _ in range(3)]
    # Twice: the second poison and the events after it would add to what the first left in the roll-ups.
    poison_again = poison | {"id": str(new_event_id())}
    result = EventWriter(store_engine).write_messages([message(b) for b in (poison, poison_again, *later)])
    assert (result.stored, dict(result.dead)) == (3, {"schema": 2})
    with store_engine.connect() as connection:
        reasons = connection.execute(sa.select(schema.dead_letters.c.reason)).scalars().all()
    where = f"{kind}.{'.'.join(map(str, field))}: "
    assert len(reasons) == 2 and all(r.startswith(where) for r in reasons), reasons
    sums = {
        "line_count": (schema.line_count_rollups, "count", 21),
        "speed": (schema.speed_rollups, "n", 21),
        "zone_occupancy": (schema.occupancy_rollups, "peak_max", 7),
        "turning_movement": (schema.movement_rollups, "count", 21),
    }
    table, column, expected = sums[kind]
    assert daily(store_engine, table, column) == expected
