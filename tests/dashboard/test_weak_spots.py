"""The weak-spots view in Chromium: the ranking by conflicts per 1,000 road users and the heat map of the
seeded conflict events (tests/dashboard/conftest.py CONFLICTS) over the camera's drawing."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from playwright.sync_api import Browser, Page

from citytally.events import ConflictEvent
from citytally.hub.dashboard.server import DashboardServer
from citytally.hub.store import EventWriter
from dashboard.conftest import conflict_events

pytestmark = [pytest.mark.integration, pytest.mark.browser]

Login = Callable[[Page, DashboardServer, str], None]


def ranking(page: Page) -> list[tuple[str, str, str, str]]:
    rows = page.locator("#weak-rows tr")
    return [
        (
            rows.nth(i).locator("th").inner_text(),
            rows.nth(i).locator("td").nth(2).inner_text(),
            rows.nth(i).locator("td.rate").inner_text(),
            rows.nth(i).locator("td.interval").inner_text(),
        )
        for i in range(rows.count())
    ]


def distribution(page: Page) -> tuple[str | None, str | None, list[int], list[int]]:
    """The TTC and PET totals the note states, and the table's counts per bin of each."""
    note = page.locator("#dist-note")
    counts = {
        measure: [
            int(n) for n in page.locator(f"#dist-rows tr[data-measure={measure}] td").all_text_contents()
        ]
        for measure in ("ttc", "pet")
    }
    labels = page.locator("#dist-rows tbody th").all_text_contents()
    assert labels[:3] == ["TTC 0–1 s", "TTC 1–2 s", "TTC 2 s or more"]
    assert page.locator("#dist-ttc").get_attribute("role") == "img"
    return note.get_attribute("data-ttc"), note.get_attribute("data-pet"), counts["ttc"], counts["pet"]


def test_ranking_and_heat_map_show_the_seeded_conflicts(
    page: Page,
    hub_server: DashboardServer,
    tokens: dict[str, str],
    login: Login,
    built_frontend: Path,
    screenshot: Callable[[Page, str], Path],
) -> None:
    login(page, hub_server, tokens["viewer"])
    page.click("#nav a[href='#/weak-spots']")
    page.wait_for_selector("#heat-drawing svg circle")
    assert page.get_attribute("#nav a[href='#/weak-spots']", "aria-current") == "page"
    # north-gate: 2 conflicts in 100 road users; vtest: 4 in 500. Their 95 % intervals (exact Poisson limits
    # of 2 and 4 events: 0.242–7.225 and 1.090–10.242) overlap: the counts do not tell the two apart.
    assert ranking(page) == [
        ("demo-plaza / north-gate / middle", "2", "20.0", "2.4–72.2"),
        ("demo-plaza / vtest / middle", "4", "8.0", "2.2–20.5"),
    ]
    assert page.get_attribute("#weak-summary", "data-total") == "6"
    # The same rates as a chart: a dot per place on its interval's bar, one scale; the bars overlap.
    marks = page.locator("#weak-rates circle.rate-mark")
    bars = page.locator("#weak-rates line.interval-bar")
    assert [marks.nth(i).get_attribute("data-rate") for i in range(marks.count())] == ["20", "8"]
    ends = [[float(bars.nth(i).get_attribute(k) or "nan") for k in ("x1", "x2")] for i in range(2)]
    dots = [float(marks.nth(i).get_attribute("cx") or "nan") for i in range(2)]
    assert all(low < dot < high for (low, high), dot in zip(ends, dots, strict=True))
    assert dots[0] > dots[1] and ends[0][0] < ends[1][1]
    assert "1 of the others' intervals overlap its own" in (page.text_content("#rates-desc") or "")
    # The top place's camera is drawn first: its zones and line, and one conflict cell.
    assert page.input_value("#heat-camera") == "demo-plaza/north-gate"
    assert page.locator("#heat-drawing svg .zone").count() == 3
    assert page.locator("#heat-drawing svg .line").count() == 1
    assert page.locator("#heat-drawing circle").count() == 1
    # "Show on drawing" of vtest's row draws its two cells, the busier one larger, with a text alternative.
    page.locator("#weak-rows tr").nth(1).locator("button.show-heat").click()
    page.wait_for_function("() => document.querySelectorAll('#heat-drawing circle').length === 2")
    circles = page.locator("#heat-drawing circle")
    counts = [circles.nth(i).get_attribute("data-count") for i in range(2)]
    radii = [float(circles.nth(i).get_attribute("r") or 0) for i in range(2)]
    assert counts == ["3", "1"] and radii[0] > radii[1]
    assert "4 conflicts at demo-plaza/vtest" in page.text_content("#heat-svg-desc") or ""
    assert "the most, 3," in page.text_content("#heat-svg-desc") or ""
    page.click("#heat-table summary")
    assert page.locator("#heat-cells tbody tr").count() == 2
    assert page.locator("#heat-legend .swatch").count() == 4
    # The TTC and PET distributions (tests/dashboard/conftest.py CONFLICTS; bins from 0, 1 and 2 s) of the
    # place picked: vtest's row was shown (TTC 3/0/1, PET 2/1/0); north-gate (TTC 0/2/0, PET 1/0/0); every
    # place (the sums), each with its text alternative and table.
    assert page.input_value("#dist-place") == '{"site":"demo-plaza","camera":"vtest","zone":"middle"}'
    page.wait_for_function("() => document.querySelector('#dist-note').dataset.ttc === '4'")
    assert distribution(page) == ("4", "3", [3, 0, 1], [2, 1, 0])
    assert "3 of them under 1 s; 3 had a PET, 2 of them under 1 s" in page.inner_text("#dist-note")
    screenshot(page, "weak-spots")
    page.select_option("#dist-place", label="demo-plaza / north-gate / middle")
    page.wait_for_function("() => document.querySelector('#dist-note').dataset.ttc === '2'")
    assert distribution(page) == ("2", "1", [0, 2, 0], [1, 0, 0])
    page.select_option("#dist-place", label="Every place")
    page.wait_for_function("() => document.querySelector('#dist-note').dataset.ttc === '6'")
    assert distribution(page) == ("6", "4", [3, 2, 1], [3, 1, 0])
    # Ranked by site: the plaza's 6 conflicts in 600 road users.
    page.select_option("#weak-level", "site")
    page.wait_for_function("() => document.querySelectorAll('#weak-rows tr').length === 1")
    assert ranking(page) == [("demo-plaza", "6", "10.0", "3.7–21.8")]


