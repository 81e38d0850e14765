"""The dashboard in a real browser against a real hub: data on the map and in the charts, live updates,
the public register, login and roles."""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from citytally.events import Event
from citytally.hub.access import authenticate
from citytally.hub.dashboard.server import DashboardServer
from citytally.hub.store import EventWriter, schema

pytestmark = [pytest.mark.integration, pytest.mark.browser]

Shot = Callable[[Page, str], Path]
Login = Callable[[Page, DashboardServer, str], None]
#: Mirrors conftest's seeded store (three cameras on the demo plaza).
SITE = "demo-plaza"
CAMERAS = ("vtest", "north-gate", "east-bridge")


def crossings(engine: sa.Engine, camera: str | None = None, since: datetime | None = None) -> int:
    """Line crossings in the store (from the events as received, not the roll-ups the dashboard reads)."""
    e = schema.events
    query = sa.select(e.c.body).where(e.c.type == "line_count")
    if camera:
        query = query.where(e.c.camera == camera)
    if since:
        query = query.where(e.c.start >= since)
    with engine.connect() as conn:
        bodies = conn.execute(query).scalars().all()
    return sum(n for body in bodies for by_class in body["counts"].values() for n in by_class.values())


def test_map_and_overview_show_the_stored_counts(
    page: Page,
    hub_server: DashboardServer,
    tokens: dict[str, str],
    login: Login,
    seeded_engine: sa.Engine,
    screenshot: Shot,
) -> None:
    login(page, hub_server, tokens["admin"])
    page.wait_for_selector("#overview-summary[data-total]")
    labels = page.locator(".leaflet-tooltip.cam-label")
    assert labels.count() == len(CAMERAS)
    text = " ".join(labels.all_inner_texts()).replace(",", "").replace("\u202f", "")
    for camera in CAMERAS:  # the default range is the rolling last 24 hours: all six seeded hours
        assert camera in text and f"{crossings(seeded_engine, camera)} · last 24 hours" in text
    assert page.locator("#camera-list a").count() == len(CAMERAS)  # cameras reachable by keyboard
    box = page.locator("#map").bounding_box()
    assert box is not None
    for label in labels.all():  # each camera's label sits at its marker, inside the map
        where = label.bounding_box()
        assert where is not None and box["x"] <= where["x"] <= box["x"] + box["width"]
        assert box["y"] <= where["y"] <= box["y"] + box["height"]
    assert page.locator("#map canvas").count() > 0  # base map and markers are drawn on a canvas
    assert int(page.get_attribute("#overview-summary", "data-total") or -1) == crossings(seeded_engine)
    assert page.locator("#busiest-lines li").count() == len(CAMERAS)
    cells = page.locator("#heatmap tbody td")
    assert cells.count() == 7 * 24
    # every value is in the table as text (screen readers, and the "Show numbers" button for everyone)
    values = [int(v.replace(",", "") or 0) for v in cells.all_text_contents()]
    assert sum(values) == crossings(seeded_engine)
    page.click("#heat-values")
    assert page.locator("#heatmap .heat-value").first.bounding_box()["width"] > 1  # type: ignore[index]
    bars = page.evaluate("() => performance.getEntriesByName('citytally:charts-drawn').length")
    assert bars == 1
    screenshot(page, "overview")


def test_camera_page_charts_matrix_speeds_and_csv(
    page: Page,
    hub_server: DashboardServer,
    tokens: dict[str, str],
    login: Login,
    seeded_engine: sa.Engine,
    screenshot: Shot,
    tmp_path: Path,
) -> None:
    login(page, hub_server, tokens["viewer"])
    page.goto(f"{hub_server.url}#/camera/{SITE}/vtest")
    page.wait_for_selector("#camera-total[data-total]")
    assert page.input_value("select[name=range]") == "24h"
    page.wait_for_function(
        "n => Number(document.querySelector('#camera-total').dataset.total) === n",
        arg=crossings(seeded_engine, "vtest"),
    )
    cell = page.locator('#turning td[data-from="west"][data-to="east"]')
    assert int(cell.inner_text().replace(",", "")) > 0
    note = page.inner_text("#speed-note")
    assert "at its own speed" in note and "V85" in note
    assert "Left out of the bins" in note  # every fourth interval of the seed comes without bins
    v85 = json.loads(page.locator("#speed-note").get_attribute("data-v85") or "{}")
    # The seed's pedestrians walk at 3 to 7.5 km/h, so 85 % of them lie below somewhere in the [5, 10) bin.
    assert 5.0 < v85["person"] <= 10.0
    assert v85["bicycle"] is None  # the seed's cyclists come without bins
    for canvas in ("#counts-chart", "#occupancy-chart", "#v85-chart", "#speed-chart"):
        assert page.locator(canvas).bounding_box() is not None
    # V85 per 15 minutes: one interval per bucket; the unbinned ones (a fourth of the pedestrians' and all the
    # cyclists') are drawn apart as the highest interval V85, and the table says so.
    assert "never an average or maximum" in page.inner_text("#v85-note")
    assert int(page.get_attribute("#v85-note", "data-unbinned") or 0) > 0
    assert page.get_attribute("#v85-note", "data-partial") == "0"
    assert "no bins; highest interval V85" in (page.text_content("#v85-table") or "")
    # Hourly buckets (7 days) hold four intervals, one of them without bins: marked as partly binned.
    page.select_option("select[name=range]", "7d")
    page.wait_for_function("() => Number(document.querySelector('#v85-note').dataset.partial) > 0")
    assert "road users)" in (page.text_content("#v85-table") or "")  # "(from 12 of 16 road users)"
    assert "hollow triangle" in page.inner_text("#v85-legend")
    with page.expect_download() as info:
        page.click("#csv")
    csv_path = tmp_path / "counts.csv"
    info.value.save_as(csv_path)
    assert csv_path.read_text().startswith("site,camera,bucket_start")
    with csv_path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert sum(int(r["count"]) for r in rows) == crossings(seeded_engine, "vtest")
    assert {r["view_changed"] for r in rows} == {"false"}  # the seeded camera's view never changed
    screenshot(page, "camera")


