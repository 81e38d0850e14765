"""Counts taken while a camera's view was knocked, turned, covered or out of focus (its ``view_changed``
incidents) are marked: hatched on the camera page's time charts and said in its note, flagged in the CSV
exports' ``view_changed`` column and in the turning-movement count. A real store written through the hub's
writer, the real hub app and Debian Chromium."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
import sqlalchemy as sa
from playwright.sync_api import Page

from citytally.events import Event
from citytally.hub.access import issue_token
from citytally.hub.config import HubSettings
from citytally.hub.dashboard import data, incidents
from citytally.hub.dashboard.exports import csv_lines, turning_movement_count
from citytally.hub.dashboard.server import DashboardServer, serve
from citytally.hub.store import EventWriter, create_store_engine, migrate, schema, sqlite_url
from hub.conftest import incident_events

SITE = "demo-plaza"
Q = timedelta(minutes=15)
Login = Callable[[Page, DashboardServer, str], None]
Shot = Callable[[Page, str], Path]


def view_changed(camera: str, began: datetime, seen: list[datetime], cleared: datetime | None) -> list[Event]:
    """One ``view_changed`` incident as an edge reports it: an onset, updates, and a clearance if given."""
    phases = [("onset" if k == 0 else "update", end) for k, end in enumerate(seen)]
    phases += [("cleared", cleared)] if cleared is not None else []
    details = {"change": "moved", "shift_px": 14}
    return list(incident_events(SITE, camera, "view_changed", began, phases, zone="middle", details=details))


class Store:
    def __init__(self, engine: sa.Engine, now: datetime) -> None:
        self.engine, self.now = engine, now
        quarter = now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0)
        # vtest's view moved from 10 minutes into a quarter four hours ago for 40 minutes (four quarters)
        self.began = quarter - 16 * Q + timedelta(minutes=10)
        self.cleared = self.began + timedelta(minutes=40)
        # north-gate's lens is covered since 20 minutes ago, still open
        self.open_since = now - timedelta(minutes=20)
        # east-bridge was knocked three days ago, cleared the same hour: outside the last day
        self.old = now - timedelta(days=3)
        # and two days ago its edge was killed while the view was changed
        self.lost = now - timedelta(days=2)


def heard_when_made(engine: sa.Engine) -> None:
    """Every view change's reports as if each reached the hub when it was made (its ``end``)."""
    with engine.begin() as conn:
        for table in (schema.incidents, schema.incident_latest):
            changes = table.c.incident == "view_changed"
            conn.execute(sa.update(table).where(changes).values(received_at=table.c.end))


@pytest.fixture(scope="module")
def store(
    tmp_path_factory: pytest.TempPathFactory, seed_store: Callable[[sa.Engine], None]
) -> Iterator[Store]:
    engine = create_store_engine(sqlite_url(tmp_path_factory.mktemp("hub") / "hub.sqlite3"))
    migrate(engine)
    seed_store(engine)
    now = datetime.now(UTC)
    s = Store(engine, now)
    events = [
        *view_changed(
            "vtest",
            s.began,
            [s.began + timedelta(seconds=20), s.began + timedelta(minutes=20)],
            s.cleared,
        ),
        # reported again every 5 minutes while open
        *view_changed(
            "north-gate",
            s.open_since,
            [s.open_since + timedelta(seconds=20), now - timedelta(minutes=1)],
            None,
        ),
        # an edge killed (or powered off) two days ago with the view changed: never cleared, never reported
        *view_changed("east-bridge", s.lost, [s.lost + timedelta(seconds=20)], None),
        *view_changed("east-bridge", s.old, [s.old + timedelta(seconds=20)], s.old + timedelta(minutes=5)),
    ]
    assert EventWriter(engine).write_events(events).stored == len(events)
    heard_when_made(engine)  # each report reached the hub when it was made, as a live edge's do
    yield s
    engine.dispose()


@pytest.fixture(scope="module")
def viewer(store: Store) -> str:
    return issue_token(store.engine, "viewer", label="test viewer").secret


@pytest.fixture(scope="module")
def server(store: Store, built_frontend: Path) -> Iterator[DashboardServer]:
    hub = serve(HubSettings(), store.engine, build=False)
    yield hub
    hub.stop()


