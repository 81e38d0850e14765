"""The dashboard's range arithmetic, settings, register escaping and the live cursor."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
import sqlalchemy as sa
from pydantic import ValidationError

from citytally.edge.config import CameraConfig
from citytally.events import SPEED_BIN_KMH, LineCountEvent, RoadUserClass, SpeedEvent, SpeedStats
from citytally.hub.config import RetentionSettings
from citytally.hub.dashboard.data import (
    _segments,
    bucket_times,
    count_series,
    histogram_percentile,
    series_period,
    speed_distribution,
)
from citytally.hub.dashboard.live import LOOKBACK, LiveCursor
from citytally.hub.dashboard.settings import DashboardSettings
from citytally.hub.register import build_register, render_register_html
from citytally.hub.store import EventWriter, create_store_engine, migrate, sqlite_url, sync_registry

T0 = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)  # a Monday, 00:00 UTC
H = timedelta(hours=1)
D = timedelta(days=1)


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (T0 + 3 * H, T0 + 5 * H, [("1h", T0 + 3 * H, T0 + 5 * H)]),
        (T0, T0 + 2 * D, [("1d", T0, T0 + 2 * D)]),
        (
            T0 - 2 * H,
            T0 + D + 3 * H,
            [("1d", T0, T0 + D), ("1h", T0 - 2 * H, T0), ("1h", T0 + D, T0 + D + 3 * H)],
        ),
        (T0 + 22 * H, T0 + 26 * H, [("1h", T0 + 22 * H, T0 + 26 * H)]),
    ],
)
def test_range_sums_use_whole_days_and_hours_at_the_edges(
    start: datetime, end: datetime, expected: list[tuple[str, datetime, datetime]]
) -> None:
    assert _segments(start, end) == expected


@pytest.mark.parametrize(
    ("span", "period", "buckets"),
    [(D, "15m", 96), (3 * D, "15m", 288), (7 * D, "1h", 168), (31 * D, "1h", 744), (90 * D, "1d", 90)],
)
def test_series_period_keeps_charts_under_a_thousand_points(
    span: timedelta, period: str, buckets: int
) -> None:
    assert series_period(T0, T0 + span) == period
    times = bucket_times(T0, T0 + span, period)
    assert len(times) == buckets and times[0] == T0


@pytest.mark.parametrize(
    ("tile_url", "error"),
    [
        (None, None),
        ("https://tiles.example.org/{z}/{x}/{y}.png", None),
        ("https://tiles.example.org/tile.png", "must contain {z}, {x} and {y}"),
        ("ftp://tiles.example.org/{z}/{x}/{y}.png", "must be an http(s) URL"),
    ],
)
def test_tile_url_is_checked(tile_url: str | None, error: str | None) -> None:
    if error is None:
        assert DashboardSettings(tile_url=tile_url).tile_url == tile_url
    else:
        with pytest.raises(ValidationError, match=error.replace("(", r"\(").replace(")", r"\)")):
            DashboardSettings(tile_url=tile_url)


def test_settings_refuse_unknown_fields() -> None:
    with pytest.raises(ValidationError, match="extra"):
        DashboardSettings.model_validate({"tiles": "x"})


@pytest.fixture
def engine(tmp_path: Path) -> sa.Engine:
    store = create_store_engine(sqlite_url(tmp_path / "hub.sqlite3"))
    migrate(store)
    return store


def _camera(purpose: str) -> CameraConfig:
    return CameraConfig.model_validate(
        {
            "site": "plaza",
            "camera": "cam-1",
            "metadata": {"lat": 52.37, "lon": 4.89, "purpose": purpose, "retention_days": 30},
            "source": {"uri": "/dev/null"},
            "lines": [{"name": "north", "p1": [0, 1], "p2": [9, 1], "directions": ["in", "out"]}],
        }
    )


@pytest.mark.integration
def test_register_escapes_what_operators_typed(engine: sa.Engine) -> None:
    sync_registry(engine, [_camera('<script>alert("x")</script> counting')])
    page = render_register_html(build_register(engine, DashboardSettings(), retention=RetentionSettings()))
    assert "<script>" not in page
    assert "&lt;script&gt;" in page
    assert "30 days after the start of the interval" in page


@pytest.mark.integration
def test_live_cursor_sends_each_event_once_even_when_it_commits_late(engine: sa.Engine) -> None:
    sync_registry(engine, [_camera("count")])
    writer = EventWriter(engine)
    now = datetime.now(UTC)

    def event() -> LineCountEvent:
        start = now.replace(second=0, microsecond=0)
        return LineCountEvent(
            id=uuid.uuid4(),
            site="plaza",
            camera="cam-1",
            start=start,
            end=start + timedelta(minutes=1),
            line="north",
            counts={"in": {"car": 1}},
        )

    cursor = LiveCursor(after=now)
    first = event()
    writer.write_events([first], received_at=now + timedelta(seconds=1))
    assert [m["id"] for m in cursor.poll(engine, include_incidents=False)] == [str(first.id)]
    # stamped before the cursor (its transaction began earlier) but committed only now
    late = event()
    writer.write_events([late], received_at=now + timedelta(seconds=1) - LOOKBACK / 2)
    assert [m["id"] for m in cursor.poll(engine, include_incidents=False)] == [str(late.id)]
    assert cursor.poll(engine, include_incidents=False) == []


def _counts(start: datetime, counts: dict[str, dict[str, int]]) -> LineCountEvent:
    return LineCountEvent(
        id=uuid.uuid4(),
        site="plaza",
        camera="cam-1",
        start=start,
        end=start + timedelta(minutes=15),
        line="north",
        counts=counts,  # type: ignore[arg-type]
    )


@pytest.mark.integration
def test_count_series_tells_no_data_from_nobody_passing(engine: sa.Engine) -> None:
    sync_registry(engine, [_camera("count")])
    q = timedelta(minutes=15)
    EventWriter(engine).write_events(
        [
            _counts(T0, {"in": {"car": 3}}),
            _counts(T0 + q, {"in": {}, "out": {}}),  # the camera reported: nobody crossed
            # T0 + 2q: nothing arrived (camera offline)
            _counts(T0 + 3 * q, {"in": {"car": 1}, "out": {"bicycle": 2}}),
        ]
    )
    out = count_series(engine, "plaza", "cam-1", T0, T0 + 4 * q)
    assert out.period == "15m" and out.reported == [True, True, False, True]
    values = {(s.direction, s.cls): s.values for s in out.series}
    assert values == {("in", "car"): [3, 0, None, 1], ("out", "bicycle"): [0, 0, None, 2]}
    assert out.total == 6


@pytest.mark.integration
def test_daily_buckets_are_days_of_the_asked_time_zone(engine: sa.Engine) -> None:
    sync_registry(engine, [_camera("count")])
    # 23:30 UTC on Nov 2 is 00:30 on Nov 3 in Amsterdam (UTC+1 in November)
    EventWriter(engine).write_events([_counts(T0 + 23 * H + timedelta(minutes=30), {"in": {"car": 5}})])
    start, end = T0 - 30 * D, T0 + 30 * D
    utc = count_series(engine, "plaza", "cam-1", start, end)
    local = count_series(engine, "plaza", "cam-1", start, end, ZoneInfo("Europe/Amsterdam"))
    assert utc.period == local.period == "1d" and local.tz == "Europe/Amsterdam"

    def day_of(out: Any, tz: ZoneInfo) -> str:
        (series,) = out.series
        (i,) = [i for i, v in enumerate(series.values) if v]
        return datetime.fromtimestamp(out.times[i] / 1000, tz).date().isoformat()

    assert day_of(utc, ZoneInfo("UTC")) == "2026-11-02"
    assert day_of(local, ZoneInfo("Europe/Amsterdam")) == "2026-11-03"
    assert datetime.fromtimestamp(local.times[0] / 1000, ZoneInfo("Europe/Amsterdam")).hour == 0


@pytest.mark.integration
def test_speed_distribution_is_over_road_users_and_v85_comes_from_the_summed_bins(engine: sa.Engine) -> None:
    sync_registry(engine, [_camera("count")])

    def speed(start: datetime, stats: SpeedStats) -> SpeedEvent:
        return SpeedEvent(
            id=uuid.uuid4(),
            site="plaza",
            camera="cam-1",
            start=start,
            end=start + timedelta(minutes=15),
            line="north",
            speeds={"in": {"car": stats}},
        )

    q = timedelta(minutes=15)
    slow = [float(v) for v in range(20, 40)]  # 20 cars at 20..39 km/h
    fast = [float(v) for v in range(40, 120)]  # 80 cars at 40..119 km/h
    unbinned = SpeedStats(n=7, mean_kmh=70.0, p85_kmh=90.0)  # an edge that sends no bins
    events = [
        speed(T0, SpeedStats.of(slow)),
        speed(T0 + 2 * q, SpeedStats.of(fast)),
        speed(T0 + 3 * q, unbinned),
    ]
    EventWriter(engine).write_events(events)
    out = speed_distribution(engine, "plaza", "cam-1", T0, T0 + 4 * q)
    # V85 over time, one interval per bucket: off each interval's bins (20 cars in bins [20, 40): the 17th
    # lies 2/5 into [35, 40)); the unbinned interval has only its own V85, drawn apart.
    (series,) = out.v85
    assert series.values == [37.0, None, 108.0, None]
    assert series.unbinned_v85 == [None, None, None, 90.0]
    assert (series.measured, series.binned) == ([20, None, 80, 7], [20, 0, 80, 0])
    (car,) = out.series
    assert (car.n, car.n_binned) == (107, 100)
    assert car.counts == [0, 0, 0, 0] + [5] * 20  # 5 km/h bins from 0: every road user once, at its speed
    assert out.bins[:2] == [0, 5] and len(out.bins) == len(car.counts) == 24
    # Of all 100 road users together, 85 lie below 105 km/h (the top of the bin [100, 105)); their own
    # percentile is 104.15: the bins give V85 to within their width.
    assert car.v85_kmh == 105.0
    assert car.v85_kmh == pytest.approx(float(np.percentile(slow + fast, 85)), abs=SPEED_BIN_KMH)
    # The mean of interval V85s (what an average of percentiles would have said) is far off.
    assert abs((SpeedStats.of(slow).p85_kmh + SpeedStats.of(fast).p85_kmh) / 2 - car.v85_kmh) > 20
    assert car.mean_kmh == pytest.approx((sum(slow) + sum(fast) + 7 * 70.0) / 107, abs=0.05)


def speed_event(start: datetime, minutes: int, speeds: dict[RoadUserClass, SpeedStats]) -> SpeedEvent:
    """Speeds of one interval of ``minutes`` on line north, direction in."""
    return SpeedEvent(
        id=uuid.uuid4(),
        site="plaza",
        camera="cam-1",
        start=start,
        end=start + timedelta(minutes=minutes),
        line="north",
        speeds={"in": speeds},
    )


def cars(*groups: tuple[int, float]) -> SpeedStats:
    """``n`` road users at each given speed."""
    return SpeedStats.of([v for n, v in groups for _ in range(n)])


#: Three 5-minute intervals per 15-minute bucket. Bucket 0: 90 cars at 32.5 km/h, then 10 at 72.5; bucket 1:
#: 20 binned cars and 5 from an edge without bins; bucket 2: only unbinned cars; bucket 3: nothing.
FIVE = timedelta(minutes=5)
BUCKETED_SPEEDS = [
    speed_event(T0, 5, {"car": cars((90, 32.5)), "bicycle": cars((3, 12.5))}),
    speed_event(T0 + FIVE, 5, {"car": cars((10, 72.5)), "bicycle": cars((1, 27.5))}),
    speed_event(T0 + 3 * FIVE, 5, {"car": cars((10, 42.5), (10, 47.5))}),
    speed_event(T0 + 4 * FIVE, 5, {"car": SpeedStats(n=5, mean_kmh=50.0, p85_kmh=60.0)}),
    speed_event(T0 + 6 * FIVE, 5, {"car": SpeedStats(n=5, mean_kmh=50.0, p85_kmh=60.0)}),
]


@pytest.mark.integration
def test_v85_per_bucket_is_read_off_the_buckets_summed_bins(engine: sa.Engine) -> None:
    sync_registry(engine, [_camera("count")])
    EventWriter(engine).write_events(BUCKETED_SPEEDS)
    out = speed_distribution(engine, "plaza", "cam-1", T0, T0 + 4 * 3 * FIVE)
    assert out.period == "15m" and len(out.times) == 4
    bicycle, car = out.v85
    # Cars, bucket 0: 90 in [30, 35) and 10 in [70, 75); the 85th of 100 lies 85/90 into [30, 35): 34.72.
    # The intervals' own V85s are 32.5 and 72.5: their highest says 72.5, their mean 52.5.
    # Bucket 1: 10 in [40, 45), 10 in [45, 50): the 17th of the 20 binned lies 7/10 into [45, 50): 48.5,
    # from 20 of the 25 measured. Bucket 2: no bins, so no V85 from bins; the highest interval V85 apart.
    assert car.values == [34.7, 48.5, None, None]
    assert car.measured == [100, 25, 5, None]
    assert car.binned == [100, 20, 0, 0]
    assert car.unbinned_v85 == [None, None, 60.0, None]
    # Cyclists, bucket 0: 3 in [10, 15) and 1 in [25, 30): the 3.4th lies 0.4 into [25, 30): 27.0 (the
    # intervals' V85s: 12.5 and 27.5).
    assert (bicycle.cls, bicycle.values[0], bicycle.binned[0]) == ("bicycle", 27.0, 4)
    assert bicycle.values[1:] == [None, None, None] and bicycle.measured[1:] == [None, None, None]
    # The range's own V85 (over all 120 binned cars: the 102nd lies 2/10 into [45, 50)) is not any bucket's.
    assert {s.cls: s.v85_kmh for s in out.series} == {"bicycle": 27.0, "car": 46.0}


@pytest.mark.integration
def test_v85_per_day_in_a_local_time_zone_sums_the_days_bins(engine: sa.Engine) -> None:
    sync_registry(engine, [_camera("count")])
    EventWriter(engine).write_events(BUCKETED_SPEEDS)
    zone = ZoneInfo("Europe/Amsterdam")
    out = speed_distribution(engine, "plaza", "cam-1", T0 - 30 * D, T0 + 20 * D, zone)
    assert out.period == "1d"
    _bicycle, car = out.v85
    day = next(i for i, v in enumerate(car.values) if v is not None)
    assert (car.values[day], car.binned[day], car.measured[day]) == (46.0, 120, 130)
    assert car.unbinned_v85[day] is None  # part of the day is binned: its V85 says from how many


@pytest.mark.parametrize(
    ("counts", "share", "expected"),
    [
        ([], 0.85, None),
        ([0, 0, 4], 0.5, 12.5),  # four in [10, 15): the middle of the bin
        ([0, 10], 0.85, 9.2),  # 9.25, to a tenth
        ([1, 0, 0, 1], 0.85, 18.5),  # 1.7 of 2 road users: 0.7 into the last one's bin [15, 20)
    ],
)
def test_histogram_percentile(counts: list[int], share: float, expected: float | None) -> None:
    assert histogram_percentile(counts, share) == expected
