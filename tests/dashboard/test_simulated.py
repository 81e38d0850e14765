"""The demo's simulated day: SUMO on the real Cologne network gives every panel data, labelled simulated."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from playwright.sync_api import Page

from citytally.hub.access import issue_token
from citytally.hub.config import HubSettings
from citytally.hub.conflicts import conflict_cells, conflict_ranking
from citytally.hub.dashboard.data import count_series, occupancy_series, turning_movements
from citytally.hub.dashboard.server import DashboardServer, serve
from citytally.hub.dashboard.simulated import (
    SIMULATED_SITE,
    default_resco_dir,
    load_simulated_day,
    simulate_hour,
)
from citytally.hub.dashboard.speeds import speed_distribution
from citytally.hub.queries import SeriesQuery
from citytally.hub.store import create_store_engine, migrate, schema, sqlite_url

pytestmark = [pytest.mark.integration, pytest.mark.sumo]

Shot = Callable[[Page, str], Path]
Login = Callable[[Page, DashboardServer, str], None]


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[sa.Engine, int]]:
    if not default_resco_dir().is_dir():
        pytest.fail(f"{default_resco_dir()}: the RESCO scenarios are missing")
    engine = create_store_engine(sqlite_url(tmp_path_factory.mktemp("sim") / "hub.sqlite3"))
    migrate(engine)
    stored = load_simulated_day(engine)
    yield engine, stored
    engine.dispose()


def test_the_virtual_cameras_see_each_car_often_and_no_conflict_asks_for_impossible_braking() -> None:
    # A camera sees a car many times as it crosses a junction. Seen once a second (SUMO's default step), a
    # car crossing the 20 m zone was two points, its path a chord through its turn prolonged straight past
    # the junction, and conflicts needed 50-180 m/s² of braking; no car brakes harder than about 8 m/s².
    if not default_resco_dir().is_dir():
        pytest.fail(f"{default_resco_dir()}: the RESCO scenarios are missing")
    hour = simulate_hour(default_resco_dir())
    for junction, zone in hour.zones.items():
        steps = np.concatenate([np.diff(p.trajectory.t) for p in zone.paths])
        assert steps.max() <= 0.25 + 1e-6, junction
        moving = [p for p in zone.paths if np.ptp(p.trajectory.xy[:, 0]) + np.ptp(p.trajectory.xy[:, 1]) > 15]
        assert np.median([len(p.trajectory.t) for p in moving]) >= 6, junction
        assert zone.conflicts, junction
        braking = [c.conflict.drac_ms2 for _, _, c in zone.conflicts if c.conflict.min_ttc_s > 0]
        assert max(braking) < 8.0, (junction, sorted(braking))


def test_every_panel_of_every_simulated_camera_has_data(simulated: tuple[sa.Engine, int]) -> None:
    engine, stored = simulated
    with engine.connect() as conn:
        cams = conn.execute(sa.select(schema.cameras).where(schema.cameras.c.site == SIMULATED_SITE)).all()
        incidents = conn.execute(sa.select(sa.func.count()).select_from(schema.incidents)).scalar_one()
    assert len(cams) == 3 and stored > 3 * 96 * 4
    assert all("SIMULATED" in c.purpose and "SIMULATED" in c.location for c in cams)
    assert all(50.9 < c.lat < 51.0 and 6.8 < c.lon < 7.0 for c in cams)  # Cologne
    assert incidents > 0  # long queues are reported as congestion
    end = datetime.now(UTC)
    start = end - timedelta(days=1)
    for cam in cams:
        counts = count_series(engine, SIMULATED_SITE, cam.camera, start, end)
        turns = turning_movements(engine, SIMULATED_SITE, cam.camera, start, end)
        # every car that crossed the junction is one crossing and one turning movement
        assert counts.total == sum(m.count for m in turns.movements) > 0
        assert all(counts.reported[1:-1])  # a whole day without gaps (the quarter now running is not over)
        speeds = speed_distribution(engine, SIMULATED_SITE, cam.camera, start, end)
        assert speeds.series and speeds.v85 and all(5 < s.mean_kmh < 70 for s in speeds.series)
        occupancy = occupancy_series(engine, SIMULATED_SITE, cam.camera, start, end)
        assert any(v for s in occupancy.series for v in s.values)
        by_hour = [0] * 24
        for i, t in enumerate(counts.times):
            hour = datetime.fromtimestamp(t / 1000, UTC).hour
            by_hour[hour] += sum(s.values[i] or 0 for s in counts.series)
        assert by_hour[3] < by_hour[7] / 5  # the night is quiet, the morning peak busy


def test_the_simulated_junctions_have_conflicts_measured_from_sumo_paths(
    simulated: tuple[sa.Engine, int],
) -> None:
    engine, _ = simulated
    end = datetime.now(UTC)
    query = SeriesQuery(start=end - timedelta(days=1, hours=1), end=end, interval="15m")
    ranking = conflict_ranking(engine, query, "camera").rows
    with engine.connect() as conn:
        events = conn.execute(
            sa.select(schema.events.c.start, schema.events.c.body).where(schema.events.c.type == "conflict")
        ).all()
    # one conflict event per camera and interval, whose road users are the cars in the junction zone
    assert len(events) == 3 * 96
    assert {r["camera"] for r in ranking} == {"junction-1", "junction-2", "junction-3"}
    assert all(r["road_users"] > 1000 and 0 < r["conflicts"] < r["road_users"] for r in ranking)
    cells = conflict_cells(engine, query).rows
    # every cell lies in the junction's 20 m square, drawn as the camera's "junction" zone (800-1100 px)
    assert cells and all(-10 <= c["x_m"] < 10 and -10 <= c["y_m"] < 10 for c in cells)
    assert all(800 <= c["image_x"] <= 1100 and 0 <= c["image_y"] <= 300 for c in cells)
    by_hour = [0] * 24
    for start, body in events:
        by_hour[start.hour] += sum(row["count"] for row in body["conflicts"])
    assert by_hour[3] < by_hour[7] / 5  # fewer cars, fewer conflicts: the same thinning as the counts


@pytest.mark.browser
def test_the_dashboard_shows_the_simulated_cameras(
    simulated: tuple[sa.Engine, int], built_frontend: Path, page: Page, login: Login, screenshot: Shot
) -> None:
    engine, _ = simulated
    server = serve(HubSettings(), engine, build=False)
    try:
        login(page, server, issue_token(engine, "operator", label="sim").secret)
        page.wait_for_selector("#overview-summary[data-total]")
        assert page.locator(".leaflet-tooltip.cam-label").count() == 3
        screenshot(page, "simulated-overview")
        page.goto(f"{server.url}#/camera/{SIMULATED_SITE}/junction-3")
        page.wait_for_selector("#camera-total[data-total]")
        assert "SIMULATED" in page.inner_text(".camera-head")
        assert page.locator("#turning td").count() > 4
        screenshot(page, "simulated-camera")
        page.goto(f"{server.url}#/weak-spots")
        page.wait_for_selector("#heat-drawing svg circle")
        places = page.locator("#weak-rows th[scope=row]").all_inner_texts()
        assert sorted(places) == [f"{SIMULATED_SITE} / junction-{k} / junction" for k in (1, 2, 3)]
        assert int(page.get_attribute("#weak-summary", "data-total") or 0) > 0
        page.wait_for_selector("#dist-note[data-ttc]")  # the top place's TTC and PET distributions
        assert int(page.get_attribute("#dist-note", "data-ttc") or 0) > 0
        screenshot(page, "simulated-weak-spots")
        page.goto(f"{server.base_url}/register")
        assert page.inner_text("body").count("SIMULATED") >= 3
    finally:
        server.stop()