@pytest.mark.integration
def test_the_spans_of_a_changed_view_come_from_its_incidents(store: Store) -> None:
    day = (store.now - timedelta(days=1), store.now)
    (moved,) = data.view_changes(store.engine, SITE, "vtest", *day, store.now).changes
    assert (moved.start, moved.end, moved.open, moved.change) == (store.began, store.cleared, False, "moved")
    (covered,) = data.view_changes(store.engine, SITE, "north-gate", *day, store.now).changes
    assert covered.start == store.open_since and covered.open and covered.end == store.now  # lasts until now
    assert not covered.stale
    # east-bridge's were two and three days ago: not in the last day, there in the last week
    assert data.view_changes(store.engine, SITE, "east-bridge", *day, store.now).changes == []
    week = (store.now - timedelta(days=7), store.now)
    knocked, lost = data.view_changes(store.engine, SITE, "east-bridge", *week, store.now).changes
    assert (knocked.start, knocked.end, knocked.open, knocked.stale) == (
        store.old,
        store.old + timedelta(minutes=5),
        False,
        False,
    )
    # the one its edge never cleared ends 15 minutes after its last report, not now: one lost clearance
    # does not mark the camera's counts for good
    last = store.lost + timedelta(seconds=20)
    assert (lost.start, lost.last_report, lost.end, lost.open, lost.stale) == (
        store.lost,
        last,
        last + timedelta(minutes=15),
        False,
        True,
    )
    # a range that ends before the view changed, or begins after it was back, has none
    for lo, hi in ((store.began - Q, store.began), (store.cleared, store.now)):
        assert data.view_changes(store.engine, SITE, "vtest", lo, hi, store.now).changes == []


def _rows(store: Store, kind: str, camera: str, bucket: str) -> list[dict[str, str]]:
    start = store.now - timedelta(hours=6)
    text = "".join(csv_lines(store.engine, kind, SITE, camera, start, store.now, bucket, now=store.now))
    return list(csv.DictReader(io.StringIO(text)))


@pytest.mark.integration
@pytest.mark.parametrize("kind", ["counts", "occupancy", "speeds", "movements"])
def test_csv_rows_say_when_the_view_was_changed(store: Store, kind: str) -> None:
    rows = _rows(store, kind, "vtest", "15m")
    assert rows and all(row["view_changed"] in ("true", "false") for row in rows)
    flagged = {row["bucket_start"] for row in rows if row["view_changed"] == "true"}
    # 10 minutes into a quarter for 40 minutes: its last 5 minutes, two whole quarters, 5 minutes of a fourth
    first = store.began - timedelta(minutes=10)
    assert flagged == {(first + k * Q).isoformat() for k in range(4)}
    # hourly rows: the hour or two the 40 minutes touch
    hourly = _rows(store, kind, "vtest", "1h")
    touched = {
        row["bucket_start"]
        for row in hourly
        if datetime.fromisoformat(row["bucket_start"]) < store.cleared
        and datetime.fromisoformat(row["bucket_end"]) > store.began
    }
    assert touched and {r["bucket_start"] for r in hourly if r["view_changed"] == "true"} == touched
    # a camera whose view never changed in the range: every row false
    assert {row["view_changed"] for row in _rows(store, kind, "east-bridge", "15m")} == {"false"}


@pytest.mark.integration
def test_the_turning_movement_count_marks_its_quarters(store: Store) -> None:
    report = turning_movement_count(store.engine, SITE, "vtest", store.now - timedelta(hours=6), store.now)
    flagged = [row.start for row in report.rows if row.view_changed]
    first = store.began - timedelta(minutes=10)
    assert flagged == [first + k * Q for k in range(4)]


def _hatch_pixels(page: Page, selector: str) -> int:
    """Pixels of the chart in the hatch's ink (a dark yellow at 45 % over white), the lines' colours not."""
    picture = cv2.imdecode(np.frombuffer(page.locator(selector).screenshot(), np.uint8), cv2.IMREAD_COLOR)
    ink = np.array([143, 184, 213])  # BGR of rgba(161,98,7,0.45) over white
    return int(np.count_nonzero(np.abs(picture.astype(int) - ink).max(axis=2) <= 14))


