"""The bulk store path: PostgreSQL derives facts and roll-ups in SQL, SQLite in Python; both must store the
same rows. A value the database refuses costs one dead letter, not the batch."""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from citytally.errors import SchemaError
from citytally.events import new_event_id, parse_event
from citytally.hub.store import EventWriter, Received, schema
from hub.conftest import empty_store

T0 = datetime(2026, 11, 23, 22, 50, tzinfo=UTC)
CAMERAS = (("plaza", "cam-1"), ("plaza", "cam-2"))


def varied_events(n: int, seed: int) -> list[dict[str, Any]]:
    """Every event type, with the corners the SQL must get right: classes present only in ``peak`` or
    ``dwell``, repeated movements to merge, incidents without zone, offsets other than UTC, a day
    boundary, and ``class`` spelled by field name (``cls``) as well as by alias."""
    rng = random.Random(seed)
    classes = ("person", "bicycle", "car", "bus")
    bodies: list[dict[str, Any]] = []
    for i in range(n):
        camera = CAMERAS[i % 2][1]
        start = T0 + timedelta(minutes=7 * i)
        offset = timezone(timedelta(hours=rng.choice((0, 2, -5))))
        common = {
            "v": 1,
            "id": str(new_event_id()),
            "site": "plaza",
            "camera": camera,
            "start": start.astimezone(offset).isoformat(),
            "end": (start + timedelta(minutes=5)).astimezone(offset).isoformat(),
        }
        kind = i % 6
        if kind == 0:
            counts = {d: {c: rng.randint(0, 9) for c in rng.sample(classes, 2)} for d in ("in", "out")}
            bodies.append(common | {"type": "line_count", "line": "north", "counts": counts})
        elif kind == 1:
            stats = {"n": rng.randint(1, 5), "mean_kmh": rng.uniform(5, 60), "p85_kmh": rng.uniform(10, 80)}
            if i % 2:  # the road users' own speeds binned; the others come from edges that send none
                stats["histogram"] = [rng.randint(0, 1), 0, rng.randint(0, 2), stats["n"]]
                stats["n"] += sum(stats["histogram"][:-1])
            bodies.append(common | {"type": "speed", "line": "north", "speeds": {"in": {"car": stats}}})
        elif kind == 2:
            dwell = {"bus": {"n": 1, "mean_s": rng.uniform(1, 9), "max_s": 12.5}} if i % 3 else {}
            body = common | {"type": "zone_occupancy", "zone": "west", "mean": {"person": rng.uniform(0, 3)}}
            bodies.append(body | {"peak": {"car": rng.randint(0, 4)}, "dwell": dwell})
        elif kind == 3:
            name = "class" if i % 2 else "cls"
            movements = [
                {"from_zone": "west", "to_zone": "east", name: "car", "count": rng.randint(1, 4)}
                for _ in range(rng.randint(1, 3))
            ]
            bodies.append(common | {"type": "turning_movement", "movements": movements})
        elif kind == 5:
            bodies.append(common | conflict_body(rng))
        else:
            incident = {
                "type": "incident",
                "incident": "congestion",
                "details": {"queue_m": rng.uniform(0, 90)},
            }
            bodies.append(common | incident | ({"zone": "west"} if i % 2 else {}))
    return bodies


def conflict_body(rng: random.Random) -> dict[str, Any]:
    """A conflict event: rows, road users, both histograms (edges that vary, empty bins) and cells."""
    n = rng.randint(1, 4)
    ttc_edges = rng.choice(([0, 1, 2], [0, 0.5, 1, 1.5]))
    ttc = [0] * len(ttc_edges)
    for _ in range(n):
        ttc[rng.randrange(len(ttc))] += 1
    return {
        "type": "conflict",
        "zone": "middle",
        "road_users": {"car": rng.randint(n, 40), "person": rng.randint(0, 9)},
        "conflicts": [{"type": "crossing", "severity": "serious", "classes": "car-person", "count": n}],
        "ttc": {"edges_s": ttc_edges, "counts": ttc},
        "pet": {"edges_s": [0, 1, 2], "counts": [n - 1, 0, 0]},
        "cell_m": 5.0,
        "cells": [{"x_m": 5.0 * rng.randint(0, 2), "y_m": 0.0, "count": n, "image_x": 10.0, "image_y": None}],
    }


