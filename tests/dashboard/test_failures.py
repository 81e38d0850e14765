"""Failures the user must see in a real browser: a token revoked or expired while its tab is open, a range
the hub would refuse, a lock-out after too many failed logins, and the page on a 390 px phone."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.sync_api import Browser, Page

from citytally.hub.access import AccessPolicy, issue_token, record_login_failure, revoke_token
from citytally.hub.access_tables import login_failures_table
from citytally.hub.dashboard.server import DashboardServer

pytestmark = [pytest.mark.integration, pytest.mark.browser]

Shot = Callable[[Page, str], Path]
Login = Callable[[Page, DashboardServer, str], None]
SITE = "demo-plaza"
#: The page then asks the hub for charts in a time zone the hub does not know (it answers 422).
BROWSER_IN_AN_UNKNOWN_ZONE = """
const Real = Intl.DateTimeFormat;
Intl.DateTimeFormat = function (...args) {
  const format = new Real(...args);
  const real = format.resolvedOptions.bind(format);
  format.resolvedOptions = () => ({ ...real(), timeZone: "Mars/Olympus" });
  return format;
};
"""


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    """A 390 px wide phone screen."""
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True, timezone_id="UTC"
    )
    tab = context.new_page()
    yield tab
    context.close()


@pytest.mark.parametrize("ending", ["revoked", "expired"])
def test_a_token_that_stops_working_signs_the_tab_out(
    page: Page,
    hub_server: DashboardServer,
    seeded_engine: sa.Engine,
    login: Login,
    screenshot: Shot,
    ending: str,
) -> None:
    expiry = datetime.now(UTC) + timedelta(seconds=8) if ending == "expired" else None
    issued = issue_token(seeded_engine, "viewer", label=f"to be {ending}", expires_at=expiry)
    login(page, hub_server, issued.secret)
    page.wait_for_selector("#overview-summary[data-total]")
    page.wait_for_selector("#live-status[data-state=live]")
    if ending == "revoked":
        assert revoke_token(seeded_engine, issued.id)
    else:
        time.sleep(max(0.0, (expiry - datetime.now(UTC)).total_seconds()))  # type: ignore[operator]
    # the live stream re-checks its token every 2 s and ends; the tab must say so, not keep "live"
    page.wait_for_selector("#live-status[data-state='signed out']", timeout=6000)
    assert page.inner_text("#live-status") == "signed out"
    page.wait_for_selector("form.login")
    assert "no longer valid" in page.inner_text("form.login .error")
    assert "no longer valid" in page.inner_text("#notice")
    assert page.locator("#overview-summary").count() == 0  # no stale numbers left on screen
    assert page.evaluate("() => sessionStorage.getItem('citytally.token')") is None
    screenshot(page, f"signed-out-{ending}")


def test_a_range_longer_than_the_hub_serves_says_so_and_keeps_the_chart(
    page: Page, hub_server: DashboardServer, tokens: dict[str, str], login: Login, screenshot: Shot
) -> None:
    login(page, hub_server, tokens["viewer"])
    page.goto(f"{hub_server.url}#/camera/{SITE}/vtest")
    page.wait_for_selector("#camera-total[data-total]")
    before = page.get_attribute("#camera-total", "data-total")
    page.select_option("select[name=range]", "custom")
    page.fill("input[name=from]", "2024-01-01")
    page.dispatch_event("input[name=from]", "change")
    error = page.locator(".range-error")
    error.wait_for()
    assert "longer than the 400 days the hub serves" in error.inner_text()
    assert "still show the previous range" in error.inner_text()
    assert page.get_attribute("#camera-total", "data-total") == before
    # a shorter range clears the message and loads
    page.fill("input[name=from]", (datetime.now(UTC) - timedelta(days=2)).date().isoformat())
    page.dispatch_event("input[name=from]", "change")
    page.wait_for_function("() => !document.querySelector('.range-error').textContent")
    screenshot(page, "range-too-long-fixed")


def test_the_hubs_refusal_of_a_request_is_shown_with_what_to_do(
    page: Page, hub_server: DashboardServer, tokens: dict[str, str], login: Login
) -> None:
    """A request the hub refuses (here: a time zone it does not know) leaves the page and says why."""
    login(page, hub_server, tokens["viewer"])
    page.wait_for_selector("#overview-summary[data-total]")
    page.add_init_script(BROWSER_IN_AN_UNKNOWN_ZONE)
    page.reload()
    notice = page.locator("#notice")
    notice.wait_for()
    assert "The hub refused this request" in notice.inner_text()
    assert "unknown time zone 'Mars/Olympus'" in notice.inner_text()
    assert page.locator("#live-status").get_attribute("data-state") != "signed out"


#: The elements that stick out of the viewport, for the failure message.
WIDEST = """() => [...document.querySelectorAll('body *')]
  .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1)
  .slice(0, 12)
  .map((e) => `${e.tagName}#${e.id}.${e.className} ${Math.round(e.getBoundingClientRect().right)}`)"""


def test_the_top_bar_and_pages_fit_a_phone(
    phone: Page, hub_server: DashboardServer, tokens: dict[str, str], login: Login, screenshot: Shot
) -> None:
    login(phone, hub_server, tokens["operator"])
    phone.wait_for_selector("#overview-summary[data-total]")
    for name, hash_ in (("overview", "#/"), ("camera", f"#/camera/{SITE}/vtest")):
        phone.goto(f"{hub_server.url}{hash_}")
        phone.wait_for_selector("#overview-summary[data-total], #camera-total[data-total]")
        width = phone.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 390, f"{name}: {width} px wide on a 390 px screen: {phone.evaluate(WIDEST)}"
        for item in phone.locator(".topbar > *:visible").all():
            box = item.bounding_box()
            assert box is not None and box["x"] + box["width"] <= 390, name
        screenshot(phone, f"{name}-390")


def test_a_lock_out_says_until_when_and_keeps_the_token(
    page: Page,
    hub_server: DashboardServer,
    seeded_engine: sa.Engine,
    tokens: dict[str, str],
    screenshot: Shot,
) -> None:
    """After too many failed logins from an address, a further bad token is answered 429: the form says
    until when and keeps what was typed (to correct a typo then). A valid token is never locked out."""
    for _ in range(AccessPolicy().max_failures):
        record_login_failure(seeded_engine, "127.0.0.1")
    typo = tokens["viewer"][:-1]
    try:
        page.goto(hub_server.url)
        page.fill("input[name=token]", typo)
        page.click("form.login button[type=submit]")
        error = page.locator("form.login .error")
        error.filter(has_text="Too many").wait_for()
        text = error.inner_text()
        assert "Try again after" in text and "your token is kept" in text
        assert "429" not in text and "{" not in text  # no raw status or JSON
        assert page.evaluate("() => sessionStorage.getItem('citytally.token')") == typo
        assert page.input_value("input[name=token]") == typo
        screenshot(page, "locked-out")
        page.fill("input[name=token]", tokens["viewer"])  # the right token still gets in
        page.click("form.login button[type=submit]")
        page.wait_for_selector("#overview-summary[data-total]")
    finally:
        with seeded_engine.begin() as conn:
            conn.execute(login_failures_table.delete())


def test_the_header_says_when_no_data_can_arrive_and_when_it_can_again(
    page: Page, seeded_engine: sa.Engine, built_frontend: Path, login: Login, tmp_path: Path
) -> None:
    """A hub whose ingest cannot reach its broker stores nothing new, and the live views just look quiet:
    an operator could not tell "no incident" from "no data". The header now says so, and stops saying it
    once the broker is back."""
    from citytally.hub.config import HubSettings
    from citytally.hub.dashboard.server import serve
    from citytally.hub.ingest import Ingest
    from citytally.hub.metrics import HubMetrics
    from citytally.hub.store import EventWriter
    from hub.conftest import PrivateBroker, mqtt_settings_for

    broker = PrivateBroker(tmp_path)  # not started: out of reach
    metrics = HubMetrics()
    metrics.broker_grace_s = 1.0
    settings = mqtt_settings_for("hubhealth", port=broker.port)
    ingest = Ingest(EventWriter(seeded_engine, topic_prefix="hubhealth"), settings, metrics=metrics)
    server = serve(HubSettings(), seeded_engine, build=False, metrics=metrics)
    ingest.start()
    try:
        time.sleep(1.5)
        login(page, server, issue_token(seeded_engine, "viewer").secret)
        badge = page.wait_for_selector("#hub-health:not([hidden])", timeout=15_000)
        assert badge is not None
        assert "no broker for" in badge.inner_text() and "no new data can arrive" in badge.inner_text()
        broker.start()
        assert ingest.wait_connected(40)
        page.wait_for_selector("#hub-health", state="hidden", timeout=15_000)
    finally:
        ingest.stop()
        server.stop()
        broker.stop()


def test_the_header_says_when_the_store_is_damaged(
    page: Page, built_frontend: Path, login: Login, tmp_path: Path
) -> None:
    """A store with a damaged page (found by the check the hub runs when it starts): the header says the
    store is damaged, so that an operator does not read its gaps as quiet streets."""
    from citytally.hub.config import HubSettings
    from citytally.hub.dashboard.server import serve
    from citytally.hub.store import create_store_engine, damage, migrate, sqlite_url
    from dashboard.conftest import seed

    path = tmp_path / "hub.sqlite3"
    engine = create_store_engine(sqlite_url(path))
    migrate(engine)
    seed(engine, datetime.now(UTC))
    engine.dispose()
    data = bytearray(path.read_bytes())
    page_no = len(data) // 4096 // 2
    for offset in range(4096 * page_no + 8, 4096 * page_no + 3000):
        data[offset] = (offset * 7) % 256
    path.write_bytes(bytes(data))
    engine = create_store_engine(sqlite_url(path))
    server = serve(HubSettings(), engine, build=False)
    try:
        assert damage.check(engine) is not None
        login(page, server, issue_token(engine, "viewer").secret)
        badge = page.wait_for_selector("#hub-health:not([hidden])", timeout=15_000)
        assert badge is not None and "its store is damaged" in badge.inner_text()
    finally:
        server.stop()
        engine.dispose()