def test_a_range_of_whole_days_ranks_the_conflicts_of_the_browsers_days(
    browser: Browser,
    hub_server: DashboardServer,
    seeded_engine: sa.Engine,
    tokens: dict[str, str],
    login: Login,
) -> None:
    """A road-safety engineer in India (UTC+5:30) picks 40 whole days (read from the hourly roll-ups): the
    conflicts of 23:50 and 00:10 at either end fall on the days they were in India. The hub summed UTC's
    hours beginning in the range, which start half an hour off India's: the range took in the 00:10 after
    its last day and left out the 00:10 of its first."""
    india = ZoneInfo("Asia/Kolkata")
    last = datetime.now(india).date() - timedelta(days=60)
    first = last - timedelta(days=39)

    def at(day: date, hour: int, minute: int, conflicts: int) -> ConflictEvent:
        start = datetime.combine(day, time(hour, minute), tzinfo=india)
        (event,) = [e for e in conflict_events(start.astimezone(UTC)) if e.camera == "vtest"]
        rows = [event.conflicts[0].model_copy(update={"count": conflicts})]
        return event.model_copy(update={"id": uuid.uuid4(), "conflicts": rows})

    events = [
        at(first - timedelta(days=1), 23, 50, 1),  # the evening before the range: out
        at(first, 0, 10, 2),  # its first day: in
        at(last, 23, 50, 4),  # its last day: in
        at(last + timedelta(days=1), 0, 10, 8),  # the day after: out
    ]
    assert EventWriter(seeded_engine).write_events(events).stored == len(events)
    context = browser.new_context(viewport={"width": 1360, "height": 1000}, timezone_id="Asia/Kolkata")
    tab = context.new_page()
    try:
        login(tab, hub_server, tokens["viewer"])
        tab.click("#nav a[href='#/weak-spots']")
        tab.wait_for_selector("#weak-summary[data-total]")
        tab.select_option("select[name=range]", "custom")
        tab.fill("input[name=from]", first.isoformat())
        tab.fill("input[name=to]", last.isoformat())
        with tab.expect_response(
            lambda r: "/conflicts/ranking?" in r.url and "interval=1h" in r.url
        ) as asked:
            tab.dispatch_event("input[name=to]", "change")
        assert "tz=Asia%2FCalcutta" in asked.value.url  # Chromium's name for Asia/Kolkata
        # the chosen days' answer, not the one to "chosen dates" before they were changed (the last 7 days)
        chosen = f"{first.isoformat()} to {last.isoformat()}"
        tab.wait_for_function(
            "chosen => { const s = document.querySelector('#weak-summary');"
            " return s.dataset.total === '6' && s.textContent.includes(chosen); }",
            arg=chosen,
        )
        assert ranking(tab)[0][:2] == ("demo-plaza / vtest / middle", "6")
    finally:
        context.close()