def test_an_event_stored_while_the_page_is_open_appears_within_two_seconds(
    page: Page,
    hub_server: DashboardServer,
    tokens: dict[str, str],
    login: Login,
    seeded_engine: sa.Engine,
    line_count: Callable[..., Event],
) -> None:
    login(page, hub_server, tokens["viewer"])
    page.wait_for_selector("#overview-summary[data-total]")
    page.wait_for_selector("#live-status[data-state=live]")
    before = int(page.get_attribute("#overview-summary", "data-total") or -1)
    event = line_count("east-bridge", datetime.now(UTC).replace(second=0, microsecond=0), 40, 2)
    EventWriter(seeded_engine).write_events([event])
    stored_at = time.monotonic()
    page.wait_for_function(
        "n => Number(document.querySelector('#overview-summary').dataset.total) === n",
        arg=before + 40 + 2 + 41,
        timeout=2000,
    )
    assert time.monotonic() - stored_at < 2.0
    assert page.evaluate("() => performance.getEntriesByType('navigation').length") == 1  # no reload


def test_register_and_pia_are_public(page: Page, hub_server: DashboardServer, screenshot: Shot) -> None:
    response = page.goto(f"{hub_server.base_url}/register")
    assert response is not None and response.status == 200
    for camera in CAMERAS:
        assert page.locator(f"#{SITE}--{camera}").count() == 1
    text = page.inner_text("body")
    for needle in (
        "Purpose",
        "Legal basis",
        "What it never does",
        "No licence-plate reading",
        "Retention",
        "90 days after the start of the interval",  # the hub's raw limit: shorter than the camera's 365
        "3650 days after the start of the 15 minutes, hour or day they sum",
        "privacy@city.example",
    ):
        assert needle in text
    # styled from a stylesheet, not inline (the hub's content security policy forbids inline styles)
    assert page.locator("style, [style]").count() == 0
    assert page.eval_on_selector("dl", "e => getComputedStyle(e).display") == "grid"
    screenshot(page, "register")
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    screenshot(page, "register-390")
    page.set_viewport_size({"width": 1440, "height": 1000})
    as_json = page.request.get(f"{hub_server.base_url}/register.json")
    assert as_json.status == 200
    assert {c["reference"] for c in as_json.json()["cameras"]} == {f"{SITE}/{c}" for c in CAMERAS}
    response = page.goto(f"{hub_server.base_url}/pia")
    assert response is not None and response.status == 200
    text = page.inner_text("body")
    for needle in (
        "Purposes and legal bases",
        "Data kept and for how long",
        "Who has access",
        "auditor",
        "Risks and mitigations",
        "90 days",
        "3650 days",
    ):
        assert needle in text
    page.emulate_media(media="print")
    assert page.locator("nav").is_hidden()
    page.emulate_media(media="screen")
    assert page.locator("style, [style]").count() == 0
    assert page.locator("meta[name=viewport]").count() == 1
    screenshot(page, "pia")
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    screenshot(page, "pia-390")


@pytest.mark.parametrize(
    "path",
    [
        "/dashboard/api/cameras",
        "/dashboard/api/overview",
        "/incidents",
        "/dashboard/api/live",
        f"/dashboard/api/cameras/{SITE}/vtest/counts",
    ],
)
def test_data_and_admin_endpoints_refuse_without_login(
    page: Page, hub_server: DashboardServer, path: str
) -> None:
    assert page.request.get(f"{hub_server.base_url}{path}").status == 401


def test_dashboard_shows_only_the_login_form_without_a_token(
    page: Page, hub_server: DashboardServer, screenshot: Shot
) -> None:
    page.goto(hub_server.url)
    page.wait_for_selector("form.login")
    assert page.locator("#map").count() == 0
    assert page.locator("#nav").is_hidden()
    page.fill("input[name=token]", "ct_not-a-real-token")
    page.click("form.login button[type=submit]")
    page.wait_for_selector("form.login .error:has-text('not accepted')")
    screenshot(page, "login")