def messages(bodies: list[dict[str, Any]], per_message: int) -> list[Received]:
    """One message per event, or arrays of up to ``per_message`` events of one camera."""
    out: list[Received] = []
    for _, camera in CAMERAS if per_message > 1 else [("", "")]:
        mine = [b for b in bodies if b["camera"] == camera] if camera else bodies
        for i in range(0, len(mine), per_message):
            chunk = mine[i : i + per_message]
            payload = json.dumps(chunk if per_message > 1 else chunk[0]).encode()
            out.append(Received(f"citytally/plaza/{chunk[0]['camera']}/events", payload, T0))
    return out


def _normalised(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 9)
    if isinstance(value, dict):
        return json.dumps({k: _normalised(v) for k, v in value.items()}, sort_keys=True)
    if isinstance(value, str) and value.startswith("{"):
        return _normalised(json.loads(value))
    return value


def snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the event, fact and roll-up tables, comparable across dialects."""
    tables = [schema.events, schema.speeds, schema.incidents, schema.line_count_rollups, schema.speed_rollups]
    tables += [schema.occupancy_rollups, schema.movement_rollups, schema.incident_rollups]
    tables += [schema.conflict_rollups, schema.conflict_exposure_rollups, schema.conflict_cell_rollups]
    tables += [schema.conflict_histogram_rollups, schema.speed_bin_rollups]
    found: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as connection:
        for table in tables:
            columns = [c for c in table.columns if c.name not in ("received_at", "acknowledged_at")]
            rows = connection.execute(sa.select(*columns)).all()
            found[table.name] = sorted(tuple(_normalised(v) for v in row) for row in rows)
    return found


@pytest.mark.integration
def test_both_dialects_store_the_same_rows(
    sqlite_engine: Engine, pg_engine: Engine, make_registry: Callable[..., Any]
) -> None:
    empty_store(pg_engine)
    bodies = varied_events(60, seed=3)
    for engine in (sqlite_engine, pg_engine):
        make_registry(engine, *CAMERAS)
        writer = EventWriter(engine)
        batch = messages(bodies[:40], 1) + messages(bodies[40:], 4)  # single events and arrays
        writer.write_messages(batch[:25])
        result = writer.write_messages(batch[20:])  # five repeated messages
        assert result.duplicates == 5 and not result.dead
    on_sqlite, on_pg = snapshot(sqlite_engine), snapshot(pg_engine)
    assert {name: len(rows) for name, rows in on_pg.items()} == {n: len(r) for n, r in on_sqlite.items()}
    assert all(on_pg[name] for name in on_pg), "every table gets rows"
    assert on_pg == on_sqlite


@pytest.mark.integration
def test_the_stored_body_is_the_validated_event(
    store_engine: Engine, make_registry: Callable[..., Any]
) -> None:
    make_registry(store_engine, *CAMERAS)
    [body] = [b for b in varied_events(4, seed=1) if b["type"] == "turning_movement"]
    EventWriter(store_engine).write_messages(messages([body], 1))
    with store_engine.connect() as connection:
        stored = connection.execute(sa.select(schema.events.c.body)).scalar_one()
    stored = json.loads(stored) if isinstance(stored, str) else stored
    assert parse_event(stored) == parse_event(body)
    assert all("class" in movement for movement in stored["movements"])  # aliases, whatever was sent


def refuse_line(engine: Engine, line: str) -> None:
    """Make the database refuse any roll-up of count line ``line``, as a constraint a DBA added would.

    The schema bounds every number, so no valid event is beyond a column any more; a trigger is a real
    refusal by the database all the same."""
    with engine.begin() as connection:
        if engine.dialect.name == "sqlite":
            connection.exec_driver_sql(
                "CREATE TRIGGER refuse_line BEFORE INSERT ON line_count_rollups"
                f" WHEN NEW.line = '{line}' BEGIN SELECT RAISE(ABORT, 'line {line} is refused'); END"
            )
        else:
            connection.exec_driver_sql(
                "CREATE FUNCTION refuse_line() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE"
                f" EXCEPTION 'line {line} is refused' USING ERRCODE = 'check_violation'; END $$"
            )
            connection.exec_driver_sql(
                "CREATE TRIGGER refuse_line BEFORE INSERT ON line_count_rollups FOR EACH ROW"
                f" WHEN (NEW.line = '{line}') EXECUTE FUNCTION refuse_line()"
            )


@pytest.fixture
def refusing_engine(store_engine: Engine) -> Iterator[Engine]:
    """The store, refusing line ``refused`` (see :func:`refuse_line`) until the test ends."""
    refuse_line(store_engine, "refused")
    yield store_engine
    with store_engine.begin() as connection:
        connection.exec_driver_sql(
            "DROP TRIGGER refuse_line"
            + ("" if store_engine.dialect.name == "sqlite" else " ON line_count_rollups")
        )
        if store_engine.dialect.name != "sqlite":
            connection.exec_driver_sql("DROP FUNCTION refuse_line()")


@pytest.mark.integration
def test_a_value_the_database_refuses_is_dead_lettered_and_the_batch_stored(
    refusing_engine: Engine, make_registry: Callable[..., Any]
) -> None:
    make_registry(refusing_engine, *CAMERAS)
    bodies = [b for b in varied_events(30, seed=2) if b["type"] == "line_count"]
    bodies[3]["line"] = "refused"
    batch = messages(bodies, 1)
    result = EventWriter(refusing_engine).write_messages(batch)
    assert (result.stored, dict(result.dead)) == (len(bodies) - 1, {"store": 1})
    with refusing_engine.connect() as connection:
        [letter] = connection.execute(sa.select(schema.dead_letters)).all()
        table = schema.line_count_rollups
        stored = connection.execute(
            sa.select(sa.func.sum(table.c.count)).where(table.c.period == "1d")
        ).scalar()
    assert letter.payload == batch[3].payload and bodies[3]["id"] in letter.reason
    assert "line refused is refused" in letter.reason
    assert stored == sum(n for b in bodies[:3] + bodies[4:] for c in b["counts"].values() for n in c.values())


@pytest.mark.parametrize("value", [math.inf, math.nan])
@pytest.mark.integration
def test_non_finite_numbers_are_refused_as_schema_errors(
    store_engine: Engine, make_registry: Callable[..., Any], value: float
) -> None:
    make_registry(store_engine, *CAMERAS)
    good, bad = [b for b in varied_events(12, seed=4) if b["type"] == "incident"][:2]
    bad["details"] = {"queue_m": value}
    result = EventWriter(store_engine).write_messages(messages([good, bad], 2))
    assert (result.stored, dict(result.dead)) == (1, {"schema": 1})
    with pytest.raises(SchemaError, match=r"incident.details.queue_m: Value error, (inf|nan) is beyond"):
        parse_event(bad | {"id": str(new_event_id())})
    # Every number of every event is bounded, so the schema refuses them anywhere (a speed, a mean).
    speed = next(b for b in varied_events(40, seed=4) if b["type"] == "speed")
    for stats in speed["speeds"]["in"].values():
        stats["p85_kmh"] = value
    with pytest.raises(SchemaError, match=r"speed.speeds.in.car.p85_kmh: Input should be"):
        parse_event(speed)
    occupancy = next(b for b in varied_events(40, seed=4) if b["type"] == "zone_occupancy")
    occupancy["mean"]["person"] = value
    with pytest.raises(SchemaError, match=r"zone_occupancy.mean.person: Input should be"):
        parse_event(occupancy)
