"""A real hub for browser tests: a migrated store with a day of events, tokens, uvicorn on a free port,
and headless Debian Chromium driven by Playwright.

* ``seeded_engine`` — a SQLite store (module scope) with three cameras on the example plaza and events
  written through the hub's own :class:`EventWriter`;
* ``tokens`` — admin, operator and viewer secrets for it;
* ``hub_server`` — the full hub app (API + dashboard) served on 127.0.0.1;
* ``page`` — a fresh page in the session's Chromium (``browser``, from ``tests/conftest.py``); screenshots
  go to ``artifacts/screenshots/``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.sync_api import Browser, Page

from citytally.edge.config import CameraConfig
from citytally.events import (
    ConflictEvent,
    Event,
    IncidentEvent,
    LineCountEvent,
    Movement,
    SpeedEvent,
    SpeedStats,
    TurningMovementEvent,
    ZoneOccupancyEvent,
)
from citytally.hub.access import issue_token
from citytally.hub.config import HubSettings
from citytally.hub.dashboard.server import DashboardServer, build_frontend, serve
from citytally.hub.store import EventWriter, create_store_engine, migrate, sqlite_url, sync_registry

SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
SITE = "demo-plaza"
#: (camera, lat, lon): the example base map's plaza centre and two street corners.
CAMERAS = (
    ("vtest", 52.37000, 4.89000),
    ("north-gate", 52.37036, 4.88924),
    ("east-bridge", 52.36964, 4.89099),
)
INTERVAL = timedelta(minutes=15)
INTERVALS = 24  # six hours of data, ending now


def camera_config(camera: str, lat: float, lon: float) -> CameraConfig:
    """A camera on the demo plaza with one count line, three zones and turning movements between two."""
    return CameraConfig.model_validate(
        {
            "site": SITE,
            "camera": camera,
            "metadata": {
                "location": f"Demo plaza, {camera.replace('-', ' ')}",
                "lat": lat,
                "lon": lon,
                "purpose": "Count pedestrians and cyclists to plan the plaza's redesign",
                "legal_basis": "Public task (GDPR art. 6(1)(e)), municipal traffic ordinance",
                "retention_days": 365,
                "contact": "privacy@city.example",
            },
            "source": {"uri": "/dev/null"},
            "lines": [
                {
                    "name": "centre",
                    "p1": [384, 80],
                    "p2": [384, 570],
                    "directions": ["westbound", "eastbound"],
                }
            ],
            "zones": [
                {"name": "west", "polygon": [[0, 80], [250, 80], [250, 576], [0, 576]]},
                {"name": "east", "polygon": [[518, 80], [768, 80], [768, 576], [518, 576]]},
                {"name": "middle", "polygon": [[250, 80], [518, 80], [518, 576], [250, 576]]},
            ],
            "turning": {"zones": ["west", "east"]},
        }
    )


def line_count(camera: str, start: datetime, person: int, bicycle: int) -> LineCountEvent:
    """One interval's crossings of the centre line."""
    return LineCountEvent(
        id=uuid.uuid4(),
        site=SITE,
        camera=camera,
        start=start,
        end=start + INTERVAL,
        line="centre",
        counts={"westbound": {"person": person, "bicycle": bicycle}, "eastbound": {"person": person + 1}},
    )


def walkers(n: int, index: int) -> SpeedStats:
    """``n`` pedestrians' speeds, binned as an edge does; every fourth interval comes from an edge that
    sends no bins (as before the histogram existed)."""
    speeds = [3.0 + (k * 1.7 + index) % 4.5 for k in range(n)]
    if index % 4 == 3:
        return SpeedStats(n=n, mean_kmh=round(sum(speeds) / n, 2), p85_kmh=6.0)
    return SpeedStats.of(speeds)