def test_viewer_sees_no_incidents_and_the_api_refuses(
    page: Page, hub_server: DashboardServer, tokens: dict[str, str], login: Login
) -> None:
    login(page, hub_server, tokens["viewer"])
    assert page.locator("#nav-incidents").is_hidden()
    page.goto(f"{hub_server.url}#/incidents")
    page.wait_for_selector("#overview-summary[data-total]")  # falls back to the overview
    assert page.locator("table.incidents").count() == 0
    status = page.evaluate(
        """async () => (await fetch('/incidents', {headers: {Authorization:
            'Bearer ' + sessionStorage.getItem('citytally.token')}})).status"""
    )
    assert status == 403


def test_operator_acknowledges_an_incident(
    page: Page,
    hub_server: DashboardServer,
    tokens: dict[str, str],
    login: Login,
    seeded_engine: sa.Engine,
    screenshot: Shot,
) -> None:
    login(page, hub_server, tokens["operator"])
    page.click("#nav-incidents")
    page.wait_for_selector("#incident-rows tr[data-id]")
    assert page.locator("#incident-rows tr[data-id]").count() == 2
    screenshot(page, "incidents")
    first = page.locator("#incident-rows tr[data-id]").first
    incident_id = first.get_attribute("data-id")
    first.locator("button.ack").click()
    page.wait_for_function(
        "id => !document.querySelector(`#incident-rows tr[data-id='${id}']`)", arg=incident_id, timeout=5000
    )
    i = schema.incidents
    with seeded_engine.connect() as conn:
        rows = conn.execute(sa.select(i.c.event_id, i.c.acknowledged_at, i.c.acknowledged_by)).all()
    operator = authenticate(seeded_engine, tokens["operator"])
    assert operator is not None
    acked = {str(r.event_id): r.acknowledged_by for r in rows if r.acknowledged_at is not None}
    assert acked == {incident_id: operator.token_id}


def test_a_demo_login_link_logs_in_and_leaves_no_token_in_the_address(
    page: Page, hub_server: DashboardServer, tokens: dict[str, str]
) -> None:
    page.goto(hub_server.login_url(tokens["viewer"]))
    page.wait_for_selector("#overview-summary[data-total]")
    assert "token" not in page.url
    assert page.evaluate("() => sessionStorage.getItem('citytally.token')") == tokens["viewer"]


def test_cameras_that_would_cover_one_another_on_the_map_are_one_marker_that_zooms_in(
    page: Page, built_frontend: Path, tmp_path: Path, login: Login, screenshot: Shot
) -> None:
    # The plaza's three cameras and, in another city, two on one mast: framed together, the plaza's markers
    # fall within a few pixels of one another, each label over the next. They are one marker, "3 cameras",
    # until a click on it zooms in on them. The mast's two never stand apart: a click lists them.
    from datetime import timedelta

    from citytally.hub.access import issue_token
    from citytally.hub.config import HubSettings
    from citytally.hub.dashboard.server import serve
    from citytally.hub.store import create_store_engine, migrate, sqlite_url, sync_registry

    from .conftest import CAMERAS as PLAZA
    from .conftest import camera_config, interval_events

    engine = create_store_engine(sqlite_url(tmp_path / "hub.sqlite3"))
    migrate(engine)
    cameras = [*PLAZA, ("mast-east", 50.9375, 6.9603), ("mast-west", 50.9375, 6.9603)]
    sync_registry(engine, [camera_config(*c) for c in cameras])
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=2)
    events = [e for c, _, _ in cameras for e in interval_events(c, 0, start)]
    EventWriter(engine).write_events(events)
    server = serve(HubSettings(), engine, build=False)
    try:
        login(page, server, issue_token(engine, "viewer", label="map").secret)
        page.wait_for_selector("#overview-summary[data-total]")
        labels = page.locator(".leaflet-tooltip.cam-label")
        assert labels.count() == 2
        group = page.locator(".cam-label", has_text="3 cameras")
        assert sorted((group.get_attribute("data-cameras") or "").split()) == sorted(
            f"{SITE}/{c}" for c, _, _ in PLAZA
        )
        plaza_total = sum(crossings(engine, c) for c, _, _ in PLAZA)
        assert f"{plaza_total:,} · last 24 hours" in group.inner_text().replace("\u202f", ",")
        screenshot(page, "overview-grouped")
        group.click()
        expect(labels).to_have_count(4)
        box = page.locator("#map").bounding_box()
        assert box is not None
        for camera, _, _ in PLAZA:  # each on its own now, inside the map
            where = page.locator(f".cam-label[data-cameras='{SITE}/{camera}']").bounding_box()
            assert where is not None and box["x"] <= where["x"] <= box["x"] + box["width"]
        page.locator(f".cam-label[data-cameras='{SITE}/north-gate']").click()
        page.wait_for_url(f"**#/camera/{SITE}/north-gate")
        page.click("#nav a[href='#/']")
        page.locator(".cam-label", has_text="2 cameras").click()
        listed = page.locator(".cam-list li a")
        expect(listed).to_have_count(2)
        assert listed.all_inner_texts() == ["mast-east", "mast-west"]
        listed.nth(1).click()
        page.wait_for_url(f"**#/camera/{SITE}/mast-west")
    finally:
        server.stop()
        engine.dispose()
