"""Upgrading a store that holds data: what migrations 0003 (unread fact tables dropped), 0004 (names in
the "C" collation on PostgreSQL), 0005 (roll-up pages filled to 70 % on PostgreSQL), 0009 (speed
histograms) and 0012 (speed bins rolled up) keep, drop and change, and that each can be undone and redone."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine

from citytally.events import IncidentEvent, SpeedEvent, SpeedStats
from citytally.hub.store import (
    HEAD_REVISION,
    EventWriter,
    create_store_engine,
    current_revision,
    migrate,
    schema,
    sqlite_url,
)
from citytally.hub.store.migrate import MIGRATIONS_DIR
from hub.conftest import T0, a_vehicle_lost_from_view_before_it_drives_off, event_stream, incident_events

pytestmark = pytest.mark.integration

DROPPED = ("line_counts", "zone_occupancy", "turning_movements")


@pytest.fixture(params=["sqlite", "postgresql"])
def old_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A store migrated only to 0002, the schema before this change (a fresh database each time)."""
    url = (
        sqlite_url(tmp_path / "old.sqlite3")
        if request.param == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    engine = create_store_engine(url)
    migrate(engine, "0002")
    yield engine
    if engine.dialect.name == "postgresql":  # the database is the module's: empty it for the next test
        with engine.begin() as connection:
            connection.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    engine.dispose()


def _downgrade(engine: Engine, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def _tables(engine: Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def _count(engine: Engine, table: str) -> int:
    with engine.connect() as connection:
        return int(connection.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one())


def _collations(engine: Engine, table: str) -> dict[str, str | None]:
    with engine.connect() as connection:
        rows = connection.exec_driver_sql(
            "SELECT column_name, collation_name FROM information_schema.columns "
            f"WHERE table_schema = 'public' AND table_name = '{table}' AND data_type = 'character varying'"
        )
        return dict(rows.tuples().all())


def _fill_factors(engine: Engine) -> dict[str, Any]:
    with engine.connect() as connection:
        rows = connection.exec_driver_sql(
            "SELECT relname, reloptions FROM pg_class WHERE relkind = 'r' AND right(relname, 8) = '_rollups'"
        )
        return dict(rows.tuples().all())


def test_upgrading_keeps_events_and_rollups_and_drops_only_the_unread_facts(
    old_store: Engine, make_registry: Callable[..., Any]
) -> None:
    # Today's writer and registry need today's tables (0007 added incident columns, 0010 geometry
    # revisions): write at the head, then go back.
    migrate(old_store)
    make_registry(old_store, ("plaza", "cam-1"), ("plaza", "cam-2"))
    result = EventWriter(old_store).write_events(event_stream(40))
    assert result.stored == 40
    _downgrade(old_store, "0002")
    with old_store.begin() as connection:  # a fact row as the old writer left them
        connection.exec_driver_sql(
            'INSERT INTO line_counts (event_id, site, camera, start, "end", line, direction, class, count) '
            "SELECT id, site, camera, start, \"end\", 'north', 'inbound', 'car', 1 FROM events LIMIT 1"
        )
    before = {table: _count(old_store, table) for table in ("events", "line_count_rollups")}
    assert DROPPED[0] in _tables(old_store)

    migrate(old_store)

    assert current_revision(old_store) == HEAD_REVISION
    assert not _tables(old_store) & set(DROPPED)
    assert {table: _count(old_store, table) for table in before} == before
    if old_store.dialect.name == "postgresql":
        names = _collations(old_store, "line_count_rollups")
        assert names == dict.fromkeys(("period", "site", "camera", "line", "direction", "class"), "C")
        assert list(_fill_factors(old_store).values()) == [["fillfactor=70"]] * 10
    assert EventWriter(old_store).write_events(event_stream(4)).stored == 4  # and ingest goes on


def test_both_migrations_undo_and_redo(old_store: Engine) -> None:
    migrate(old_store)
    _downgrade(old_store, "0002")
    assert set(DROPPED) <= _tables(old_store)
    if old_store.dialect.name == "postgresql":
        assert set(_collations(old_store, "events").values()) == {None}  # the database's own again
        assert list(_fill_factors(old_store).values()) == [None] * 5
    migrate(old_store)
    assert current_revision(old_store) == HEAD_REVISION
    assert not _tables(old_store) & set(DROPPED)


def test_0009_keeps_speed_rows_and_stores_histograms_from_then_on(
    old_store: Engine, make_registry: Callable[..., Any]
) -> None:

    def speed(minutes: int, histogram: list[int] | None) -> SpeedEvent:
        start = T0 + timedelta(minutes=minutes)
        stats = SpeedStats(n=3, mean_kmh=31.0, p85_kmh=38.0, histogram=histogram)
        return SpeedEvent(
            id=uuid.uuid4(), site="plaza", camera="cam-1", start=start, end=start + timedelta(minutes=15),
            line="north", speeds={"in": {"car": stats}},
        )  # fmt: skip

    migrate(old_store)
    make_registry(old_store, ("plaza", "cam-1"))  # the registry needs today's tables (0010)
    before = speed(0, [0, 0, 0, 0, 0, 0, 2, 1])
    assert EventWriter(old_store).write_events([before]).stored == 1
    _downgrade(old_store, "0008")
    assert "histogram" not in {c["name"] for c in sa.inspect(old_store).get_columns("speeds")}
    migrate(old_store)
    after = speed(15, [0, 0, 0, 0, 0, 1, 2])
    assert EventWriter(old_store).write_events([after, speed(30, None)]).stored == 2
    with old_store.connect() as connection:
        rows = connection.execute(sa.select(schema.speeds.c.start, schema.speeds.c.histogram)).all()
    by_start = {start: histogram for start, histogram in rows}
    assert by_start == {
        before.start: None,
        after.start: [0, 0, 0, 0, 0, 1, 2],
        T0 + timedelta(minutes=30): None,
    }


def test_0012_rolls_up_the_speed_bins_already_stored_as_ingest_does(
    old_store: Engine, make_registry: Callable[..., Any]
) -> None:

    def speed(minutes: int, histogram: list[int] | None, direction: str = "in") -> SpeedEvent:
        start = T0 + timedelta(minutes=minutes)
        stats = SpeedStats(n=sum(histogram or [3]), mean_kmh=31.0, p85_kmh=38.0, histogram=histogram)
        return SpeedEvent(
            id=uuid.uuid4(), site="plaza", camera="cam-1", start=start, end=start + timedelta(minutes=1),
            line="north", speeds={direction: {"car": stats, "bicycle": stats}},
        )  # fmt: skip

    migrate(old_store)
    make_registry(old_store, ("plaza", "cam-1"))
    # Across 15-minute, hour and day bounds; one edge without bins; zero bins left out.
    events = [speed(m, [0, 1, 0, 2, 4]) for m in (0, 7, 14, 15, 59, 60, 24 * 60 + 3)]
    events += [speed(20, None), speed(21, [0, 0, 0, 0, 0, 0, 1], "out")]
    assert EventWriter(old_store).write_events(events).stored == len(events)
    t = schema.speed_bin_rollups

    def rows() -> list[tuple[Any, ...]]:
        with old_store.connect() as connection:
            return sorted(tuple(r) for r in connection.execute(sa.select(t)).all())

    by_ingest = rows()
    for period in ("15m", "1h", "1d"):  # each period holds every road user binned once, in its own bin
        mine = [row for row in by_ingest if row[0] == period]
        assert sum(row[-1] for row in mine) == 7 * 7 * 2 + 2
        assert {row[-2] for row in mine} == {1, 3, 4, 6} and all(row[-1] > 0 for row in mine)
    _downgrade(old_store, "0011")
    assert "speed_bin_rollups" not in _tables(old_store)
    migrate(old_store)
    assert rows() == by_ingest


def test_0017_notes_each_incidents_latest_row_as_ingest_does(
    old_store: Engine, make_registry: Callable[..., Any]
) -> None:
    migrate(old_store)
    make_registry(old_store, ("plaza", "cam-1"))
    crowd = [("onset", T0 + timedelta(seconds=10))]
    crowd += [("update", T0 + timedelta(seconds=10 + 30 * k)) for k in range(1, 40)]
    events = [
        *a_vehicle_lost_from_view_before_it_drives_off(T0),  # its clearance ends before its last update
        *incident_events("plaza", "cam-1", "crowd_density", T0, crowd),
        IncidentEvent(  # a one-off report
            id=uuid.uuid4(),
            site="plaza",
            camera="cam-1",
            start=T0,
            end=T0 + timedelta(minutes=1),
            incident="congestion",
            zone="road",
        ),
    ]
    writer = EventWriter(old_store)
    for at in range(0, len(events), 7):  # batches that split the crowd's reports
        writer.write_events(events[at : at + 7])
    t = schema.incident_latest

    def rows() -> list[tuple[Any, ...]]:
        with old_store.connect() as connection:
            return sorted(tuple(r) for r in connection.execute(sa.select(t)).all())

    by_ingest = rows()
    assert len(by_ingest) == 3
    latest = {row.incident: row.event_id for row in _named(old_store)}
    assert latest == {
        "stopped_vehicle": events[2].id,
        "crowd_density": events[3 + 39].id,
        "congestion": events[-1].id,
    }
    _downgrade(old_store, "0016")
    assert "incident_latest" not in _tables(old_store)
    migrate(old_store)
    assert rows() == by_ingest


def _named(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        return list(connection.execute(sa.select(schema.incident_latest)).all())


def test_0018_keeps_when_each_camera_was_first_registered(
    old_store: Engine, make_registry: Callable[..., Any]
) -> None:
    """The register's "Registered since" read the row's updated_at, which every start of the hub sets to
    now: a camera registered a year ago read as registered today."""
    from datetime import UTC, datetime

    from citytally.hub.dashboard.settings import DashboardSettings
    from citytally.hub.register import build_register

    migrate(old_store, "0017")
    year_ago = datetime(2025, 12, 1, 9, 30, tzinfo=UTC)
    with old_store.begin() as connection:
        connection.execute(sa.text("INSERT INTO sites (site, name, description) VALUES ('plaza', '', '')"))
        connection.execute(
            sa.text(
                "INSERT INTO cameras (site, camera, location, purpose, legal_basis, contact, config,"
                " updated_at) VALUES ('plaza', 'cam-1', '', '', '', '', :config, :at)"
            ),
            {"config": "{}", "at": year_ago},
        )
    migrate(old_store)
    make_registry(old_store, ("plaza", "cam-1"), ("plaza", "cam-2"))  # the hub starting again, a camera added
    c = schema.cameras
    with old_store.connect() as connection:
        rows = {
            r.camera: r for r in connection.execute(sa.select(c.c.camera, c.c.registered_at, c.c.updated_at))
        }
    assert rows["cam-1"].registered_at == year_ago < rows["cam-1"].updated_at
    assert rows["cam-2"].registered_at == rows["cam-2"].updated_at > year_ago
    since = {e.name: e.registered_since for e in build_register(old_store, DashboardSettings()).cameras}
    assert since == {"cam-1": year_ago, "cam-2": rows["cam-2"].registered_at}
    _downgrade(old_store, "0017")
    assert "registered_at" not in {col["name"] for col in sa.inspect(old_store).get_columns("cameras")}
    migrate(old_store)
