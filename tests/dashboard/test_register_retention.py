"""The public register states the retention the retention job enforces: after a run, exactly the rows the
register says are past their time are gone, per camera and per data class."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from citytally.edge.config import CameraConfig
from citytally.events import LineCountEvent
from citytally.hub.config import RetentionSettings
from citytally.hub.dashboard.settings import DashboardSettings
from citytally.hub.register import build_register, render_register_html, retention_rules
from citytally.hub.retention import DATA_CLASSES, run_retention
from citytally.hub.store import EventWriter, create_store_engine, migrate, schema, sqlite_url, sync_registry

NOW = datetime(2026, 11, 23, 12, 7, tzinfo=UTC)
SETTINGS = RetentionSettings(raw_events_days=10, rollups_days=40, dead_letters_days=5, audit_log_days=None)
#: camera → its own retention_days (cam-2's is shorter than the hub's raw limit, cam-3's longer)
CAMERAS = {"cam-1": None, "cam-2": 3, "cam-3": 30}
AGES_DAYS = (0.5, 2.9, 3.1, 9.9, 10.1, 29.0, 39.9, 40.1, 41.0, 60.0)
#: data class → (tables, time column) as the retention job prunes them
TABLES = {
    "raw_events": ((schema.events, schema.speeds, schema.incidents), "start"),
    "rollups": (
        (
            schema.line_count_rollups,
            schema.speed_rollups,
            schema.occupancy_rollups,
            schema.movement_rollups,
            schema.incident_rollups,
        ),
        "bucket",
    ),
}


def camera(name: str, days: int | None) -> CameraConfig:
    metadata: dict[str, object] = {"lat": 52.37, "lon": 4.89, "purpose": "count"}
    if days is not None:
        metadata["retention_days"] = days
    return CameraConfig.model_validate(
        {
            "site": "plaza",
            "camera": name,
            "metadata": metadata,
            "source": {"uri": "/dev/null"},
            "lines": [{"name": "north", "p1": [0, 1], "p2": [9, 1], "directions": ["in", "out"]}],
        }
    )


def event(name: str, age_days: float) -> LineCountEvent:
    start = NOW - timedelta(days=age_days)
    return LineCountEvent(
        id=uuid.uuid4(),
        site="plaza",
        camera=name,
        start=start,
        end=start + timedelta(minutes=15),
        line="north",
        counts={"in": {"car": 2}, "out": {"bicycle": 1}},
    )


def times(engine: sa.Engine, data_class: str, name: str) -> list[datetime]:
    tables, column = TABLES[data_class]
    found: list[datetime] = []
    with engine.connect() as conn:
        for table in tables:
            query = sa.select(table.c[column]).where(table.c.site == "plaza", table.c.camera == name)
            found += conn.execute(query).scalars().all()
    return sorted(found)


@pytest.fixture
def engine(tmp_path: Path) -> sa.Engine:
    store = create_store_engine(sqlite_url(tmp_path / "hub.sqlite3"))
    migrate(store)
    sync_registry(store, [camera(name, days) for name, days in CAMERAS.items()])
    EventWriter(store).write_events([event(name, age) for name in CAMERAS for age in AGES_DAYS])
    return store


@pytest.mark.integration
def test_the_register_states_what_the_retention_job_deletes(engine: sa.Engine) -> None:
    register = build_register(engine, DashboardSettings(), now=NOW, retention=SETTINGS)
    page = render_register_html(register)
    before = {(n, c): times(engine, c, n) for n in CAMERAS for c in TABLES}
    run_retention(engine, SETTINGS, now=NOW)
    checked = 0
    for entry in register.cameras:
        name = entry.reference.split("/")[1]
        assert {r.data_class for r in entry.retention_rules} == set(TABLES)
        for rule in entry.retention_rules:
            assert rule.days is not None and f"{rule.days} days" in page
            cutoff = NOW - timedelta(days=rule.days)
            expected = [t for t in before[(name, rule.data_class)] if t >= cutoff]
            assert times(engine, rule.data_class, name) == expected, (name, rule)
            assert len(expected) < len(before[(name, rule.data_class)])  # the rule did delete something
            checked += 1
        assert entry.retention_days == max(r.days or 0 for r in entry.retention_rules)
    assert checked == len(CAMERAS) * len(TABLES)
    # the camera's own limit bounds only its raw events, and only when it is shorter than the hub's
    raw = {e.reference: e.retention_rules[0].days for e in register.cameras}
    assert raw == {"plaza/cam-1": 10, "plaza/cam-2": 3, "plaza/cam-3": 10}
    assert {r.data_class: r.days for r in register.hub_retention} == {
        "dead_letters": 5,
        "audit_log": None,
        "login_failures": 1,
    }


@pytest.mark.integration
def test_a_register_without_a_contact_does_not_show_the_owner_as_one(engine: sa.Engine) -> None:
    # The cameras name no contact, purpose or legal basis of their own (metadata has only "purpose").
    owner = "Gemeente Voorbeeld, Verkeer"
    bare = build_register(engine, DashboardSettings(organisation=owner), now=NOW, retention=None)
    for entry in bare.cameras:
        assert entry.contact == f"None published: ask the owner, {owner}"
        assert entry.legal_basis == "Not stated (ask the owner)"
    page = render_register_html(bare)
    assert f"<dd>None published: ask the owner, {owner} </dd>" in page
    assert "ask the contact" not in page
    given = DashboardSettings(organisation=owner, privacy_contact="privacy@voorbeeld.example")
    for entry in build_register(engine, given, now=NOW, retention=None).cameras:
        assert entry.contact == "privacy@voorbeeld.example"
        assert entry.legal_basis == "Not stated (ask the contact)"


@pytest.mark.integration
def test_without_a_retention_job_the_register_says_nothing_is_deleted(engine: sa.Engine) -> None:
    register = build_register(engine, DashboardSettings(), now=NOW, retention=None)
    for entry in register.cameras:
        assert entry.retention_days is None
        assert all("until an operator deletes" in r.text for r in entry.retention_rules)
    assert "30 days" not in render_register_html(register)  # cam-3's own limit is not enforced here


def test_every_data_class_of_the_retention_job_has_a_rule() -> None:
    assert [r.data_class for r in retention_rules(SETTINGS)] == list(DATA_CLASSES)


def test_a_rule_of_one_day_says_one_day(engine: sa.Engine) -> None:
    """Failed logins are kept a day: the public register and the assessment say "1 day", not "1 days"."""
    from citytally.hub.pia import render_pia_html

    register = render_register_html(build_register(engine, DashboardSettings(), now=NOW, retention=SETTINGS))
    assessment = render_pia_html(engine, DashboardSettings(), SETTINGS, now=NOW)
    for page in (register, assessment):
        assert "1 day" in page and "1 days" not in page


#: Every table of the store, and the row of the assessment's "Data kept" table that states how long it is
#: kept (None: it holds no data of its own about anyone: a relay's position, the chain's head).
PIA_ROW = {
    "events": "Events",
    "speeds": "Events",
    "incidents": "Events",
    "incident_latest": "Events",
    "line_count_rollups": "Roll-ups",
    "speed_rollups": "Roll-ups",
    "speed_bin_rollups": "Roll-ups",
    "occupancy_rollups": "Roll-ups",
    "movement_rollups": "Roll-ups",
    "incident_rollups": "Roll-ups",
    "conflict_rollups": "Roll-ups",
    "conflict_exposure_rollups": "Roll-ups",
    "conflict_cell_rollups": "Roll-ups",
    "conflict_histogram_rollups": "Roll-ups",
    "counted_spans": "Roll-ups",
    "counted_incidents": "Roll-ups",
    "sites": "Camera registry",
    "cameras": "Camera registry",
    "lines": "Camera registry",
    "zones": "Camera registry",
    "geometry_revisions": "Geometry history",
    "audit_log": "Audit log",
    "audit_head": None,
    "login_failures": "Failed logins",
    "dead_letters": "Refused messages",
    "api_tokens": "Access tokens",
    "alert_relay_positions": None,
    "broker_sessions": None,
}


def test_the_assessment_says_how_long_every_table_is_kept(engine: sa.Engine) -> None:
    """A table the assessment does not name is data the public is not told about (the geometry history,
    with who saved each version, was one); what has no retention period says so, not "until removed"."""
    from citytally.hub.pia import render_pia_html

    assert set(PIA_ROW) == set(schema.metadata.tables), "a new table: say in the PIA how long it is kept"
    page = render_pia_html(engine, DashboardSettings(), SETTINGS, now=NOW)
    rows = {row.split("</td>")[0] for row in page.split("<tr><td>")[1:]}
    assert {r for r in PIA_ROW.values() if r} <= rows
    assert "Images, only on request" in rows
    for held in ("Camera registry", "Geometry history", "Access tokens"):
        kept = page.split(f"<tr><td>{held}</td>")[1].split("</tr>")[0]
        assert "Without limit" in kept, held
    assert "15 minutes by default" not in page  # the default interval is a minute
    assert "alert topic" in page
