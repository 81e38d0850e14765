"""What an operations room expects of the incidents panel, in Chromium against a real hub: the navigation's
badge counts what waits for an acknowledgement and follows the live stream; a critical incident that
arrives raises a browser notification (asked for with a button); rows come most severe first; each row's
numbers unfold; its link opens the camera's charts around it; an acknowledgement names the token's label."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from playwright.sync_api import Browser, Page

from citytally.events import IncidentEvent
from citytally.hub.access import issue_token
from citytally.hub.dashboard.incidents import acknowledge
from citytally.hub.dashboard.server import DashboardServer
from citytally.hub.store import EventWriter
from dashboard.conftest import SITE

Login = Callable[[Page, DashboardServer, str], None]
Shot = Callable[[Page, str], Path]

pytestmark = [pytest.mark.integration, pytest.mark.browser]

#: Records what the page hands to the browser's own Notification (which still shows it).
RECORD_NOTIFICATIONS = """
(() => {
  const Real = window.Notification;
  window.__notified = [];
  class Recorded extends Real {
    constructor(title, options = {}) {
      super(title, options);
      window.__notified.push({ title, body: options.body, tag: options.tag });
    }
  }
  Object.defineProperty(Recorded, "permission", { get: () => Real.permission });
  Recorded.requestPermission = (...args) => Real.requestPermission(...args);
  window.Notification = Recorded;
})();
"""


@pytest.fixture
def room(browser: Browser) -> Iterator[Page]:
    """A tab of the operations room: notifications recorded, not yet allowed."""
    context = browser.new_context(viewport={"width": 1360, "height": 1000}, timezone_id="UTC")
    context.add_init_script(RECORD_NOTIFICATIONS)
    tab = context.new_page()
    yield tab
    context.close()


def incident_at(
    kind: str, start: datetime, lasting: timedelta, camera: str = "north-gate", **fields: Any
) -> IncidentEvent:
    """One incident event of the seeded site."""
    return IncidentEvent(
        id=uuid.uuid4(), site=SITE, camera=camera, start=start, end=start + lasting, incident=kind, **fields
    )


def wrong_way(minutes_ago: float) -> IncidentEvent:
    return incident_at(
        "wrong_way",
        datetime.now(UTC) - timedelta(minutes=minutes_ago),
        timedelta(seconds=40),
        severity="critical",
        zone="east",
        details={"angle_deg": 171.5, "moved_px": 212.0, "moved_m": 9.4, "road_users": 1},
        incident_id=uuid.uuid4(),
        phase="onset",
    )


def badge(page: Page) -> str:
    return page.locator("#incident-badge").get_attribute("data-open") or ""


def test_badge_notification_order_details_link_and_label(
    room: Page,
    hub_server: DashboardServer,
    seeded_engine: sa.Engine,
    login: Login,
    screenshot: Shot,
) -> None:
    token = issue_token(seeded_engine, "operator", label="control room, night shift")
    login(room, hub_server, token.secret)
    room.wait_for_function("() => document.querySelector('#incident-badge').dataset.open === '2'")
    assert room.locator("#nav-incidents").inner_text().replace("\n", "") == "Incidents2: 2 not acknowledged"
    room.click("#nav-incidents")
    room.wait_for_selector("#incident-rows tr[data-id]")
    button = room.locator("#notify-critical")
    assert button.get_attribute("data-state") == "ask"
    room.context.grant_permissions(["notifications"], origin=hub_server.base_url)
    button.click()
    room.wait_for_function("() => document.querySelector('#notify-critical').dataset.state === 'on'")

    critical = wrong_way(minutes_ago=5)
    assert EventWriter(seeded_engine).write_events([critical]).stored == 1
    room.wait_for_function("() => document.querySelector('#incident-badge').dataset.critical === '1'")
    assert badge(room) == "3"
    assert "3 not acknowledged, 1 critical" in room.locator("#incident-badge").inner_text()
    room.wait_for_function("() => window.__notified.length === 1")
    [note] = room.evaluate("window.__notified")
    assert note["title"] == "Critical incident: wrong way"
    assert note["body"].startswith(f"north-gate, east ({SITE}), since ")
    rows = room.locator("#incident-rows tr[data-id]")
    first_row = "document.querySelector('#incident-rows tr').dataset.id"
    room.wait_for_function(f"() => {first_row} === '{critical.id}'")
    order = [rows.nth(k).locator("td").nth(2).inner_text() for k in range(rows.count())]
    assert order == ["wrong way", "stopped vehicle", "congestion"]  # critical, then the newer warning

    row = rows.first
    row.locator("details summary").click()
    facts = row.locator("details dl").inner_text()
    for expected in ("angle\n171.5°", "moved\n9.4 m", "road users\n1", "lasted\n40 s so far", "zone east"):
        assert expected in facts
    screenshot(room, "incidents-panel")

    assert "3 · 1 critical" in room.locator("#incident-badge").inner_text()  # in writing, not colour alone
    ack = row.locator("button.ack")
    # which one it acknowledges, for a screen reader
    assert (ack.text_content() or "").startswith("Acknowledge: north-gate, wrong way")
    ack.focus()
    room.keyboard.press("Enter")  # as a keyboard user does
    room.wait_for_function("() => document.querySelector('#incident-badge').dataset.open === '2'")
    assert room.locator(f"#incident-rows tr[data-id='{critical.id}']").count() == 0
    # the rows were drawn anew: the keyboard is on the next one's button, not thrown back to the page's top
    room.wait_for_function("() => document.activeElement && document.activeElement.matches('button.ack')")
    room.check("#show-acked")
    acked = room.locator(f"#incident-rows tr[data-id='{critical.id}'] td.status")
    acked.wait_for()
    assert acked.inner_text().startswith("acknowledged by control room, night shift ")
    # the top bar names the token as the acknowledgement does: by its label (it showed its id)
    assert room.locator("#who").inner_text() == "control room, night shift (operator)"
    assert token.id not in acked.inner_text()

    room.locator(f"#incident-rows tr[data-id='{critical.id}'] a.chart-link").click()
    room.wait_for_selector("#camera-total[data-total]")
    assert room.locator("h1").inner_text() == "north-gate"
    assert room.locator(".range select").input_value() == "fixed"
    assert room.locator("#moment-note").inner_text().startswith("Around ")
    # From an hour before the incident to an hour after it, in 15-minute buckets: 9 or 10 of them.
    rows_charted = room.locator("#counts-table tbody tr").count()
    assert 9 <= rows_charted <= 10
    screenshot(room, "incident-on-camera-chart")


def test_no_notification_unless_asked_and_none_for_incidents_already_open(
    room: Page, hub_server: DashboardServer, seeded_engine: sa.Engine, tokens: dict[str, str], login: Login
) -> None:
    room.context.grant_permissions(["notifications"], origin=hub_server.base_url)
    already = wrong_way(minutes_ago=8)
    assert EventWriter(seeded_engine).write_events([already]).stored == 1
    login(room, hub_server, tokens["operator"])
    room.wait_for_function("() => Number(document.querySelector('#incident-badge').dataset.critical) >= 1")
    room.click("#nav-incidents")
    assert room.locator("#notify-critical").get_attribute("data-state") == "on"  # allowed before
    room.click("#notify-critical")  # turned off in this browser
    assert room.locator("#notify-critical").get_attribute("data-state") == "off"
    critical_before = int(room.locator("#incident-badge").get_attribute("data-critical") or "0")
    assert EventWriter(seeded_engine).write_events([wrong_way(minutes_ago=1)]).stored == 1
    room.wait_for_function(
        f"() => Number(document.querySelector('#incident-badge').dataset.critical) === {critical_before + 1}"
    )
    room.wait_for_timeout(500)
    assert room.evaluate("window.__notified") == []  # neither the one open at login nor the one turned off


def test_a_crowd_acknowledged_at_level_e_that_reaches_crush_risk_raises_the_alarm(
    room: Page, hub_server: DashboardServer, seeded_engine: sa.Engine, tokens: dict[str, str], login: Login
) -> None:
    # A dense crowd (Fruin level E, a warning) is acknowledged; it reaches crush risk (critical): the badge
    # and a notification say so. Before, the acknowledgement covered it: no badge, no notification. Then it
    # eases to level E (acknowledged at that level) and comes back to crush risk: notified again (before,
    # the page notified an incident once however often it came back).
    room.context.grant_permissions(["notifications"], origin=hub_server.base_url)
    login(room, hub_server, tokens["operator"])
    room.click("#nav-incidents")
    assert room.locator("#notify-critical").get_attribute("data-state") == "on"
    room.wait_for_selector("#incident-rows tr[data-id]")
    started, crowd = datetime.now(UTC) - timedelta(minutes=10), uuid.uuid4()

    def report(minutes: int, phase: str, severity: str, persons: float) -> None:
        event = incident_at(
            "crowd_density", started, timedelta(minutes=minutes), severity=severity, zone="east",
            details={"persons_per_m2": persons, "level": "F" if persons >= 2.17 else "E"},
            incident_id=crowd, phase=phase,
        )  # fmt: skip
        assert EventWriter(seeded_engine).write_events([event]).stored == 1

    def badge_is(open_now: int, critical: int) -> None:
        room.wait_for_function(
            "() => { const b = document.querySelector('#incident-badge').dataset;"
            f" return b.open === '{open_now}' && b.critical === '{critical}'; }}"
        )

    crowd_row = room.locator("#incident-rows tr", has_text="crowd density")
    waiting = int(badge(room) or "0")
    critical = int(room.locator("#incident-badge").get_attribute("data-critical") or "0")
    report(1, "onset", "warning", 2.0)
    badge_is(waiting + 1, critical)
    crowd_row.locator("button.ack").click()
    badge_is(waiting, critical)
    report(3, "update", "critical", 4.3)  # crush risk
    badge_is(waiting + 1, critical + 1)
    room.wait_for_function("() => window.__notified.length === 1")
    crowd_row.locator("button.ack").wait_for()  # waits for an acknowledgement again
    report(5, "update", "warning", 2.1)  # eased to level E, which was acknowledged
    badge_is(waiting, critical)
    report(7, "update", "critical", 4.8)  # crush risk again
    badge_is(waiting + 1, critical + 1)
    room.wait_for_function("() => window.__notified.length === 2")
    assert [n["title"] for n in room.evaluate("window.__notified")] == [
        "Critical incident: crowd density"
    ] * 2


def test_viewers_see_no_badge(
    page: Page, hub_server: DashboardServer, tokens: dict[str, str], login: Login
) -> None:
    login(page, hub_server, tokens["viewer"])
    page.wait_for_selector("#overview-summary[data-total]")
    assert page.locator("#nav-incidents").is_hidden()
    assert page.locator("#incident-badge").get_attribute("data-open") is None


def test_incidents_per_day_and_the_cameras_where_most_began(
    room: Page,
    hub_server: DashboardServer,
    seeded_engine: sa.Engine,
    tokens: dict[str, str],
    login: Login,
    screenshot: Shot,
) -> None:
    """Below the list: how many incidents began on each of the last 30 days, by type, and where most began.
    Acknowledged incidents count too (the chart is the record, not the to-do list); a new one arrives live."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)

    def left_object(days_ago: int, camera: str) -> IncidentEvent:
        start = today - timedelta(days=days_ago) + timedelta(hours=12)
        lasting = timedelta(minutes=5)
        return incident_at("left_object", start, lasting, camera, zone="middle", details={"area_px": 900})

    earlier = [left_object(10, "north-gate") for _ in range(3)] + [left_object(2, "east-bridge")]
    assert EventWriter(seeded_engine).write_events(earlier).stored == len(earlier)
    for event in earlier:
        assert acknowledge(seeded_engine, event.id, "tok-test")
    login(room, hub_server, tokens["operator"])
    room.click("#nav-incidents")
    room.wait_for_selector("#incident-history-table tbody tr", state="attached")  # in a closed <details>

    def column(name: str) -> list[str]:
        """The data table's cells of one incident type, oldest day first."""
        heads = room.locator("#incident-history-table thead th").all_text_contents()
        assert name in heads, heads
        k = heads.index(name)
        return room.locator(f"#incident-history-table tbody tr td:nth-child({k + 1})").all_text_contents()

    left = column("left object")
    assert len(left) == 30
    assert (left[29 - 10], left[29 - 2], left[29]) == ("3", "1", "0")
    assert sum(int(n) for n in left) == 4
    places = [
        row.locator("td").all_inner_texts() for row in room.locator("#incident-places-table tbody tr").all()
    ]
    assert places.index([f"{SITE}/north-gate", "left object", "3"]) < places.index(
        [f"{SITE}/east-bridge", "left object", "1"]
    )

    screenshot(room, "incidents-per-day")
    now = left_object(0, "north-gate")
    assert EventWriter(seeded_engine).write_events([now]).stored == 1
    room.wait_for_function(
        """() => {
          const heads = [...document.querySelectorAll('#incident-history-table thead th')]
            .map((th) => th.textContent);
          const cells = document.querySelectorAll(
            `#incident-history-table tbody tr td:nth-child(${heads.indexOf('left object') + 1})`);
          return cells.length === 30 && cells[29].textContent === '1';
        }"""
    )
    assert acknowledge(seeded_engine, now.id, "tok-test")