@pytest.mark.integration
@pytest.mark.browser
def test_the_camera_page_hatches_and_says_when_the_view_was_changed(
    page: Page, server: DashboardServer, viewer: str, login: Login, store: Store, screenshot: Shot
) -> None:
    login(page, server, viewer)
    page.goto(f"{server.url}#/camera/{SITE}/vtest")
    page.wait_for_selector("#counts-note[data-view-changed='1']")
    note = page.inner_text("#counts-note")
    assert "knocked, turned, covered or out of focus once" in note and ", moved." in note
    assert "hatched" in page.inner_text("#counts-legend") and "hatched" in page.inner_text(
        "#occupancy-legend"
    )
    page.wait_for_selector("#tmc-summary[data-view-changed='4']")
    assert page.locator("#tmc-table tr.view-changed").count() == 4
    # no marked quarter is in the peak hour, and the summary says why
    assert page.locator("#tmc-table tr.peak").count() == 4
    assert page.locator("#tmc-table tr.peak.view-changed").count() == 0
    assert "so the peak hour is sought without them" in page.inner_text("#tmc-summary")
    hatched = _hatch_pixels(page, "#counts-chart")
    screenshot(page, "camera-view-changed")
    # the same page of a camera whose view did not change in the day: no hatching, no sentence
    page.goto(f"{server.url}#/camera/{SITE}/east-bridge")
    page.wait_for_selector("#counts-note[data-view-changed='0']")
    assert "knocked" not in page.inner_text("#counts-note")
    assert "hatched" not in page.inner_text("#counts-legend")
    plain = _hatch_pixels(page, "#counts-chart")
    # 40 minutes of 24 hours is about 1/36 of the plot's width, its whole height
    assert hatched > 300 and plain < hatched / 20, (hatched, plain)


@pytest.mark.integration
def test_a_file_replayed_with_a_past_start_time_is_not_taken_for_a_lost_edge(
    tmp_path: Path, seed_store: Callable[[sa.Engine], None]
) -> None:
    """A recorded file replayed with ``start_time`` three hours back: the edge stamps its reports then,
    but they reach the hub now. Its open incident is ongoing (not silent, its span not stale, ending at the
    replay's own now rather than the hub's); had the same reports reached the hub when they were made (a
    live edge killed three hours ago), it would be silent and stale. Before, the hub went by the reports'
    time only and took the replay for a lost edge."""
    engine = create_store_engine(sqlite_url(tmp_path / "hub.sqlite3"))
    migrate(engine)
    seed_store(engine)
    now = datetime.now(UTC)
    began = now - timedelta(hours=3)
    reports = [began + timedelta(seconds=20), began + timedelta(minutes=5), began + timedelta(minutes=10)]
    events = view_changed("vtest", began, reports, None)
    assert EventWriter(engine).write_events(events).stored == len(events)
    day = (now - timedelta(days=1), now)

    def state() -> tuple[bool, bool, datetime, bool]:
        (span,) = data.view_changes(engine, SITE, "vtest", *day, now).changes
        (row,) = [i for i in incidents.list_incidents(engine, True, 50) if i.incident == "view_changed"]
        return span.stale, span.open, span.end, row.silent

    stale, is_open, end, silent = state()
    assert (stale, is_open, silent) == (False, True, False)
    # the replay's now: its last report, plus the time since the hub heard it (a moment)
    assert reports[-1] <= end <= reports[-1] + timedelta(seconds=10)
    heard_when_made(engine)  # as if each report had reached the hub when it was made
    assert state() == (True, False, reports[-1] + timedelta(minutes=15), True)
    engine.dispose()


@pytest.mark.integration
@pytest.mark.browser
def test_the_incidents_panel_says_when_an_open_incident_is_no_longer_reported(
    page: Page, server: DashboardServer, login: Login, store: Store
) -> None:
    """An open incident is reported every 5 minutes: one that went 15 without (its edge killed or powered
    off) says so, instead of reading "ongoing" for good; one reported a minute ago is ongoing."""
    operator = issue_token(store.engine, "operator", label="test operator").secret
    listed = page.request.get(
        f"{server.base_url}/incidents", headers={"Authorization": f"Bearer {operator}"}
    ).json()
    states = sorted((i["camera"], i["open"], i["silent"]) for i in listed if i["incident"] == "view_changed")
    assert states == [
        ("east-bridge", False, False),  # knocked three days ago, cleared
        ("east-bridge", True, True),  # its edge killed two days ago: open, silent since
        ("north-gate", True, False),  # reported a minute ago
        ("vtest", False, False),  # cleared
    ]
    login(page, server, operator)
    page.click("#nav-incidents")
    silent = page.locator("#incident-rows tr[data-id]", has_text="east-bridge").first
    silent.wait_for()
    state = silent.locator("td.state")
    assert state.inner_text().startswith("no report since ")
    assert "edge has stopped" in (state.get_attribute("title") or "")
    ongoing = page.locator("#incident-rows tr[data-id]", has_text="north-gate").first
    assert ongoing.locator("td.state").inner_text() == "ongoing"


