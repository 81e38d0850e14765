"""The camera page in a browser whose time zone begins its hours at the half hour of UTC's (India): the
weekday and weekend profile's rows are whole local hours, a daily CSV's rows are local days."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, Page

from citytally.hub.access import issue_token
from citytally.hub.config import HubSettings
from citytally.hub.dashboard.server import serve
from citytally.hub.store import EventWriter, create_store_engine, migrate, sqlite_url, sync_registry
from dashboard.conftest import SITE, camera_config, line_count, login

pytestmark = [pytest.mark.integration, pytest.mark.browser]

INDIA = ZoneInfo("Asia/Kolkata")


@pytest.fixture
def indian_page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(
        viewport={"width": 1360, "height": 1000}, timezone_id="Asia/Kolkata", accept_downloads=True
    )
    yield context.new_page()
    context.close()


def test_the_profile_rows_are_whole_local_hours_in_india(
    tmp_path: Path, built_frontend: Path, indian_page: Page
) -> None:
    # On a weekday of last week, in India: 1 + 2 crossings in the quarter before 08:00 and 7 + 8 in the one
    # from 08:00. One UTC hour holds both quarters; the profile's 7:00 row must hold only the first.
    engine = create_store_engine(sqlite_url(tmp_path / "hub.sqlite3"))
    migrate(engine)
    sync_registry(engine, [camera_config("vtest", 48.1, 11.5)])
    today = datetime.now(INDIA).date()
    day = next(d for d in (today - timedelta(days=k) for k in range(2, 6)) if d.weekday() < 5)
    eight = datetime(day.year, day.month, day.day, 8, tzinfo=INDIA).astimezone(UTC)
    EventWriter(engine).write_events(
        [line_count("vtest", eight - timedelta(minutes=15), 1, 0), line_count("vtest", eight, 7, 0)]
    )
    server = serve(HubSettings(), engine, build=False)
    try:
        login(indian_page, server, issue_token(engine, "viewer", label="test viewer").secret)
        indian_page.goto(f"{server.url}#/camera/{SITE}/vtest")
        indian_page.wait_for_selector("#profile-note[data-hours]")
        assert indian_page.get_attribute("#profile-note", "data-hours") == "2"
        rows = {
            row.locator("th").text_content(): row.locator("td").first.text_content()
            for row in indian_page.locator("#profile-table tbody tr").all()
        }
        assert (rows["7:00"], rows["8:00"], rows["9:00"]) == ("3.0", "15.0", "no data")
        # The counts of the last 7 days per day: that day holds all 18, from its midnight in India.
        indian_page.select_option("select[name=range]", "7d")
        indian_page.select_option("#export-kind", "counts")
        indian_page.select_option("#export-bucket", "1d")
        with indian_page.expect_download() as info:
            indian_page.click("#csv")
        rows_csv = list(csv.DictReader(io.StringIO(Path(info.value.path()).read_text())))
        by_day: dict[str, int] = {}
        for row in rows_csv:
            by_day[row["bucket_start"]] = by_day.get(row["bucket_start"], 0) + int(row["count"])
        assert by_day == {f"{day.isoformat()}T00:00:00+05:30": 18}
    finally:
        server.stop()
        engine.dispose()
