"""Exports and reports: CSVs of every roll-up at a chosen bucket size, the 15-minute turning-movement count
with its peak hour and peak-hour factor, and the modal and direction split on the camera page."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page

from citytally.edge.config import CameraConfig
from citytally.events import (
    Event,
    LineCountEvent,
    Movement,
    SpeedEvent,
    SpeedStats,
    TurningMovementEvent,
    ZoneOccupancyEvent,
)
from citytally.hub.dashboard.exports import csv_lines, tmc_csv, turning_movement_count
from citytally.hub.dashboard.server import DashboardServer
from citytally.hub.store import EventWriter, create_store_engine, migrate, schema, sqlite_url, sync_registry
from hub.conftest import incident_events

Shot = Callable[[Page, str], Path]
Login = Callable[[Page, DashboardServer, str], None]
SITE = "demo-plaza"
T0 = datetime(2026, 11, 2, 7, 0, tzinfo=UTC)
Q = timedelta(minutes=15)
D = timedelta(days=1)


@pytest.fixture
def engine(tmp_path: Path) -> sa.Engine:
    store = create_store_engine(sqlite_url(tmp_path / "hub.sqlite3"))
    migrate(store)
    camera = CameraConfig.model_validate(
        {
            "site": "plaza",
            "camera": "cam-1",
            "metadata": {"lat": 52.37, "lon": 4.89},
            "source": {"uri": "/dev/null"},
            "zones": [
                {"name": "a", "polygon": [[0, 0], [10, 0], [10, 10]]},
                {"name": "b", "polygon": [[20, 0], [30, 0], [30, 10]]},
            ],
            "turning": {"zones": ["a", "b"]},
        }
    )
    sync_registry(store, [camera])
    return store


def movements(start: datetime, ab_cars: int, ba_bikes: int) -> TurningMovementEvent:
    wanted = (("a", "b", "car", ab_cars), ("b", "a", "bicycle", ba_bikes))
    return TurningMovementEvent(
        id=uuid.uuid4(),
        site="plaza",
        camera="cam-1",
        start=start,
        end=start + Q,
        movements=[
            Movement.model_validate({"from_zone": a, "to_zone": b, "class": cls, "count": n})
            for a, b, cls, n in wanted
            if n
        ],
    )


@pytest.mark.integration
def test_the_turning_movement_count_finds_the_peak_hour_and_its_factor(engine: sa.Engine) -> None:
    # quarters 07:00 .. 08:45 with totals 10, 20, 40, 30, 50, 5, 0, 12 (the quarter 08:30 reported nothing)
    volumes = [(8, 2), (15, 5), (30, 10), (25, 5), (40, 10), (5, 0), None, (10, 2)]
    EventWriter(engine).write_events(
        [movements(T0 + i * Q, *v) for i, v in enumerate(volumes) if v is not None]
    )
    report = turning_movement_count(engine, "plaza", "cam-1", T0, T0 + 8 * Q)
    assert [r.total for r in report.rows] == [10, 20, 40, 30, 50, 5, 0, 12]
    assert report.movements == ["a>b", "b>a"] and report.classes == ["bicycle", "car"]
    assert report.rows[2].counts == {"a>b": {"car": 30}, "b>a": {"bicycle": 10}}
    # busiest four consecutive quarters: 07:15-08:15 (20+40+30+50 = 140); PHF = 140 / (4 x 50) = 0.7
    assert report.peak_hour_start == T0 + Q
    assert (report.peak_hour_volume, report.peak_hour_factor) == (140, 0.7)
    assert report.totals == {"a>b": 133, "b>a": 34}


@pytest.mark.integration
def test_no_peak_hour_includes_a_quarter_in_which_the_cameras_view_was_changed(engine: sa.Engine) -> None:
    # the same quarters, but the camera was knocked at 08:05 and set right at 08:20: the quarters 08:00 and
    # 08:15 may have wrong counts, so the peak hour is sought in the hours without them (only 07:00-08:00,
    # 10+20+40+30 = 100; PHF 100 / (4 x 40)); before, it was 07:15-08:15 (140), with a marked quarter in it
    volumes = [(8, 2), (15, 5), (30, 10), (25, 5), (40, 10), (5, 0), None, (10, 2)]
    knocked = T0 + 4 * Q + timedelta(minutes=5)
    phases = [("onset", knocked + timedelta(seconds=20)), ("cleared", T0 + 5 * Q + Q / 3)]
    view_changed = incident_events("plaza", "cam-1", "view_changed", knocked, phases, zone="a")
    events = [movements(T0 + i * Q, *v) for i, v in enumerate(volumes) if v is not None]
    EventWriter(engine).write_events([*events, *view_changed])
    report = turning_movement_count(engine, "plaza", "cam-1", T0, T0 + 8 * Q, now=T0 + D)
    assert [r.start for r in report.rows if r.view_changed] == [T0 + 4 * Q, T0 + 5 * Q]
    assert report.view_changed_quarters == 2
    assert (report.peak_hour_start, report.peak_hour_volume, report.peak_hour_factor) == (T0, 100, 0.625)
    text = "".join(tmc_csv(report, "plaza", "cam-1"))
    assert "quarters with the view changed (left out of the peak hour),2" in text
    # a range whose every hour holds a marked quarter has no peak hour
    report = turning_movement_count(engine, "plaza", "cam-1", T0 + 3 * Q, T0 + 8 * Q, now=T0 + D)
    assert report.peak_hour_start is None and report.peak_hour_factor is None


@pytest.mark.integration
def test_no_movements_means_no_peak_hour(engine: sa.Engine) -> None:
    report = turning_movement_count(engine, "plaza", "cam-1", T0, T0 + 8 * Q)
    assert report.rows == [] and report.peak_hour_start is None and report.peak_hour_factor is None


def _speeds(start: datetime, cars: SpeedStats) -> SpeedEvent:
    return SpeedEvent(
        id=uuid.uuid4(),
        site="plaza",
        camera="cam-1",
        start=start,
        end=start + Q / 3,
        line="north",
        speeds={"in": {"car": cars}},
    )


@pytest.mark.integration
def test_the_speeds_csv_has_each_buckets_v85_from_its_summed_bins(engine: sa.Engine) -> None:
    five = Q / 3
    EventWriter(engine).write_events(
        [
            _speeds(T0, SpeedStats.of([32.5] * 90)),  # quarter 07:00: 90 cars in [30, 35) ...
            _speeds(T0 + five, SpeedStats.of([72.5] * 10)),  # ... and 10 in [70, 75)
            _speeds(T0 + Q, SpeedStats.of([42.5] * 10 + [47.5] * 10)),  # 07:15: 20 binned ...
            _speeds(T0 + Q + five, SpeedStats(n=5, mean_kmh=50.0, p85_kmh=60.0)),  # ... 5 not
            _speeds(T0 + 2 * Q, SpeedStats(n=5, mean_kmh=50.0, p85_kmh=60.0)),  # 07:30: none binned
        ]
    )

    def export(bucket: str) -> list[tuple[str, ...]]:
        text = "".join(csv_lines(engine, "speeds", "plaza", "cam-1", T0, T0 + 4 * Q, bucket))
        rows = csv.DictReader(io.StringIO(text))
        keep = ("bucket_start", "measured", "binned", "v85_from_bins_kmh", "highest_interval_v85_kmh")
        return [tuple(row[k] for k in keep) for row in rows]

    # 07:00: the 85th of 100 lies 85/90 into [30, 35) = 34.7 (the intervals' V85s 32.5 and 72.5: neither
    # their highest nor their mean); 07:15: the 17th of 20 binned lies 7/10 into [45, 50) = 48.5, of 25
    # measured; 07:30: nothing binned, no V85 from bins.
    assert export("15m") == [
        ("2026-11-02T07:00:00+00:00", "100", "100", "34.7", "72.5"),
        ("2026-11-02T07:15:00+00:00", "25", "20", "48.5", "60.0"),
        ("2026-11-02T07:30:00+00:00", "5", "0", "", "60.0"),
    ]
    # The hour: 90 in [30, 35), 10 each in [40, 45), [45, 50), [70, 75): the 102nd of 120 lies 2/10 into
    # [45, 50) = 46.0.
    assert export("1h") == [("2026-11-02T07:00:00+00:00", "130", "120", "46.0", "72.5")]


def _csv(page: Page, url: str, token: str) -> list[dict[str, str]]:
    response = page.request.get(url, headers={"Authorization": f"Bearer {token}"})
    assert response.status == 200, response.text()
    return list(csv.DictReader(io.StringIO(response.text())))


@pytest.mark.integration
@pytest.mark.browser
@pytest.mark.parametrize("bucket", ["15m", "1h", "1d"])
def test_csv_exports_sum_to_the_same_at_every_bucket_size(
    page: Page, hub_server: DashboardServer, tokens: dict[str, str], seeded_engine: sa.Engine, bucket: str
) -> None:
    base = f"{hub_server.base_url}/dashboard/api/cameras/{SITE}/vtest"
    end = datetime.now(UTC) + timedelta(hours=1)
    span = f"start={(end - timedelta(days=2)).isoformat()}&end={end.isoformat()}".replace("+", "%2B")
    width = {"15m": Q, "1h": timedelta(hours=1), "1d": timedelta(days=1)}[bucket]
    r = schema.movement_rollups
    with seeded_engine.connect() as conn:
        moved = conn.execute(
            sa.select(sa.func.sum(r.c["count"])).where(r.c.period == "15m", r.c.camera == "vtest")
        ).scalar_one()
    for kind, value in (("counts", "count"), ("movements", "count"), ("occupancy", "mean_present")):
        rows = _csv(page, f"{base}/{kind}.csv?bucket={bucket}&{span}", tokens["viewer"])
        assert rows, kind
        for row in rows:  # each row is one bucket of the asked size
            start, stop = (
                datetime.fromisoformat(row["bucket_start"]),
                datetime.fromisoformat(row["bucket_end"]),
            )
            assert stop - start == width and value in row
        if kind == "movements":
            assert sum(int(row["count"]) for row in rows) == moved
    speeds = _csv(page, f"{base}/speeds.csv?bucket={bucket}&{span}", tokens["viewer"])
    # Each row says which V85 it is and how many road users its bins hold; never an averaged percentile.
    assert {"highest_interval_v85_kmh", "v85_from_bins_kmh", "binned", "measured"} <= set(speeds[0])
    assert all(int(row["binned"]) <= int(row["measured"]) for row in speeds)
    assert any(row["v85_from_bins_kmh"] for row in speeds)


@pytest.mark.integration
@pytest.mark.browser
def test_the_camera_page_shows_splits_and_a_printable_turning_movement_count(
    page: Page, hub_server: DashboardServer, tokens: dict[str, str], login: Login, screenshot: Shot
) -> None:
    login(page, hub_server, tokens["viewer"])
    page.goto(f"{hub_server.url}#/camera/{SITE}/vtest")
    page.wait_for_selector("#camera-total[data-total]")
    page.wait_for_selector("#tmc-summary[data-phf]")
    shares = [float(t.split()[0]) for t in page.locator("#modal-split td[data-share]").all_inner_texts()]
    assert len(shares) == 2 and abs(sum(shares) - 100) < 0.2  # pedestrians and cyclists
    assert page.locator("#direction-split tbody tr").count() == 2
    assert "Peak hour from" in page.inner_text("#tmc-summary")
    phf = float(page.get_attribute("#tmc-summary", "data-phf") or 0)
    assert 0.25 <= phf <= 1.0  # a peak-hour factor lies between 1/4 and 1
    assert page.locator("#tmc-table tr.peak").count() == 4
    # the weekday/weekend profile counts only hours the camera reported (six seeded hours, give or take
    # the hours they straddle), and leaves the others out instead of calling them zero
    # the period before the last 24 hours is empty here: the comparison says so through coverage
    assert "0 % of buckets" in page.inner_text("#comparison")
    page.wait_for_selector("#profile-note[data-hours]")
    assert 6 <= int(page.get_attribute("#profile-note", "data-hours") or 0) <= 8
    assert page.locator("#profile-table tbody tr").count() == 24
    assert page.locator("#profile-table td:has-text('no data')").count() >= 24
    with page.expect_download() as info:
        page.select_option("#export-kind", "tmc")
        page.click("#csv")
    text = Path(info.value.path()).read_text()
    assert text.startswith("site,camera,quarter_start") and "peak hour factor" in text
    screenshot(page, "camera-tmc")
    page.emulate_media(media="print")
    page.evaluate("() => document.documentElement.classList.add('print-tmc')")
    assert page.locator("#tmc-card").is_visible() and not page.locator("#counts-chart").is_visible()
    screenshot(page, "camera-tmc-print")


@pytest.mark.integration
@pytest.mark.parametrize("tz", ["Asia/Kolkata", "Europe/Amsterdam"])
def test_daily_csvs_are_local_days_when_a_time_zone_is_given(engine: sa.Engine, tz: str) -> None:
    # In the quarter before a local midnight and the one after it, each kind of roll-up gets different
    # numbers, and at noon of the first day once more: the daily rows must keep the two days apart (in
    # India one UTC hour holds both quarters) and add up each column as it adds up over a day.
    camera = CameraConfig.model_validate(
        {
            "site": "plaza",
            "camera": "cam-1",
            "metadata": {"lat": 52.37, "lon": 4.89},
            "source": {"uri": "/dev/null"},
            "lines": [{"name": "north", "p1": [0, 1], "p2": [9, 1], "directions": ["in", "out"]}],
            "zones": [
                {"name": "a", "polygon": [[0, 0], [10, 0], [10, 10]]},
                {"name": "b", "polygon": [[20, 0], [30, 0], [30, 10]]},
            ],
            "turning": {"zones": ["a", "b"]},
        }
    )
    sync_registry(engine, [camera])
    zone = ZoneInfo(tz)
    noon = datetime(2026, 11, 2, 12, tzinfo=zone).astimezone(UTC)
    midnight = datetime(2026, 11, 3, tzinfo=zone).astimezone(UTC)
    head = {"site": "plaza", "camera": "cam-1"}

    def quarter(start: datetime, cars: int, present: float, speed: float) -> list[Event]:
        span = {**head, "start": start, "end": start + Q}
        return [
            LineCountEvent(id=uuid.uuid4(), line="north", counts={"in": {"car": cars}}, **span),
            movements(start, cars, 0),
            ZoneOccupancyEvent(
                id=uuid.uuid4(), zone="a", mean={"person": present}, peak={"person": int(present)}, **span
            ),
            SpeedEvent(
                id=uuid.uuid4(), line="north", speeds={"in": {"car": SpeedStats.of([speed] * cars)}}, **span
            ),
        ]

    EventWriter(engine).write_events(
        quarter(noon, 4, 2.0, 32.5) + quarter(midnight - Q, 6, 10.0, 32.5) + quarter(midnight, 10, 0.0, 72.5)
    )

    def export(kind: str, *columns: str) -> list[tuple[str, ...]]:
        lines = csv_lines(engine, kind, "plaza", "cam-1", noon - 2 * D, midnight + 2 * D, "1d", zone)
        rows = csv.DictReader(io.StringIO("".join(lines)))
        return [
            (row["bucket_start"][:10], row["bucket_end"][:10], *(row[c] for c in columns)) for row in rows
        ]

    day, next_day = ("2026-11-02", "2026-11-03"), ("2026-11-03", "2026-11-04")
    assert export("counts", "count") == [(*day, "10"), (*next_day, "10")]
    assert export("movements", "from_zone", "count") == [(*day, "a", "10"), (*next_day, "a", "10")]
    # two intervals of the first day (2 and 10 present: a mean of 6), one of the next (nobody)
    assert export("occupancy", "intervals", "mean_present", "peak_present") == [
        (*day, "2", "6.0", "10"),
        (*next_day, "1", "0.0", "0"),
    ]
    # 10 cars at 32.5 km/h on the first day (V85 off the bins: 34.2), 10 at 72.5 on the next (74.2)
    assert export("speeds", "measured", "binned", "v85_from_bins_kmh", "highest_interval_v85_kmh") == [
        (*day, "10", "10", "34.2", "32.5"),
        (*next_day, "10", "10", "74.2", "72.5"),
    ]
    text = "".join(csv_lines(engine, "counts", "plaza", "cam-1", noon - 2 * D, midnight + 2 * D, "1d", zone))
    offset = datetime(2026, 11, 2, tzinfo=zone).strftime("%z")
    assert f"2026-11-02T00:00:00{offset[:3]}:{offset[3:]}" in text  # the local day's bounds, with its offset


@pytest.mark.integration
def test_hourly_csvs_are_indias_hours_in_india(engine: sa.Engine) -> None:
    # 4 and 6 road users turning in the quarters before and after 08:00 in India (02:30 UTC): one UTC hour.
    zone = ZoneInfo("Asia/Kolkata")
    eight = datetime(2026, 11, 2, 8, tzinfo=zone).astimezone(UTC)
    EventWriter(engine).write_events([movements(eight - Q, 4, 0), movements(eight, 6, 0)])
    lines = csv_lines(engine, "movements", "plaza", "cam-1", eight - 4 * Q, eight + 4 * Q, "1h", zone)
    rows = [
        (r["bucket_start"], r["bucket_end"], r["count"]) for r in csv.DictReader(io.StringIO("".join(lines)))
    ]
    assert rows == [
        ("2026-11-02T07:00:00+05:30", "2026-11-02T08:00:00+05:30", "4"),
        ("2026-11-02T08:00:00+05:30", "2026-11-02T09:00:00+05:30", "6"),
    ]
    # Without a time zone, UTC's hours, as before.
    lines = csv_lines(engine, "movements", "plaza", "cam-1", eight - 4 * Q, eight + 4 * Q, "1h")
    assert [r["count"] for r in csv.DictReader(io.StringIO("".join(lines)))] == ["10"]


@pytest.mark.integration
@pytest.mark.parametrize("bucket", ["15m", "1h"])
def test_quarter_and_hour_csvs_are_written_at_the_viewers_offset(engine: sa.Engine, bucket: str) -> None:
    """Quarters, and the hours of a zone whose hours begin with UTC's, were written at +00:00 whatever the
    viewer's zone: a spreadsheet in New York read 08:00 for what its clock showed at 03:00."""
    zone = ZoneInfo("America/New_York")
    EventWriter(engine).write_events([movements(T0, 4, 0)])  # 07:00 UTC, 02:00 in New York (EST)
    lines = csv_lines(engine, "movements", "plaza", "cam-1", T0, T0 + 4 * Q, bucket, zone)
    (row,) = csv.DictReader(io.StringIO("".join(lines)))
    end = "02:15:00" if bucket == "15m" else "03:00:00"
    assert (row["bucket_start"], row["bucket_end"]) == (
        "2026-11-02T02:00:00-05:00",
        f"2026-11-02T{end}-05:00",
    )


@pytest.mark.integration
def test_a_csv_of_more_rows_than_one_read_takes_loses_none(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each stretch of a CSV was read with a 200,000-row limit and whatever it cut was dropped, silently (a
    month of quarters of a camera with 70 line, direction and class keys)."""
    EventWriter(engine).write_events([movements(T0 + k * Q, 1 + k, 2 + k) for k in range(12)])
    whole = "".join(csv_lines(engine, "movements", "plaza", "cam-1", T0, T0 + 12 * Q, "15m"))
    from citytally.hub.dashboard import data

    monkeypatch.setattr(data, "_ROW_LIMIT", 5)  # each read now holds under three quarters
    assert "".join(csv_lines(engine, "movements", "plaza", "cam-1", T0, T0 + 12 * Q, "15m")) == whole
    assert len(whole.splitlines()) == 1 + 24