def test_incidents_per_day_are_the_browsers_local_days(
    browser: Browser,
    hub_server: DashboardServer,
    seeded_engine: sa.Engine,
    tokens: dict[str, str],
    login: Login,
) -> None:
    """An operator in India (UTC+5:30): a queue that formed at 23:50 and one at 00:10 their time are on two
    days of the chart, and the note names the zone (Chromium calls it Asia/Calcutta). The chart used UTC
    days and put both on one."""
    context = browser.new_context(viewport={"width": 1360, "height": 1000}, timezone_id="Asia/Kolkata")
    tab = context.new_page()
    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=5)

    def queue(hour: int, minute: int) -> IncidentEvent:
        start = day + timedelta(hours=hour, minutes=minute)
        return incident_at("queue", start, timedelta(minutes=5), zone="middle", details={"queue_m": 40.0})

    queues = [queue(18, 20), queue(18, 40)]  # 23:50 and 00:10 in Kolkata
    assert EventWriter(seeded_engine).write_events(queues).stored == len(queues)
    try:
        for event in queues:
            assert acknowledge(seeded_engine, event.id, "tok-test")
        login(tab, hub_server, tokens["operator"])
        tab.click("#nav-incidents")
        tab.wait_for_selector("#incident-history-table tbody tr", state="attached")
        heads = tab.locator("#incident-history-table thead th").all_text_contents()
        cells = tab.locator(
            f"#incident-history-table tbody tr td:nth-child({heads.index('queue') + 1})"
        ).all_text_contents()
        today = datetime.now(ZoneInfo("Asia/Kolkata")).date()
        before = (day.date() - (today - timedelta(days=29))).days  # the row of the UTC day, 23:50 there
        assert (cells[before], cells[before + 1], sum(int(n) for n in cells)) == ("1", "1", 2)
        assert "Days in Asia/" in tab.locator("#incident-history-title + p").inner_text()
    finally:
        context.close()
