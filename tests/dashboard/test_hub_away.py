"""The page while its hub goes away and comes back, in Chromium against a real server that is stopped and
started again on the same port (not a request the test refuses: the open live stream really breaks)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page

from citytally.hub.config import HubSettings
from citytally.hub.dashboard.server import DashboardServer, free_port
from citytally.hub.web import create_app

pytestmark = pytest.mark.integration

Login = Callable[[Page, DashboardServer, str], None]


def _server(engine: sa.Engine, port: int) -> DashboardServer:
    return DashboardServer(create_app(HubSettings(), engine), "127.0.0.1", port).start()


def test_a_hub_that_goes_away_is_said_at_once_and_the_page_refreshes_when_it_is_back(
    page: Page, seeded_engine: sa.Engine, tokens: dict[str, str], login: Login, built_frontend: object
) -> None:
    """The live stream notices a lost hub within a second, yet the page said nothing for up to a minute
    (its next timed refresh) but "reconnecting…" in a small badge, over charts that looked live."""
    port = free_port()
    server = _server(seeded_engine, port)
    try:
        login(page, server, tokens["viewer"])
        page.wait_for_selector("#overview-summary[data-total]")
        page.wait_for_function("() => document.querySelector('#live-status').dataset.state === 'live'")
        server.stop()
        notice = page.locator("#notice")
        notice.wait_for(timeout=10_000)  # seconds, not the minute of the timed refresh
        assert "The hub cannot be reached (since" in notice.inner_text()
        assert "stale" in (page.locator(".view").get_attribute("class") or "")
        server = _server(seeded_engine, port)
        notice.wait_for(state="hidden", timeout=20_000)  # refreshed as soon as the stream is back
        assert "stale" not in (page.locator(".view").get_attribute("class") or "")
    finally:
        server.stop()


def test_a_page_that_could_not_load_while_the_hub_was_away_loads_when_it_is_back(
    page: Page, seeded_engine: sa.Engine, tokens: dict[str, str], login: Login, built_frontend: object
) -> None:
    """A page opened during an outage stayed empty for good once the hub was back, under "the page tries
    again by itself" (it did not), or the browser's "Failed to fetch dynamically imported module"."""
    port = free_port()
    server = _server(seeded_engine, port)
    try:
        login(page, server, tokens["operator"])
        page.wait_for_selector("#overview-summary[data-total]")
        server.stop()
        page.click("#nav a[href='#/weak-spots']")  # its scripts are not loaded yet: the load fails
        notice = page.locator("#notice")
        page.wait_for_function(
            "() => document.querySelector('#notice').textContent.includes('Could not load this page.')",
            timeout=15_000,
        )
        text = notice.inner_text()
        assert "The hub cannot be reached." in text and "Trying again in 10 s." in text, text
        assert "dynamically imported" not in text
        server = _server(seeded_engine, port)
        page.wait_for_selector("#weak-summary[data-total]", timeout=30_000)
        notice.wait_for(state="hidden", timeout=10_000)
    finally:
        server.stop()


def test_the_notice_of_a_page_left_does_not_stay_on_the_next(
    page: Page, hub_server: DashboardServer, tokens: dict[str, str], login: Login
) -> None:
    login(page, hub_server, tokens["viewer"])
    page.goto(f"{hub_server.url}#/camera/demo-plaza/no-such-camera")
    notice = page.locator("#notice")
    notice.wait_for(timeout=10_000)
    assert "no camera demo-plaza/no-such-camera" in notice.inner_text()
    assert "Trying again" not in notice.inner_text()  # a camera that is not there is not waited for
    page.click("#nav a[href='#/']")
    page.wait_for_selector("#overview-summary[data-total]")
    assert page.locator("#notice").is_hidden()