def interval_events(camera: str, index: int, start: datetime) -> list[Event]:
    """Every kind of aggregate for one camera and interval (deterministic, varied over the day)."""
    base = 3 + (index * 7 + len(camera)) % 11
    end = start + INTERVAL
    common = {"site": SITE, "camera": camera, "start": start, "end": end}
    return [
        line_count(camera, start, base, index % 3),
        ZoneOccupancyEvent(
            id=uuid.uuid4(),
            **common,
            zone="middle",
            mean={"person": base / 4},
            peak={"person": base // 2 + 1},
        ),
        TurningMovementEvent(
            id=uuid.uuid4(),
            **common,
            movements=[
                Movement(from_zone="west", to_zone="east", cls="person", count=base),
                Movement(from_zone="east", to_zone="west", cls="person", count=base // 2 + 1),
            ],
        ),
        SpeedEvent(
            id=uuid.uuid4(),
            **common,
            line="centre",
            speeds={
                "westbound": {"person": walkers(base, index)},
                "eastbound": {"bicycle": SpeedStats(n=2, mean_kmh=14.0 + index % 5, p85_kmh=19.0)},
            },
        ),
    ]


#: (camera, road users, conflict rows (type, severity, classes, count), cells (x_m, y_m, count, image x, y),
#: TTC counts and PET counts in bins from 0, 1 and 2 s): north-gate has 20 conflicts per 1,000 road users,
#: vtest 8: north-gate ranks first.
CONFLICTS = (
    (
        "north-gate",
        {"person": 100},
        [("crossing", "moderate", "person-person", 2)],
        [(0.0, 0.0, 2, 300.0, 200.0)],
        [0, 2, 0],
        [1, 0, 0],
    ),
    (
        "vtest",
        {"person": 400, "bicycle": 100},
        [("crossing", "serious", "bicycle-person", 3), ("rear_end", "slight", "bicycle-bicycle", 1)],
        [(10.0, 5.0, 3, 380.0, 300.0), (15.0, 5.0, 1, 430.0, 310.0)],
        [3, 0, 1],
        [2, 1, 0],
    ),
)


def conflict_events(start: datetime) -> list[ConflictEvent]:
    """One interval's conflict events of the middle zones (see CONFLICTS)."""
    found = []
    for camera, users, rows, cells, ttc, pet in CONFLICTS:
        body = {
            "id": uuid.uuid4(),
            "site": SITE,
            "camera": camera,
            "start": start,
            "end": start + INTERVAL,
            "zone": "middle",
            "road_users": users,
            "conflicts": [{"type": t, "severity": s, "classes": k, "count": n} for t, s, k, n in rows],
            "ttc": {"edges_s": [0.0, 1.0, 2.0], "counts": ttc},
            "pet": {"edges_s": [0.0, 1.0, 2.0], "counts": pet},
            "cell_m": 5.0,
            "cells": [
                {"x_m": x, "y_m": y, "count": n, "image_x": px, "image_y": py} for x, y, n, px, py in cells
            ],
        }
        found.append(ConflictEvent.model_validate(body))
    return found


def seed(engine: sa.Engine, now: datetime) -> None:
    """Register the cameras and write six hours of events, two incidents and conflicts through the hub's
    writer."""
    sync_registry(engine, [camera_config(*c) for c in CAMERAS])
    first = now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0) - INTERVAL * INTERVALS
    events: list[Event] = []
    for camera, _lat, _lon in CAMERAS:
        events += [e for i in range(INTERVALS) for e in interval_events(camera, i, first + INTERVAL * i)]
    events += conflict_events(first + INTERVAL * (INTERVALS - 2))
    for minutes, kind in ((50, "congestion"), (20, "stopped_vehicle")):
        start = now - timedelta(minutes=minutes)
        events.append(
            IncidentEvent(
                id=uuid.uuid4(),
                site=SITE,
                camera="vtest",
                start=start,
                end=start + timedelta(minutes=2),
                incident=kind,
                zone="middle",
            )
        )
    result = EventWriter(engine).write_events(events)
    if result.stored != len(events):
        raise RuntimeError(f"seeding stored {result.stored} of {len(events)} events: {result}")


@pytest.fixture(scope="session")
def built_frontend() -> Path:
    """The dashboard's front end, built with npm if it is missing or older than its sources."""
    return build_frontend()


@pytest.fixture(scope="module")
def seeded_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sa.Engine]:
    engine = create_store_engine(sqlite_url(tmp_path_factory.mktemp("hub") / "hub.sqlite3"))
    migrate(engine)
    seed(engine, datetime.now(UTC))
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def tokens(seeded_engine: sa.Engine) -> dict[str, str]:
    """role → bearer secret."""
    return {
        role: issue_token(seeded_engine, role, label=f"test {role}").secret
        for role in ("admin", "operator", "viewer", "auditor")
    }


@pytest.fixture(scope="module")
def hub_server(seeded_engine: sa.Engine, built_frontend: Path) -> Iterator[DashboardServer]:
    # The hub's default settings, so the register and PIA state the default [retention] as `hub` would.
    server = serve(HubSettings(), seeded_engine, build=False)
    yield server
    server.stop()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    # UTC in the page, so "today" on the map is the same day the tests compute.
    context = browser.new_context(
        viewport={"width": 1360, "height": 1000}, accept_downloads=True, timezone_id="UTC"
    )
    tab = context.new_page()
    yield tab
    context.close()


@pytest.fixture
def screenshot() -> Callable[[Page, str], Path]:
    """``screenshot(page, "overview")`` saves ``artifacts/screenshots/overview.png`` (full page)."""

    def take(tab: Page, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        tab.screenshot(path=str(path), full_page=True)
        return path

    return take


def login(tab: Page, server: DashboardServer, secret: str) -> None:
    """Open the dashboard and log in through its form, as a person would."""
    tab.goto(server.url)
    tab.fill("input[name=token]", secret)
    tab.click("form.login button[type=submit]")
    tab.wait_for_selector("#nav:not([hidden])")


@pytest.fixture(name="login")
def login_fixture() -> Callable[[Page, DashboardServer, str], None]:
    """:func:`login` as a fixture."""
    return login


@pytest.fixture(name="line_count")
def line_count_fixture() -> Callable[[str, datetime, int, int], LineCountEvent]:
    """:func:`line_count` as a fixture."""
    return line_count


@pytest.fixture
def demo() -> tuple[str, tuple[tuple[str, float, float], ...]]:
    """(site, cameras) of the seeded store."""
    return SITE, CAMERAS


@pytest.fixture(scope="session")
def seed_store() -> Callable[[sa.Engine], None]:
    """``seed_store(engine)``: the cameras and six hours of events ending now."""
    return lambda engine: seed(engine, datetime.now(UTC))
