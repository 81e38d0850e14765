"""Choices a user makes while the hub is still answering an earlier one, and requests that fail after the
page has loaded, in Chromium: the page shows what was chosen last, labelled as it, and a failure says so.

The hub answers for real; only the timing (an answer held back) and the failure (the connection refused)
are the test's, by Playwright's request routing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, Response, Route

from citytally.hub.dashboard.server import DashboardServer
from citytally.hub.store import EventWriter
from dashboard.conftest import conflict_events

pytestmark = [pytest.mark.integration, pytest.mark.browser]

Login = Callable[[Page, DashboardServer, str], None]


class Held:
    """Holds back the first request whose URL `wanted` accepts until :meth:`release`; lets others through."""

    def __init__(self, page: Page, wanted: Callable[[str], bool]) -> None:
        self.page = page
        self.wanted = wanted
        self.route: Route | None = None
        page.route(wanted, self._handle)

    def _handle(self, route: Route) -> None:
        if self.route is None:
            self.route = route
        else:
            route.continue_()

    def wait(self) -> Route:
        for _ in range(100):
            if self.route is not None:
                return self.route
            self.page.wait_for_timeout(100)
        raise AssertionError("the request to hold back was never made")

    def release(self) -> Response:
        """Let the held request go on; its answer, once the page has it."""
        route = self.wait()
        with self.page.expect_response(lambda r: r.request == route.request) as answer:
            route.continue_()
        self.page.unroute(self.wanted, self._handle)
        return answer.value


def ranges_shown(page: Page) -> str:
    return page.locator("#overview-summary").inner_text()


def test_the_overview_shows_the_range_chosen_last_when_an_earlier_answer_comes_late(
    page: Page, hub_server: DashboardServer, tokens: dict[str, str], login: Login
) -> None:
    login(page, hub_server, tokens["viewer"])
    page.wait_for_selector("#overview-summary[data-total]")
    day = page.locator("#overview-summary").get_attribute("data-total")
    assert "last 24 hours" in ranges_shown(page)
    held = Held(page, lambda url: "/dashboard/api/overview?" in url)
    page.select_option("select[name=range]", "1h")
    held.wait()  # the last hour's answer is on its way...
    page.select_option("select[name=range]", "24h")  # ...when the user goes back to the last 24 hours
    page.wait_for_timeout(1000)
    hour = sum(held.release().json()["totals"].values())  # what the hub answered for the last hour
    assert str(hour) != day, "the seeded hour and day must differ for this test to tell them apart"
    page.wait_for_timeout(1000)
    page.wait_for_function(
        "day => document.querySelector('#overview-summary').dataset.total === day", arg=day, timeout=5000
    )
    assert "last 24 hours" in ranges_shown(page)
    assert page.locator("select[name=range]").input_value() == "24h"
    page.wait_for_timeout(500)  # and nothing late draws over it
    assert page.locator("#overview-summary").get_attribute("data-total") == day


def test_a_range_chosen_while_the_hub_is_unreachable_says_so_and_keeps_what_is_shown(
    page: Page, hub_server: DashboardServer, tokens: dict[str, str], login: Login
) -> None:
    login(page, hub_server, tokens["viewer"])
    page.wait_for_selector("#overview-summary[data-total]")
    shown = ranges_shown(page)
    refused = lambda url: "/dashboard/api/" in url  # noqa: E731
    page.route(refused, lambda route: route.abort("connectionrefused"))
    page.select_option("select[name=range]", "1h")
    notice = page.locator("#notice")
    notice.wait_for(timeout=5000)
    assert "The hub cannot be reached" in notice.inner_text()
    assert "The page still shows the data of" in notice.inner_text()
    assert "view stale" in (page.locator(".view").get_attribute("class") or "")
    assert ranges_shown(page) == shown  # the day's figures, still labelled as the day's
    page.unroute(refused)
    page.select_option("select[name=range]", "24h")
    notice.wait_for(state="hidden", timeout=5000)
    assert "stale" not in (page.locator(".view").get_attribute("class") or "")


def test_the_weak_spots_show_the_range_chosen_last_when_an_earlier_answer_comes_late(
    page: Page, hub_server: DashboardServer, tokens: dict[str, str], login: Login, seeded_engine: sa.Engine
) -> None:
    # conflicts three days ago: the last 7 days hold more than the last 24 hours
    before = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=3)
    extra = conflict_events(before.replace(minute=0))
    assert EventWriter(seeded_engine).write_events(extra).stored == len(extra)
    login(page, hub_server, tokens["viewer"])
    page.click("#nav a[href='#/weak-spots']")
    page.wait_for_selector("#weak-summary[data-total]")
    week = page.locator("#weak-summary").get_attribute("data-total")
    held = Held(page, lambda url: "/conflicts/ranking?" in url)
    page.select_option("select[name=range]", "24h")
    held.wait()
    page.select_option("select[name=range]", "7d")
    page.wait_for_timeout(1000)
    day = sum(r["conflicts"] for r in held.release().json()["ranking"])
    assert str(day) != week
    page.wait_for_timeout(1000)
    page.wait_for_function(
        "week => document.querySelector('#weak-summary').dataset.total === week", arg=week, timeout=5000
    )
    assert "in last 7 days." in page.locator("#weak-summary").inner_text()
    page.wait_for_timeout(500)
    assert page.locator("#weak-summary").get_attribute("data-total") == week


def test_an_acknowledgement_the_hub_never_gets_says_so_and_can_be_sent_again(
    page: Page, hub_server: DashboardServer, tokens: dict[str, str], login: Login
) -> None:
    login(page, hub_server, tokens["operator"])
    page.click("#nav-incidents")
    page.wait_for_selector("#incident-rows tr[data-id] button.ack")
    row = page.locator("#incident-rows tr[data-id]").first
    incident_id = row.get_attribute("data-id")
    ack = lambda url: url.endswith(f"/incidents/{incident_id}/ack")  # noqa: E731
    page.route(ack, lambda route: route.abort("connectionrefused"))
    row.locator("button.ack").click()
    notice = page.locator("#notice")
    notice.wait_for(timeout=5000)
    assert "The hub cannot be reached" in notice.inner_text()
    button = page.locator(f"#incident-rows tr[data-id='{incident_id}'] button.ack")
    page.wait_for_function("b => !b.disabled", arg=button.element_handle(), timeout=5000)
    page.unroute(ack)
    button.click()
    page.wait_for_function(
        "id => !document.querySelector(`#incident-rows tr[data-id='${id}']`)", arg=incident_id, timeout=5000
    )
    assert notice.is_hidden()


@pytest.mark.parametrize("loading", ["first load", "range changed"])
def test_leaving_a_page_while_its_answer_is_on_the_way_leaves_the_next_page_alone(
    page: Page, hub_server: DashboardServer, tokens: dict[str, str], login: Login, loading: str
) -> None:
    login(page, hub_server, tokens["viewer"])
    page.wait_for_selector("#overview-summary[data-total]")
    counts = lambda url: "/dashboard/api/cameras/demo-plaza/vtest/counts?" in url  # noqa: E731
    camera = f"{hub_server.url}#/camera/demo-plaza/vtest"
    if loading == "first load":
        held = Held(page, counts)
        page.goto(camera)
    else:
        page.goto(camera)
        page.wait_for_selector("#profile-note[data-hours]")
        held = Held(page, counts)
        page.select_option("select[name=range]", "7d")
    held.wait()
    page.click("#nav a[href='#/']")  # the user goes back to the overview before the camera's counts come
    page.wait_for_selector("#overview-summary[data-total]")
    held.release()
    page.wait_for_timeout(1500)
    assert page.locator("#notice").is_hidden(), page.locator("#notice").inner_text()
    assert "stale" not in (page.locator(".view").get_attribute("class") or "")
