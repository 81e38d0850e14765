"""The overview's camera list in Chromium: each camera's crossings are those of the range chosen (not from
its start up to now), and a camera without a position is in the list though not on the map."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, Route
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from citytally.edge.config import CameraConfig
from citytally.hub.dashboard.server import DashboardServer
from citytally.hub.store import EventWriter, sync_registry
from dashboard.conftest import CAMERAS, camera_config, line_count

pytestmark = [pytest.mark.integration, pytest.mark.browser]

Login = Callable[[Page, DashboardServer, str], None]


def listed(page: Page) -> dict[str, str]:
    """Camera → its crossings as the list shows them."""
    rows = page.locator("#camera-list tbody tr")
    return {
        rows.nth(i).get_attribute("data-camera") or "": rows.nth(i).locator("td.num").inner_text()
        for i in range(rows.count())
    }


def test_chosen_days_before_the_data_count_no_crossing_in_the_list_either(
    page: Page, hub_server: DashboardServer, tokens: dict[str, str], login: Login
) -> None:
    login(page, hub_server, tokens["viewer"])
    page.wait_for_selector("#overview-summary[data-total]")
    assert all(n != "0" for n in listed(page).values())  # the seeded six hours, in the last 24 hours
    # two days ago, a day that ended before any seeded event began
    day = (datetime.now(UTC) - timedelta(days=2)).date().isoformat()
    page.select_option("select[name=range]", "custom")
    page.fill("input[name=from]", day)
    page.fill("input[name=to]", day)
    page.dispatch_event("input[name=to]", "change")
    page.wait_for_function(
        "day => document.querySelector('#overview-summary').textContent.includes(`${day} to ${day}`)", arg=day
    )
    assert page.locator("#overview-summary").get_attribute("data-total") == "0"
    assert listed(page) == {f"demo-plaza/{camera}": "0" for camera, _, _ in CAMERAS}
    labels = " ".join(page.locator(".leaflet-tooltip.cam-label").all_inner_texts())
    assert f"0 · {day} to {day}" in labels


def test_a_camera_without_a_position_is_listed_but_not_on_the_map(
    page: Page, hub_server: DashboardServer, tokens: dict[str, str], login: Login, seeded_engine: sa.Engine
) -> None:
    body = camera_config("depot-gate", 0.0, 0.0).model_dump(mode="json")
    body["metadata"] |= {"lat": None, "lon": None}
    sync_registry(seeded_engine, [CameraConfig.model_validate(body)])
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=1)
    assert EventWriter(seeded_engine).write_events([line_count("depot-gate", start, 7, 2)]).stored == 1
    login(page, hub_server, tokens["viewer"])
    page.wait_for_selector("#overview-summary[data-total]")
    assert listed(page)["demo-plaza/depot-gate"] == "17"  # 7 + 2 one way, 8 the other
    assert page.locator("#camera-list a", has_text="depot-gate").count() == 1
    labels = page.locator(".leaflet-tooltip.cam-label")
    assert labels.count() == len(CAMERAS)  # the map has the cameras with a position only
    assert "depot-gate" not in " ".join(labels.all_inner_texts())
    assert f"at {len(CAMERAS) + 1} cameras" in page.locator("#overview-summary").inner_text()


def test_the_weak_spots_of_a_rolling_range_move_on_with_the_clock(
    page: Page, hub_server: DashboardServer, tokens: dict[str, str], login: Login
) -> None:
    """With no new conflict, the last 24 hours still end now: a day later the seeded conflicts are out. The
    minute's refresh runs from the view's start, also while its first load is still coming in (held here:
    the distributions, the last part of it, come after the day has passed)."""
    answers: list[str] = []  # what the page asked the hub after the clock moved on, should the test fail
    page.on("response", lambda r: answers.append(f"{r.status} {r.url.split('?')[0]}"))
    page.clock.install()
    login(page, hub_server, tokens["viewer"])
    asked: list[Route] = []  # the distributions asked for: the first load's go, the 24 hours' wait

    def hold(route: Route) -> None:
        asked.append(route)
        if len(asked) == 1:
            route.continue_()

    page.route("**/conflicts/histograms?**", hold)
    page.click("#nav a[href='#/weak-spots']")
    page.wait_for_selector("#weak-summary[data-total]")
    page.select_option("select[name=range]", "24h")
    page.wait_for_function(
        "() => document.querySelector('#weak-summary').textContent.includes('in last 24 hours')"
    )
    assert page.locator("#weak-summary").get_attribute("data-total") == "6"
    answers.clear()
    page.clock.fast_forward("25:00:00")  # the page's clock: its rolling range now ends a day later
    page.clock.run_for(60_000)  # a minute of the page's timers
    assert len(asked) == 2
    asked[1].continue_()
    page.unroute("**/conflicts/histograms?**")
    # Under 60 s: the page's next timed refresh, a minute of its clock on, which now runs at the real pace.
    try:
        page.wait_for_function(
            "() => document.querySelector('#weak-summary').dataset.total === '0'", timeout=30_000
        )
    except PlaywrightTimeout:
        shown = page.locator("#weak-summary").inner_text(), page.locator("#notice").inner_text()
        pytest.fail(f"the page still shows {shown}; it asked the hub {answers}")