@pytest.mark.integration
@pytest.mark.browser
def test_the_overview_says_which_cameras_view_is_changed_now(
    page: Page, server: DashboardServer, viewer: str, login: Login, screenshot: Shot
) -> None:
    """Only north-gate's view is changed now: vtest's was back after 40 minutes, and east-bridge's incident
    lost its edge two days ago (its camera is not reporting either)."""
    status = page.request.get(
        f"{server.base_url}/dashboard/api/camera-status", headers={"Authorization": f"Bearer {viewer}"}
    ).json()
    assert {s["camera"]: s["view_changed"] for s in status} == {
        "east-bridge": None,
        "north-gate": "moved",
        "vtest": None,
    }
    login(page, server, viewer)
    page.wait_for_selector("tr[data-camera] .state")
    marked = page.locator("tr[data-camera] .view-changed-mark")
    assert marked.count() == 1
    screenshot(page, "overview-view-changed")
    assert (
        page.locator(f"tr[data-camera='{SITE}/north-gate'] .view-changed-mark").inner_text()
        == " · view moved"
    )


@pytest.mark.integration
@pytest.mark.parametrize("path", ["/counts", "/speeds", "/occupancy", "/movements"])
def test_the_rest_series_flag_rows_taken_while_the_view_was_changed(
    server: DashboardServer, viewer: str, store: Store, path: str
) -> None:
    start = store.now - timedelta(hours=6)
    window = {"interval": "15m", "start": start.isoformat(), "end": store.now.isoformat()}
    headers = {"Authorization": f"Bearer {viewer}"}

    def flagged(route: str, **params: str) -> tuple[set[datetime], set[datetime]]:
        """(every bucket, the flagged buckets) of a series."""
        answer = httpx.get(f"{server.base_url}{route}", params=window | params, headers=headers)
        points = answer.json()["points"]
        buckets = {datetime.fromisoformat(p["bucket"]) for p in points}
        return buckets, {datetime.fromisoformat(p["bucket"]) for p in points if p["view_changed"]}

    first = store.began - timedelta(minutes=10)
    moved = {first + k * Q for k in range(4)}  # vtest's 40 minutes
    assert flagged(path, camera="vtest")[1] == moved
    if path != "/counts":
        return
    # summed over the cameras, a bucket is flagged if any camera's view was changed in it: vtest's, and
    # north-gate's since 20 minutes ago (still changed)
    buckets, summed = flagged("/counts", group_by="class")
    assert summed == moved | {b for b in buckets if b + Q > store.open_since}
    text = httpx.get(
        f"{server.base_url}/counts.csv", params=window | {"camera": "vtest"}, headers=headers
    ).text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {datetime.fromisoformat(r["bucket"]) for r in rows if r["view_changed"] == "true"} == moved
    assert {r["view_changed"] for r in rows} == {"true", "false"}


@pytest.mark.integration
@pytest.mark.browser
def test_the_weak_spots_ranking_marks_places_whose_cameras_view_was_changed(
    page: Page, server: DashboardServer, viewer: str, login: Login
) -> None:
    """vtest's view was moved four hours ago and north-gate's lens is covered now: the conflicts and road
    users of both places in the last day may be wrong, and the ranking says so."""
    login(page, server, viewer)
    page.click("#nav a[href='#/weak-spots']")
    page.wait_for_selector("#weak-summary[data-view-changed='2']")
    marked = page.locator("#weak-rows tr th .view-changed-mark")
    assert marked.count() == 2 and "view changed" in marked.first.inner_text()
    assert "knocked, turned, covered or out of focus" in page.inner_text("#weak-summary")
